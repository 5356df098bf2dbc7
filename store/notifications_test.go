package store_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"wiregui/store"
	"wiregui/store/storetest"
)

// Cleared notifications are no longer open, and the events they report are not raised again.
func TestClearedNotificationsStayClearedAndAreNotRaisedAgain(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "n@example.com")
		var ids []string // oldest first
		for i := range 3 {
			n := &store.Notification{Kind: "vpn_session_expired", UserID: u.ID, Message: "expired " + strconv.Itoa(i)}
			if _, err := s.Notify(ctx, n, "k"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
		}
		open := func() []string {
			t.Helper()
			list, err := s.OpenNotifications(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range list {
				got = append(got, n.ID)
			}
			return got
		}
		if got, want := open(), []string{ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
			t.Errorf("open before clearing: got %q, want %q (newest first)", got, want)
		}
		if list, err := s.OpenNotifications(ctx, 1); err != nil || len(list) != 1 || list[0].ID != ids[2] {
			t.Errorf("open, at most 1: got %+v, %v; want the newest", list, err)
		}
		n, err := s.ClearNotifications(ctx, []string{ids[0], ids[2], "no-such-id"})
		if err != nil || n != 2 {
			t.Errorf("clear: got %d, %v; want 2 (the unknown id skipped)", n, err)
		}
		if got, want := open(), []string{ids[1]}; !slices.Equal(got, want) {
			t.Errorf("open after clearing: got %q, want %q", got, want)
		}
		if n, err := s.ClearNotifications(ctx, []string{ids[0]}); err != nil || n != 0 {
			t.Errorf("clear again: got %d, %v; want 0", n, err)
		}
		if n, err := s.ClearNotifications(ctx, nil); err != nil || n != 0 {
			t.Errorf("clear nothing: got %d, %v; want 0", n, err)
		}
		again, err := s.Notify(ctx, &store.Notification{Kind: "vpn_session_expired", UserID: u.ID, Message: "expired 0"}, "k0")
		if err != nil || again {
			t.Errorf("the cleared event raised again: added %v, %v; want false", again, err)
		}
		if got, want := open(), []string{ids[1]}; !slices.Equal(got, want) {
			t.Errorf("open after the event was seen again: got %q, want %q", got, want)
		}
	})
}
