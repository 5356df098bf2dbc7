package app

import (
	"context"
	"errors"
	"log/slog"
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
	Passkey   bool // with a passkey alone
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

// loginPage is the sign-in page's data, with the form's own CSRF token (the visitor has no
// session) and the ways of signing in the settings allow.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) (*PageData, error) {
	st, err := s.store.Settings(r.Context())
	if err != nil {
		return nil, err
	}
	return s.loginPageWith(w, r, loginPage{LocalAuth: st.LocalAuthEnabled, MagicLink: st.MagicLinkEnabled,
		Passkey: st.PasswordlessEnabled && s.mfa.WebAuthnUnavailable() == ""}), nil
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
	if wait := s.limits.Wait(attempt); wait > 0 {
		s.tooManyAttempts(w, r, "login", pd, wait)
		return
	}
	// The password is checked while the attempt is counted: an account's count is written to
	// the database, an unknown email's is not, and the write must not make one answer slower
	// than the other.
	checked := make(chan passwordCheck, 1)
	go func() { checked <- checkPassword(u, password) }()
	verdict, begun := s.beginAttempt(w, r, "login", pd, attempt)
	check := <-checked
	if !begun {
		return
	}
	ok, err := check.ok, check.err
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
	s.signIn(w, r, u, "password")
}

// passwordCheck is the outcome of checkPassword.
type passwordCheck struct {
	ok  bool
	err error
}

// checkPassword checks password as u's (an enabled user's), or, for an email that is no
// account's (u nil), spends the same time to say no.
func checkPassword(u *store.User, password string) passwordCheck {
	if u == nil {
		_, err := auth.CheckNothing(password)
		return passwordCheck{err: err}
	}
	ok, err := auth.CheckPassword(u.PasswordHash, password)
	return passwordCheck{ok: ok && !u.Disabled(), err: err}
}

// signInFailed logs a failed attempt of who (the email given), and the lockout its failure
// starts, if it does.
func (s *Server) signInFailed(r *http.Request, a limits.Attempt, who string, v limits.Verdict, reason string) {
	s.event(r, audit.Event{Name: audit.SignInFailed, User: who, UserID: a.UserID, Method: string(a.Kind), Reason: reason})
	if v.Lock > 0 {
		s.event(r, audit.Event{Name: audit.Lockout, User: who, UserID: a.UserID, Method: string(a.Kind), Wait: v.Lock})
	}
}

// beginAttempt begins attempt a (app/limits). When the limits refuse it, or cannot count it,
// it answers the request, with page and pd when it must wait, and returns false.
func (s *Server) beginAttempt(w http.ResponseWriter, r *http.Request, page string, pd *PageData, a limits.Attempt) (limits.Verdict, bool) {
	v, err := s.limits.Begin(r.Context(), a)
	if err != nil {
		s.serverError(w, r, err)
		return v, false
	}
	if v.Wait > 0 {
		s.tooManyAttempts(w, r, page, pd, v.Wait)
		return v, false
	}
	return v, true
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

// pendingMFA is how long a sign-in waits for its second factor. (A variable for the tests.)
var pendingMFA = 5 * time.Minute

// signIn signs u in on this request by method ("password", …), once that first factor has been
// checked, and answers the request: every way of signing in ends here. A user with a second
// factor is not signed in yet: the session only remembers, for pendingMFA, who passed the
// first factor, and the second (/mfa) completes the sign-in. A user without one, where an
// admin requires one, is signed in to add one first (enrolGate). A passkey is both factors.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u *store.User, method string) {
	ctx := r.Context()
	methods, err := s.mfa.Methods(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	st, err := s.store.Settings(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var next string
	switch {
	case multiFactor(method) || len(methods) == 0 && !st.MFARequired:
		next, err = "/devices", s.finishSignIn(w, r, u, method)
	case len(methods) > 0:
		next, err = "/mfa", s.awaitSecondFactor(w, r, u, method)
	default:
		next, err = "/account/mfa", s.startEnrolment(w, r, u, method)
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	goTo(w, r, next)
}

// multiFactor reports whether a way of signing in proves two factors by itself: a passkey
// whose authenticator verified its user.
func multiFactor(method string) bool { return method == "passkey" }

// newSession starts the session of a sign-in afresh: a new token defeats session fixation, and
// nothing of a session from before (another user's, an earlier attempt) carries over.
func (s *Server) newSession(w http.ResponseWriter, ctx context.Context) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	if err := s.sessions.Clear(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionCSRF, randomHex(32))
	s.endLoginToken(w)
	return nil
}

// awaitSecondFactor remembers, for pendingMFA, that u passed the first factor method; the
// session expires with it.
func (s *Server) awaitSecondFactor(w http.ResponseWriter, r *http.Request, u *store.User, method string) error {
	ctx := r.Context()
	if err := s.newSession(w, ctx); err != nil {
		return err
	}
	until := time.Now().Add(pendingMFA)
	s.sessions.SetDeadline(ctx, until)
	s.sessions.Put(ctx, sessionPendingUser, u.ID)
	s.sessions.Put(ctx, sessionPendingMethod, method)
	s.sessions.Put(ctx, sessionPendingUntil, until.UnixMilli())
	s.log.Info("sign-in awaits a second factor", slog.String("user", u.Email), slog.String("method", method))
	return nil
}

// startEnrolment signs u in to add a second factor and nothing else (enrolGate); adding one
// completes the sign-in by method (finishEnrolment).
func (s *Server) startEnrolment(w http.ResponseWriter, r *http.Request, u *store.User, method string) error {
	ctx := r.Context()
	if err := s.newSession(w, ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionUserID, u.ID)
	s.sessions.Put(ctx, sessionSeen, time.Now().UnixMilli())
	s.sessions.Put(ctx, sessionEnrol, method)
	s.log.Info("sign-in awaits a second factor's enrolment", slog.String("user", u.Email), slog.String("method", method))
	return nil
}

// finishSignIn signs u in by method ("password", "password+totp", "passkey", …) once every
// factor it needs is checked.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, u *store.User, method string) error {
	ctx := r.Context()
	// Recorded before the session changes, so that a failed write (a full disk) leaves the
	// visitor signed out, with the error page alone.
	if err := s.store.RecordSignIn(ctx, u.ID, method, time.Now()); err != nil {
		return err
	}
	if err := s.newSession(w, ctx); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	s.sessions.Put(ctx, sessionUserID, u.ID)
	s.sessions.Put(ctx, sessionRole, u.Role)
	s.sessions.Put(ctx, sessionSignedIn, now)
	s.sessions.Put(ctx, sessionSeen, now)
	s.event(r, audit.Event{Name: audit.SignIn, User: u.Email, UserID: u.ID, Method: method})
	// A fresh sign-in renews an expired VPN session: the user's peers come back now.
	s.accessChanged(u.ID)
	return nil
}

// goTo sends the browser to path: a page with a redirect, a script's request (which asks for
// JSON, e.g. a WebAuthn answer) with {"redirect": path} for it to follow.
func goTo(w http.ResponseWriter, r *http.Request, path string) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"redirect": path})
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// wantsJSON reports whether the request is a script's that reads JSON answers.
func wantsJSON(r *http.Request) bool { return r.Header.Get("Accept") == "application/json" }

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
