package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The purposes of sign-in tokens.
const (
	PurposeMagicLink  = "magic_link" // a link that signs its user in
	PurposeInvitation = "invitation" // a link that lets a new user set a password
)

// SignInToken is a single-use token sent by email. Only its hash is stored (an HMAC under a
// key the database does not hold, app/auth), never the token.
type SignInToken struct {
	Hash      string
	UserID    string
	Purpose   string
	ExpiresAt time.Time
}

// CreateSignInToken stores t, and forgets the earlier tokens of its purpose for its user: the
// newest link sent is the one that works. A user who does not exist is ErrNotFound.
func (s *Store) CreateSignInToken(ctx context.Context, t *SignInToken) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertSignInToken(ctx, tx, t) })
}

func insertSignInToken(ctx context.Context, tx *sql.Tx, t *SignInToken) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_tokens WHERE user_id = $1 AND purpose = $2`,
		t.UserID, t.Purpose); err != nil {
		return fmt.Errorf("replace sign-in tokens: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sign_in_tokens (token_hash, user_id, purpose, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, t.Hash, t.UserID, t.Purpose, t.ExpiresAt.UTC().Truncate(time.Microsecond), now())
	if isForeignKeyViolation(err) {
		return fmt.Errorf("user %s: %w", t.UserID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create sign-in token: %w", err)
	}
	return nil
}

// InviteUser creates u, as CreateUser does, with the invitation t for them, in one
// transaction: either both are stored or neither. A taken email is ErrConflict.
func (s *Store) InviteUser(ctx context.Context, u *User, t *SignInToken) error {
	prepareUser(u)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		t.UserID = u.ID
		return insertSignInToken(ctx, tx, t)
	})
}

// SignInTokenUser returns the user of the token of purpose with hash when it has not expired
// at time at, or ErrNotFound. It reads only: the page a link opens shows whose it is, and
// only the button on it uses the token (UseSignInToken), so that a mail scanner that fetches
// the link does not use it up.
func (s *Store) SignInTokenUser(ctx context.Context, hash, purpose string, at time.Time) (*User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id =
		(SELECT user_id FROM sign_in_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3)`,
		hash, purpose, at.UTC()))
	if err != nil {
		return nil, lookupError(err, "sign-in token", purpose)
	}
	return &u, nil
}

// UseSignInToken uses up the token of purpose with hash: it deletes it with every other token
// of that purpose for its user, applies fn to the user and stores the password hash fn leaves,
// all in one transaction, and returns the user. A token that is unknown, used already or
// expired at time at is ErrNotFound (an expired one is deleted too); an error of fn rolls
// back, and the token stays.
func (s *Store) UseSignInToken(ctx context.Context, hash, purpose string, at time.Time, fn func(*User) error) (*User, error) {
	var used *User
	expired := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var userID string
		var expires time.Time
		err := tx.QueryRowContext(ctx, `DELETE FROM sign_in_tokens WHERE token_hash = $1 AND purpose = $2
			RETURNING user_id, expires_at`, hash, purpose).Scan(&userID, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sign-in token: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("use sign-in token: %w", err)
		case !expires.After(at):
			expired = true // committed: the expired token goes
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_tokens WHERE user_id = $1 AND purpose = $2`,
			userID, purpose); err != nil {
			return fmt.Errorf("use sign-in token: %w", err)
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if err != nil {
			return lookupError(err, "user", userID)
		}
		hash := u.PasswordHash
		if err := fn(&u); err != nil {
			return err
		}
		if u.PasswordHash != hash {
			u.UpdatedAt = now()
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
				u.PasswordHash, u.UpdatedAt, u.ID); err != nil {
				return fmt.Errorf("set password: %w", err)
			}
		}
		used = &u
		return nil
	})
	if err == nil && expired {
		err = fmt.Errorf("sign-in token expired: %w", ErrNotFound)
	}
	return used, err
}

// DeleteSignInToken deletes the token with hash, if it is there: a link that was never sent.
func (s *Store) DeleteSignInToken(ctx context.Context, hash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sign_in_tokens WHERE token_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete sign-in token: %w", err)
	}
	return nil
}

// DeleteExpiredSignInTokens deletes the tokens expired at time at and returns how many.
func (s *Store) DeleteExpiredSignInTokens(ctx context.Context, at time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sign_in_tokens WHERE expires_at <= $1`, at.UTC())
	if err != nil {
		return 0, fmt.Errorf("delete expired sign-in tokens: %w", err)
	}
	return res.RowsAffected()
}

// InvitationExpiry returns when the link of the invitation that the user id has not used yet
// expires (it may be past, until DeleteExpiredSignInTokens runs); ErrNotFound when they have
// none.
func (s *Store) InvitationExpiry(ctx context.Context, id string) (time.Time, error) {
	var at time.Time
	err := s.read.QueryRowContext(ctx, `SELECT expires_at FROM sign_in_tokens WHERE user_id = $1 AND purpose = $2
		ORDER BY expires_at DESC LIMIT 1`, id, PurposeInvitation).Scan(&at)
	if err != nil {
		return time.Time{}, lookupError(err, "invitation of user", id)
	}
	return at, nil
}
