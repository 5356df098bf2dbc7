package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Sessions is the web UI's session store over the sessions table; the web server adapts it to
// scs. The table holds a SHA-256 hash of each token, not the token: the cookie carries the
// token, so a read of the database (a backup, a leaked dump) yields no cookie that signs anyone
// in. The tokens are 32 random bytes, so a plain hash is enough; nothing is gained by a salt or
// a slow hash.
//
// A session names its user in a column of its own (SessionOwner), so that one user's sessions
// are listed and ended through the index sessions_user_id, and go when the user does (ON
// DELETE CASCADE). A session that is ended is not deleted at once but left expired, data
// cleared, until DeleteExpired sweeps it: a request that read it before it ended and saves it
// after cannot bring it back, as an insert would.
type Sessions struct{ s *Store }

// Sessions returns the session store of s.
func (s *Store) Sessions() *Sessions { return &Sessions{s: s} }

// SessionOwner is what the web server reads out of a session's data when it saves it.
type SessionOwner struct {
	UserID     string    // "" for a session of nobody
	SignedInAt time.Time // zero when unknown
	SeenAt     time.Time // the last request, give or take the web server's interval; zero when unknown
}

// Session is one of a user's sessions, as their Account page lists them.
type Session struct {
	SignedInAt, SeenAt *time.Time // nil when unknown
	Expiry             time.Time
	Current            bool // the session whose token ForUser was given
}

// ended is the expiry of an ended session: long past, so that no clock reads it as current.
var ended = time.Unix(0, 0).UTC()

// tokenHash is the key a session is stored under.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// FindCtx returns the data of an unexpired session.
func (ss *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	err := ss.s.reads.QueryRowContext(ctx, `SELECT data FROM sessions WHERE token_hash = $1 AND expiry > $2`,
		tokenHash(token), now()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", err)
	}
	return data, true, nil
}

// SaveCtx stores or replaces a session and its owner. A session that has ended (DeleteCtx,
// EndOthers, expiry) stays ended, and so does one whose user is gone: nothing is saved.
func (ss *Sessions) SaveCtx(ctx context.Context, token string, data []byte, expiry time.Time, owner SessionOwner) error {
	var user sql.NullString
	if owner.UserID != "" {
		user = sql.NullString{String: owner.UserID, Valid: true}
	}
	_, err := ss.s.exec(ctx, `INSERT INTO sessions (token_hash, data, expiry, user_id, signed_in_at, seen_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (token_hash) DO UPDATE SET data = excluded.data, expiry = excluded.expiry, user_id = excluded.user_id,
			signed_in_at = excluded.signed_in_at, seen_at = excluded.seen_at
		WHERE sessions.expiry > $7`,
		tokenHash(token), data, expiry.UTC(), user, nullTime(nonZero(owner.SignedInAt)), nullTime(nonZero(owner.SeenAt)), now())
	switch {
	case isForeignKeyViolation(err):
		return nil // the user was deleted while the request ran: their sessions went with them
	case err != nil:
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// DeleteCtx ends a session; a missing one is not an error.
func (ss *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if _, err := ss.s.exec(ctx, `UPDATE sessions SET data = $1, expiry = $2, user_id = NULL WHERE token_hash = $3`,
		[]byte{}, ended, tokenHash(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// ForUser returns the unexpired sessions of userID, the most recently used first; the one
// whose token is current is marked.
func (ss *Sessions) ForUser(ctx context.Context, userID, current string) ([]Session, error) {
	hash := tokenHash(current)
	scan := func(rows *sql.Rows) (Session, error) {
		var key string
		var signedIn, seen sql.NullTime
		var sn Session
		if err := rows.Scan(&key, &signedIn, &seen, &sn.Expiry); err != nil {
			return Session{}, err
		}
		sn.SignedInAt, sn.SeenAt, sn.Expiry, sn.Current = timePtr(signedIn), timePtr(seen), sn.Expiry.UTC(), key == hash
		return sn, nil
	}
	list, err := queryRows(ctx, ss.s.read, nil, scan, `SELECT token_hash, signed_in_at, seen_at, expiry FROM sessions
		WHERE user_id = $1 AND expiry > $2 ORDER BY seen_at DESC NULLS LAST, signed_in_at DESC NULLS LAST`, userID, now())
	if err != nil {
		return nil, fmt.Errorf("sessions of user %s: %w", userID, err)
	}
	return list, nil
}

// EndOthers ends every session of userID but the one whose token is keep, and returns how
// many it ended.
func (ss *Sessions) EndOthers(ctx context.Context, userID, keep string) (int64, error) {
	res, err := ss.s.exec(ctx, `UPDATE sessions SET data = $1, expiry = $2, user_id = NULL
		WHERE user_id = $3 AND token_hash <> $4 AND expiry > $5`, []byte{}, ended, userID, tokenHash(keep), now())
	if err != nil {
		return 0, fmt.Errorf("end the other sessions of user %s: %w", userID, err)
	}
	return res.RowsAffected()
}

// DeleteExpired removes expired and ended sessions and returns how many.
func (ss *Sessions) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := ss.s.exec(ctx, `DELETE FROM sessions WHERE expiry <= $1`, now())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// nonZero is t, or nil for the zero time.
func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
