package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/store"
)

// The page backgrounds of the two themes (--bg in app.css and dark.css).
const (
	lightBackground = "rgb(245, 247, 250)"
	darkBackground  = "rgb(15, 20, 27)"
)

// browserSignIn signs in through the sign-in form and waits for My Devices.
func browserSignIn(t *testing.T, b *apptest.Browser, base, email, password string) {
	t.Helper()
	b.Run(t, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/devices"][aria-current="page"]`)))
}

// submit clicks the submit button of form (a CSS selector) and waits for the page the server
// answers with: one that has loaded and is not the page clicked on.
func submit(t *testing.T, b *apptest.Browser, what, form string) {
	t.Helper()
	apptest.Eval[bool](t, b, `window.__left = true`)
	b.Run(t, what, chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
	b.WaitJS(t, what+": the next page", `!window.__left && document.readyState === "complete"`, "location.href", 10*time.Second)
}

// prefersDark emulates the system's colour scheme: dark, or light.
func prefersDark(dark bool) chromedp.Action[chromedp.Void] {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// scripts switches the page's scripts on or off.
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// background is the page's computed background colour.
func background(t *testing.T, b *apptest.Browser) string {
	t.Helper()
	return apptest.Eval[string](t, b, `getComputedStyle(document.body).backgroundColor`)
}

// paintedBackground is the colour of the page's own background as Chromium painted it, read
// from a screenshot, not from the page: beside the content, left of the header's bottom.
func paintedBackground(t *testing.T, b *apptest.Browser) string {
	t.Helper()
	shot, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	r, g, bl, _ := img.At(2, img.Bounds().Dy()/3).RGBA()
	return fmt.Sprintf("rgb(%d, %d, %d)", r>>8, g>>8, bl>>8)
}

// TestBrowserAccountPage is a user's way through the Account page in Chromium: their other
// session signed out from a private window, a password changed after a refused try, and the
// account deleted. (TestBrowserAccountThemes switches the theme.)
func TestBrowserAccountPage(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.user(t, "root@example.com", password, store.RoleAdmin)
	e.device(t, alice, "laptop")
	b := apptest.NewBrowser(t, apptest.TabOptions{Name: "alice", ReportCSP: true})
	browserSignIn(t, b, e.url, "alice@example.com", password)
	other := b.Tab(t, apptest.TabOptions{Name: "private window", ReportCSP: true, Private: true})
	browserSignIn(t, other, e.url, "alice@example.com", password)

	// Two sessions; the other one is signed out from here.
	b.Run(t, "open the Account page from the header",
		chromedp.Click(chromedp.CSS(`header a.user-email`)),
		chromedp.WaitVisible(chromedp.CSS(`#account-details-title`)))
	if n := apptest.Eval[int](t, b, `document.querySelectorAll("table.sessions tbody tr").length`); n != 2 {
		t.Errorf("%d sessions listed, want 2", n)
	}
	submit(t, b, "sign out everywhere else", `form[action="/account/sessions/end"]`)
	if got := apptest.Eval[string](t, b, `document.querySelector("main .flash")?.textContent ?? ""`); got != "Your 1 other session was signed out." {
		t.Errorf("the flash says %q", got)
	}
	other.Run(t, "the private window's next page", chromedp.Navigate(e.url+"/account"))
	if loc, _ := chromedp.Run(other.Ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Errorf("the private window is at %s, want /login: its session should be gone", loc)
	}
	other.NoErrors(t, "the private window")
	b.NoErrors(t, "sign out everywhere else")

	// A refused password change names every bad field; then a good one.
	b.Run(t, "change the password wrongly",
		chromedp.SendKeys(chromedp.CSS(`#account-current-password`), "not-my-password"),
		chromedp.SendKeys(chromedp.CSS(`#account-new-password`), "1234567890"),
		chromedp.SendKeys(chromedp.CSS(`#account-confirm-password`), "0987654321"))
	submit(t, b, "send the wrong password change", `form[action="/account/password"]`)
	for id, want := range map[string]string{
		"account-current-password-error": "This is not your current password.",
		"account-new-password-error":     "This password is one of the 10,000 most common passwords",
		"account-confirm-password-error": "The two new passwords differ",
	} {
		if got := apptest.Eval[string](t, b, `document.getElementById("`+id+`").textContent`); !strings.Contains(got, want) {
			t.Errorf("%s says %q, want %q", id, got, want)
		}
	}
	if typed := apptest.Eval[string](t, b, `[...document.querySelectorAll("input[type=password]")].map(i => i.value).join("")`); typed != "" {
		t.Errorf("the refused form gave back the typed passwords %q", typed)
	}
	b.Run(t, "change the password",
		chromedp.SendKeys(chromedp.CSS(`#account-current-password`), password),
		chromedp.SendKeys(chromedp.CSS(`#account-new-password`), "violet staple 42 ferry"),
		chromedp.SendKeys(chromedp.CSS(`#account-confirm-password`), "violet staple 42 ferry"))
	submit(t, b, "send the password change", `form[action="/account/password"]`)
	if got := apptest.Eval[string](t, b, `document.querySelector("main .flash")?.textContent ?? ""`); !strings.HasPrefix(got, "Password changed.") {
		t.Errorf("the flash says %q", got)
	}
	b.NoErrors(t, "changing the password")

	// Delete the account: the browser lands on the sign-in page, which says so.
	b.Run(t, "delete my account",
		chromedp.SendKeys(chromedp.CSS(`#account-confirm-email`), "alice@example.com"))
	submit(t, b, "confirm the deletion", `form[action="/account/delete"]`)
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Errorf("after deleting, the browser is at %s, want /login", loc)
	}
	if got := apptest.Eval[string](t, b, `document.querySelector("main .flash")?.textContent ?? ""`); !strings.Contains(got, "Your account was deleted") {
		t.Errorf("the sign-in page says %q, want that the account was deleted", got)
	}
	if got := apptest.Eval[string](t, b, `document.documentElement.dataset.theme`); got != "system" {
		t.Errorf("the sign-in page's theme is %q, want system", got)
	}
	if _, err := e.store.UserByID(context.Background(), alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice: %v, want deleted", err)
	}
	b.NoErrors(t, "deleting the account")
}

// TestBrowserAccountThemes switches the theme on the Account page in Chromium: following the
// system, then a chosen theme that beats the system's and is drawn before any script runs, and
// the page at 1280 and 375 px in both themes.
func TestBrowserAccountThemes(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	e.device(t, alice, "laptop")
	b := apptest.NewBrowser(t, apptest.TabOptions{Name: "alice", ReportCSP: true})
	browserSignIn(t, b, e.url, "alice@example.com", password)
	b.Run(t, "open the Account page", chromedp.Navigate(e.url+"/account"), chromedp.WaitVisible(chromedp.CSS(`#account-theme-title`)))

	// Follow the system: the system's scheme decides.
	b.Run(t, "a light system", prefersDark(false))
	if got := background(t, b); got != lightBackground {
		t.Errorf("following a light system: background %s, want %s", got, lightBackground)
	}
	b.Run(t, "a dark system", prefersDark(true))
	if got := background(t, b); got != darkBackground {
		t.Errorf("following a dark system: background %s, want %s", got, darkBackground)
	}

	// A chosen theme beats the system's, and is drawn before any script runs: the page is
	// reloaded with scripts off and Chromium's own painting is read.
	for _, tc := range []struct {
		theme, system string
		want          string
	}{
		{"light", "dark", lightBackground},
		{"dark", "light", darkBackground},
	} {
		b.Run(t, "choose the "+tc.theme+" theme on a "+tc.system+" system",
			prefersDark(tc.system == "dark"),
			chromedp.Click(chromedp.CSS(`input[name="theme"][value="`+tc.theme+`"]`)))
		submit(t, b, "save the "+tc.theme+" theme", `form[action="/account/theme"]`)
		if got := background(t, b); got != tc.want {
			t.Errorf("the %s theme on a %s system: background %s, want %s", tc.theme, tc.system, got, tc.want)
		}
		b.Run(t, "reload with scripts off", scripts(false), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#account-theme-title`)))
		if got := paintedBackground(t, b); got != tc.want {
			t.Errorf("the %s theme reloaded without scripts: painted %s, want %s", tc.theme, got, tc.want)
		}
		b.Run(t, "scripts back on", scripts(true), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#account-theme-title`)))
		if got := apptest.Eval[string](t, b, `document.documentElement.dataset.theme`); got != tc.theme {
			t.Errorf("data-theme is %q, want %q", got, tc.theme)
		}
	}
	b.NoErrors(t, "switching themes")

	// Both themes at a desktop's and a phone's width: nothing reaches past the screen's edge.
	for _, width := range []int64{1280, 375} {
		for _, theme := range []string{"light", "dark"} {
			t.Run(fmt.Sprintf("%s_%d", theme, width), func(t *testing.T) {
				b.Run(t, fmt.Sprintf("the %s theme at %d px", theme, width),
					chromedp.EmulateViewport(width, 900),
					chromedp.Click(chromedp.CSS(`input[name="theme"][value="`+theme+`"]`)))
				submit(t, b, "save the "+theme+" theme", `form[action="/account/theme"]`)
				b.WaitJS(t, fmt.Sprintf("the Account page fits in %d px", width),
					fmt.Sprintf(`document.documentElement.scrollWidth <= %d`, width), tooWideInPage, 2*time.Second)
				b.Screenshot(t) // kept for people to look at: .artifacts/screenshots/
				b.NoErrors(t, fmt.Sprintf("the Account page, %s, %d px", theme, width))
			})
		}
	}
}

// tooWideInPage lists the elements that reach past the right edge of the screen.
const tooWideInPage = `[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).slice(0, 10)
  .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " right=" + Math.round(e.getBoundingClientRect().right))`
