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

// Sessions is an scs session store (scs.CtxStore) over the sessions table. The table holds a
// SHA-256 hash of each token, not the token: the cookie carries the token, so a read of the
// database (a backup, a leaked dump) yields no cookie that signs anyone in. The tokens are 32
// random bytes, so a plain hash is enough; nothing is gained by a salt or a slow hash.
type Sessions struct{ s *Store }

// Sessions returns the session store of s.
func (s *Store) Sessions() *Sessions { return &Sessions{s: s} }

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

// CommitCtx stores or replaces a session.
func (ss *Sessions) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	_, err := ss.s.exec(ctx, `INSERT INTO sessions (token_hash, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token_hash) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`, tokenHash(token), data, expiry.UTC())
	if err != nil {
		return fmt.Errorf("commit session: %w", err)
	}
	return nil
}

// DeleteCtx removes a session; a missing one is not an error.
func (ss *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if _, err := ss.s.exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Find, Commit and Delete satisfy scs.Store for callers without a context.
func (ss *Sessions) Find(token string) ([]byte, bool, error) {
	return ss.FindCtx(context.Background(), token)
}
func (ss *Sessions) Commit(token string, data []byte, expiry time.Time) error {
	return ss.CommitCtx(context.Background(), token, data, expiry)
}
func (ss *Sessions) Delete(token string) error { return ss.DeleteCtx(context.Background(), token) }

// DeleteExpired removes expired sessions and returns how many.
func (ss *Sessions) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := ss.s.exec(ctx, `DELETE FROM sessions WHERE expiry <= $1`, now())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
