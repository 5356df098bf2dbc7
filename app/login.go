package app

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"wiregui/app/audit"
	"wiregui/app/auth"
	"wiregui/app/limits"
	"wiregui/app/text"
	"wiregui/store"
)

// invalidCredentials is the one answer to every failed sign-in, so that it reveals nothing.
const invalidCredentials = "Invalid email or password"

// loginPage is the payload of the sign-in page: the ways of signing in that are on.
type loginPage struct {
	LocalAuth bool // with a password
	MagicLink bool // with a link sent by email
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	pd, err := s.loginPage(w, r)
	if errors.Is(err, store.ErrUnavailable) {
		// The form shows while the database is down, as it is by default; signing in waits
		// for the database, and says so.
		pd, err = s.loginPageWith(w, r, loginPage{LocalAuth: true}), nil
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, "login", pd)
}

// loginPage is the sign-in page's data, with the form's own CSRF token (the visitor has no
// session) and the ways of signing in the settings allow.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) (*PageData, error) {
	st, err := s.store.Settings(r.Context())
	if err != nil {
		return nil, err
	}
	return s.loginPageWith(w, r, loginPage{LocalAuth: st.LocalAuthEnabled, MagicLink: st.MagicLinkEnabled}), nil
}

func (s *Server) loginPageWith(w http.ResponseWriter, r *http.Request, ways loginPage) *PageData {
	pd := s.page(r, "Sign in", "login")
	pd.CSRFToken = s.loginToken(w, r)
	pd.Data = ways
	return pd
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	pd, err := s.loginPage(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Form.Values["email"] = r.PostFormValue("email")
	if !pd.Data.(loginPage).LocalAuth {
		// Refused here, not only hidden: the setting is the server's (inventory §7 item 12).
		pd.Form.Errors["_form"] = "Signing in with a password is turned off."
		if pd.Data.(loginPage).MagicLink {
			pd.Form.Errors["_form"] += " Ask for a sign-in link by email instead."
		}
		s.renderPage(w, r, http.StatusForbidden, "login", pd)
		return
	}
	// Only the text rule: the address is looked up, and a user made before a rule changed
	// still signs in.
	email, err := text.EmailAddress.Clean(r.PostFormValue("email"))
	password := r.PostFormValue("password")
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
	// An email that is no account's is limited as an account would be, and its password is
	// checked against a hash as long to check: the answer, its time and its limits are the
	// same for both.
	attempt := limits.Attempt{Kind: limits.Password, Name: email, Addr: clientAddr(r)}
	if u != nil {
		attempt.UserID, attempt.Name = u.ID, ""
	}
	verdict, err := s.limits.Begin(r.Context(), attempt)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if verdict.Wait > 0 {
		s.tooManyAttempts(w, r, "login", pd, verdict.Wait)
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
		// The attempt stays counted: answering "busy" must not be a way around the limit.
		w.Header().Set("Retry-After", strconv.Itoa(int(auth.RetryAfter/time.Second)))
		pd.Form.Errors["_form"] = "Too many sign-ins at once. Wait a moment and try again."
		s.renderPage(w, r, http.StatusServiceUnavailable, "login", pd)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	case !ok:
		s.signInFailed(r, attempt, email, verdict, "wrong email or password")
		pd.Form.Errors["_form"] = invalidCredentials
		s.renderPage(w, r, http.StatusUnauthorized, "login", pd)
		return
	}
	if err := s.limits.Succeed(r.Context(), attempt); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.signIn(w, r, u, "password"); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

// signInFailed logs a failed attempt of who (the email given), and the lockout its failure
// starts, if it does.
func (s *Server) signInFailed(r *http.Request, a limits.Attempt, who string, v limits.Verdict, reason string) {
	s.event(r, audit.Event{Name: audit.SignInFailed, User: who, UserID: a.UserID, Method: string(a.Kind), Reason: reason})
	if v.Lock > 0 {
		s.event(r, audit.Event{Name: audit.Lockout, User: who, UserID: a.UserID, Method: string(a.Kind), Wait: v.Lock})
	}
}

// tooManyAttempts answers an attempt the limits refuse: 429 with Retry-After, and the page
// saying when to try again.
func (s *Server) tooManyAttempts(w http.ResponseWriter, r *http.Request, page string, pd *PageData, wait time.Duration) {
	w.Header().Set("Retry-After", limits.RetryAfter(wait))
	pd.Form.Errors["_form"] = limits.Message(wait)
	s.renderPage(w, r, http.StatusTooManyRequests, page, pd)
}

// event logs an account event of the request (app/audit), with the client's address.
func (s *Server) event(r *http.Request, e audit.Event) {
	if a := clientAddr(r); a.IsValid() {
		e.Addr = a.String()
	}
	audit.Log(s.log, e)
}

// clientAddr is the address the request came from: the connection's. No proxy header is
// trusted, as no setting says which proxy sets it; behind a reverse proxy every client has
// the proxy's address, and the address limits count them together.
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
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
	s.sessions.Put(r.Context(), sessionUserID, u.ID)
	s.sessions.Put(r.Context(), sessionSeen, time.Now().UnixMilli())
	s.sessions.Put(r.Context(), sessionCSRF, randomHex(32))
	s.endLoginToken(w)
	// A fresh sign-in renews an expired VPN session: the user's peers come back now.
	s.accessChanged(u.ID)
	s.event(r, audit.Event{Name: audit.SignIn, User: u.Email, UserID: u.ID, Method: method})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
