package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"wiregui/app/audit"
	"wiregui/app/limits"
	"wiregui/app/mail"
	"wiregui/app/text"
	"wiregui/store"
)

// Magic links: "Email me a sign-in link" on the sign-in page sends a link that signs its user
// in once, within signInLinkValid. The link opens a page with a button, and only the button
// (a POST) uses it up: mail scanners that fetch every link in a message do not.

// signInLinkValid is how long a sign-in link works.
const signInLinkValid = 15 * time.Minute

// signInLinkPath is the path of a sign-in link, before its token.
const signInLinkPath = "/login/link/"

// outboxSize bounds the emails waiting to be sent in the background; one more is not sent,
// and that is logged.
const outboxSize = 64

// signInLinkPage is the payload of the page of a sign-in link.
type signInLinkPage struct {
	// State: "sent" after a link was asked for, "confirm" for a valid link, "invalid" for a
	// link that is not (used, expired, replaced), "off" while links are turned off.
	State string
	Email string // whose link it is ("confirm"), or what was typed ("sent")
	Token string
}

// requestSignInLink answers "Email me a sign-in link". The answer is the same page, at once,
// whether or not the address has an account: the link is looked up, made and sent in the
// background.
func (s *Server) requestSignInLink(w http.ResponseWriter, r *http.Request) {
	pd, err := s.loginPage(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	ways := pd.Data.(loginPage)
	pd.Form.Values["email"] = r.PostFormValue("email")
	if !ways.MagicLink {
		pd.Form.Errors["_form"] = "Sign-in links are turned off."
		s.renderPage(w, r, http.StatusForbidden, "login", pd)
		return
	}
	email, err := text.EmailAddress.Clean(r.PostFormValue("email"))
	switch {
	case err != nil:
		pd.Form.Errors["email"] = text.Sentence(err.Error())
	case email == "":
		pd.Form.Errors["email"] = "Enter your email address."
	}
	if !pd.Form.Valid() {
		s.renderPage(w, r, http.StatusUnprocessableEntity, "login", pd)
		return
	}
	// The address is limited here, where the visitor sees it; the account in the
	// background, where what it answers cannot tell whether the address has one.
	if _, ok := s.beginAttempt(w, r, "login", pd, limits.Attempt{Kind: limits.MagicLink, Addr: clientAddr(r)}); !ok {
		return
	}
	addr := clientAddr(r)
	queued := s.background(func() { s.sendSignInLink(email, addr.String()) })
	if !queued {
		audit.Log(s.log, audit.Event{Name: audit.LinkNotSent, User: email, Method: "magic_link", Addr: addr.String(),
			Reason: "too many emails waiting to be sent"})
	}
	pd.Title = "Check your email"
	pd.Data = signInLinkPage{State: "sent", Email: store.NormalizeEmail(email)}
	s.renderPage(w, r, http.StatusOK, "signin-link", pd)
}

// sendSignInLink makes and emails a sign-in link for email, when it is an enabled account's
// that has not asked for too many. What it does not send, and why, is logged; a failure of
// the mail server is also raised to admins.
func (s *Server) sendSignInLink(email, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	notSent := func(userID, reason string) {
		audit.Log(s.log, audit.Event{Name: audit.LinkNotSent, User: email, UserID: userID, Method: "magic_link",
			Addr: addr, Reason: reason})
	}
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case isNotFound(err):
		notSent("", "no account")
		return
	case err != nil:
		notSent("", err.Error())
		return
	case u.Disabled():
		notSent(u.ID, "the account is disabled")
		return
	}
	v, err := s.limits.Begin(ctx, limits.Attempt{Kind: limits.MagicLink, UserID: u.ID})
	switch {
	case err != nil:
		notSent(u.ID, err.Error())
		return
	case v.Wait > 0:
		notSent(u.ID, "too many links asked for; the next in "+limits.Words(v.Wait))
		return
	case v.Lock > 0:
		audit.Log(s.log, audit.Event{Name: audit.Lockout, User: u.Email, UserID: u.ID, Method: string(limits.MagicLink),
			Addr: addr, Wait: v.Lock})
	}
	token, hash := s.tokens.New(store.PurposeMagicLink)
	if err := s.store.CreateSignInToken(ctx, &store.SignInToken{Hash: hash, UserID: u.ID, Purpose: store.PurposeMagicLink,
		ExpiresAt: s.now().Add(signInLinkValid)}); err != nil {
		notSent(u.ID, err.Error())
		return
	}
	if _, err := s.mail.Send(ctx, mail.SignInLink(u.Email, s.externalURL+signInLinkPath+token, signInLinkValid)); err != nil {
		notSent(u.ID, err.Error())
		s.mailFailed(ctx, fmt.Sprintf("A sign-in link for %s could not be sent: %s Check the email settings.", u.Email, mail.Answer(err)))
		return
	}
	audit.Log(s.log, audit.Event{Name: audit.LinkSent, User: u.Email, UserID: u.ID, Method: "magic_link", Addr: addr})
}

