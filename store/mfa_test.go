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

func mustMFA(t *testing.T, s *store.Store, m *store.MFAMethod) *store.MFAMethod {
	t.Helper()
	if err := s.CreateMFAMethod(context.Background(), m); err != nil {
		t.Fatalf("create mfa method %s: %v", m.Name, err)
	}
	return m
}

// A TOTP secret is sealed on disk and read back opened; a WebAuthn credential is found by its
// id, which belongs to one method only; the methods are listed oldest first.
func TestMFAMethodsAreStoredWithTheirSecretSealed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "m@example.com")
		totp := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP",
			LastStep: 41})
		key := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFAWebAuthn, Name: "Key",
			CredentialID: []byte{1, 2, 3, 250}, Credential: `{"id":"AQID-g"}`, SignCount: 7, Discoverable: true})

		var onDisk string
		if err := store.RawDBForTest(s).QueryRow(`SELECT secret FROM mfa_methods WHERE id = $1`, totp.ID).Scan(&onDisk); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(onDisk, "v1:") || strings.Contains(onDisk, "JBSWY3DPEHPK3PXP") {
			t.Errorf("the TOTP secret on disk is %q, want it sealed", onDisk)
		}

		list, err := s.MFAMethods(ctx, u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("methods: %+v, %v; want 2", list, err)
		}
		if got := list[0]; got.ID != totp.ID || got.Secret != "JBSWY3DPEHPK3PXP" || got.LastStep != 41 || got.Kind != store.MFATOTP ||
			got.CredentialID != nil || got.LastUsedAt != nil {
			t.Errorf("the TOTP method read back: %+v", got)
		}
		if got := list[1]; got.ID != key.ID || string(got.CredentialID) != string([]byte{1, 2, 3, 250}) ||
			got.Credential != `{"id":"AQID-g"}` || got.SignCount != 7 || !got.Discoverable || got.Secret != "" {
			t.Errorf("the WebAuthn method read back: %+v", got)
		}
		found, err := s.MFAMethodByCredential(ctx, []byte{1, 2, 3, 250})
		if err != nil || found.ID != key.ID {
			t.Errorf("by credential: %+v, %v; want %s", found, err, key.ID)
		}
		if _, err := s.MFAMethodByCredential(ctx, []byte{9}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown credential: %v, want ErrNotFound", err)
		}
		other := mustUser(t, s, "o@example.com")
		err = s.CreateMFAMethod(ctx, &store.MFAMethod{UserID: other.ID, Kind: store.MFAWebAuthn, Name: "Copy",
			CredentialID: []byte{1, 2, 3, 250}, Credential: "{}"})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("a credential stored twice: %v, want ErrConflict", err)
		}
		if list, _ := s.MFAMethods(ctx, other.ID); len(list) != 0 {
			t.Errorf("another user's methods: %+v, want none", list)
		}
	})
}

// A TOTP step is accepted once: not again, not an earlier one; of many uses of one step at the
// same moment exactly one succeeds.
func TestTOTPStepIsUsedOnceEvenAtTheSameMoment(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "t@example.com")
		m := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP"})
		at := time.Now()
		for _, c := range []struct {
			step int64
			want bool
		}{{100, true}, {100, false}, {99, false}, {101, true}} {
			if got, err := s.UseTOTPStep(ctx, m.ID, c.step, at); err != nil || got != c.want {
				t.Errorf("use step %d: %v, %v; want %v", c.step, got, err, c.want)
			}
		}
		list, _ := s.MFAMethods(ctx, u.ID)
		if list[0].LastStep != 101 || list[0].LastUsedAt == nil {
			t.Errorf("after the uses: last step %d, last used %v; want 101 and a time", list[0].LastStep, list[0].LastUsedAt)
		}

		const racers = 8
		var wg sync.WaitGroup
		results := make(chan bool, racers)
		start := make(chan struct{})
		for range racers {
			wg.Go(func() {
				<-start
				ok, err := s.UseTOTPStep(ctx, m.ID, 102, at)
				if err != nil {
					t.Error(err)
				}
				results <- ok
			})
		}
		close(start)
		wg.Wait()
		close(results)
		won := 0
		for ok := range results {
			if ok {
				won++
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent uses of one step: %d succeeded, want exactly 1", racers, won)
		}
	})
}

