package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
)

// TestBrowserSecurityKeysAndPasskeys is WebAuthn end to end: the real binary, Debian's
// Chromium and its DevTools virtual authenticator (a platform authenticator that keeps
// passkeys and verifies its user). A passkey is added on the Two-factor authentication page,
// asked for after the password, refused alone until an admin allows passwordless sign-in
// and then signs in alone, and removed, after which it signs in no more.
func TestBrowserSecurityKeysAndPasskeys(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	// Browsers take WebAuthn only from a domain name (localhost is one, and a secure context).
	s := startLocal(t, "WG_EXTERNAL_URL=http://localhost:{port}")
	base := strings.Replace(s.url, "127.0.0.1", "localhost", 1)

	authenticator := virtualAuthenticator(t, b)
	credentials := func() []*webauthn.Credential {
		t.Helper()
		got, err := chromedp.Call(b.Ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authenticator})
		if err != nil {
			t.Fatalf("the authenticator's credentials: %v", err)
		}
		return got.Credentials
	}
	text := func(what string) string {
		t.Helper()
		return apptest.Eval[string](t, b, `document.querySelector("main").innerText`)
	}
	signOut := func() {
		t.Helper()
		b.Run(t, "sign out",
			chromedp.Click(chromedp.CSS(`.user-menu button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	}
	password := func(wait string) {
		t.Helper()
		b.Run(t, "sign in with the password",
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), adminEmail),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(wait)))
	}

	password(`#device-list`)
	b.Run(t, "add a passkey",
		chromedp.Navigate(base+"/account/mfa"),
		chromedp.WaitVisible(chromedp.CSS(`#key-name`)),
		chromedp.SendKeys(chromedp.CSS(`#key-name`), "Laptop passkey"),
		chromedp.Click(chromedp.CSS(`form[data-webauthn="register"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main .flash`)))
	if got := text("main"); !strings.Contains(got, "Passkey “Laptop passkey” added") || !strings.Contains(got, "Laptop passkey\tPasskey") {
		b.Screenshot(t)
		t.Fatalf("after adding the passkey the page reads:\n%s", got)
	}
	if creds := credentials(); len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %d credentials, want 1 passkey (resident)", len(creds))
	}
	b.NoErrors(t, "/account/mfa after adding a passkey")

	// The password is not enough now: /mfa asks for the passkey.
	signOut()
	password(`form[data-webauthn="login"]`)
	b.Run(t, "the passkey as the second factor",
		chromedp.Click(chromedp.CSS(`form[data-webauthn="login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
	b.NoErrors(t, "/mfa")

	// Passwordless sign-in is off: the sign-in page does not offer it, and the server refuses it.
	signOut()
	if apptest.Eval[bool](t, b, `document.querySelector('form[data-webauthn="passkey"]') !== null`) {
		t.Error("the sign-in page offers a passkey while passwordless sign-in is off")
	}
	status, err := chromedp.Run(b.Ctx, chromedp.Evaluate[float64](`fetch("/login/passkey/begin", {method: "POST",
		headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content, "Accept": "application/json"}})
		.then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("a passkey's sign-in while it is off: %v, %v; want 403", status, err)
	}

	// An admin allows it in Settings; then the passkey signs in alone.
	password(`form[data-webauthn="login"]`)
	b.Run(t, "allow passwordless sign-in",
		chromedp.Click(chromedp.CSS(`form[data-webauthn="login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)),
		chromedp.Navigate(base+"/admin/settings"),
		chromedp.WaitVisible(chromedp.ID("signin-passwordless")),
		chromedp.Click(chromedp.ID("signin-passwordless")),
		chromedp.Click(chromedp.CSS(`#signin-settings button[type="submit"]`)))
	b.WaitJS(t, "the settings saved", `document.querySelector("#signin-settings .flash") !== null`, "", 10*time.Second)
	signOut()
	b.Run(t, "sign in with the passkey alone",
		chromedp.WaitVisible(chromedp.CSS(`form[data-webauthn="passkey"] button`)),
		chromedp.Click(chromedp.CSS(`form[data-webauthn="passkey"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
	if got := apptest.Eval[string](t, b, `document.querySelector(".user-email").textContent`); got != adminEmail {
		t.Errorf("signed in with the passkey as %q, want %s", got, adminEmail)
	}
	b.NoErrors(t, "the passkey's sign-in")

	// Removed (after a confirmation), the passkey signs in no more, and the password alone does.
	b.Run(t, "remove the passkey",
		chromedp.Navigate(base+"/account/mfa"),
		chromedp.Click(chromedp.CSS(`a[href$="/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.btn-danger`)),
		chromedp.Click(chromedp.CSS(`button.btn-danger`)),
		chromedp.WaitVisible(chromedp.CSS(`main .flash`)))
	if got := text("main"); !strings.Contains(got, "“Laptop passkey” removed") || !strings.Contains(got, "You sign in with your password alone") {
		b.Screenshot(t)
		t.Errorf("after removing the passkey the page reads:\n%s", got)
	}
	signOut()
	b.Run(t, "the removed passkey",
		chromedp.Click(chromedp.CSS(`form[data-webauthn="passkey"] button`)))
	b.WaitJS(t, "the removed passkey refused", `!document.querySelector('form[data-webauthn="passkey"] [data-webauthn-error]').hidden`,
		`document.body.innerText`, 10*time.Second)
	if got := apptest.Eval[string](t, b, `document.querySelector('form[data-webauthn="passkey"] [data-webauthn-error]').textContent`); !strings.Contains(got, "not accepted") {
		t.Errorf("the removed passkey's sign-in says %q", got)
	}
	password(`#device-list`)
	b.NoErrors(t, "the end")
}

// virtualAuthenticator gives b's tab a DevTools virtual authenticator: a platform
// authenticator that keeps passkeys, verifies its user and answers at once.
func virtualAuthenticator(t *testing.T, b *apptest.Browser) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(b.Ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("enable the WebAuthn domain: %v", err)
	}
	added, err := chromedp.Call(b.Ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("add a virtual authenticator: %v", err)
	}
	return added.AuthenticatorID
}
