package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wiregui/app/audit"
	"wiregui/app/auth"
	"wiregui/app/mail"
	"wiregui/app/text"
	"wiregui/store"
)

// InvitationValid is how long an invitation's link works.
const InvitationValid = 72 * time.Hour

// InvitationPath is the path of an invitation's link, before its token.
const InvitationPath = "/login/invitation/"

// Mailer sends email (app/mail.Mailer).
type Mailer interface {
	Ready(ctx context.Context) error
	Send(ctx context.Context, m mail.Message) (answer string, err error)
}

// ErrNotSent is the error of an invitation the mail server did not take (Invite); it wraps
// the mailer's error, which mail.Answer reads.
var ErrNotSent = errors.New("the invitation was not sent")

// InvitationsReady returns nil when invitations can be sent; otherwise why not: an InputError
// on "_form" that wraps mail.ErrNotSetUp when email is not set up, or the error of reading the
// settings.
func (s *Service) InvitationsReady(ctx context.Context) error {
	err := mail.ErrNotSetUp
	if s.Mail != nil && s.Tokens != nil {
		err = s.Mail.Ready(ctx)
	}
	if errors.Is(err, mail.ErrNotSetUp) {
		return &text.InputError{Field: "_form", Message: text.Sentence(err.Error()), Err: err}
	}
	return err
}

// Invite creates the user email with role (store.RoleAdmin or store.RoleUnprivileged) and no
// password, and emails them a link, valid InvitationValid and once, to choose a password and
// sign in. A user invited before who has not accepted is invited again, with a new link that
// replaces the old. When the email cannot be sent, the user it created is removed again (or,
// for a user invited before, the new link: the old one no longer works either), and the error
// wraps ErrNotSent and says why (mail.Answer reads the server's words). Errors about the input are
// InputErrors on "email", "role" or "_form" (email is not set up).
func (s *Service) Invite(ctx context.Context, email, role string) (*store.User, error) {
	email, err := Email(email)
	if err != nil {
		return nil, err
	}
	if role != store.RoleAdmin && role != store.RoleUnprivileged {
		return nil, &text.InputError{Field: "role", Message: "Choose the role admin or user."}
	}
	if err := s.InvitationsReady(ctx); err != nil {
		return nil, err
	}
	token, hash := s.Tokens.New(store.PurposeInvitation)
	tok := &store.SignInToken{Hash: hash, Purpose: store.PurposeInvitation, ExpiresAt: s.now().Add(InvitationValid)}

	u, err := s.Store.UserByEmail(ctx, email)
	created := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		u = &store.User{Email: email, Role: role}
		if err := s.Store.InviteUser(ctx, u, tok); err != nil {
			if errors.Is(err, store.ErrConflict) { // invited by someone else meanwhile
				return nil, &text.InputError{Field: "email", Message: fmt.Sprintf("A user with the email %s already exists.", email), Err: err}
			}
			return nil, fmt.Errorf("invite %s: %w", email, err)
		}
		created = true
	case err != nil:
		return nil, err
	case u.PasswordHash != "":
		return nil, &text.InputError{Field: "email", Message: fmt.Sprintf("A user with the email %s already exists and has a password.", email),
			Err: store.ErrConflict}
	case u.Disabled():
		return nil, &text.InputError{Field: "email", Message: fmt.Sprintf("%s is disabled; enable them before inviting them again.", email),
			Err: store.ErrConflict}
	case u.Role != role:
		return nil, &text.InputError{Field: "role", Message: fmt.Sprintf("%s was invited as %s; invite them with that role, or change it first.",
			email, RoleWord(u.Role)), Err: store.ErrConflict}
	default:
		tok.UserID = u.ID
		if err := s.Store.CreateSignInToken(ctx, tok); err != nil {
			return nil, fmt.Errorf("invite %s: %w", email, err)
		}
	}

	link := s.URL + InvitationPath + token
	if _, err := s.Mail.Send(ctx, mail.Invitation(u.Email, link, InvitationValid)); err != nil {
		// Nothing that nobody was told of stays: the user it created, or the link it made.
		if created {
			if derr := s.Store.DeleteUser(ctx, u.ID); derr != nil {
				err = errors.Join(err, fmt.Errorf("remove the invited user again: %w", derr))
			}
		} else if derr := s.Store.DeleteSignInToken(ctx, hash); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove the link that was not sent: %w", derr))
		}
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	s.event(audit.Event{Name: audit.Invited, User: u.Email, UserID: u.ID, Method: "email"})
	return u, nil
}

// InvitedUser returns the user an invitation's token is for, while it is valid; otherwise an
// error that wraps store.ErrNotFound. It uses nothing up: a mail scanner may fetch the link.
func (s *Service) InvitedUser(ctx context.Context, token string) (*store.User, error) {
	hash := s.tokenHash(token)
	if hash == "" {
		return nil, fmt.Errorf("invitation: %w", store.ErrNotFound)
	}
	u, err := s.Store.SignInTokenUser(ctx, hash, store.PurposeInvitation, s.now())
	if err == nil && u.Disabled() {
		return nil, fmt.Errorf("invitation of a disabled user: %w", store.ErrNotFound)
	}
	return u, err
}

// AcceptInvitation sets the password of the user invited with token and uses the token up,
// and returns the user, who may now be signed in. A password against the policy
// (CheckPassword) is an InputError on "password", and the token stays; a token that is
// unknown, used or expired wraps store.ErrNotFound.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (*store.User, error) {
	u, err := s.InvitedUser(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(u.Email, password); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err // ErrBusy: the policy was met above
	}
	u, err = s.Store.UseSignInToken(ctx, s.tokenHash(token), store.PurposeInvitation, s.now(), func(u *store.User) error {
		if u.Disabled() {
			return fmt.Errorf("invitation of a disabled user: %w", store.ErrNotFound)
		}
		u.PasswordHash = hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.event(audit.Event{Name: audit.PasswordChanged, User: u.Email, UserID: u.ID, Method: "invitation"})
	return u, nil
}

func (s *Service) tokenHash(token string) string {
	if s.Tokens == nil {
		return ""
	}
	return s.Tokens.Hash(store.PurposeInvitation, token)
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// event logs an account event.
func (s *Service) event(e audit.Event) {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	audit.Log(log, e)
}

// RoleWord is how people read a role: "admin" or "user".
func RoleWord(role string) string {
	if role == store.RoleAdmin {
		return "admin"
	}
	return "user"
}
