package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/store"
)

// shownStates is what the device rows' states say, as a screen reader reads them (the
// visually hidden colon included), in the rows' order, joined by "|"; a state that is not
// rendered visible is left out.
const shownStates = `[...document.querySelectorAll("tbody tr")].map(tr => {
	const s = tr.querySelector(".device-state");
	return s && s.getClientRects().length > 0 && getComputedStyle(s).visibility === "visible" ?
		tr.querySelector("td a").textContent + " " + s.textContent : null;
}).filter(Boolean).join("|")`

// TestBrowserDeviceStates shows the states of devices that are not live in Chromium, at
// 1280 px in the light scheme and 375 px in the dark one: on All Devices and a user's page,
// each a badge with its reason, and the Add device dialog's note on an owner who keeps the
// device off, asked again as the owner changes; the pages fit the screen, axe-core finds no
// violation, and no script fails.
func TestBrowserDeviceStates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setSession(t, time.Hour)
	ann := e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	cat := e.user(t, "cat@example.com", password, store.RoleUnprivileged)
	e.user(t, "admin@example.com", password, store.RoleAdmin)
	if err := e.store.RecordSignIn(ctx, ann.ID, "password", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.device(t, ann, "ann-laptop")
	left := e.device(t, ann, "ann-left-out")
	e.device(t, bob, "bob-phone")
	e.device(t, cat, "cat-tablet")
	if err := e.store.SetUserDisabled(ctx, bob.ID, new(time.Now())); err != nil {
		t.Fatal(err)
	}
	e.wg.Enabled, e.wg.NotApplied = true, map[string]string{left.ID: "the public key is the server's own"}

	b := apptest.NewBrowser(t, apptest.TabOptions{Name: "admin", ReportCSP: true})
	browserSignIn(t, b, e.url, "admin@example.com", password)
	fits := func(t *testing.T, what string, width int64) {
		t.Helper()
		b.WaitJS(t, what+" fits in "+fmt.Sprint(width)+" px", fmt.Sprintf(`document.documentElement.scrollWidth <= %d`, width),
			tooWideInPage, 2*time.Second)
	}
	note := `document.getElementById("device-owner-note").textContent`
	for _, view := range []struct {
		scheme string
		width  int64
	}{{"light", 1280}, {"dark", 375}} {
		t.Run(fmt.Sprintf("%s_%d", view.scheme, view.width), func(t *testing.T) {
			at := fmt.Sprintf(", %s, %d px", view.scheme, view.width)
			b.Run(t, "the "+view.scheme+" scheme at "+fmt.Sprint(view.width)+" px",
				chromedp.EmulateViewport(view.width, 900), prefersDark(view.scheme == "dark"))

			b.Run(t, "All Devices"+at, chromedp.Navigate(e.url+"/admin/devices"), chromedp.WaitVisible(chromedp.CSS(`#device-list tbody`)))
			if got, want := apptest.Eval[string](t, b, shownStates), "ann-left-out not applied: the public key is the server's own|"+
				"bob-phone "+ownerDisabledSays+"|cat-tablet "+sessionExpiredSays; got != want {
				t.Errorf("All Devices%s shows the states\n%q, want\n%q", at, got, want)
			}
			fits(t, "All Devices"+at, view.width)
			t.Run("all_devices", func(t *testing.T) { b.Screenshot(t) }) // for people to look at: .artifacts/screenshots/
			b.Accessible(t, "All Devices"+at)

			b.Run(t, "bob's page"+at, chromedp.Navigate(e.url+"/admin/users/"+bob.ID), chromedp.WaitVisible(chromedp.CSS(`#user-devices-title`)))
			if got, want := apptest.Eval[string](t, b, shownStates), "bob-phone "+ownerDisabledSays; got != want {
				t.Errorf("bob's page%s shows the states %q, want %q", at, got, want)
			}
			fits(t, "bob's page"+at, view.width)
			t.Run("user_page", func(t *testing.T) { b.Screenshot(t) })
			b.Accessible(t, "bob's page"+at)

			// From a table of bob's devices, the dialog names him and says what that means;
			// another owner typed in is asked about again.
			b.Run(t, "Add device for bob"+at, chromedp.Navigate(e.url+"/admin/devices?owner=bob%40example.com"),
				chromedp.WaitVisible(chromedp.CSS(`#device-list tbody`)),
				chromedp.Click(chromedp.CSS(`a[data-dialog="#add-device-dialog"]`)), chromedp.WaitVisible(chromedp.CSS(`#device-owner-note`)))
			if got := apptest.Eval[string](t, b, note); got != "bob@example.com is disabled: the device will not connect until they are enabled again." {
				t.Errorf("the dialog's note on bob says %q", got)
			}
			fits(t, "the Add device dialog"+at, view.width)
			t.Run("add_device", func(t *testing.T) { b.Screenshot(t) })
			b.Accessible(t, "the Add device dialog for bob"+at)
			for _, tc := range []struct{ email, want string }{
				{"cat@example.com", "cat@example.com's VPN session has expired: the device connects once they sign in again."},
				{"ann@example.com", ""},
			} {
				apptest.Eval[bool](t, b, `(f => { f.value = "`+tc.email+`"; f.dispatchEvent(new Event("change", {bubbles: true})); return true })(document.getElementById("device-owner-email"))`)
				b.WaitJS(t, "the note on "+tc.email+at, note+` === "`+strings.ReplaceAll(tc.want, `'`, `\'`)+`"`, note, 5*time.Second)
			}
			b.Accessible(t, "the Add device dialog for ann"+at)
			b.NoErrors(t, "the device states"+at)
		})
	}
}
