package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"wiregui/app/apptest"
)

// TestBrowserAccessibility runs axe-core (vendored for the tests by assets/vendor.sh) on every
// page and dialog, as an admin, a user and a visitor see them, in the light scheme at 1280 px
// and in the dark one at 375 px: no violation of any rule, and nothing wider than the window.
func TestBrowserAccessibility(t *testing.T) {
	// Some 60 pages, each read by axe-core: a minute, three on a busy machine.
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true, Timeout: 5 * time.Minute})
	dir := t.TempDir()
	// Browsers take WebAuthn only from a domain name: the pages are read at localhost.
	s := startLocal(t, "WG_DATA_DIR="+dir, "WG_EXTERNAL_URL=http://localhost:{port}")
	base := strings.Replace(s.url, "127.0.0.1", "localhost", 1)
	localCLI(t, dir, "user", "add", "--email", "ann@example.com", "--password", "ann-password-1")
	localCLI(t, dir, "device", "add", "--user", "ann@example.com", "--name", "laptop")
	localCLI(t, dir, "rule", "add", "--user", "ann@example.com", "--action", "drop", "--destination", "10.0.0.1")
	// The sign-in page offers a passkey.
	localCLI(t, dir, "settings", "set", "passwordless_enabled=true")
	virtualAuthenticator(t, b)

	// A page is a path, what shows it is ready, and what to click first (a dialog, a link) and
	// what shows that ready, if anything.
	type page struct{ path, ready, open, openReady string }
	admin := []page{
		{path: "/devices", ready: "#device-list"},
		{path: "/devices", ready: "#device-list", open: `a[href="/devices/new"]`, openReady: "dialog[open] form"},
		{path: "/admin/devices", ready: "#device-list"},
		{path: "/admin/settings", ready: "main form"},
		{path: "/admin/rules", ready: "#rules-list"},
		{path: "/admin/rules", ready: "#rules-list", open: `#rules-list a[data-dialog="#rule-dialog"]`, openReady: "#rule-dialog #rule-destination"},
		{path: "/admin/rules/new", ready: "#rule-destination"},
		{path: "/account", ready: "#account-mfa-title"},
		{path: "/no-such-page", ready: "main"},
	}
	user := []page{
		{path: "/devices", ready: "#device-list"},
		{path: "/devices", ready: "#device-list", open: `#device-list tbody a[href^="/devices/"]`, openReady: "#device-config, main form"},
	}

	check := func(t *testing.T, scheme string, width int64, pages []page) {
		for _, p := range pages {
			name := p.path
			if p.open != "" {
				name += " with " + p.open
			}
			b.Run(t, "open "+name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			if p.open != "" {
				b.Run(t, "open the dialog of "+name, chromedp.Click(chromedp.CSS(p.open)), chromedp.WaitVisible(chromedp.CSS(p.openReady)))
			}
			inspect(t, b, name+", "+scheme+", "+strconv.FormatInt(width, 10)+" px")
		}
	}
	for _, view := range []struct {
		scheme string
		width  int64
	}{{"light", 1280}, {"dark", 375}} {
		t.Run(view.scheme, func(t *testing.T) {
			b.Run(t, "the "+view.scheme+" scheme at "+strconv.FormatInt(view.width, 10)+" px", chromedp.EmulateViewport(view.width, 900),
				chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: view.scheme}}})
					return err
				}),
				// Signed out, whatever a view that failed left behind.
				chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
					return err
				}))
			b.Run(t, "the sign-in page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
				chromedp.WaitVisible(chromedp.CSS(`form[data-webauthn="passkey"] button`)))
			inspect(t, b, "/login with a passkey's button, "+view.scheme)
			if gap := apptest.Eval[float64](t, b, `document.querySelector('form[data-webauthn="passkey"] button').getBoundingClientRect().top -
				document.querySelector('form[action="/login"] button').getBoundingClientRect().bottom`); gap < 8 {
				t.Errorf("the passkey's button is %.0f px below the Sign in button, want them apart", gap)
			}
			if got := apptest.Eval[float64](t, b, focusRingContrast); got < 3 {
				t.Errorf("the focus ring's contrast with the page is %.2f:1, want at least 3:1", got)
			}
			signIn(t, b, base, adminEmail, adminPassword)
			check(t, view.scheme, view.width, admin)
			addDeviceFocus(t, b, base, "phone "+view.scheme)
			b.Run(t, "sign out", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#device-list")),
				chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
			signIn(t, b, base, "ann@example.com", "ann-password-1")
			check(t, view.scheme, view.width, user)
			signOut(t, b)
			b.NoErrors(t, "the pages, "+view.scheme)
			secondFactorPages(t, b, base, dir, view.scheme+", "+strconv.FormatInt(view.width, 10)+" px")
			b.NoErrors(t, "the two-factor pages, "+view.scheme)
		})
	}
}

