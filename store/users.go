package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Colour themes a user can choose; ThemeSystem follows the browser's preference.
const (
	ThemeSystem = "system"
	ThemeLight  = "light"
	ThemeDark   = "dark"
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
	// LastSignedInMethod is how they last signed in ("password", …); "" before their first.
	LastSignedInMethod string
	Theme              string // ThemeSystem, ThemeLight or ThemeDark
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// Disabled reports whether the user has been disabled.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

const userColumns = `id, email, password_hash, role, disabled_at, last_signed_in_at, last_signed_in_method, theme, created_at, updated_at`

func scanUser(row scanner) (User, error) {
	var u User
	var disabled, signedIn sql.NullTime
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &disabled, &signedIn, &u.LastSignedInMethod, &u.Theme,
		&u.CreatedAt, &u.UpdatedAt); err != nil {
		return User{}, err
	}
	u.DisabledAt, u.LastSignedInAt = timePtr(disabled), timePtr(signedIn)
	return u, nil
}

// NormalizeEmail is the one place that decides when two emails are the same address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser inserts u, filling its ID and timestamps. A taken email is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	prepareUser(u)
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, u) })
}

// prepareUser fills what a new user gets: a normalised email, a role, an ID, timestamps.
func prepareUser(u *User) {
	u.Email = NormalizeEmail(u.Email)
	if u.Role == "" {
		u.Role = RoleUnprivileged
	}
	if u.Theme == "" {
		u.Theme = ThemeSystem
	}
	u.ID = newID()
	u.CreatedAt, u.UpdatedAt = now(), now()
}

// insertUser inserts the prepared user u in transaction tx; a taken email is ErrConflict.
func insertUser(ctx context.Context, tx *sql.Tx, u *User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, u.PasswordHash, u.Role, nullTime(u.DisabledAt), nullTime(u.LastSignedInAt), u.LastSignedInMethod, u.Theme,
		u.CreatedAt, u.UpdatedAt)
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

// SetUserTheme sets the colour theme of user id. A preference, not a change of access: the
// row's updated_at, which the data plane's mark reads, stays.
func (s *Store) SetUserTheme(ctx context.Context, id, theme string) error {
	res, err := s.exec(ctx, `UPDATE users SET theme = $1 WHERE id = $2`, theme, id)
	return expectOne(res, err, "set theme", id)
}

// SetUserDisabled disables (at a time) or enables (nil) user id; disabling the last enabled
// admin is ErrLastAdmin.
func (s *Store) SetUserDisabled(ctx context.Context, id string, at *time.Time) error {
	_, err := s.UpdateUser(ctx, id, func(u *User) error { u.DisabledAt = at; return nil })
	return err
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

// ListUsers returns every user, by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	scan := func(rows *sql.Rows) (User, error) { return scanUser(rows) }
	users, err := queryRows(ctx, s.read, nil, scan, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser applies fn to user id and stores its email, password hash, role and disabled
// time, in one transaction: nothing is written when fn fails, when the email is another
// user's (ErrConflict), or when no enabled admin would be left (ErrLastAdmin).
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error) {
	var updated *User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockUsers(ctx, tx); err != nil {
			return err
		}
		read, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
		if err != nil {
			return lookupError(err, "user", id)
		}
		u := &read
		admins, err := countAdmins(ctx, tx)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		u.Email, u.UpdatedAt = NormalizeEmail(u.Email), now()
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $1, password_hash = $2, role = $3, disabled_at = $4,
			updated_at = $5 WHERE id = $6`, u.Email, u.PasswordHash, u.Role, nullTime(u.DisabledAt), u.UpdatedAt, id)
		if isUniqueViolation(err) {
			return fmt.Errorf("user %s: %w", u.Email, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		updated = u
		return s.keepAnAdmin(ctx, tx, admins)
	})
	return updated, err
}

// DeleteUser deletes user id with what is theirs (Belongings), unless they are the last
// enabled admin (ErrLastAdmin). Their rules go with them, so the change is serialised with
// the firewall's policy's too.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockUsers(ctx, tx); err != nil {
			return err
		}
		if err := s.dialect.lockPolicy(ctx, tx); err != nil {
			return err
		}
		admins, err := countAdmins(ctx, tx)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err := expectOne(res, err, "delete user", id); err != nil {
			return err
		}
		return s.keepAnAdmin(ctx, tx, admins)
	})
}

// Belongings is what goes with a user when they are deleted: their devices (and with them
// the devices' policy tests) and their own firewall rules.
type Belongings struct {
	Devices, Rules, PolicyTests int
	SecondFactors               int // MFA methods: authenticator apps, security keys, passkeys
}

// UserBelongings counts what goes with user id when they are deleted.
func (s *Store) UserBelongings(ctx context.Context, id string) (Belongings, error) {
	var b Belongings
	err := s.reads.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM devices WHERE user_id = $1),
		(SELECT count(*) FROM rules WHERE user_id = $1),
		(SELECT count(*) FROM policy_tests t JOIN devices d ON d.id = t.device_id WHERE d.user_id = $1),
		(SELECT count(*) FROM mfa_methods WHERE user_id = $1)`, id).
		Scan(&b.Devices, &b.Rules, &b.PolicyTests, &b.SecondFactors)
	if err != nil {
		return Belongings{}, fmt.Errorf("count what user %s has: %w", id, err)
	}
	return b, nil
}

// keepAnAdmin fails the transaction tx when it took the enabled admins from before (their
// number then) down to none. The transaction holds lockUsers from its start: without it, two
// transactions on PostgreSQL that each demote one of two admins would each count the other
// admin still enabled, and both commit.
func (s *Store) keepAnAdmin(ctx context.Context, tx *sql.Tx, before int) error {
	after, err := countAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return ErrLastAdmin
	}
	if s.adminKept != nil {
		s.adminKept()
	}
	return nil
}

func countAdmins(ctx context.Context, tx *sql.Tx) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = $1 AND disabled_at IS NULL`,
		RoleAdmin).Scan(&n); err != nil {
		return 0, fmt.Errorf("count admins: %w", err)
	}
	return n, nil
}
