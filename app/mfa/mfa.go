// Package mfa is the second factor: TOTP authenticators (RFC 6238), WebAuthn credentials
// (security keys and passkeys) and recovery codes. It enrols them, checks them at sign-in,
// lists and removes them. The web UI and the CLI go through it; the web UI decides when a
// sign-in needs a second factor (app/login.go), this package whether one is right.
//
// What an attacker could guess (a TOTP code, a recovery code) is bounded by the caller, with
// the one attempt limiter of every way of signing in (app/limits); no code works twice, whichever requests bring it at the same moment (the store
// checks and records a use in one statement).
package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"wiregui/app/audit"
	"wiregui/app/text"
	"wiregui/store"
)

// Store is what the MFA service needs from storage.
type Store interface {
	CreateMFAMethod(ctx context.Context, m *store.MFAMethod) error
	MFAMethods(ctx context.Context, userID string) ([]store.MFAMethod, error)
	MFAMethodByCredential(ctx context.Context, credentialID []byte) (*store.MFAMethod, error)
	UseTOTPStep(ctx context.Context, id string, step int64, at time.Time) (bool, error)
	UseWebAuthn(ctx context.Context, id string, was, count uint32, at time.Time) (bool, error)
	DeleteMFAMethod(ctx context.Context, userID, id string) error
	ResetMFA(ctx context.Context, userID string) (methods, codes int, err error)
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
}

// Options are the service's dependencies and settings.
type Options struct {
	Store Store
	// ExternalURL is where users reach WireGUI: its host is the WebAuthn relying party's id and
	// its origin the only one WebAuthn answers are accepted from. A host that is an IP address
	// leaves WebAuthn off (browsers take only domain names), and WebAuthnUnavailable says why.
	ExternalURL string
	// Key is the server's secret key (at least 32 bytes): the service derives from it the key
	// of its own that signs the TOTP enrolments handed to the browser. Without one (a command
	// that enrols nobody) the key is random, and an enrolment lasts as long as the process.
	Key    []byte
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Service enrols and checks second factors.
type Service struct {
	store    Store
	key      []byte
	log      *slog.Logger
	now      func() time.Time
	webauthn *webauthn.WebAuthn // nil when unavailable
	// webauthnOff says why WebAuthn is unavailable; "" when it is available.
	webauthnOff string
}

// Issuer names WireGUI in authenticator apps and to WebAuthn authenticators.
const Issuer = "WireGUI"

// New returns the service. Only a missing dependency is an error: an external URL WebAuthn
// cannot work with leaves WebAuthn off, and says why (WebAuthnUnavailable).
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("mfa: a store is required")
	}
	switch {
	case len(opts.Key) == 0:
		opts.Key = make([]byte, 32)
		rand.Read(opts.Key)
	case len(opts.Key) < 32:
		return nil, fmt.Errorf("mfa: key: got %d bytes, want at least 32", len(opts.Key))
	}
	mac := hmac.New(sha256.New, opts.Key)
	mac.Write([]byte("wiregui totp enrolment"))
	s := &Service{store: opts.Store, key: mac.Sum(nil), log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.webauthn, s.webauthnOff = newWebAuthn(opts.ExternalURL)
	return s, nil
}

// newWebAuthn configures WebAuthn for the external URL, or says why it cannot be.
func newWebAuthn(externalURL string) (*webauthn.WebAuthn, string) {
	u, err := url.Parse(externalURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Sprintf("WG_EXTERNAL_URL (%q) is not an absolute URL", externalURL)
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: Issuer,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// A ceremony's answer must come within the time its options give the browser.
		Timeouts: webauthn.TimeoutsConfig{Login: webauthn.TimeoutConfig{Enforce: true},
			Registration: webauthn.TimeoutConfig{Enforce: true}},
	})
	if err != nil {
		return nil, fmt.Sprintf("security keys and passkeys need WireGUI to be reached by a domain name, "+
			"and WG_EXTERNAL_URL's host %s is not one", u.Hostname())
	}
	return w, ""
}

// WebAuthnUnavailable says why security keys and passkeys cannot be used; "" when they can.
func (s *Service) WebAuthnUnavailable() string { return s.webauthnOff }

// ErrWrongCode is a TOTP or recovery code that is not right, or was used already.
var ErrWrongCode = errors.New("wrong code")

// methodName is the text rule of an MFA method's name.
var methodName = text.Field{Name: "a name", Max: 64}

// cleanName checks a new method's name; an empty one becomes fallback.
func cleanName(name, fallback string) (string, error) {
	n, err := methodName.Clean(name)
	if err != nil {
		return "", &text.InputError{Field: "name", Message: text.Sentence(err.Error())}
	}
	if n == "" {
		n = fallback
	}
	return n, nil
}

// Methods returns the user's MFA methods, oldest first.
func (s *Service) Methods(ctx context.Context, userID string) ([]store.MFAMethod, error) {
	return s.store.MFAMethods(ctx, userID)
}

// Remove removes the user's method id; with their last method go their recovery codes. A
// method that is not the user's is an error that wraps store.ErrNotFound.
func (s *Service) Remove(ctx context.Context, u *store.User, id string) error {
	methods, err := s.store.MFAMethods(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := s.store.DeleteMFAMethod(ctx, u.ID, id); err != nil {
		return err
	}
	for _, m := range methods {
		if m.ID == id {
			s.changed(u, m.Kind, "removed")
		}
	}
	return nil
}

// changed logs a change of u's second factors (app/audit): what kind of method, and how.
func (s *Service) changed(u *store.User, kind, change string) {
	audit.Log(s.log, audit.Event{Name: audit.MFAChanged, User: u.Email, UserID: u.ID, Method: kind, Change: change})
}

// Reset removes all of the user's MFA methods and recovery codes (an operator's way back in for
// someone who lost them), and returns how many methods and unused codes there were. Doing it
// twice is not an error.
func (s *Service) Reset(ctx context.Context, u *store.User) (methods, codes int, err error) {
	methods, codes, err = s.store.ResetMFA(ctx, u.ID)
	if err != nil {
		return 0, 0, fmt.Errorf("reset mfa of %s: %w", u.Email, err)
	}
	s.changed(u, "", fmt.Sprintf("reset: %d methods and %d recovery codes removed", methods, codes))
	return methods, codes, nil
}

// attempt runs check, an attempt at what can be guessed: ErrWrongCode, logged, when check
// finds the code wrong.
func (s *Service) attempt(u *store.User, what string, check func() (bool, error)) error {
	ok, err := check()
	if err != nil {
		return err
	}
	if !ok {
		s.log.Warn("mfa code refused", slog.String("user", u.Email), slog.String("factor", what))
		return ErrWrongCode
	}
	return nil
}