// mailFailed tells admins, in the Settings page's notifications, that an email sent in the
// background failed: at most once an hour, however many fail.
func (s *Server) mailFailed(ctx context.Context, message string) {
	n := &store.Notification{Kind: "mail_failed", Message: message}
	if _, err := s.store.Notify(ctx, n, "mail_failed "+s.now().UTC().Format("2006-01-02T15")); err != nil {
		s.log.Warn("notify admins of an email not sent", slog.Any("err", err))
	}
}

// background runs job on the server's sender, in order; false when too many wait already.
func (s *Server) background(job func()) bool {
	select {
	case s.outbox <- job:
		return true
	default:
		return false
	}
}

// sendMail runs the jobs of background until the server closes; what still waits then is
// not sent, and that is logged.
func (s *Server) sendMail() {
	for {
		select {
		case <-s.done:
			if n := len(s.outbox); n > 0 {
				s.log.Warn("emails not sent: the server stopped", slog.Int("emails", n))
			}
			return
		case job := <-s.outbox:
			job()
		}
	}
}

// signInLinkData is the data of the page of the sign-in link in r's path: "confirm" with
// its user, "invalid" (404), or "off" (403).
func (s *Server) signInLinkData(w http.ResponseWriter, r *http.Request) (pd *PageData, status int, hash string, err error) {
	if pd, err = s.loginPage(w, r); err != nil {
		return nil, 0, "", err
	}
	token := r.PathValue("token")
	page := signInLinkPage{State: "invalid", Token: token}
	pd.Title, status = "Sign-in link", http.StatusNotFound
	if !pd.Data.(loginPage).MagicLink {
		page.State, status = "off", http.StatusForbidden
	} else if hash = s.tokens.Hash(store.PurposeMagicLink, token); hash != "" {
		u, err := s.store.SignInTokenUser(r.Context(), hash, store.PurposeMagicLink, s.now())
		switch {
		case err == nil && !u.Disabled():
			page.State, page.Email, status = "confirm", u.Email, http.StatusOK
		case err != nil && !isNotFound(err):
			return nil, 0, "", err
		}
	}
	pd.Data = page
	return pd, status, hash, nil
}

// showSignInLink is the page a sign-in link opens: a button that signs in, or why it cannot.
// It uses nothing up.
func (s *Server) showSignInLink(w http.ResponseWriter, r *http.Request) {
	pd, status, _, err := s.signInLinkData(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, status, "signin-link", pd)
}

// errDisabled refuses a link of a disabled user: as if it did not exist.
var errDisabled = fmt.Errorf("the account is disabled: %w", store.ErrNotFound)

// useSignInLink is the button of a sign-in link: it uses the link up and signs its user in.
func (s *Server) useSignInLink(w http.ResponseWriter, r *http.Request) {
	pd, status, hash, err := s.signInLinkData(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if status == http.StatusForbidden {
		s.renderPage(w, r, status, "signin-link", pd)
		return
	}
	attempt := limits.Attempt{Kind: limits.MagicLink, Addr: clientAddr(r)}
	verdict, ok := s.beginAttempt(w, r, "signin-link", pd, attempt)
	if !ok {
		return
	}
	var u *store.User
	if hash != "" {
		u, err = s.store.UseSignInToken(r.Context(), hash, store.PurposeMagicLink, s.now(), func(u *store.User) error {
			if u.Disabled() {
				return errDisabled
			}
			return nil
		})
	}
	if u == nil && (err == nil || isNotFound(err)) {
		s.signInFailed(r, attempt, "", verdict, "invalid or expired sign-in link")
		pd.Data = signInLinkPage{State: "invalid"}
		s.renderPage(w, r, http.StatusNotFound, "signin-link", pd)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The owner's proof clears every first factor's failures: someone who keeps their
	// password locked does not keep them out.
	attempt.UserID = u.ID
	if err := s.limits.Succeed(r.Context(), attempt); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.signIn(w, r, u, "magic_link")
}