// focusRingContrast is the contrast ratio of the focused email field's outline with the page's
// background (WCAG's relative luminance), on the sign-in page.
const focusRingContrast = `(() => {
	const field = document.querySelector('input[name="email"]');
	field.focus();
	const rgb = c => c.match(/[\d.]+/g).slice(0, 3).map(Number);
	const lum = c => rgb(c).map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
		.reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
	const [a, b] = [lum(getComputedStyle(field).outlineColor), lum(getComputedStyle(document.body).backgroundColor)];
	return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})()`

// addDeviceFocus adds a device called name in the Add device dialog and follows where focus
// goes: the first field when the dialog opens, the field a message names after a failed
// submit, the result (and a title that says so) after a good one, whose configuration shows
// its whole lines.
func addDeviceFocus(t *testing.T, b *apptest.Browser, base, name string) {
	t.Helper()
	active := `document.activeElement.id || document.activeElement.className || document.activeElement.tagName`
	b.Run(t, "open the Add device dialog", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#device-list")),
		chromedp.Click(chromedp.CSS(`a[data-dialog="#add-device-dialog"]`)), chromedp.WaitVisible(chromedp.CSS("#device-name")))
	b.WaitJS(t, "focus on the name field", `document.activeElement.id === "device-name"`, active, 2*time.Second)
	b.Run(t, "submit without a name", chromedp.Click(chromedp.CSS(`#add-device-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-name[aria-invalid="true"]`)))
	b.WaitJS(t, "focus on the named field", `document.activeElement.id === "device-name"`, active, 2*time.Second)
	if got := apptest.Eval[string](t, b, `[...document.querySelectorAll("#add-device-dialog .actions:last-child > *")].map(e => e.textContent.trim()).join("|")`); !strings.HasSuffix(got, "Cancel|Add device") {
		t.Errorf("the dialog's buttons are %q, want Cancel and then Add device at the edge", got)
	}
	b.Run(t, "add "+name, chromedp.SendKeys(chromedp.CSS("#device-name"), name),
		chromedp.Click(chromedp.CSS(`#add-device-dialog button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#device-config")))
	b.WaitJS(t, "focus on the result", `document.activeElement.classList.contains("created-title")`, active, 2*time.Second)
	if got := apptest.Eval[string](t, b, `document.getElementById("add-device-title").textContent`); got != "Device "+name+" created" {
		t.Errorf("the dialog's title says %q", got)
	}
	if cut := apptest.Eval[bool](t, b, `(p => p.scrollWidth > p.clientWidth)(document.getElementById("device-config"))`); cut {
		t.Error("the configuration's lines are wider than its box")
	}
	b.Accessible(t, "the Add device dialog with "+name+"'s configuration")
}

// inspect fails the test when axe-core finds a violation on the page as it is now, or when
// something on it is wider than the window (a page scrolls sideways); page says where the
// test is.
func inspect(t *testing.T, b *apptest.Browser, page string) {
	t.Helper()
	b.Accessible(t, page)
	if wide := apptest.Eval[[]string](t, b, overflowing); len(wide) > 0 {
		b.Screenshot(t)
		t.Errorf("%s is wider than the window (%s); too wide:\n%s", page,
			apptest.Eval[string](t, b, `document.documentElement.scrollWidth + " px in " + document.documentElement.clientWidth`),
			strings.Join(wide, "\n"))
	}
}

// overflowing is nothing when the page is no wider than the window; else the elements whose
// right edge is beyond it, the innermost ones first, each with its width.
const overflowing = `(() => {
	const root = document.documentElement;
	if (root.scrollWidth <= root.clientWidth) return [];
	const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
		(typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "");
	return [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
		.reverse().slice(0, 8).map(e => name(e) + " (" + Math.round(e.getBoundingClientRect().width) + " px)");
})()`

// signOut signs out with the first sign-out button of the page (the header's; the Cancel of
// the second factor's page).
func signOut(t *testing.T, b *apptest.Browser) {
	t.Helper()
	b.Run(t, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
}

// focused waits for focus to reach the element of the CSS selector want.
func focused(t *testing.T, b *apptest.Browser, what, want string) {
	t.Helper()
	b.WaitJS(t, "focus on "+what, `document.activeElement && document.activeElement.matches(`+strconv.Quote(want)+`)`,
		`document.activeElement.id || document.activeElement.outerHTML.slice(0, 80)`, 2*time.Second)
}

// secondFactorPages goes through every page of two-factor authentication as three new users
// of the server in dir see them, and inspects each: one adds an authenticator app (a wrong
// code first), makes recovery codes, adds a passkey, opens its removal's confirmation and
// signs in with each way the second factor's page offers; one who has only a passkey is asked
// for it; one who has no second factor while an admin requires one must add one first. view
// names the colour scheme and the width, and tells the users apart.
func secondFactorPages(t *testing.T, b *apptest.Browser, base, dir, view string) {
	t.Helper()
	user := func(name string) string {
		email := name + "-" + strings.ReplaceAll(strings.ReplaceAll(view, ", ", "-"), " ", "") + "@example.com"
		localCLI(t, dir, "user", "add", "--email", email, "--password", name+"-password-1")
		return email
	}
	password := func(email, password, wait string) {
		t.Helper()
		b.Run(t, "sign in as "+email,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(wait)))
	}
	mainSays := func(what, words string) {
		t.Helper()
		b.WaitJS(t, what, `document.querySelector("main")?.innerText.includes(`+strconv.Quote(words)+`)`,
			`document.querySelector("main")?.innerText`, 10*time.Second)
	}
	addKey := func(name string) {
		t.Helper()
		b.Run(t, "add "+name, chromedp.SendKeys(chromedp.CSS(`#key-name`), name),
			chromedp.Click(chromedp.CSS(`form[data-webauthn="register"] button[type="submit"]`)))
		mainSays("the passkey added", "“"+name+"” added")
	}
	totpCode := func(at time.Time) string {
		t.Helper()
		secret := strings.ReplaceAll(apptest.Eval[string](t, b, `document.getElementById("totp-secret").textContent`), " ", "")
		code, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatalf("a code of the secret %q: %v", secret, err)
		}
		return code
	}

	// The Two-factor authentication page of a user without a second factor, from the Account
	// page's section; then the authenticator app's page, its QR code and its key.
	tess := user("tess")
	password(tess, "tess-password-1", "#device-list")
	b.Run(t, "the two-factor page", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS("#account-mfa-title")),
		chromedp.Click(chromedp.CSS(`a[href="/account/mfa"]`)), chromedp.WaitVisible(chromedp.CSS("#key-name")))
	inspect(t, b, "/account/mfa without a second factor, "+view)
	b.Run(t, "add an authenticator app", chromedp.Click(chromedp.CSS(`a[href="/account/mfa/totp"]`)),
		chromedp.WaitVisible(chromedp.CSS(`img.qr`)), chromedp.WaitVisible(chromedp.CSS("#totp-secret")))
	focused(t, b, "the code's field", "#totp-code")
	inspect(t, b, "/account/mfa/totp, "+view)
	if !apptest.Eval[bool](t, b, `document.querySelector("img.qr").naturalWidth > 0`) {
		t.Error("the QR code shows no image")
	}
	b.Run(t, "a wrong code", chromedp.SendKeys(chromedp.CSS("#totp-code"), totpCode(time.Now().Add(-3*time.Minute))),
		chromedp.Click(chromedp.CSS(`form[action="/account/mfa/totp"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-code[aria-invalid="true"]`)), chromedp.WaitVisible(chromedp.CSS("#totp-code-error")))
	focused(t, b, "the wrong code", "#totp-code")
	inspect(t, b, "/account/mfa/totp with a wrong code, "+view)
	// A name with an invisible character as well: focus on the name, the first field named.
	apptest.Eval[bool](t, b, `(document.getElementById("totp-name").value = "Phone\u200b", true)`)
	b.Run(t, "a wrong name and code", chromedp.Click(chromedp.CSS(`form[action="/account/mfa/totp"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-name[aria-invalid="true"]`)), chromedp.WaitVisible(chromedp.CSS("#totp-code-error")))
	focused(t, b, "the wrong name", "#totp-name")
	inspect(t, b, "/account/mfa/totp with a wrong name and no code, "+view)
	apptest.Eval[bool](t, b, `(document.getElementById("totp-name").value = "Phone", true)`)
	b.Run(t, "the right code", chromedp.SendKeys(chromedp.CSS("#totp-code"), totpCode(time.Now())),
		chromedp.Click(chromedp.CSS(`form[action="/account/mfa/totp"] button[type="submit"]`)))
	mainSays("the authenticator app added", "Authenticator app “Phone” added")
	inspect(t, b, "/account/mfa with an authenticator app, "+view)

	// Recovery codes, shown once; a passkey; its removal's confirmation.
	b.Run(t, "make recovery codes", chromedp.Click(chromedp.CSS(`form[action="/account/mfa/recovery"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	inspect(t, b, "/account/mfa with new recovery codes, "+view)
	recovery := strings.Fields(apptest.Eval[string](t, b, `document.getElementById("recovery-codes").textContent`))
	if len(recovery) != 10 {
		t.Fatalf("the recovery codes shown: %q, want 10", recovery)
	}
	addKey("Passkey " + view)
	inspect(t, b, "/account/mfa with an authenticator app and a passkey, "+view)
	if apptest.Eval[bool](t, b, `document.getElementById("recovery-codes") !== null`) {
		t.Error("the recovery codes are shown again")
	}
	remove := apptest.Eval[string](t, b, `[...document.querySelectorAll("main tbody tr")]
		.find(tr => tr.cells[1].textContent === "Passkey").querySelector('a[href$="/delete"]').href`)
	b.Run(t, "the passkey's removal", chromedp.Navigate(remove), chromedp.WaitVisible(chromedp.CSS(`button.btn-danger`)))
	inspect(t, b, "the passkey's removal, "+view)

	// The second factor's page: an authenticator app's code (a wrong one first), a passkey,
	// a recovery code (a wrong one first), which completes the sign-in.
	b.Run(t, "back", chromedp.Navigate(base+"/account/mfa"), chromedp.WaitVisible(chromedp.CSS("#key-name")))
	signOut(t, b)
	password(tess, "tess-password-1", "#mfa-code")
	focused(t, b, "the code's field", "#mfa-code")
	inspect(t, b, "/mfa with a code and a passkey, "+view)
	b.Run(t, "a wrong code", chromedp.SendKeys(chromedp.CSS("#mfa-code"), "000000"),
		chromedp.Click(chromedp.CSS(`form:has(#mfa-code) button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-code[aria-invalid="true"]`)))
	focused(t, b, "the wrong code", "#mfa-code")
	inspect(t, b, "/mfa with a wrong code, "+view)
	b.Run(t, "a wrong recovery code", chromedp.Click(chromedp.CSS(`details.advanced summary`)),
		chromedp.WaitVisible(chromedp.CSS("#mfa-recovery")),
		chromedp.SendKeys(chromedp.CSS("#mfa-recovery"), "NOT-A-CODE"),
		chromedp.Click(chromedp.CSS(`form:has(#mfa-recovery) button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-recovery[aria-invalid="true"]`)))
	focused(t, b, "the wrong recovery code", "#mfa-recovery")
	inspect(t, b, "/mfa with a wrong recovery code, "+view)
	b.Run(t, "a recovery code", chromedp.SendKeys(chromedp.CSS("#mfa-recovery"), recovery[0]),
		chromedp.Click(chromedp.CSS(`form:has(#mfa-recovery) button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#device-list")))
	mainSays("the recovery code used up", "You signed in with a recovery code")
	inspect(t, b, "/devices after a recovery code, "+view)
	signOut(t, b)

	// A user whose only second factor is a passkey is asked for it.
	kay := user("kay")
	password(kay, "kay-password-1", "#device-list")
	b.Run(t, "the two-factor page", chromedp.Navigate(base+"/account/mfa"), chromedp.WaitVisible(chromedp.CSS("#key-name")))
	addKey("Kay's passkey")
	signOut(t, b)
	password(kay, "kay-password-1", `form[data-webauthn="login"] button`)
	if apptest.Eval[bool](t, b, `document.getElementById("mfa-code") !== null`) {
		t.Error("the second factor's page asks a user with a passkey alone for an authenticator app's code")
	}
	focused(t, b, "the passkey's button", `form[data-webauthn="login"] button`)
	inspect(t, b, "/mfa with a passkey alone, "+view)
	signOut(t, b)

	// An admin requires a second factor: a user without one must add one first.
	enrol := user("enrol")
	localCLI(t, dir, "settings", "set", "mfa_required=true")
	defer localCLI(t, dir, "settings", "set", "mfa_required=false") // for the next view's other users
	password(enrol, "enrol-password-1", `.flash.warning`)
	inspect(t, b, "/account/mfa when a second factor is required, "+view)
	signOut(t, b)
}
