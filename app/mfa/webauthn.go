package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"wiregui/app/text"
	"wiregui/store"
)

// A WebAuthn ceremony has two requests: its begin hands the browser options with a challenge,
// its finish checks the authenticator's answer against that challenge. What the finish checks
// against (Ceremony) stays on the server, in the user's session, and is used once: the
// browser's word is taken for nothing.

// The purposes of a ceremony.
const (
	purposeRegister = "register" // add a security key or passkey
	purposeLogin    = "login"    // the second factor of a sign-in
	purposePasskey  = "passkey"  // a sign-in with a passkey alone
)

// Ceremony is what the finish of a WebAuthn ceremony needs from its begin: keep it on the
// server (in the session) between the two, and use it once.
type Ceremony []byte

// ceremony is a Ceremony's content.
type ceremony struct {
	Purpose string               `json:"purpose"`
	Name    string               `json:"name,omitempty"` // the new credential's, when registering
	Session webauthn.SessionData `json:"session"`
}

func (s *Service) newCeremony(purpose, name string, sd *webauthn.SessionData) (Ceremony, error) {
	b, err := json.Marshal(ceremony{Purpose: purpose, Name: name, Session: *sd})
	if err != nil {
		return nil, fmt.Errorf("webauthn %s: %w", purpose, err)
	}
	return b, nil
}

// errNoCeremony is a finish without a begin, or a begin of another purpose: a page left open
// too long, or a second answer.
var errNoCeremony = &text.InputError{Field: "_form", Message: "This request has expired. Try again."}

func openCeremony(c Ceremony, purpose string) (ceremony, error) {
	var cer ceremony
	if len(c) == 0 || json.Unmarshal(c, &cer) != nil || cer.Purpose != purpose {
		return ceremony{}, errNoCeremony
	}
	return cer, nil
}

// ErrWebAuthnUnavailable is a WebAuthn request to a server that cannot do WebAuthn
// (WebAuthnUnavailable says why).
var ErrWebAuthnUnavailable = errors.New("webauthn is unavailable")

// ErrWebAuthnRefused is an authenticator's answer that does not prove what it should: not one
// of the user's credentials, a wrong signature, the wrong site, a cloned authenticator.
var ErrWebAuthnRefused = errors.New("the security key's answer was refused")

// webUser is a user as the WebAuthn library sees one: the user handle is the user's id.
type webUser struct {
	u       *store.User
	methods []store.MFAMethod // the WebAuthn ones, in the order of creds
	creds   []webauthn.Credential
}

func (w *webUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *webUser) WebAuthnName() string                       { return w.u.Email }
func (w *webUser) WebAuthnDisplayName() string                { return w.u.Email }
func (w *webUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// method returns the stored method of a credential id.
func (w *webUser) method(id []byte) *store.MFAMethod {
	for i := range w.methods {
		if bytes.Equal(w.methods[i].CredentialID, id) {
			return &w.methods[i]
		}
	}
	return nil
}

// webUserOf loads u's WebAuthn credentials.
func (s *Service) webUserOf(ctx context.Context, u *store.User) (*webUser, error) {
	methods, err := s.store.MFAMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := &webUser{u: u}
	for _, m := range methods {
		if m.Kind != store.MFAWebAuthn {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(m.Credential), &c); err != nil {
			return nil, fmt.Errorf("mfa method %s: credential: %w", m.ID, err)
		}
		c.Authenticator.SignCount = m.SignCount // the store's counter is the one kept up to date
		w.methods, w.creds = append(w.methods, m), append(w.creds, c)
	}
	return w, nil
}

func (s *Service) available() error {
	if s.webauthn == nil {
		return ErrWebAuthnUnavailable
	}
	return nil
}

// BeginRegistration starts adding a security key or passkey named name to u: it returns the
// options for navigator.credentials.create (JSON) and the ceremony to keep. It asks for a
// discoverable credential (a passkey) where the authenticator can make one.
func (s *Service) BeginRegistration(ctx context.Context, u *store.User, name string) (options []byte, c Ceremony, err error) {
	if err := s.available(); err != nil {
		return nil, nil, err
	}
	name, err = cleanName(name, "Security key")
	if err != nil {
		return nil, nil, err
	}
	w, err := s.webUserOf(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	creation, sd, err := s.webauthn.BeginRegistration(w,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn register: %w", err)
	}
	return s.begun(creation, purposeRegister, name, sd)
}

// begun encodes the options of a ceremony begun and the ceremony to keep.
func (s *Service) begun(options any, purpose, name string, sd *webauthn.SessionData) ([]byte, Ceremony, error) {
	b, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn %s: %w", purpose, err)
	}
	c, err := s.newCeremony(purpose, name, sd)
	return b, c, err
}

// FinishRegistration checks the authenticator's answer (the JSON of the new
// PublicKeyCredential) to the ceremony c and saves the credential as u's method. An answer
// that does not prove what it should is ErrWebAuthnRefused; a credential u has already is an
// InputError.
func (s *Service) FinishRegistration(ctx context.Context, u *store.User, c Ceremony, answer []byte) (*store.MFAMethod, error) {
	if err := s.available(); err != nil {
		return nil, err
	}
	cer, err := openCeremony(c, purposeRegister)
	if err != nil {
		return nil, err
	}
	w, err := s.webUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, s.refused(u, purposeRegister, err)
	}
	cred, err := s.webauthn.CreateCredential(w, cer.Session, parsed)
	if err != nil {
		return nil, s.refused(u, purposeRegister, err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, fmt.Errorf("webauthn register: %w", err)
	}
	m := &store.MFAMethod{UserID: u.ID, Kind: store.MFAWebAuthn, Name: cer.Name, CredentialID: cred.ID,
		Credential: string(record), SignCount: cred.Authenticator.SignCount,
		Discoverable: cred.Extensions.RK != nil && *cred.Extensions.RK}
	if err := s.store.CreateMFAMethod(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &text.InputError{Field: "_form", Message: "This security key is added already.", Err: err}
		}
		return nil, err
	}
	s.changed(u, m.Kind, "added")
	return m, nil
}

