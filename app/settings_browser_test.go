package app_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/store"
)

// placeholderStyle is how the MTU field draws its placeholder beside its value: the
// placeholder's font style and colour, the value's colour, and the placeholder's contrast
// ratio with the field's background (WCAG's relative luminance).
const placeholderStyle = `(() => {
  const lum = (c) => {
    const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const field = document.getElementById("settings-mtu");
  const hint = getComputedStyle(field, "::placeholder");
  const a = lum(hint.color), b = lum(getComputedStyle(field).backgroundColor);
  return {fontStyle: hint.fontStyle, color: hint.color, valueColor: getComputedStyle(field).color,
    contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
})()`

// TestBrowserSettingsCardsSaveOnTheirOwn is an admin on the Settings page in Chromium, in the
// light scheme at 1280 px and the dark one at 375 px: with edits in the client defaults and
// devices cards not saved, they save the VPN session card. Only that card is swapped in,
// with its confirmation, which takes the focus; the edits elsewhere stay on the page and out
// of the database. Then the client defaults card, with two bad fields: both named at once,
// the focus on the first; then right, saved, with the devices card's edit still unsaved.
// The placeholders read as hints, and axe-core finds no violation on the way.
func TestBrowserSettingsCardsSaveOnTheirOwn(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true,
		AllowErrors: []string{`log: Failed to load resource: the server responded with a status of 422 (Unprocessable Content)`}})
	e := newEnv(t)
	e.user(t, "root@example.com", password, store.RoleAdmin)
	browserSignIn(t, b, e.url, "root@example.com", password)
	ctx := context.Background()
	settings := func() store.Settings {
		st, err := e.store.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	js := func(expr string) string { return apptest.Eval[string](t, b, expr) }

	for _, view := range []struct {
		scheme   string
		width    int64
		duration time.Duration
	}{{"light", 1280, 24 * time.Hour}, {"dark", 375, 7 * 24 * time.Hour}} {
		t.Run(view.scheme, func(t *testing.T) {
			if _, err := e.store.UpdateSettings(ctx, func(st *store.Settings) error {
				st.ClientDefaults, st.VPNSessionDuration, st.AllowUnprivilegedDeviceConfiguration = store.ClientSettings{}, 0, true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			where := view.scheme + ", " + strconv.FormatInt(view.width, 10) + " px"
			b.Run(t, "open Settings, "+where, chromedp.EmulateViewport(view.width, 900), prefersDark(view.scheme == "dark"),
				chromedp.Navigate(e.url+"/admin/settings"), chromedp.WaitVisible(chromedp.ID("client-settings")))
			if got := background(t, b); got != map[string]string{"light": lightBackground, "dark": darkBackground}[view.scheme] {
				t.Errorf("the page's background is %s: not the %s scheme", got, view.scheme)
			}
			style := apptest.Eval[struct {
				FontStyle, Color, ValueColor string
				Contrast                     float64
			}](t, b, placeholderStyle)
			if style.FontStyle != "italic" || style.Color == style.ValueColor || style.Contrast < 4.5 {
				t.Errorf("the MTU's placeholder is %s in %s (the value %s), %.2f:1 against the field; want italic, "+
					"another colour than a value, at least 4.5:1", style.FontStyle, style.Color, style.ValueColor, style.Contrast)
			}
			if got := js(`document.getElementById(document.getElementById("settings-mtu").getAttribute("aria-describedby")).textContent`); !strings.Contains(got, "Default: 1280") {
				t.Errorf("the MTU field's description reads %q, want its default", got)
			}

			// Edits in two cards, not saved; then the VPN session card is saved.
			b.Run(t, "edit two cards, save a third",
				chromedp.SendKeys(chromedp.ID("settings-dns"), "9.9.9.9"),
				chromedp.Click(chromedp.ID("settings-configuration")),
				chromedp.SetValue(chromedp.ID("settings-session"), strconv.Itoa(int(view.duration/time.Second))),
				chromedp.Click(chromedp.CSS(`#session-settings button[type="submit"]`)))
			// The answer settles, then app.js moves the focus to what it points at.
			b.WaitJS(t, "the focus on the VPN session card's confirmation",
				`document.activeElement === document.querySelector("#session-settings .flash")`,
				`document.activeElement.outerHTML.slice(0, 80)`, 10*time.Second)
			if got := js(`document.querySelector("#session-settings .flash").textContent`); got != "VPN session duration saved." {
				t.Errorf("the session card says %q", got)
			}
			if n := apptest.Eval[int](t, b, `document.querySelectorAll("main [role=status]").length`); n != 1 {
				t.Errorf("%d confirmations on the page, want the session card's only", n)
			}
			if dns, ticked := js(`document.getElementById("settings-dns").value`),
				apptest.Eval[bool](t, b, `document.getElementById("settings-configuration").checked`); dns != "9.9.9.9" || ticked {
				t.Errorf("the unsaved edits on the page: DNS %q, configuration ticked %v; want them kept", dns, ticked)
			}
			if st := settings(); st.VPNSessionDuration != view.duration || st.ClientDefaults.DNS.Set || !st.AllowUnprivilegedDeviceConfiguration {
				t.Errorf("saved: session %v, DNS %+v, configuration %v; want the session card's change only",
					st.VPNSessionDuration, st.ClientDefaults.DNS, st.AllowUnprivilegedDeviceConfiguration)
			}
			b.Accessible(t, "Settings with a card saved and two edited, "+where)
			b.NoErrors(t, "saving the VPN session card")

			// The client defaults card with two bad fields, then right.
			b.Run(t, "save the client defaults with two bad fields",
				chromedp.SendKeys(chromedp.ID("settings-endpoint"), "vpn.example.org:99999"),
				chromedp.SendKeys(chromedp.ID("settings-mtu"), "70000"),
				chromedp.Click(chromedp.CSS(`#client-settings button[type="submit"]`)))
			b.WaitJS(t, "the focus on the first bad field", `document.activeElement.id === "settings-endpoint"`,
				`document.activeElement.outerHTML.slice(0, 80)`, 10*time.Second)
			errs := js(`[...document.querySelectorAll("#client-settings .field-error")].map((p) => p.id).join(" ")`)
			if errs != "settings-endpoint-error settings-mtu-error" {
				t.Errorf("the messages are %q, want the endpoint's and the MTU's", errs)
			}
			if js(`document.getElementById("settings-dns").value`) != "9.9.9.9" ||
				apptest.Eval[bool](t, b, `document.getElementById("settings-configuration").checked`) ||
				!apptest.Eval[bool](t, b, `document.querySelector("#session-settings .flash") !== null`) {
				t.Error("the refused card lost what was typed, or another card changed with it")
			}
			b.Accessible(t, "Settings with a refused card, "+where)

			apptest.Eval[bool](t, b, `["settings-endpoint", "settings-mtu"].every((id) => (document.getElementById(id).value = "") === "")`)
			b.Run(t, "correct the two fields and save", chromedp.Click(chromedp.CSS(`#client-settings button[type="submit"]`)))
			b.WaitJS(t, "the focus on the client card's confirmation",
				`document.activeElement === document.querySelector("#client-settings .flash")`,
				`document.activeElement.outerHTML.slice(0, 80)`, 10*time.Second)
			if st := settings(); !st.ClientDefaults.DNS.Set || st.ClientDefaults.DNS.Value[0] != "9.9.9.9" || st.ClientDefaults.MTU.Set ||
				st.ClientDefaults.Endpoint.Set || !st.AllowUnprivilegedDeviceConfiguration || st.VPNSessionDuration != view.duration {
				t.Errorf("saved %+v", st)
			}
			if apptest.Eval[bool](t, b, `document.getElementById("settings-configuration").checked`) {
				t.Error("saving the client defaults undid the devices card's unsaved edit")
			}
			b.Accessible(t, "Settings with two cards saved, "+where)
			b.NoErrors(t, "saving the client defaults")
		})
	}
}