// A WebAuthn use moves the signature counter on from the value it was read with; a use that
// read an older value changes nothing.
func TestWebAuthnUseMovesTheCounterFromWhatItRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "w@example.com")
		m := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFAWebAuthn, Name: "Key", CredentialID: []byte("k"),
			Credential: "{}", SignCount: 3})
		if ok, err := s.UseWebAuthn(ctx, m.ID, 3, 4, time.Now()); err != nil || !ok {
			t.Errorf("use from 3 to 4: %v, %v", ok, err)
		}
		if ok, err := s.UseWebAuthn(ctx, m.ID, 3, 5, time.Now()); err != nil || ok {
			t.Errorf("a use that read 3 after the counter moved to 4: %v, %v; want false", ok, err)
		}
		if got, _ := s.MFAMethodByCredential(ctx, []byte("k")); got.SignCount != 4 || got.LastUsedAt == nil {
			t.Errorf("after the uses: %+v, want sign count 4 and a last use", got)
		}
	})
}

// Recovery codes: each works once, even at the same moment; new codes replace the old; the
// last method's removal takes them; a reset takes everything and says what it took; a
// deleted user's go with them.
func TestRecoveryCodesAndReset(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "r@example.com")
		other := mustUser(t, s, "x@example.com")
		phone := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP"})
		key := mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFAWebAuthn, Name: "Key", CredentialID: []byte("k"), Credential: "{}"})
		if err := s.SetRecoveryCodes(ctx, u.ID, []string{"h1", "h2", "h3"}); err != nil {
			t.Fatal(err)
		}
		left := func() int {
			t.Helper()
			n, err := s.RecoveryCodesLeft(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if ok, err := s.UseRecoveryCode(ctx, u.ID, "h1", time.Now()); err != nil || !ok {
			t.Errorf("first use: %v, %v", ok, err)
		}
		if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h1", time.Now()); ok {
			t.Error("a recovery code worked twice")
		}
		if ok, _ := s.UseRecoveryCode(ctx, other.ID, "h2", time.Now()); ok {
			t.Error("a recovery code worked for another user")
		}
		if n := left(); n != 2 {
			t.Errorf("codes left: %d, want 2", n)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 6 {
			wg.Go(func() {
				if ok, err := s.UseRecoveryCode(ctx, u.ID, "h2", time.Now()); err != nil {
					t.Error(err)
				} else if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("6 concurrent uses of one code: %d succeeded, want 1", won)
		}

		if err := s.SetRecoveryCodes(ctx, u.ID, []string{"n1", "n2"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h3", time.Now()); ok {
			t.Error("an old code worked after new ones were made")
		}
		if n := left(); n != 2 {
			t.Errorf("codes left after regenerating: %d, want 2", n)
		}

		if err := s.DeleteMFAMethod(ctx, other.ID, phone.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another user deletes the method: %v, want ErrNotFound", err)
		}
		if err := s.DeleteMFAMethod(ctx, u.ID, phone.ID); err != nil {
			t.Fatal(err)
		}
		if n := left(); n != 2 {
			t.Errorf("codes left with one method still there: %d, want 2", n)
		}
		if err := s.DeleteMFAMethod(ctx, u.ID, key.ID); err != nil {
			t.Fatal(err)
		}
		if n := left(); n != 0 {
			t.Errorf("codes left with no method: %d, want 0", n)
		}

		mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP"})
		mustMFA(t, s, &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Tablet", Secret: "JBSWY3DPEHPK3PXQ"})
		s.SetRecoveryCodes(ctx, u.ID, []string{"a", "b", "c"})
		s.UseRecoveryCode(ctx, u.ID, "a", time.Now())
		if methods, codes, err := s.ResetMFA(ctx, u.ID); err != nil || methods != 2 || codes != 2 {
			t.Errorf("reset: %d methods, %d codes, %v; want 2, 2", methods, codes, err)
		}
		if methods, codes, err := s.ResetMFA(ctx, u.ID); err != nil || methods != 0 || codes != 0 {
			t.Errorf("reset again: %d methods, %d codes, %v; want 0, 0", methods, codes, err)
		}
		if list, _ := s.MFAMethods(ctx, u.ID); len(list) != 0 || left() != 0 {
			t.Errorf("after the reset: %d methods, %d codes; want none", len(list), left())
		}

		mustMFA(t, s, &store.MFAMethod{UserID: other.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP"})
		s.SetRecoveryCodes(ctx, other.ID, []string{"z"})
		if err := s.DeleteUser(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		var rows int
		store.RawDBForTest(s).QueryRow(`SELECT (SELECT count(*) FROM mfa_methods) + (SELECT count(*) FROM recovery_codes)`).Scan(&rows)
		if rows != 0 {
			t.Errorf("%d MFA rows left after the users went, want 0", rows)
		}
	})
}
