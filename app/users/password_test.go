package users_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/app/users"
	"wiregui/store"
	"wiregui/store/storetest"
)

func TestCheckPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, email, password string
		says                  string // "" when the password passes
	}{
		{"long and rare", "ann@example.com", "violet staple 42 ferry", ""},
		{"ten characters", "ann@example.com", "k7#Lq9!vZp", ""},
		{"ten characters, not bytes", "ann@example.com", "ünïcödé-ßß", ""},
		{"empty", "ann@example.com", "", "Enter a password."},
		{"nine characters", "ann@example.com", "k7#Lq9!vZ", "at least 10 characters; this one has 9"},
		{"nine characters of two bytes", "ann@example.com", "ééééééééé", "at least 10 characters; this one has 9"},
		{"too long", "ann@example.com", strings.Repeat("x", 1025), "at most 1024 characters"},
		{"the email", "ann@example.com", "ann@example.com", "cannot be your email address"},
		{"the email in other case", "ann@example.com", "ANN@Example.COM", "cannot be your email address"},
		{"common", "ann@example.com", "1234567890", "10,000 most common"},
		{"common in other case", "ann@example.com", "QwertyUIOP", "10,000 most common"},
		{"the first long entry", "ann@example.com", "0000000000", "10,000 most common"},
		{"the last long entry", "ann@example.com", "ZXCVBNM123", "10,000 most common"},
		{"no email to compare", "", "ann@example.com", ""},
	} {
		err := users.CheckPassword(tc.email, tc.password)
		if tc.says == "" {
			if err != nil {
				t.Errorf("%s: got %v, want no error", tc.name, err)
			}
			continue
		}
		var bad *text.InputError
		if !errors.As(err, &bad) || bad.Field != "password" || !strings.Contains(bad.Message, tc.says) {
			t.Errorf("%s: got %v, want an input error on password saying %q", tc.name, err, tc.says)
		}
	}
}

// The shipped list is what common-passwords.sh writes: lower case, sorted, no duplicates, no
// empty line, and the size of SecLists' top 10,000 once letter case is folded.
func TestCommonPasswordListShape(t *testing.T) {
	b, err := os.ReadFile("common-passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 9913 {
		t.Errorf("%d passwords, want 9913", len(lines))
	}
	if !slices.IsSorted(lines) {
		t.Error("the list is not sorted byte-wise: the search would miss entries")
	}
	for i, l := range lines {
		if l == "" || l != strings.ToLower(l) || i > 0 && lines[i-1] == l {
			t.Errorf("line %d %q: want a lower-case, non-empty, unique password", i+1, l)
		}
	}
	if _, err := os.Stat("common-passwords.LICENSE"); err != nil {
		t.Errorf("the list's licence is not shipped beside it: %v", err)
	}
}

// Create and Update apply the policy: every invalid field is reported at once, and nothing is
// stored.
func TestServiceAppliesThePasswordPolicy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &users.Service{Store: st}
		_, err := svc.Create(ctx, users.Spec{Email: "not an address", Password: "password1"})
		fields := map[string]bool{}
		for _, bad := range text.InputErrors(err) {
			fields[bad.Field] = true
		}
		if !fields["email"] || !fields["password"] {
			t.Errorf("a bad email and a short password: got %v, want errors on both fields", err)
		}
		if _, err := svc.Create(ctx, users.Spec{Email: "ann@example.com", Password: "Ann@Example.com"}); err == nil {
			t.Error("the email as password was accepted")
		}
		u, err := svc.Create(ctx, users.Spec{Email: "ann@example.com", Password: "violet staple 42 ferry"})
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"1q2w3e4r5t", "ann@example.com", "short"} {
			if _, _, err := svc.Update(ctx, u.Email, users.Change{Password: &pw}); len(text.InputErrors(err)) != 1 {
				t.Errorf("update to %q: got %v, want an input error", pw, err)
			}
		}
		newEmail, pw := "bea@example.com", "BEA@example.com"
		if _, _, err := svc.Update(ctx, u.Email, users.Change{Email: &newEmail, Password: &pw}); len(text.InputErrors(err)) != 1 {
			t.Errorf("a password that is the new email: got %v, want an input error", err)
		}
		got, _ := st.UserByEmail(ctx, "ann@example.com")
		if ok, _ := auth.CheckPassword(got.PasswordHash, "violet staple 42 ferry"); !ok {
			t.Error("a refused change changed the password")
		}
	})
}

// ChangePassword needs the current password and reports every bad field at once; SetTheme
// takes the three themes only.
func TestChangePasswordAndTheme(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &users.Service{Store: st}
		u, err := svc.Create(ctx, users.Spec{Email: "ann@example.com", Password: "violet staple 42 ferry"})
		if err != nil {
			t.Fatal(err)
		}
		err = svc.ChangePassword(ctx, u.Email, users.PasswordChange{Current: "wrong", New: "ann@example.com", Again: "other"})
		var fields []string
		for _, bad := range text.InputErrors(err) {
			fields = append(fields, bad.Field)
		}
		if !slices.Equal(fields, []string{"current_password", "new_password", "confirm_password"}) {
			t.Errorf("three bad fields: got %v (%v)", fields, err)
		}
		if err := svc.ChangePassword(ctx, u.Email, users.PasswordChange{Current: "violet staple 42 ferry",
			New: "amber kettle 7 harbour", Again: "amber kettle 7 harbour"}); err != nil {
			t.Fatal(err)
		}
		got, _ := st.UserByEmail(ctx, u.Email)
		if ok, _ := auth.CheckPassword(got.PasswordHash, "amber kettle 7 harbour"); !ok {
			t.Error("the new password does not check")
		}
		for _, theme := range []string{"dark", "light", "system"} {
			if err := svc.SetTheme(ctx, u.ID, theme); err != nil {
				t.Errorf("SetTheme(%s): %v", theme, err)
			}
		}
		var bad *text.InputError
		if err := svc.SetTheme(ctx, u.ID, "Dark"); !errors.As(err, &bad) || bad.Field != "theme" {
			t.Errorf("SetTheme(Dark): %v, want an input error on theme", err)
		}
	})
}
