package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Notification is an event raised for admins.
type Notification struct {
	ID        string
	Kind      string
	UserID    string // empty when about no user
	Message   string
	CreatedAt time.Time
}

// Notify records n unless a notification with the same dedupe key exists; it reports
// whether n was new. The key makes one event raise one notification, however often it is seen.
func (s *Store) Notify(ctx context.Context, n *Notification, dedupeKey string) (bool, error) {
	n.ID, n.CreatedAt = newID(), now()
	var userID sql.NullString
	if n.UserID != "" {
		userID = sql.NullString{String: n.UserID, Valid: true}
	}
	res, err := s.exec(ctx, `INSERT INTO notifications (id, kind, user_id, message, dedupe_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING`,
		n.ID, n.Kind, userID, n.Message, dedupeKey, n.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	added, err := res.RowsAffected()
	return added == 1, err
}

// OpenNotifications returns the notifications that no admin has cleared, newest first, at
// most limit.
func (s *Store) OpenNotifications(ctx context.Context, limit int) ([]Notification, error) {
	list, err := queryRows(ctx, s.read, nil, scanNotification, `SELECT id, kind, COALESCE(user_id, ''), message, created_at
		FROM notifications WHERE cleared_at IS NULL ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("open notifications: %w", err)
	}
	return list, nil
}

func scanNotification(rows *sql.Rows) (Notification, error) {
	var n Notification
	err := rows.Scan(&n.ID, &n.Kind, &n.UserID, &n.Message, &n.CreatedAt)
	return n, err
}

// ClearNotifications marks the notifications ids cleared: an admin has read them. They stay
// stored, so that the events they report are not raised again (Notify's dedupe key), but
// OpenNotifications no longer returns them. Ids that are unknown or cleared already are
// skipped; it returns how many it cleared.
func (s *Store) ClearNotifications(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{now()}
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = "$" + strconv.Itoa(i+2)
	}
	res, err := s.exec(ctx, `UPDATE notifications SET cleared_at = $1
		WHERE cleared_at IS NULL AND id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("clear notifications: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("clear notifications: %w", err)
	}
	return int(n), nil
}
