package app_test

import (
	"database/sql"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/store"
)

// totpSecret is the secret of the TOTP methods the tests give users.
const totpSecret = "JBSWY3DPEHPK3PXP"

// mfaMethod gives u an authenticator app with totpSecret, as if added long ago, and returns
// its id.
func (e *env) mfaMethod(t testing.TB, u *store.User) string {
	t.Helper()
	m := &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone", Secret: totpSecret}
	if err := e.store.CreateMFAMethod(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// totpCode is secret's code at time at, as an authenticator app shows it.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := hotp.GenerateCodeCustom(secret, uint64(at.Unix()/30), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signInMethod returns how the user last signed in, and whether they ever did.
func (e *env) signInMethod(t testing.TB, u *store.User) (string, bool) {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var method string
	var at sql.NullString
	if err := db.QueryRow(`SELECT last_signed_in_method, last_signed_in_at FROM users WHERE id = $1`, u.ID).Scan(&method, &at); err != nil {
		t.Fatal(err)
	}
	return method, at.Valid
}

// password signs c in with its password, up to the second factor: the /mfa page.
func passwordStep(t *testing.T, c *apptest.Client, email string) apptest.Response {
	t.Helper()
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {email}, "password": {password}})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/mfa") {
		t.Fatalf("password of %s: got %d at %s, want 200 at /mfa", email, r.Status, r.URL)
	}
	return r
}

// The password alone does not sign in a user with an authenticator app: it leads to /mfa,
// where a wrong code is refused and the right one signs in, once.
func TestPasswordThenCodeSignsIn(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.mfaMethod(t, alice)
	c := apptest.New(t, e.url)
	r := passwordStep(t, c, "alice@example.com")
	for _, want := range []string{"Two-factor authentication", "alice@example.com", "Code from your authenticator app",
		"Use a recovery code"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("the /mfa page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "Sign out") {
		t.Error("the /mfa page shows a signed-in user's menu")
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("devices after the password alone: at %s, want /login", r.URL)
	}
	if _, ever := e.signInMethod(t, alice); ever {
		t.Error("the sign-in was recorded after the password alone")
	}
	if r := c.Get("/mfa"); !strings.HasSuffix(r.URL, "/mfa") {
		t.Fatalf("/mfa again: at %s", r.URL)
	}

	r = c.Post("/mfa", url.Values{"code": {"000000"}})
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "That code is not right") ||
		!strings.Contains(r.Body, `aria-describedby="mfa-code-error"`) {
		t.Errorf("a wrong code: %d, want 401 saying so next to the field", r.Status)
	}
	r = c.Post("/mfa", url.Values{"code": {""}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Enter the 6-digit code") {
		t.Errorf("no code: %d, want 422 asking for it", r.Status)
	}
	code := totpCode(t, totpSecret, time.Now())
	r = c.Post("/mfa", url.Values{"code": {code}})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") || !strings.Contains(r.Body, "Sign out") {
		t.Fatalf("the right code: %d at %s, want signed in at /devices", r.Status, r.URL)
	}
	if method, _ := e.signInMethod(t, alice); method != "password+totp" {
		t.Errorf("recorded sign-in method %q, want password+totp", method)
	}
	if r := c.Get("/mfa"); !strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("/mfa once signed in: at %s, want /devices", r.URL)
	}

	// The same code once more, in a new sign-in: refused.
	again := apptest.New(t, e.url)
	passwordStep(t, again, "alice@example.com")
	if r := again.Post("/mfa", url.Values{"code": {code}}); r.Status != http.StatusUnauthorized {
		t.Errorf("the code used already: %d, want 401", r.Status)
	}
}

