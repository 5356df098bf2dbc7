package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// Failures made at once are each counted: none is lost to another's read.
func TestSignInFailuresCountEveryAttemptMadeAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "f@example.com")
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				errs <- s.UpdateFailures(ctx, u.ID, "password", func(f *store.Failures) error {
					f.Count++
					f.Last = at
					return nil
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		f, err := s.SignInFailures(ctx, u.ID, "password")
		if err != nil || f.Count != n || !f.Last.Equal(at) {
			t.Errorf("got %+v, %v; want %d failures, the last at %s", f, err, n, at)
		}
		if f, err := s.SignInFailures(ctx, u.ID, "mfa"); err != nil || f.Count != 0 {
			t.Errorf("another kind: got %+v, %v; want none", f, err)
		}

		refused := errors.New("refused")
		if err := s.UpdateFailures(ctx, u.ID, "password", func(f *store.Failures) error { f.Count = 99; return refused }); err != refused {
			t.Errorf("fn's error: got %v, want it returned as it is", err)
		}
		if f, _ := s.SignInFailures(ctx, u.ID, "password"); f.Count != n {
			t.Errorf("after fn failed: got %d failures, want %d (nothing written)", f.Count, n)
		}

		if err := s.ClearFailures(ctx, u.ID, "password", "mfa"); err != nil {
			t.Fatal(err)
		}
		if f, _ := s.SignInFailures(ctx, u.ID, "password"); f.Count != 0 {
			t.Errorf("after clearing: got %d failures, want 0", f.Count)
		}
		err = s.UpdateFailures(ctx, "no-such-user", "password", func(f *store.Failures) error { f.Count++; return nil })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("no such user: got %v, want ErrNotFound", err)
		}
	})
}

// A token is used once: reuse, expiry, another purpose and an unknown hash are ErrNotFound,
// and a newer token of the same purpose replaces the older.
func TestSignInTokensAreSingleUseAndExpire(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "t@example.com")
		now := time.Now()
		create := func(hash, purpose string, expires time.Time) {
			t.Helper()
			if err := s.CreateSignInToken(ctx, &store.SignInToken{Hash: hash, UserID: u.ID, Purpose: purpose, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		use := func(hash, purpose string, at time.Time) (*store.User, error) {
			return s.UseSignInToken(ctx, hash, purpose, at, func(*store.User) error { return nil })
		}

		create("old", store.PurposeMagicLink, now.Add(15*time.Minute))
		create("new", store.PurposeMagicLink, now.Add(15*time.Minute))
		create("invite", store.PurposeInvitation, now.Add(72*time.Hour))
		if _, err := use("old", store.PurposeMagicLink, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a replaced token: got %v, want ErrNotFound", err)
		}
		if _, err := use("invite", store.PurposeMagicLink, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a token of another purpose: got %v, want ErrNotFound", err)
		}
		if got, err := s.SignInTokenUser(ctx, "new", store.PurposeMagicLink, now); err != nil || got.ID != u.ID {
			t.Errorf("look the token up: got %v, %v; want the user", got, err)
		}
		if _, err := s.SignInTokenUser(ctx, "new", store.PurposeMagicLink, now.Add(16*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("look an expired token up: got %v, want ErrNotFound", err)
		}
		if got, err := use("new", store.PurposeMagicLink, now); err != nil || got.ID != u.ID {
			t.Fatalf("use: got %v, %v; want the user", got, err)
		}
		if _, err := use("new", store.PurposeMagicLink, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("use again: got %v, want ErrNotFound", err)
		}

		// The invitation sets a password; an error of fn leaves the token usable.
		bad := errors.New("bad password")
		if _, err := s.UseSignInToken(ctx, "invite", store.PurposeInvitation, now, func(*store.User) error { return bad }); err != bad {
			t.Errorf("fn fails: got %v, want its error", err)
		}
		got, err := s.UseSignInToken(ctx, "invite", store.PurposeInvitation, now, func(u *store.User) error {
			u.PasswordHash = "new-hash"
			return nil
		})
		if err != nil || got.PasswordHash != "new-hash" {
			t.Fatalf("accept the invitation: got %+v, %v", got, err)
		}
		if stored, _ := s.UserByID(ctx, u.ID); stored.PasswordHash != "new-hash" {
			t.Errorf("stored password hash: got %q, want new-hash", stored.PasswordHash)
		}

		create("expiring", store.PurposeMagicLink, now.Add(time.Minute))
		if _, err := use("expiring", store.PurposeMagicLink, now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("use when it expires: got %v, want ErrNotFound", err)
		}
		var left int
		store.RawDBForTest(s).QueryRow(`SELECT count(*) FROM sign_in_tokens`).Scan(&left)
		if left != 0 {
			t.Errorf("%d tokens left, want 0: a used or expired token is deleted", left)
		}

		create("stale", store.PurposeMagicLink, now.Add(-time.Second))
		if n, err := s.DeleteExpiredSignInTokens(ctx, now); err != nil || n != 1 {
			t.Errorf("delete expired: got %d, %v; want 1", n, err)
		}
	})
}

// An invited user is stored with their invitation or not at all.
func TestInviteUserStoresTheUserAndTokenTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustUser(t, s, "taken@example.com")
		tok := &store.SignInToken{Hash: "h1", Purpose: store.PurposeInvitation, ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.InviteUser(ctx, &store.User{Email: "Taken@example.com"}, tok); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a taken email: got %v, want ErrConflict", err)
		}
		u := &store.User{Email: "New@Example.com", Role: store.RoleAdmin}
		if err := s.InviteUser(ctx, u, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.SignInTokenUser(ctx, "h1", store.PurposeInvitation, time.Now())
		if err != nil || got.Email != "new@example.com" || got.PasswordHash != "" || !got.IsAdmin() {
			t.Errorf("the invited user: got %+v, %v", got, err)
		}
	})
}

