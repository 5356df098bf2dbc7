package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// OpenNotifications returns the notifications that no admin has cleared, newest first, at
// most limit.
func (s *Store) OpenNotifications(ctx context.Context, limit int) ([]Notification, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, kind, COALESCE(user_id, ''), message, created_at
		FROM notifications WHERE cleared_at IS NULL ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("open notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.ID, &n.Kind, &n.UserID, &n.Message, &n.CreatedAt); err != nil {
			return nil, fmt.Errorf("open notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
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
