package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Failures are an account's failed sign-in attempts of one kind since it last succeeded:
// how many, and when the last one was. app/limits decides what they mean.
type Failures struct {
	Count int
	Last  time.Time
}

// UpdateFailures applies fn to user id's failures of kind and stores what fn leaves, in one
// transaction, so that attempts made at once each see the one before. An error of fn rolls
// back and is returned as it is. A user who does not exist is ErrNotFound.
func (s *Store) UpdateFailures(ctx context.Context, userID, kind string, fn func(*Failures) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The row exists before it is read, so that PostgreSQL can lock it: two first
		// failures at once would otherwise both count from none.
		_, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (user_id, kind, failures, last_failure_at)
			VALUES ($1, $2, 0, $3) ON CONFLICT (user_id, kind) DO NOTHING`, userID, kind, now())
		if isForeignKeyViolation(err) {
			return fmt.Errorf("user %s: %w", userID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sign-in failures: %w", err)
		}
		var f Failures
		err = tx.QueryRowContext(ctx, `SELECT failures, last_failure_at FROM sign_in_failures
			WHERE user_id = $1 AND kind = $2`+s.dialect.forUpdate(), userID, kind).Scan(&f.Count, &f.Last)
		if err != nil {
			return fmt.Errorf("sign-in failures: %w", err)
		}
		if err := fn(&f); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sign_in_failures SET failures = $1, last_failure_at = $2
			WHERE user_id = $3 AND kind = $4`, max(f.Count, 0), f.Last.UTC().Truncate(time.Microsecond), userID, kind)
		if err != nil {
			return fmt.Errorf("sign-in failures: %w", err)
		}
		return nil
	})
}

// SignInFailures returns user id's failures of kind; none is the zero Failures.
func (s *Store) SignInFailures(ctx context.Context, userID, kind string) (Failures, error) {
	var f Failures
	err := s.read.QueryRowContext(ctx, `SELECT failures, last_failure_at FROM sign_in_failures
		WHERE user_id = $1 AND kind = $2`, userID, kind).Scan(&f.Count, &f.Last)
	if errors.Is(err, sql.ErrNoRows) {
		return Failures{}, nil
	}
	if err != nil {
		return Failures{}, fmt.Errorf("sign-in failures: %w", err)
	}
	return f, nil
}

// ClearFailures forgets user id's failures of each of kinds.
func (s *Store) ClearFailures(ctx context.Context, userID string, kinds ...string) error {
	for _, kind := range kinds {
		if _, err := s.exec(ctx, `DELETE FROM sign_in_failures WHERE user_id = $1 AND kind = $2`, userID, kind); err != nil {
			return fmt.Errorf("clear sign-in failures: %w", err)
		}
	}
	return nil
}
