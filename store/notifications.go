package store

import (
	"context"
	"database/sql"
	"fmt"
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

// ListNotifications returns the newest notifications first, at most limit.
func (s *Store) ListNotifications(ctx context.Context, limit int) ([]Notification, error) {
	list, err := queryRows(ctx, s.read, nil, scanNotification, `SELECT id, kind, COALESCE(user_id, ''), message, created_at
		FROM notifications ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return list, nil
}

func scanNotification(rows *sql.Rows) (Notification, error) {
	var n Notification
	err := rows.Scan(&n.ID, &n.Kind, &n.UserID, &n.Message, &n.CreatedAt)
	return n, err
}