// A recovery code signs in once; the sign-in says so.
func TestRecoveryCodeSignsInOnce(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.mfaMethod(t, alice)
	codes, err := e.mfa.NewRecoveryCodes(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	c := apptest.New(t, e.url)
	passwordStep(t, c, "alice@example.com")
	r := c.Post("/mfa", url.Values{"recovery_code": {strings.ToLower(codes[0])}})
	if !strings.HasSuffix(r.URL, "/devices") || !strings.Contains(r.Body, "signed in with a recovery code") {
		t.Fatalf("a recovery code: %d at %s, want signed in, told the code is used up", r.Status, r.URL)
	}
	if method, _ := e.signInMethod(t, alice); method != "password+recovery_code" {
		t.Errorf("recorded sign-in method %q, want password+recovery_code", method)
	}
	c.Post("/logout", nil)

	passwordStep(t, c, "alice@example.com")
	r = c.Post("/mfa", url.Values{"recovery_code": {codes[0]}})
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "That recovery code is not right, or it was used already") ||
		!strings.Contains(r.Body, `<details class="advanced" open>`) {
		t.Errorf("the recovery code again: %d, want 401 with the recovery part open", r.Status)
	}
	if r := c.Post("/mfa", url.Values{"recovery_code": {codes[1]}}); !strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("another recovery code: at %s, want /devices", r.URL)
	}
}

// Wrong codes are limited as every way of signing in is (app/limits): five in a row, then
// 429 with Retry-After and when to try again; the right code is refused while it lasts, a
// recovery code too; after the wait the right code works. Each failure and the lockout are
// logged.
func TestSecondFactorAttemptsAreLimited(t *testing.T) {
	clk, logs := newClock(), &logLines{}
	e := newEnv(t, withClockAndLog(clk, logs))
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.mfaMethod(t, alice)
	c := apptest.New(t, e.url)
	passwordStep(t, c, "alice@example.com")
	for i := range 5 {
		if r := c.Post("/mfa", url.Values{"code": {"000000"}}); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d, want 401", i+1, r.Status)
		}
	}
	r := c.Post("/mfa", url.Values{"code": {totpCode(t, totpSecret, time.Now())}})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "30" ||
		!strings.Contains(r.Body, "Too many attempts. Try again in 30 seconds.") {
		t.Errorf("the right code after 5 wrong ones: %d, Retry-After %q; want 429 saying when to retry", r.Status, r.Header.Get("Retry-After"))
	}
	if r := c.Post("/mfa", url.Values{"recovery_code": {"AAAA-AAAA-AAAA-AAAA"}}); r.Status != http.StatusTooManyRequests {
		t.Errorf("a recovery code while locked out: %d, want 429", r.Status)
	}
	failed, lockouts := logs.named("sign_in_failed"), logs.named("lockout")
	if len(failed) != 5 || failed[0]["method"] != "mfa" || failed[0]["user"] != "alice@example.com" {
		t.Errorf("the failed attempts logged: %v, want 5 of alice's, method mfa", failed)
	}
	if len(lockouts) != 1 || lockouts[0]["method"] != "mfa" {
		t.Errorf("the lockouts logged: %v, want 1, method mfa", lockouts)
	}
	clk.add(30 * time.Second)
	// The pending sign-in lasts 5 minutes of real time: still waiting for its factor.
	if r := c.Post("/mfa", url.Values{"code": {totpCode(t, totpSecret, time.Now())}}); !strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("the right code after the wait: %d at %s, want /devices", r.Status, r.URL)
	}
}

// A user whose only second factor is a security key is asked for it (the original let them
// in with the password alone).
func TestOnlyASecurityKeyIsStillASecondFactor(t *testing.T) {
	e := newEnv(t)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	if err := e.store.CreateMFAMethod(t.Context(), &store.MFAMethod{UserID: bob.ID, Kind: store.MFAWebAuthn, Name: "Key",
		CredentialID: []byte("key"), Credential: `{"id":"a2V5"}`}); err != nil {
		t.Fatal(err)
	}
	c := apptest.New(t, e.url)
	r := passwordStep(t, c, "bob@example.com")
	// This test server is reached at 127.0.0.1, where browsers refuse WebAuthn: the page says
	// why, and offers no code field (bob has no app), only a recovery code.
	if !strings.Contains(r.Body, "security keys and passkeys cannot be used on this server") ||
		strings.Contains(r.Body, `name="code"`) {
		t.Errorf("the /mfa page of a user with a key alone does not say why the key cannot be used here")
	}
	if r := c.Post("/mfa", url.Values{"code": {totpCode(t, totpSecret, time.Now())}}); r.Status != http.StatusUnauthorized {
		t.Errorf("a TOTP code for a user without an app: %d, want 401", r.Status)
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("devices: at %s, want /login", r.URL)
	}
}

