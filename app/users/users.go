// Package users is the user service: it creates users (one way to hash a password, one email
// rule), makes the first admin, and enables and disables them. The web UI, the CLI, `init`
// and `serve` all create users through it.
package users

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wiregui/app/audit"
	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/store"
)

// Store is what the user service needs from storage.
type Store interface {
	CreateUser(ctx context.Context, u *store.User) error
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	UserByID(ctx context.Context, id string) (*store.User, error)
	CountUsers(ctx context.Context) (int, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (*store.User, error)
	DeleteUser(ctx context.Context, id string) error
	SetUserTheme(ctx context.Context, id, theme string) error
	InviteUser(ctx context.Context, u *store.User, t *store.SignInToken) error
	CreateSignInToken(ctx context.Context, t *store.SignInToken) error
	DeleteSignInToken(ctx context.Context, hash string) error
	SignInTokenUser(ctx context.Context, hash, purpose string, at time.Time) (*store.User, error)
	UseSignInToken(ctx context.Context, hash, purpose string, at time.Time, fn func(*store.User) error) (*store.User, error)
}

// Service creates and changes users.
type Service struct {
	Store Store
	// Changed, if set, is called with the user's id after a change of the user (disabled,
	// enabled, deleted with their devices and rules, …), so that the data plane applies it at
	// once.
	Changed func(userID string)

	// For invitations (invitations.go): the mailer, the tokens of the links, the web UI's
	// URL (WG_EXTERNAL_URL) the links point to. Unset, Invite says email is not set up.
	Mail   Mailer
	Tokens *auth.Tokens
	URL    string
	// Log receives the account events (app/audit); nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Spec is what a new user is made from.
type Spec struct {
	Email string
	// Password may be empty: the user then has no password (nobody can sign in with one).
	Password string
	Admin    bool
}

// Create checks spec and stores the user. Errors about the input are *text.InputError on
// "email" and "password", every one of them at once (errors.Join); a taken email is one that
// wraps store.ErrConflict.
func (s *Service) Create(ctx context.Context, spec Spec) (*store.User, error) {
	email, emailErr := Email(spec.Email)
	var pwErr error
	if spec.Password != "" {
		pwErr = CheckPassword(cmp.Or(email, store.NormalizeEmail(spec.Email)), spec.Password)
	}
	if err := errors.Join(emailErr, pwErr); err != nil {
		return nil, err
	}
	u := &store.User{Email: email, Role: store.RoleUnprivileged}
	if spec.Admin {
		u.Role = store.RoleAdmin
	}
	if spec.Password != "" {
		var err error
		if u.PasswordHash, err = auth.HashPassword(spec.Password); err != nil {
			return nil, err
		}
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &text.InputError{Field: "email", Message: fmt.Sprintf("A user with the email %s already exists.", u.Email),
				Err: err}
		}
		return nil, fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return u, nil
}

// FirstAdmin creates the admin email with password when there are no users at all, and
// returns it; with users it creates nobody and returns nil. An empty password makes one up
// and returns it as generated, to be shown once.
func (s *Service) FirstAdmin(ctx context.Context, email, password string) (admin *store.User, generated string, err error) {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return nil, "", err
	}
	if password == "" {
		password = GeneratePassword()
		generated = password
	}
	admin, err = s.Create(ctx, Spec{Email: email, Password: password, Admin: true})
	if err != nil {
		return nil, "", fmt.Errorf("create the first admin: %w", err)
	}
	return admin, generated, nil
}

// SetDisabled disables or enables the user with email; a disabled user's devices are
// disconnected at once and they cannot sign in. It reports whether anything changed: doing
// it twice is not an error.
func (s *Service) SetDisabled(ctx context.Context, email string, disabled bool) (*store.User, bool, error) {
	return s.Update(ctx, email, Change{DisabledAt: DisabledAt(disabled)})
}

// DisabledAt is the Change.DisabledAt that disables a user now, or enables them.
func DisabledAt(disabled bool) **time.Time {
	var at *time.Time
	if disabled {
		now := time.Now()
		at = &now
	}
	return &at
}

// Change is what Update changes of a user; nil fields stay as they are.
type Change struct {
	Email      *string
	Password   *string
	Admin      *bool
	DisabledAt **time.Time // nil: unchanged; a nil *time.Time: enabled
}

// Update applies c to the user with email and reports whether anything changed (UpdateByID).
func (s *Service) Update(ctx context.Context, email string, c Change) (*store.User, bool, error) {
	u, err := s.ByEmail(ctx, email)
	if err != nil {
		return nil, false, err
	}
	return s.UpdateByID(ctx, u.ID, c)
}

// UpdateByID applies c to user id and reports whether anything changed. The checks are
// Create's, every field's at once; a change that would leave no enabled admin is an
// InputError on "_form" that wraps store.ErrLastAdmin, and nothing is written. A user who
// does not exist is store.ErrNotFound.
func (s *Service) UpdateByID(ctx context.Context, id string, c Change) (*store.User, bool, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, false, err
	}
	newEmail := u.Email
	var emailErr, pwErr error
	if c.Email != nil {
		newEmail, emailErr = Email(*c.Email)
	}
	var hash string
	if c.Password != nil {
		pwErr = CheckPassword(newEmail, *c.Password)
	}
	if err := errors.Join(emailErr, pwErr); err != nil {
		return nil, false, err
	}
	if c.Password != nil {
		if hash, err = auth.HashPassword(*c.Password); err != nil {
			return nil, false, err
		}
	}
	changed := false
	updated, err := s.Store.UpdateUser(ctx, u.ID, func(u *store.User) error {
		was := *u
		if c.Email != nil {
			u.Email = newEmail
		}
		if c.Password != nil {
			u.PasswordHash = hash
		}
		if c.Admin != nil {
			u.Role = map[bool]string{true: store.RoleAdmin, false: store.RoleUnprivileged}[*c.Admin]
		}
		if c.DisabledAt != nil && u.Disabled() != (*c.DisabledAt != nil) {
			u.DisabledAt = *c.DisabledAt
		}
		changed = u.Email != was.Email || u.PasswordHash != was.PasswordHash || u.Role != was.Role || u.Disabled() != was.Disabled()
		if !changed {
			return errUnchanged
		}
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return u, false, nil
	case errors.Is(err, store.ErrLastAdmin):
		return nil, false, lastAdmin(u, err)
	case errors.Is(err, store.ErrConflict):
		return nil, false, &text.InputError{Field: "email", Message: fmt.Sprintf("A user with the email %s already exists.", newEmail), Err: err}
	case err != nil:
		return nil, false, err
	}
	if c.Password != nil && updated.PasswordHash != u.PasswordHash {
		s.event(audit.Event{Name: audit.PasswordChanged, User: updated.Email, UserID: updated.ID, Method: "set"})
	}
	if s.Changed != nil {
		s.Changed(updated.ID)
	}
	return updated, true, nil
}

// errUnchanged ends an update that would write nothing new.
var errUnchanged = errors.New("unchanged")

// lastAdmin is the InputError of a change refused because u is the last enabled admin.
func lastAdmin(u *store.User, err error) error {
	return &text.InputError{Field: "_form", Message: fmt.Sprintf("%s is the last enabled admin, and without one nobody could "+
		"manage the server. Make another user an admin first.", u.Email), Err: err}
}

// Delete deletes the user with email (DeleteByID).
func (s *Service) Delete(ctx context.Context, email string) (*store.User, error) {
	u, err := s.ByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	return s.DeleteByID(ctx, u.ID)
}

// DeleteByID deletes user id with what is theirs (store.Belongings), and returns them as they
// were; their peers and firewall rules go at once (Changed). The last enabled admin stays: an
// InputError on "_form" that wraps store.ErrLastAdmin. A user who is gone already is
// store.ErrNotFound.
func (s *Service) DeleteByID(ctx context.Context, id string) (*store.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		if errors.Is(err, store.ErrLastAdmin) {
			return nil, lastAdmin(u, err)
		}
		return nil, err
	}
	if s.Changed != nil {
		s.Changed(u.ID)
	}
	return u, nil
}

// List returns every user, by email.
func (s *Service) List(ctx context.Context) ([]store.User, error) { return s.Store.ListUsers(ctx) }

// ByEmail returns the user with email; a user who does not exist is an InputError on
// "email" that wraps store.ErrNotFound.
func (s *Service) ByEmail(ctx context.Context, email string) (*store.User, error) {
	e, err := text.EmailAddress.Clean(email) // the text rule only: users made under older rules are found too
	if err != nil {
		return nil, &text.InputError{Field: "email", Message: text.Sentence(err.Error())}
	}
	u, err := s.Store.UserByEmail(ctx, e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &text.InputError{Field: "email", Message: fmt.Sprintf("There is no user with the email %s.", store.NormalizeEmail(e)),
			Err: err}
	}
	return u, err
}

// Email checks an email address for a new account (text.Email) and returns it as it is
// stored: in lower case.
func Email(s string) (string, error) {
	e, err := text.Email(s)
	if err != nil {
		return "", &text.InputError{Field: "email", Message: text.Sentence(err.Error())}
	}
	return store.NormalizeEmail(e), nil
}

// GeneratePassword returns a new random password of 20 characters (120 bits).
func GeneratePassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
