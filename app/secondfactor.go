package app

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"wiregui/app/limits"
	"wiregui/app/mfa"
	"wiregui/app/text"
	"wiregui/store"
)

// The second factor of a sign-in (/mfa): a TOTP code, a security key or passkey, or a
// recovery code completes the sign-in that a first factor began (signIn). And a sign-in with a
// passkey alone, when an admin allows it.

// pendingSignIn is a sign-in that waits for its second factor.
type pendingSignIn struct {
	user   *store.User
	method string // the first factor's
}

// pendingOf returns the sign-in of the request's session that waits for its second factor;
// nil when there is none, it is older than pendingMFA, or its user is gone or disabled.
func (s *Server) pendingOf(r *http.Request) (*pendingSignIn, error) {
	ctx := r.Context()
	id := s.sessions.GetString(ctx, sessionPendingUser)
	if id == "" || time.Now().UnixMilli() > s.sessions.GetInt64(ctx, sessionPendingUntil) {
		return nil, nil
	}
	u, err := s.store.UserByID(ctx, id)
	switch {
	case isNotFound(err) || err == nil && u.Disabled():
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &pendingSignIn{user: u, method: s.sessions.GetString(ctx, sessionPendingMethod)}, nil
}

// secondFactorPage is the payload of the /mfa page.
type secondFactorPage struct {
	Email string
	TOTP  bool // the user has an authenticator app
	Keys  bool // the user has a security key or passkey
	// KeysUnavailable says why the keys cannot be used on this server; "" when they can.
	KeysUnavailable string
	// Recovery opens the recovery code's part of the form.
	Recovery bool
}

// secondFactorForm is the /mfa page for p, with the form the request filled.
func (s *Server) secondFactorForm(r *http.Request, p *pendingSignIn) (*PageData, error) {
	methods, err := s.mfa.Methods(r.Context(), p.user.ID)
	if err != nil {
		return nil, err
	}
	page := secondFactorPage{Email: p.user.Email, KeysUnavailable: text.Sentence(s.mfa.WebAuthnUnavailable())}
	for _, m := range methods {
		page.TOTP = page.TOTP || m.Kind == store.MFATOTP
		page.Keys = page.Keys || m.Kind == store.MFAWebAuthn
	}
	pd := s.page(r, "Two-factor authentication", "")
	pd.CSRFToken = s.csrfToken(r)
	pd.Data = page
	return pd, nil
}

// whenPending runs h with the request's sign-in that waits for its second factor. A user who
// is signed in already goes to their devices, a visitor without one to sign in.
func (s *Server) whenPending(h func(w http.ResponseWriter, r *http.Request, p *pendingSignIn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if currentUser(r) != nil {
			goTo(w, r, "/devices")
			return
		}
		p, err := s.pendingOf(r)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if p == nil {
			if wantsJSON(r) {
				writeJSON(w, http.StatusUnauthorized, jsonAnswer{Error: "Your sign-in has expired. Sign in again.", Redirect: "/login"})
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, p)
	}
}

func (s *Server) showSecondFactor(w http.ResponseWriter, r *http.Request, p *pendingSignIn) {
	pd, err := s.secondFactorForm(r, p)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, "mfa", pd)
}

// verifySecondFactor takes a TOTP code or, when one is given, a recovery code.
func (s *Server) verifySecondFactor(w http.ResponseWriter, r *http.Request, p *pendingSignIn) {
	pd, err := s.secondFactorForm(r, p)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	code, recovery := r.PostFormValue("code"), r.PostFormValue("recovery_code")
	field, factor := "code", "totp"
	if strings.TrimSpace(recovery) != "" {
		field, factor = "recovery_code", "recovery_code"
		pd.Data = withRecovery(pd.Data)
	}
	if strings.TrimSpace(code) == "" && factor == "totp" {
		pd.Form.Errors[field] = "Enter the 6-digit code your authenticator app shows, or use another way below."
		s.renderPage(w, r, http.StatusUnprocessableEntity, "mfa", pd)
		return
	}
	attempt := limits.Attempt{Kind: limits.MFA, UserID: p.user.ID, Addr: clientAddr(r)}
	verdict, ok := s.beginAttempt(w, r, "mfa", pd, attempt)
	if !ok {
		return
	}
	if factor == "totp" {
		err = s.mfa.VerifyTOTP(r.Context(), p.user, code)
	} else {
		err = s.mfa.UseRecoveryCode(r.Context(), p.user, recovery)
	}
	switch {
	case errors.Is(err, mfa.ErrWrongCode):
		if factor == "totp" {
			s.signInFailed(r, attempt, p.user.Email, verdict, "wrong authenticator code")
			pd.Form.Errors[field] = "That code is not right, or it was used already. Wait for the next code and try again."
		} else {
			s.signInFailed(r, attempt, p.user.Email, verdict, "wrong recovery code")
			pd.Form.Errors[field] = "That recovery code is not right, or it was used already."
		}
		s.renderPage(w, r, http.StatusUnauthorized, "mfa", pd)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if err := s.limits.Succeed(r.Context(), attempt); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.finishSignIn(w, r, p.user, p.method+"+"+factor); err != nil {
		s.serverError(w, r, err)
		return
	}
	if factor == "recovery_code" {
		s.sessions.Put(r.Context(), sessionFlash, "You signed in with a recovery code, which now is used up. "+
			"Two-factor authentication shows how many you have left.")
	}
	goTo(w, r, "/devices")
}

func withRecovery(data any) any {
	page := data.(secondFactorPage)
	page.Recovery = true
	return page
}

// jsonAnswer is the answer of the requests a page's script makes for WebAuthn: where to go
// next, or why not.
type jsonAnswer struct {
	Redirect string `json:"redirect,omitempty"`
	Error    string `json:"error,omitempty"`
}

// beginSecondFactorKey hands the browser the options to ask the user's security key or
// passkey, and keeps the ceremony in the session.
func (s *Server) beginSecondFactorKey(w http.ResponseWriter, r *http.Request, p *pendingSignIn) {
	options, c, err := s.mfa.BeginLogin(r.Context(), p.user)
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusUnauthorized)
		return
	}
	s.sessions.Put(r.Context(), sessionWebAuthn, []byte(c))
	writeRawJSON(w, options)
}