// A sign-in waits pendingMFA for its second factor, not longer.
func TestPendingSignInExpires(t *testing.T) {
	defer app.SetPendingMFA(time.Second)()
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.mfaMethod(t, alice)
	c := apptest.New(t, e.url)
	passwordStep(t, c, "alice@example.com")
	time.Sleep(1100 * time.Millisecond)
	// The session went with the wait: the form's token is stale.
	if r := c.Post("/mfa", url.Values{"code": {totpCode(t, totpSecret, time.Now())}}); r.Status != http.StatusForbidden ||
		!strings.Contains(r.Body, "Your session has expired") {
		t.Errorf("the right code after the wait ran out: %d at %s, want 403 saying the session expired", r.Status, r.URL)
	}
	if r := c.Get("/mfa"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("/mfa after the wait ran out: at %s, want /login", r.URL)
	}
}

// With MFA required, a user without a second factor signs in to add one and nothing else;
// adding one completes the sign-in. Signing out still works.
func TestRequiredMFAMakesUsersEnrolFirst(t *testing.T) {
	e := newEnv(t)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	e.user(t, "carol@example.com", password, store.RoleUnprivileged)
	if _, err := e.store.UpdateSettings(t.Context(), func(st *store.Settings) error { st.MFARequired = true; return nil }); err != nil {
		t.Fatal(err)
	}
	c := apptest.New(t, e.url)
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {"bob@example.com"}, "password": {password}})
	if !strings.HasSuffix(r.URL, "/account/mfa") || !strings.Contains(r.Body, "An administrator requires a second factor") {
		t.Fatalf("bob's sign-in: at %s, want the enrolment page saying why", r.URL)
	}
	if strings.Contains(r.Body, `aria-label="Main"`) || !strings.Contains(r.Body, "Sign out") {
		t.Error("the enrolment page shows the navigation to pages that send back to it, or no way to sign out")
	}
	for _, path := range []string{"/devices", "/devices/new", "/"} {
		if r := c.Get(path); !strings.HasSuffix(r.URL, "/account/mfa") {
			t.Errorf("%s before enrolling: at %s, want /account/mfa", path, r.URL)
		}
	}
	if r := c.HTMXGet("/devices"); r.Status != http.StatusForbidden || r.Header.Get("HX-Redirect") != "/account/mfa" {
		t.Errorf("an htmx request before enrolling: %d, HX-Redirect %q", r.Status, r.Header.Get("HX-Redirect"))
	}
	if _, ever := e.signInMethod(t, bob); ever {
		t.Error("the sign-in was recorded before the enrolment")
	}

	r = c.Get("/account/mfa/totp")
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(r.Body)
	secret := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`).FindStringSubmatch(r.Body)
	if token == nil || secret == nil || !strings.Contains(r.Body, `<img class="qr" src="data:image/png;base64,`) {
		t.Fatalf("the enrolment page has no QR code, secret or token:\n%s", r.Body)
	}
	key := strings.ReplaceAll(secret[1], " ", "")
	r = c.Post("/account/mfa/totp", url.Values{"token": {html.UnescapeString(token[1])}, "name": {"Phone"}, "code": {"000000"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "That code does not match") ||
		!strings.Contains(r.Body, secret[1]) {
		t.Errorf("a wrong code: %d, want 422 with the same secret shown again", r.Status)
	}
	r = c.Post("/account/mfa/totp", url.Values{"token": {html.UnescapeString(token[1])}, "name": {"Phone"},
		"code": {totpCode(t, key, time.Now())}})
	if !strings.HasSuffix(r.URL, "/account/mfa") || !strings.Contains(r.Body, "Authenticator app “Phone” added") ||
		strings.Contains(r.Body, "An administrator requires a second factor") || !strings.Contains(r.Body, "You have no recovery codes") {
		t.Fatalf("the right code: at %s, want the page with the app added and no longer enrolling", r.URL)
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/devices") || !strings.Contains(r.Body, `aria-label="Main"`) {
		t.Errorf("devices after enrolling: at %s, with the navigation: %v", r.URL, strings.Contains(r.Body, `aria-label="Main"`))
	}
	if method, _ := e.signInMethod(t, bob); method != "password+totp" {
		t.Errorf("recorded sign-in method %q, want password+totp", method)
	}

	// Carol signs out instead.
	carol := apptest.New(t, e.url)
	carol.Get("/login")
	carol.Post("/login", url.Values{"email": {"carol@example.com"}, "password": {password}})
	if r := carol.Post("/logout", nil); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("sign-out while enrolling: at %s, want /login", r.URL)
	}
	if r := carol.Get("/account/mfa"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("after signing out: at %s, want /login", r.URL)
	}
}

