package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"wiregui/store"
)

type ctxKey int

const (
	viewerKey ctxKey = iota
	requestIDKey
)

// Session keys.
const (
	sessionUserID = "user_id"
	sessionCSRF   = "csrf"
	sessionFlash  = "flash"
	sessionSeen   = "seen" // unix ms of the last request, give or take sessionSeenEvery
	sessionRole   = "role" // the user's role when the session last had a token made (withUser)
	// sessionSignedIn is the unix ms of the sign-in that made the session.
	sessionSignedIn = "signed_in"
	// A sign-in that waits for its second factor (login.go): who passed the first, how, and
	// until when (unix ms) the second may come.
	sessionPendingUser   = "mfa_user"
	sessionPendingMethod = "mfa_method"
	sessionPendingUntil  = "mfa_until"
	// sessionEnrol holds the first factor of a sign-in that must add a second factor before
	// anything else (enrolGate).
	sessionEnrol = "mfa_enrol"
	// sessionWebAuthn holds the WebAuthn ceremony begun, until its answer comes (mfa.Ceremony).
	sessionWebAuthn = "webauthn"
)

// A signed-in session ends after sessionIdle without a request. Activity is written at most
// every sessionSeenEvery, so that pages do not each write the session. (Variables for the
// tests.)
var (
	sessionIdle      = 24 * time.Hour
	sessionSeenEvery = time.Minute
)

// csrfHeader carries the token on htmx requests; csrfField in forms.
const (
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"
)

// viewer is who makes a request: the signed-in user, re-read from the database for the
// request, and the runtime settings that decide what they may do (can), read once with them.
type viewer struct {
	user     *store.User
	settings store.Settings
}

// currentUser returns the signed-in user of the request, or nil.
func currentUser(r *http.Request) *store.User {
	if v := requestViewer(r); v != nil {
		return v.user
	}
	return nil
}

// requestViewer returns who makes the request, or nil when nobody is signed in.
func requestViewer(r *http.Request) *viewer {
	v, _ := r.Context().Value(viewerKey).(*viewer)
	return v
}

// viewing returns ctx with u as its viewer, and the settings read for them.
func (s *Server) viewing(ctx context.Context, u *store.User) (context.Context, error) {
	st, err := s.store.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	return context.WithValue(ctx, viewerKey, &viewer{user: u, settings: st}), nil
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// withUser re-reads the session's user on every request, and the settings with them: a deleted
// or disabled user is signed out at once, and a changed role takes effect on the next request,
// with a new session token.
func (s *Server) withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		u, ended, err := s.sessionUser(r.Context(), now)
		switch {
		case ended:
			// Nothing of the session is kept for the visitor it leaves behind.
			if err := s.sessions.Destroy(r.Context()); err != nil {
				s.serverError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		case err != nil:
			s.serverError(w, r, err)
		case u == nil:
			next.ServeHTTP(w, r)
		default:
			ctx, err := s.viewing(r.Context(), u)
			if err != nil {
				s.serverError(w, r, err)
				return
			}
			if role := s.sessions.GetString(ctx, sessionRole); role != u.Role {
				// Their role changed since the session's token was made (an admin demoted
				// or promoted them): a new token, as at every privilege change, on each
				// session's own next request, the first moment it could use the old role.
				if err := s.sessions.RenewToken(ctx); err != nil {
					s.serverError(w, r, err)
					return
				}
				s.sessions.Put(ctx, sessionRole, u.Role)
				if role != "" {
					s.log.Info("session renewed after a role change", slog.String("user", u.ID), slog.String("from", role),
						slog.String("to", u.Role))
				}
			}
			if now.Sub(time.UnixMilli(s.sessions.GetInt64(ctx, sessionSeen))) > sessionSeenEvery {
				s.sessions.Put(ctx, sessionSeen, now.UnixMilli())
			}
			if s.sessions.GetString(ctx, sessionEnrol) != "" && !enrolPath(r.URL.Path) {
				s.enrolGate(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		}
	})
}

// sessionUser returns the user the session in ctx is signed in as; nil when nobody is. ended
// is true when the session names a user who may no longer be signed in: it was idle for
// longer than sessionIdle, or the user is gone or disabled.
func (s *Server) sessionUser(ctx context.Context, now time.Time) (u *store.User, ended bool, err error) {
	id := s.sessions.GetString(ctx, sessionUserID)
	if id == "" {
		return nil, false, nil
	}
	if now.Sub(time.UnixMilli(s.sessions.GetInt64(ctx, sessionSeen))) > sessionIdle {
		return nil, true, nil
	}
	u, err = s.store.UserByID(ctx, id)
	switch {
	case isNotFound(err) || err == nil && u.Disabled():
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("load session user: %w", err)
	}
	return u, false, nil
}

// requireUser sends visitors who are not signed in to the sign-in page.
func (s *Server) requireUser(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if currentUser(r) == nil {
			if isHTMX(r) {
				w.Header().Set(hxRedirect, "/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r)
	})
}

// csrfToken returns the signed-in session's CSRF token, creating it on first use (sign-in
// creates it).
func (s *Server) csrfToken(r *http.Request) string {
	tok := s.sessions.GetString(r.Context(), sessionCSRF)
	if tok == "" {
		tok = randomHex(32)
		s.sessions.Put(r.Context(), sessionCSRF, tok)
	}
	return tok
}

// checkCSRF refuses state-changing requests that do not carry their token, in the
// X-CSRF-Token header (htmx) or the csrf_token form field: the session's token, or for a
// visitor who is not signed in the sign-in form's signed token (loginToken). It backs up the origin check of
// http.CrossOriginProtection, which runs first.
func (s *Server) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		got := r.Header.Get(csrfHeader)
		if got == "" {
			got = r.PostFormValue(csrfField)
		}
		// A session's own token (a signed-in user's, or a sign-in's that waits for its second
		// factor); a visitor without one has the sign-in form's.
		want := s.sessions.GetString(r.Context(), sessionCSRF)
		ok := want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
		if !ok && currentUser(r) == nil {
			ok = s.validLoginToken(r, got)
		}
		if !ok {
			s.log.Warn("csrf token mismatch", slog.String("path", r.URL.Path), slog.String("request_id", requestID(r)))
			s.clientError(w, r, http.StatusForbidden, "Your session has expired or the form is stale. Reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loginCookie holds the random value the sign-in form's CSRF token signs.
const loginCookie = "wiregui_login"

// loginToken returns the CSRF token of the sign-in form, setting the cookie it is checked
// against when the request has none. A visitor who is not signed in gets no session, so that
// nothing they send is written or kept: the token is a signed double-submit cookie, an HMAC
// under the secret key of a random value held in a cookie of its own. A site that can plant
// cookies for our host still cannot make a token that matches one.
func (s *Server) loginToken(w http.ResponseWriter, r *http.Request) string {
	nonce := loginNonce(r)
	if nonce == "" {
		nonce = randomHex(32)
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: s.sessions.Cookie.Secure})
	}
	return s.signLogin(nonce)
}

// validLoginToken reports whether token is the sign-in form's token for the request's cookie.
func (s *Server) validLoginToken(r *http.Request, token string) bool {
	nonce := loginNonce(r)
	return nonce != "" && hmac.Equal([]byte(token), []byte(s.signLogin(nonce)))
}

// endLoginToken removes the sign-in cookie: once signed in, the session's token takes over.
func (s *Server) endLoginToken(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.sessions.Cookie.Secure})
}