// refused logs why the library refused an answer and returns ErrWebAuthnRefused: the details
// are for the log, not for the browser.
func (s *Service) refused(u *store.User, purpose string, err error) error {
	attrs := []any{slog.String("ceremony", purpose), slog.Any("err", err)}
	var perr *protocol.Error
	if errors.As(err, &perr) && perr.DevInfo != "" {
		attrs = append(attrs, slog.String("detail", perr.DevInfo))
	}
	if u != nil {
		attrs = append(attrs, slog.String("user", u.Email))
	}
	s.log.Warn("webauthn answer refused", attrs...)
	return ErrWebAuthnRefused
}

// BeginLogin starts the second factor of u's sign-in with one of u's WebAuthn credentials. It
// is ErrWebAuthnRefused when u has none.
func (s *Service) BeginLogin(ctx context.Context, u *store.User) (options []byte, c Ceremony, err error) {
	if err := s.available(); err != nil {
		return nil, nil, err
	}
	w, err := s.webUserOf(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	if len(w.creds) == 0 {
		return nil, nil, ErrWebAuthnRefused
	}
	assertion, sd, err := s.webauthn.BeginLogin(w)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn login: %w", err)
	}
	return s.begun(assertion, purposeLogin, "", sd)
}

// FinishLogin checks the authenticator's answer to the ceremony c of u's sign-in, and records
// the use of the credential. It returns the method used.
func (s *Service) FinishLogin(ctx context.Context, u *store.User, c Ceremony, answer []byte) (*store.MFAMethod, error) {
	if err := s.available(); err != nil {
		return nil, err
	}
	cer, err := openCeremony(c, purposeLogin)
	if err != nil {
		return nil, err
	}
	w, err := s.webUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return nil, s.refused(u, purposeLogin, err)
	}
	cred, err := s.webauthn.ValidateLogin(w, cer.Session, parsed)
	if err != nil {
		return nil, s.refused(u, purposeLogin, err)
	}
	return s.used(ctx, w, cred, purposeLogin)
}

// BeginPasskey starts a sign-in with a passkey alone: the browser offers the passkeys it has
// for this site, and the one chosen says whose it is. The authenticator must verify its user
// (a PIN, a fingerprint): the passkey is then both factors.
func (s *Service) BeginPasskey() (options []byte, c Ceremony, err error) {
	if err := s.available(); err != nil {
		return nil, nil, err
	}
	assertion, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn passkey: %w", err)
	}
	return s.begun(assertion, purposePasskey, "", sd)
}

// FinishPasskey checks the answer to the passkey sign-in c and returns the user it signs in
// (who may be disabled: the caller decides) with the method used.
func (s *Service) FinishPasskey(ctx context.Context, c Ceremony, answer []byte) (*store.User, *store.MFAMethod, error) {
	if err := s.available(); err != nil {
		return nil, nil, err
	}
	cer, err := openCeremony(c, purposePasskey)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return nil, nil, s.refused(nil, purposePasskey, err)
	}
	var w *webUser
	find := func(rawID, userHandle []byte) (webauthn.User, error) {
		m, err := s.store.MFAMethodByCredential(ctx, rawID)
		if err != nil {
			return nil, err
		}
		if m.UserID != string(userHandle) {
			return nil, errors.New("the credential is another user's")
		}
		u, err := s.store.UserByID(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		if w, err = s.webUserOf(ctx, u); err != nil {
			return nil, err
		}
		return w, nil
	}
	_, cred, err := s.webauthn.ValidatePasskeyLogin(find, cer.Session, parsed)
	if err != nil {
		if w != nil {
			return nil, nil, s.refused(w.u, purposePasskey, err)
		}
		return nil, nil, s.refused(nil, purposePasskey, err)
	}
	m, err := s.used(ctx, w, cred, purposePasskey)
	if err != nil {
		return nil, nil, err
	}
	return w.u, m, nil
}

// used records the use of credential cred, which the library accepted for w: a counter that
// went back (a cloned authenticator) or a use that another overtook is refused.
func (s *Service) used(ctx context.Context, w *webUser, cred *webauthn.Credential, purpose string) (*store.MFAMethod, error) {
	m := w.method(cred.ID)
	if m == nil {
		return nil, s.refused(w.u, purpose, errors.New("the credential accepted is not the user's"))
	}
	if cred.Authenticator.CloneWarning {
		return nil, s.refused(w.u, purpose, fmt.Errorf("the signature counter went back from %d: a cloned authenticator?", m.SignCount))
	}
	ok, err := s.store.UseWebAuthn(ctx, m.ID, m.SignCount, cred.Authenticator.SignCount, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.refused(w.u, purpose, errors.New("another use of the credential came first"))
	}
	return m, nil
}
