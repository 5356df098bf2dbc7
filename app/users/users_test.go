package users_test

import (
	"context"
	"errors"
	"slices"
	"strings"
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
			{"nine characters", users.Spec{Email: "new@example.com", Password: "123456789"}, "password", nil},
			{"the email as password", users.Spec{Email: "New@Example.com", Password: " new@example.COM"}, "password", nil},
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

func fields(err error) []string {
	var out []string
	for _, bad := range text.InputErrors(err) {
		out = append(out, bad.Field)
	}
	return out
}

// TestFormsHearOfEveryFieldAtOnce: a new user and a change with a bad email and a bad
// password are refused with both messages, and nothing is stored.
func TestFormsHearOfEveryFieldAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &users.Service{Store: st}
		_, err := svc.Create(ctx, users.Spec{Email: "not an address", Password: "short"})
		if got := fields(err); !slices.Equal(got, []string{"email", "password"}) {
			t.Errorf("create: errors on %q (%v), want email and password", got, err)
		}
		u, err := svc.Create(ctx, users.Spec{Email: "ann@example.com", Password: "ann's password"})
		if err != nil {
			t.Fatal(err)
		}
		bad, short := "ann@", "short"
		_, _, err = svc.UpdateByID(ctx, u.ID, users.Change{Email: &bad, Password: &short})
		if got := fields(err); !slices.Equal(got, []string{"email", "password"}) {
			t.Errorf("update: errors on %q (%v), want email and password", got, err)
		}
		// The new password is checked against the new email.
		email, same := "bea@example.com", "Bea@Example.com"
		if _, _, err = svc.UpdateByID(ctx, u.ID, users.Change{Email: &email, Password: &same}); !slices.Equal(fields(err), []string{"password"}) {
			t.Errorf("the new email as the new password: %v", err)
		}
		if n, _ := st.CountUsers(ctx); n != 1 {
			t.Errorf("%d users stored, want 1", n)
		}
		if got, _ := st.UserByID(ctx, u.ID); got.Email != "ann@example.com" || got.PasswordHash != u.PasswordHash {
			t.Errorf("after the refused changes: %+v", got)
		}
	})
}

// TestChangesAndDeletesTellTheDataPlane: every change of a user, and a delete, names the user
// to Changed; the last enabled admin is neither demoted, disabled nor deleted, with a message
// for the form.
func TestChangesAndDeletesTellTheDataPlane(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var changed []string
		svc := &users.Service{Store: st, Changed: func(id string) { changed = append(changed, id) }}
		admin, err := svc.Create(ctx, users.Spec{Email: "root@example.com", Admin: true})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := svc.Create(ctx, users.Spec{Email: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		no := false
		for name, c := range map[string]users.Change{"demote": {Admin: &no}, "disable": {DisabledAt: users.DisabledAt(true)}} {
			_, _, err := svc.UpdateByID(ctx, admin.ID, c)
			var bad *text.InputError
			if !errors.As(err, &bad) || bad.Field != "_form" || !errors.Is(err, store.ErrLastAdmin) ||
				!strings.HasPrefix(bad.Message, "root@example.com is the last enabled admin") {
				t.Errorf("%s the last admin: %v", name, err)
			}
		}
		if _, err := svc.DeleteByID(ctx, admin.ID); !errors.Is(err, store.ErrLastAdmin) {
			t.Errorf("delete the last admin: %v", err)
		}
		if len(changed) != 0 {
			t.Errorf("refused changes told the data plane of %v", changed)
		}
		if _, did, err := svc.UpdateByID(ctx, bob.ID, users.Change{DisabledAt: users.DisabledAt(true)}); err != nil || !did {
			t.Fatalf("disable bob: %v %v", did, err)
		}
		if _, err := svc.DeleteByID(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(changed, []string{bob.ID, bob.ID}) {
			t.Errorf("the data plane was told of %v, want bob's disable and delete", changed)
		}
		if _, err := svc.DeleteByID(ctx, bob.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete bob again: %v, want ErrNotFound", err)
		}
	})
}