func (s *Server) signLogin(nonce string) string {
	mac := hmac.New(sha256.New, s.loginKey)
	mac.Write([]byte(nonce))
	return hex.EncodeToString(mac.Sum(nil))
}

// loginNonce returns the value of the request's sign-in cookie, or "" when it has none of the
// form loginToken makes (64 hex digits).
func loginNonce(r *http.Request) string {
	c, err := r.Cookie(loginCookie)
	if err != nil || len(c.Value) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(c.Value); err != nil {
		return ""
	}
	return c.Value
}

// maxFormBytes bounds every request body. The largest form, a device with its relay subnets,
// is a few KiB.
const maxFormBytes = 1 << 20

// readForm parses the form of every request once, here, on the request the server finishes,
// before any middleware copies it; handlers read r.PostForm. Bodies are limited to
// maxFormBytes, and multipart bodies are refused: no route takes files, and parsing one writes
// its large parts to temporary files that only the request the server finishes gets removed.
func (s *Server) readForm(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
			s.clientError(w, r, http.StatusUnsupportedMediaType, "This server takes no file uploads. Send the form without files.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r) // no form in the body; the query is read where it is used
			return
		}
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.clientError(w, r, http.StatusRequestEntityTooLarge, "The form is too large: at most 1 MiB is accepted.")
				return
			}
			s.clientError(w, r, http.StatusBadRequest, "The form could not be read. Reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries. Scripts only from our own origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// noStore keeps pages out of every cache: they carry CSRF tokens, and a created device's
// configuration holds its private key.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// keepSessionErrors makes the error page the whole answer when the session cannot be saved.
// scs saves a changed session when the page starts to be written, and on failure (the
// database is down) its ErrorFunc writes the error page; the page the handler goes on to
// write is then dropped, not appended to it.
func keepSessionErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&sessionAnswer{ResponseWriter: w}, r)
	})
}

// sessionAnswer drops what is written after the sessions' ErrorFunc has answered.
type sessionAnswer struct {
	http.ResponseWriter
	answered bool
}

func (a *sessionAnswer) WriteHeader(code int) {
	if !a.answered {
		a.ResponseWriter.WriteHeader(code)
	}
}

func (a *sessionAnswer) Write(b []byte) (int, error) {
	if a.answered {
		return len(b), nil
	}
	return a.ResponseWriter.Write(b)
}

func (a *sessionAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (rec *statusRecorder) WriteHeader(code int) {
	rec.status = code
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *statusRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// Flush lets server-sent events through the recorder.
func (rec *statusRecorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := randomHex(8)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("took", time.Since(start)), slog.String("request_id", id))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				w.Header().Set("Connection", "close")
				s.serverError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