// An invitation's expiry is read with its user, on their own and in the users table, until
// it is used or deleted; a sign-in link is no invitation.
func TestInvitationExpiryIsReadWithTheUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		until := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
		invited := &store.User{Email: "invited@example.com"}
		if err := s.InviteUser(ctx, invited, &store.SignInToken{Hash: "inv", Purpose: store.PurposeInvitation, ExpiresAt: until}); err != nil {
			t.Fatal(err)
		}
		other := mustUser(t, s, "other@example.com")
		if err := s.CreateSignInToken(ctx, &store.SignInToken{Hash: "link", UserID: other.ID, Purpose: store.PurposeMagicLink,
			ExpiresAt: until}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.InvitationExpiry(ctx, invited.ID); err != nil || !got.Equal(until) {
			t.Errorf("the invited user's: got %v, %v; want %v", got, err, until)
		}
		if got, err := s.InvitationExpiry(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user with a sign-in link: got %v, %v; want ErrNotFound", got, err)
		}
		rows, _, err := s.ListUsersPage(ctx, store.UserQuery{Limit: 10})
		if err != nil || len(rows) != 2 {
			t.Fatalf("the table: %d rows, %v", len(rows), err)
		}
		if r := rows[0]; r.Email != "invited@example.com" || r.InvitationExpires == nil || !r.InvitationExpires.Equal(until) {
			t.Errorf("the invited user's row: %s, %v; want %v", r.Email, r.InvitationExpires, until)
		}
		if r := rows[1]; r.InvitationExpires != nil {
			t.Errorf("%s's row has an invitation until %v", r.Email, r.InvitationExpires)
		}
		if _, err := s.UseSignInToken(ctx, "inv", store.PurposeInvitation, time.Now(), func(*store.User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InvitationExpiry(ctx, invited.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after the invitation was used: %v, want ErrNotFound", err)
		}
		// A link that was not sent is deleted; its user stays.
		if err := s.CreateSignInToken(ctx, &store.SignInToken{Hash: "unsent", UserID: invited.ID, Purpose: store.PurposeInvitation,
			ExpiresAt: until}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSignInToken(ctx, "unsent"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InvitationExpiry(ctx, invited.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after the unsent link was deleted: %v, want ErrNotFound", err)
		}
		if _, err := s.UserByID(ctx, invited.ID); err != nil {
			t.Errorf("the user after their link was deleted: %v", err)
		}
	})
}

// The SMTP password is encrypted at rest; the sign-in switches default to passwords on and
// links off.
func TestMailSettingsKeepThePasswordEncrypted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if m, err := s.MailSettings(ctx); err != nil || m != (store.MailSettings{}) {
			t.Errorf("before any: got %+v, %v; want none", m, err)
		}
		want := store.MailSettings{Host: "smtp.example.com", Port: 2525, Username: "mailer", Password: "smtp-secret-pw",
			From: "WireGUI <vpn@example.com>", TLS: "tls"}
		if _, err := s.UpdateMailSettings(ctx, func(m *store.MailSettings) error { *m = want; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, err := s.MailSettings(ctx); err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
		var raw string
		store.RawDBForTest(s).QueryRow(`SELECT smtp_password FROM configuration WHERE id = 1`).Scan(&raw)
		if raw == "" || strings.Contains(raw, "smtp-secret") {
			t.Errorf("stored password %q: want it encrypted", raw)
		}

		st, err := s.Settings(ctx)
		if err != nil || !st.LocalAuthEnabled || st.MagicLinkEnabled {
			t.Errorf("sign-in switches: got %+v, %v; want passwords on, links off", st, err)
		}
		if _, err := s.UpdateSettings(ctx, func(st *store.Settings) error {
			st.LocalAuthEnabled, st.MagicLinkEnabled = false, true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Settings(ctx); st.LocalAuthEnabled || !st.MagicLinkEnabled {
			t.Errorf("after saving: got %+v; want passwords off, links on", st)
		}
		if got, _ := s.MailSettings(ctx); got != want {
			t.Errorf("the settings' save changed the mail settings: got %+v", got)
		}
	})
}