// finishSecondFactorKey checks the key's answer and completes the sign-in.
func (s *Server) finishSecondFactorKey(w http.ResponseWriter, r *http.Request, p *pendingSignIn) {
	answer, err := io.ReadAll(r.Body)
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusBadRequest)
		return
	}
	c := mfa.Ceremony(s.sessions.PopBytes(r.Context(), sessionWebAuthn))
	if _, err := s.mfa.FinishLogin(r.Context(), p.user, c, answer); err != nil {
		s.webAuthnError(w, r, err, http.StatusUnauthorized)
		return
	}
	if err := s.finishSignIn(w, r, p.user, p.method+"+webauthn"); err != nil {
		s.webAuthnError(w, r, err, http.StatusInternalServerError)
		return
	}
	goTo(w, r, "/devices")
}

// beginPasskey starts a sign-in with a passkey alone, when an admin allows it. The ceremony
// waits in a session that expires with it (pendingMFA).
func (s *Server) beginPasskey(w http.ResponseWriter, r *http.Request) {
	if !s.passwordless(w, r) {
		return
	}
	options, c, err := s.mfa.BeginPasskey()
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusUnauthorized)
		return
	}
	if currentUser(r) == nil && s.sessions.GetString(r.Context(), sessionPendingUser) == "" {
		s.sessions.SetDeadline(r.Context(), time.Now().Add(pendingMFA))
	}
	s.sessions.Put(r.Context(), sessionWebAuthn, []byte(c))
	writeRawJSON(w, options)
}

// finishPasskey checks the passkey's answer and signs its user in.
func (s *Server) finishPasskey(w http.ResponseWriter, r *http.Request) {
	if !s.passwordless(w, r) {
		return
	}
	answer, err := io.ReadAll(r.Body)
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusBadRequest)
		return
	}
	c := mfa.Ceremony(s.sessions.PopBytes(r.Context(), sessionWebAuthn))
	u, _, err := s.mfa.FinishPasskey(r.Context(), c, answer)
	if err == nil && u.Disabled() {
		s.log.Warn("passkey sign-in refused: the user is disabled", slog.String("user", u.Email))
		err = mfa.ErrWebAuthnRefused
	}
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusUnauthorized)
		return
	}
	s.signIn(w, r, u, "passkey")
}

// passwordless reports whether an admin allows signing in with a passkey alone; when not, it
// answers so.
func (s *Server) passwordless(w http.ResponseWriter, r *http.Request) bool {
	st, err := s.store.Settings(r.Context())
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusInternalServerError)
		return false
	}
	if !st.PasswordlessEnabled {
		writeJSON(w, http.StatusForbidden, jsonAnswer{Error: "Signing in with a passkey alone is turned off. Sign in with your email and password."})
		return false
	}
	return true
}

// webAuthnError answers a WebAuthn request that failed: refused is the status of an answer the
// service refused (401 at sign-in, 422 when adding a key).
func (s *Server) webAuthnError(w http.ResponseWriter, r *http.Request, err error, refused int) {
	var maxBytes *http.MaxBytesError
	switch bad := text.InputErrors(err); {
	case errors.Is(err, mfa.ErrWebAuthnUnavailable):
		writeJSON(w, http.StatusConflict, jsonAnswer{Error: text.Sentence(s.mfa.WebAuthnUnavailable())})
	case errors.Is(err, mfa.ErrWebAuthnRefused):
		writeJSON(w, refused, jsonAnswer{Error: "The security key or passkey was not accepted. Try again, or use another way."})
	case len(bad) > 0:
		writeJSON(w, http.StatusUnprocessableEntity, jsonAnswer{Error: bad[0].Message})
	case errors.As(err, &maxBytes):
		writeJSON(w, http.StatusRequestEntityTooLarge, jsonAnswer{Error: "The answer is too large: at most 1 MiB is accepted."})
	case errors.Is(err, store.ErrUnavailable):
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, jsonAnswer{Error: "The database is unavailable. Try again in a moment."})
	case errors.Is(err, store.ErrDiskFull):
		s.log.Error("server error", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("request_id", requestID(r)), slog.Any("err", err))
		writeJSON(w, http.StatusInsufficientStorage, jsonAnswer{Error: diskFullMessage})
	default:
		s.log.Error("server error", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("request_id", requestID(r)), slog.Any("err", err))
		writeJSON(w, http.StatusInternalServerError, jsonAnswer{Error: "Something went wrong on our side. It has been logged; please try again."})
	}
}

// writeRawJSON writes a JSON document made elsewhere.
func writeRawJSON(w http.ResponseWriter, doc []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(doc)
}
