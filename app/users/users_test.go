package users_test

import (
	"context"
	"errors"
	"testing"

	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/app/users"
	"wiregui/store"
	"wiregui/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestCreateChecksAndNormalises(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &users.Service{Store: st}
		u, err := svc.Create(ctx, users.Spec{Email: "  Zoe\u0308@Example.COM ", Password: "long enough password", Admin: true})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "zo\u00eb@example.com" || u.Role != store.RoleAdmin {
			t.Errorf("created %q as %s, want zo\u00eb@example.com as admin", u.Email, u.Role)
		}
		if ok, err := auth.CheckPassword(u.PasswordHash, "long enough password"); !ok || err != nil {
			t.Errorf("the password does not check: %v %v", ok, err)
		}
		for _, tc := range []struct {
			name  string
			spec  users.Spec
			field string
			is    error
		}{
			{"taken, in other case", users.Spec{Email: "ZOE\u0308@example.com"}, "email", store.ErrConflict},
			{"not an address", users.Spec{Email: "zoe"}, "email", nil},
			{"bidi override", users.Spec{Email: "ad\u202emin@example.com"}, "email", nil},
			{"short password", users.Spec{Email: "new@example.com", Password: "short"}, "password", nil},
		} {
			_, err := svc.Create(ctx, tc.spec)
			var bad *text.InputError
			if !errors.As(err, &bad) || bad.Field != tc.field || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%s: got %v, want an input error on %s (is %v)", tc.name, err, tc.field, tc.is)
			}
		}
		if n, _ := st.CountUsers(ctx); n != 1 {
			t.Errorf("%d users stored, want 1", n)
		}
	})
}

func TestFirstAdminOnlyOnAnEmptyDatabase(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &users.Service{Store: st}
		admin, generated, err := svc.FirstAdmin(ctx, "admin@example.com", "")
		if err != nil || admin == nil || len(generated) < 20 {
			t.Fatalf("first admin: %v, password %q, err %v", admin, generated, err)
		}
		if ok, _ := auth.CheckPassword(admin.PasswordHash, generated); !ok {
			t.Error("the generated password does not sign the admin in")
		}
		again, generated, err := svc.FirstAdmin(ctx, "other@example.com", "another password")
		if again != nil || generated != "" || err != nil {
			t.Errorf("second call: %v %q %v, want nobody created", again, generated, err)
		}
	})
}

func TestSetDisabledIsIdempotentAndTellsTheDataPlane(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var changed []string
		svc := &users.Service{Store: st, Changed: func(id string) { changed = append(changed, id) }}
		u, err := svc.Create(ctx, users.Spec{Email: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		for i, step := range []struct{ disabled, changes bool }{{true, true}, {true, false}, {false, true}, {false, false}} {
			got, did, err := svc.SetDisabled(ctx, "Bob@Example.com", step.disabled)
			if err != nil || did != step.changes || got.Disabled() != step.disabled {
				t.Errorf("step %d: disabled %v changed %v err %v; want %v %v", i, got.Disabled(), did, err, step.disabled, step.changes)
			}
		}
		if len(changed) != 2 || changed[0] != u.ID {
			t.Errorf("the data plane was told %v, want twice about %s", changed, u.ID)
		}
		if _, _, err := svc.SetDisabled(ctx, "nobody@example.com", true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown user: %v, want ErrNotFound", err)
		}
	})
}
