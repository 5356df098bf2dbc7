package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Roles a user can have.
const (
	RoleAdmin        = "admin"
	RoleUnprivileged = "unprivileged"
)

// User is an account that can sign in and own devices.
type User struct {
	ID             string
	Email          string // stored lower-case; unique
	PasswordHash   string // argon2id or bcrypt; empty for users without a password
	Role           string
	DisabledAt     *time.Time
	LastSignedInAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// Disabled reports whether the user has been disabled.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

const userColumns = `id, email, password_hash, role, disabled_at, last_signed_in_at, created_at, updated_at`

func scanUser(row scanner) (User, error) {
	var u User
	var disabled, signedIn sql.NullTime
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &disabled, &signedIn, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return User{}, err
	}
	u.DisabledAt, u.LastSignedInAt = timePtr(disabled), timePtr(signedIn)
	return u, nil
}

// NormalizeEmail is the one place that decides when two emails are the same address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser inserts u, filling its ID and timestamps. A taken email is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.Email = NormalizeEmail(u.Email)
	if u.Role == "" {
		u.Role = RoleUnprivileged
	}
	u.ID = newID()
	u.CreatedAt, u.UpdatedAt = now(), now()
	_, err := s.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Email, u.PasswordHash, u.Role, nullTime(u.DisabledAt), nullTime(u.LastSignedInAt), u.CreatedAt, u.UpdatedAt)
	if isUniqueViolation(err) {
		return fmt.Errorf("user %s: %w", u.Email, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	return s.oneUser(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByEmail returns the user with email (compared case-insensitively), or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return s.oneUser(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, NormalizeEmail(email))
}

func (s *Store) oneUser(ctx context.Context, query string, arg string) (*User, error) {
	u, err := scanUser(s.reads.QueryRowContext(ctx, query, arg))
	if err != nil {
		return nil, lookupError(err, "user", arg)
	}
	return &u, nil
}

// UserEmails returns every user's email, in order: what owner fields suggest from.
func (s *Store) UserEmails(ctx context.Context) ([]string, error) {
	emails, err := queryRows(ctx, s.read, nil, scanText, `SELECT email FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("user emails: %w", err)
	}
	return emails, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// RecordSignIn notes that user id signed in at time at with method (e.g. "password").
func (s *Store) RecordSignIn(ctx context.Context, id, method string, at time.Time) error {
	res, err := s.exec(ctx,
		`UPDATE users SET last_signed_in_at = $1, last_signed_in_method = $2, updated_at = $3 WHERE id = $4`,
		at.UTC(), method, now(), id)
	return expectOne(res, err, "record sign-in", id)
}

// SetUserDisabled disables (at a time) or enables (nil) user id.
func (s *Store) SetUserDisabled(ctx context.Context, id string, at *time.Time) error {
	res, err := s.exec(ctx, `UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3`,
		nullTime(at), now(), id)
	return expectOne(res, err, "disable user", id)
}

// ListExpiredSessions returns the enabled users with devices whose VPN session has expired
// at time at (never-signed-in users included). None when sessions never expire.
func (s *Store) ListExpiredSessions(ctx context.Context, at time.Time) ([]User, error) {
	settings, err := s.Settings(ctx)
	if err != nil || settings.VPNSessionDuration == 0 {
		return nil, err
	}
	scan := func(rows *sql.Rows) (User, error) { return scanUser(rows) }
	users, err := queryRows(ctx, s.read, nil, scan, `SELECT `+userColumns+` FROM users u WHERE u.disabled_at IS NULL
		AND (u.last_signed_in_at IS NULL OR u.last_signed_in_at <= $1)
		AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.email`,
		at.Add(-settings.VPNSessionDuration).UTC())
	if err != nil {
		return nil, fmt.Errorf("expired sessions: %w", err)
	}
	return users, nil
}
