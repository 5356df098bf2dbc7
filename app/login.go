package app

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/store"
)

// invalidCredentials is the one answer to every failed sign-in, so that it reveals nothing.
const invalidCredentials = "Invalid email or password"

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	pd := s.loginPage(w, r)
	pd.Flash = s.popLoginNotice(w, r)
	s.renderPage(w, r, http.StatusOK, "login", pd)
}

// The sign-in page tells a visitor who was just signed out why, without a session: a cookie
// that names one of loginNotices, read and removed by the next sign-in page. What it says is
// the server's text; a cookie naming anything else says nothing.
const (
	loginNoticeCookie    = "wiregui_notice"
	noticeAccountDeleted = "account-deleted"
)

var loginNotices = map[string]string{
	noticeAccountDeleted: "Your account was deleted, with its devices and everything else it had.",
}

// setLoginNotice has the next sign-in page say notice.
func setLoginNotice(w http.ResponseWriter, secure bool, notice string) {
	http.SetCookie(w, &http.Cookie{Name: loginNoticeCookie, Value: notice, Path: "/login", MaxAge: 300, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure})
}

// popLoginNotice returns what the request's notice cookie names, and removes the cookie.
func (s *Server) popLoginNotice(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(loginNoticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: loginNoticeCookie, Path: "/login", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.sessions.Cookie.Secure})
	return loginNotices[c.Value]
}

// loginPage is the sign-in page's data, with the form's own CSRF token: the visitor has no
// session.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) *PageData {
	pd := s.page(r, "Sign in", "login")
	pd.CSRFToken = s.loginToken(w, r)
	return pd
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	pd := s.loginPage(w, r)
	// Only the text rule: the address is looked up, and a user made before a rule changed
	// still signs in.
	email, err := text.EmailAddress.Clean(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	pd.Form.Values["email"] = r.PostFormValue("email")
	switch {
	case err != nil:
		pd.Form.Errors["email"] = text.Sentence(err.Error())
	case email == "":
		pd.Form.Errors["email"] = "Enter your email address."
	}
	if password == "" {
		pd.Form.Errors["password"] = "Enter your password."
	}
	if !pd.Form.Valid() {
		s.renderPage(w, r, http.StatusUnprocessableEntity, "login", pd)
		return
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if err != nil && !isNotFound(err) {
		s.serverError(w, r, err)
		return
	}
	ok := false
	if u == nil {
		_, err = auth.CheckNothing(password)
	} else {
		ok, err = auth.CheckPassword(u.PasswordHash, password)
		ok = ok && !u.Disabled()
	}
	switch {
	case errors.Is(err, auth.ErrBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(auth.RetryAfter/time.Second)))
		pd.Form.Errors["_form"] = "Too many sign-ins at once. Wait a moment and try again."
		s.renderPage(w, r, http.StatusServiceUnavailable, "login", pd)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	case !ok:
		pd.Form.Errors["_form"] = invalidCredentials
		s.renderPage(w, r, http.StatusUnauthorized, "login", pd)
		return
	}
	if err := s.signIn(w, r, u, "password"); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

// signIn signs u in on this request, by method ("password", …): the one place where every
// way of signing in ends, once every factor it needs has been checked.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u *store.User, method string) error {
	// Recorded before the session changes, so that a failed write (a full disk) leaves the
	// visitor signed out, with the error page alone.
	if err := s.store.RecordSignIn(r.Context(), u.ID, method, time.Now()); err != nil {
		return err
	}
	// A new token on every privilege change defeats session fixation. The session is
	// created here, at sign-in, and not before.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	s.sessions.Put(r.Context(), sessionUserID, u.ID)
	s.sessions.Put(r.Context(), sessionRole, u.Role)
	s.sessions.Put(r.Context(), sessionSignedIn, now)
	s.sessions.Put(r.Context(), sessionSeen, now)
	s.sessions.Put(r.Context(), sessionCSRF, randomHex(32))
	s.endLoginToken(w)
	// A fresh sign-in renews an expired VPN session: the user's peers come back now.
	s.accessChanged(u.ID)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
