package cli

import (
	"strings"
	"testing"

	"wiregui/store"
	"wiregui/store/storetest"
)

// TestUserResetMFA: reset-mfa removes a user's second factors and recovery codes, says how
// many and logs it; done again, it says there is nothing to remove; an unknown user is an
// error, a missing email a usage error.
func TestUserResetMFA(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			c.ok("", "user", "add", "--email", "ann@example.com")
			st := c.store()
			ann, err := st.UserByEmail(t.Context(), "ann@example.com")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*store.MFAMethod{
				{UserID: ann.ID, Kind: store.MFATOTP, Name: "Phone", Secret: "JBSWY3DPEHPK3PXP"},
				{UserID: ann.ID, Kind: store.MFAWebAuthn, Name: "Key", CredentialID: []byte("k"), Credential: "{}"},
			} {
				if err := st.CreateMFAMethod(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.SetRecoveryCodes(t.Context(), ann.ID, []string{"a", "b", "c"}); err != nil {
				t.Fatal(err)
			}

			status, out, errOut := c.run("", "user", "reset-mfa", "Ann@Example.com")
			if status != ExitOK || out != "removed 2 second factors and 3 unused recovery codes of ann@example.com\n" {
				t.Errorf("reset-mfa: exit %d, %q", status, out)
			}
			if !strings.Contains(errOut, `msg=account event=mfa_changed user=ann@example.com method="" addr="" user_id=`) ||
				!strings.Contains(errOut, `change="reset: 2 methods and 3 recovery codes removed"`) {
				t.Errorf("reset-mfa logged %q, want the reset with what it removed", errOut)
			}
			if list, _ := st.MFAMethods(t.Context(), ann.ID); len(list) != 0 {
				t.Errorf("methods left: %+v", list)
			}
			if n, _ := st.RecoveryCodesLeft(t.Context(), ann.ID); n != 0 {
				t.Errorf("%d recovery codes left", n)
			}
			if out := c.ok("", "user", "reset-mfa", "ann@example.com"); out != "ann@example.com has no second factor and no recovery code; nothing to remove\n" {
				t.Errorf("reset-mfa again: %q", out)
			}
			if status, _, errOut := c.run("", "user", "reset-mfa", "nobody@example.com"); status != ExitError ||
				!strings.Contains(errOut, "There is no user with the email nobody@example.com") {
				t.Errorf("reset-mfa of an unknown user: exit %d, %q", status, errOut)
			}
			if status, _, _ := c.run("", "user", "reset-mfa"); status != ExitUsage {
				t.Errorf("reset-mfa without an email: exit %d, want %d", status, ExitUsage)
			}
		})
	}
}
