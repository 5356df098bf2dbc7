package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// TestTheLastAdminStays: no change in the store's transaction leaves no enabled admin, and
// one that is refused writes nothing.
func TestTheLastAdminStays(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admin := &store.User{Email: "admin@example.com", Role: store.RoleAdmin}
		if err := s.CreateUser(ctx, admin); err != nil {
			t.Fatal(err)
		}
		bob := mustUser(t, s, "bob@example.com")
		now := time.Now()
		for name, err := range map[string]error{
			"demote": func() error {
				_, err := s.UpdateUser(ctx, admin.ID, func(u *store.User) error { u.Role = store.RoleUnprivileged; return nil })
				return err
			}(),
			"disable": s.SetUserDisabled(ctx, admin.ID, &now),
			"delete":  s.DeleteUser(ctx, admin.ID),
		} {
			if !errors.Is(err, store.ErrLastAdmin) {
				t.Errorf("%s the last admin: got %v, want ErrLastAdmin", name, err)
			}
		}
		if u, err := s.UserByID(ctx, admin.ID); err != nil || u.Role != store.RoleAdmin || u.Disabled() {
			t.Fatalf("the admin after the refused changes: %+v, %v", u, err)
		}
		// With a second admin, the first may go; a user who is no admin always may.
		if _, err := s.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Role = store.RoleAdmin; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, admin.ID); err != nil {
			t.Errorf("delete one of two admins: %v", err)
		}
		if _, err := s.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Email = "Robert@Example.com"; return nil }); err != nil {
			t.Errorf("rename the remaining admin: %v", err)
		}
		carol := mustUser(t, s, "carol@example.com")
		if _, err := s.UpdateUser(ctx, carol.ID, func(u *store.User) error { u.Email = "robert@example.com"; return nil }); !errors.Is(err, store.ErrConflict) {
			t.Errorf("take another user's email: got %v, want ErrConflict", err)
		}
		if err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Errorf("delete a user: %v", err)
		}
		list, err := s.ListUsers(ctx)
		if err != nil || len(list) != 1 || list[0].Email != "robert@example.com" {
			t.Errorf("users left: %+v, %v; want robert@example.com", list, err)
		}
	})
}