// Recovery codes are made on the page and shown once; methods are removed after a
// confirmation, only one's own, and not the last one while MFA is required.
func TestAccountMFAPage(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	r := c.Get("/account/mfa")
	if !strings.Contains(r.Body, "You sign in with your password alone") {
		t.Errorf("the page of a user without a second factor does not say so")
	}
	if r := c.Post("/account/mfa/recovery", nil); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("recovery codes without a second factor: %d, want 422", r.Status)
	}
	first, second := e.mfaMethod(t, alice), e.mfaMethod(t, alice)
	r = c.Post("/account/mfa/recovery", nil)
	codes := regexp.MustCompile(`[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}`).FindAllString(r.Body, -1)
	if r.Status != http.StatusOK || len(codes) != 10 || !strings.Contains(r.Body, "shown only now") {
		t.Fatalf("new recovery codes: %d with %d codes, want 200 with 10", r.Status, len(codes))
	}
	if r := c.Get("/account/mfa"); strings.Contains(r.Body, codes[0]) || !strings.Contains(r.Body, "You have 10 unused recovery codes") {
		t.Error("the codes are shown again, or their number is not")
	}

	if r := c.Get("/account/mfa/" + e.mfaMethod(t, bob) + "/delete"); r.Status != http.StatusNotFound {
		t.Errorf("the confirmation of bob's method: %d, want 404", r.Status)
	}
	r = c.Get("/account/mfa/" + first + "/delete")
	if !strings.Contains(r.Body, "Remove Phone?") || strings.Contains(r.Body, "your last second factor") {
		t.Errorf("the confirmation: %d", r.Status)
	}
	if r := c.Post("/account/mfa/"+first+"/delete", nil); !strings.HasSuffix(r.URL, "/account/mfa") ||
		!strings.Contains(r.Body, "Authenticator app “Phone” removed") {
		t.Errorf("remove: at %s", r.URL)
	}
	e.store.UpdateSettings(t.Context(), func(st *store.Settings) error { st.MFARequired = true; return nil })
	if r := c.Post("/account/mfa/"+second+"/delete", nil); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, "add another before you remove your last one") {
		t.Errorf("removing the last method while MFA is required: %d, want 422", r.Status)
	}
	e.store.UpdateSettings(t.Context(), func(st *store.Settings) error { st.MFARequired = false; return nil })
	r = c.Get("/account/mfa/" + second + "/delete")
	if !strings.Contains(r.Body, "your last second factor") {
		t.Error("the confirmation of the last method does not say what goes with it")
	}
	c.Post("/account/mfa/"+second+"/delete", nil)
	if n, _ := e.store.RecoveryCodesLeft(t.Context(), alice.ID); n != 0 {
		t.Errorf("%d recovery codes left with no method, want 0", n)
	}
}

// The passkey's sign-in is refused while an admin has not allowed it.
func TestPasskeySignInOnlyWhenAllowed(t *testing.T) {
	e := newEnv(t)
	c := apptest.New(t, e.url)
	if r := c.Get("/login"); strings.Contains(r.Body, "Sign in with a passkey") {
		t.Error("the sign-in page offers a passkey while passwordless sign-in is off")
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/login/passkey/begin", nil)
	req.Header.Set("X-CSRF-Token", apptest.CSRFToken(c.Get("/login").Body))
	req.Header.Set("Accept", "application/json")
	if r := c.Do(req); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "turned off") {
		t.Errorf("begin while off: %d %s, want 403 saying it is off", r.Status, r.Body)
	}
}
