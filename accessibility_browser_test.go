package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
)

// TestBrowserAccessibility runs axe-core (vendored for the tests by assets/vendor.sh) on every
// page and dialog, as an admin, a user and a visitor see them, in the light scheme at 1280 px
// and in the dark one at 375 px: no violation of any rule.
func TestBrowserAccessibility(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	dir := t.TempDir()
	s := startLocal(t, "WG_DATA_DIR="+dir)
	localCLI(t, dir, "user", "add", "--email", "ann@example.com", "--password", "ann-password-1")
	localCLI(t, dir, "device", "add", "--user", "ann@example.com", "--name", "laptop")
	localCLI(t, dir, "rule", "add", "--user", "ann@example.com", "--action", "drop", "--destination", "10.0.0.1")

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
			b.Run(t, "open "+name, chromedp.Navigate(s.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			if p.open != "" {
				b.Run(t, "open the dialog of "+name, chromedp.Click(chromedp.CSS(p.open)), chromedp.WaitVisible(chromedp.CSS(p.openReady)))
			}
			b.Accessible(t, name+", "+scheme+", "+strconv.FormatInt(width, 10)+" px")
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
				}))
			b.Run(t, "the sign-in page", chromedp.Navigate(s.url+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
			b.Accessible(t, "/login, "+view.scheme)
			if got := apptest.Eval[float64](t, b, focusRingContrast); got < 3 {
				t.Errorf("the focus ring's contrast with the page is %.2f:1, want at least 3:1", got)
			}
			signIn(t, b, s.url, adminEmail, adminPassword)
			check(t, view.scheme, view.width, admin)
			addDeviceFocus(t, b, s.url, "phone "+view.scheme)
			b.Run(t, "sign out", chromedp.Navigate(s.url+"/devices"), chromedp.WaitVisible(chromedp.CSS("#device-list")),
				chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
			signIn(t, b, s.url, "ann@example.com", "ann-password-1")
			check(t, view.scheme, view.width, user)
			b.Run(t, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
			b.NoErrors(t, "the pages, "+view.scheme)
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
