package app_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/app/mail/mailtest"
	"wiregui/store"
)

// In Chromium: "Email me a sign-in link" on the sign-in page, the link from the email that a
// real SMTP server received, its button, My Devices; the link again does not work.
func TestBrowserSignsInWithAnEmailedLink(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	e := newEnv(t)
	e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)

	b.Run(t, "ask for a link",
		chromedp.Navigate(e.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "ann@example.com"),
		chromedp.Click(chromedp.CSS(`button[formaction="/login/link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)))
	if h := apptest.Eval[string](t, b, `document.querySelector("h1").textContent`); h != "Check your email" {
		t.Errorf("after asking: the heading is %q", h)
	}
	b.NoErrors(t, "the page after asking for a link")

	m := srv.Next(t, 10*time.Second)
	link := mailtest.Link(m.Text, e.url+"/login/link/")
	if link == "" || !strings.Contains(m.HTML, link) {
		t.Fatalf("no link in the email:\n%s\n%s", m.Text, m.HTML)
	}
	b.Run(t, "open the link and press Sign in",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action^="/login/link/"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`form[action^="/login/link/"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
	if who := apptest.Eval[string](t, b, `document.querySelector(".user-email").textContent`); who != "ann@example.com" {
		t.Errorf("signed in as %q, want ann@example.com", who)
	}
	b.NoErrors(t, "My Devices after the link")

	b.Run(t, "open the link again",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`h1`)))
	if h := apptest.Eval[string](t, b, `document.querySelector("h1").textContent`); h != "This link does not work" {
		t.Errorf("the used link: the heading is %q", h)
	}
}

// In Chromium: the Settings page's test email against a server that refuses the credentials
// shows the server's answer in the card, swapped in by htmx.
func TestBrowserTestEmailShowsARefusal(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true,
		AllowErrors: []string{`log: Failed to load resource: the server responded with a status of 422 (Unprocessable Content)`}})
	e := newEnv(t)
	e.user(t, "root@example.com", password, store.RoleAdmin)
	srv := mailtest.Start(t, mailtest.Options{Username: "mailer", Password: "right-smtp-pw"})

	b.Run(t, "sign in and open Settings",
		chromedp.Navigate(e.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "root@example.com"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)),
		chromedp.Navigate(e.url+"/admin/settings"),
		chromedp.WaitVisible(chromedp.CSS(`#email-settings`)))
	b.Run(t, "fill the email card and send a test email",
		chromedp.SendKeys(chromedp.ID("smtp-host"), srv.Host),
		chromedp.SendKeys(chromedp.ID("smtp-port"), strconv.Itoa(srv.Port)),
		chromedp.SetValue(chromedp.ID("smtp-tls"), "none"),
		chromedp.SendKeys(chromedp.ID("smtp-username"), "mailer"),
		chromedp.SendKeys(chromedp.ID("smtp-password"), "wrong-smtp-pw"),
		chromedp.SendKeys(chromedp.ID("smtp-from"), "vpn@example.com"),
		chromedp.Click(chromedp.CSS(`button[formaction="/admin/settings/email/test"]`)),
		chromedp.WaitVisible(chromedp.ID("smtp-test-result")))
	got := apptest.Eval[string](t, b, `document.getElementById("smtp-test-result").textContent`)
	if !strings.Contains(got, "was not sent") || !strings.Contains(got, "535") {
		b.Screenshot(t)
		t.Errorf("the test's result: %q, want the server's refusal", got)
	}
	if url := apptest.Eval[string](t, b, `location.pathname`); url != "/admin/settings" {
		t.Errorf("the page is %s, want /admin/settings (htmx swapped the card)", url)
	}
	b.NoErrors(t, "the Settings page after the test email")
}

// axe-core finds no violation on the pages of signing in by link and by invitation, in the
// light scheme at 1280 px and the dark one at 375 px.
func TestBrowserSignInPagesAreAccessible(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	e := newEnv(t)
	e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	c := apptest.New(t, e.url)
	c.Get("/login")
	for _, view := range []struct {
		scheme string
		width  int64
	}{{"light", 1280}, {"dark", 375}} {
		t.Run(view.scheme, func(t *testing.T) {
			b.Run(t, "the "+view.scheme+" scheme", chromedp.EmulateViewport(view.width, 900),
				chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: view.scheme}}})
					return err
				}))
			c.Post("/login/link", url.Values{"email": {"ann@example.com"}})
			link := mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url)
			if _, err := e.users.Invite(context.Background(), "new-"+view.scheme+"@example.com", store.RoleUnprivileged); err != nil {
				t.Fatal(err)
			}
			invitation := mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url)
			for _, p := range []struct{ name, url, ready string }{
				{"the sign-in page with both ways", e.url + "/login", `button[formaction="/login/link"]`},
				{"a sign-in link", link, `form[action^="/login/link/"]`},
				{"a link that does not work", e.url + "/login/link/" + strings.Repeat("A", 43), "h1"},
				{"an invitation", invitation, "#invitation-password"},
				{"an invitation that does not work", e.url + "/login/invitation/x", "h1"},
			} {
				b.Run(t, "open "+p.name, chromedp.Navigate(p.url), chromedp.WaitVisible(chromedp.CSS(p.ready)))
				b.Accessible(t, p.name+", "+view.scheme)
			}
			b.Run(t, "a refused password on the invitation",
				chromedp.Navigate(invitation), chromedp.WaitVisible(chromedp.ID("invitation-password")),
				chromedp.SendKeys(chromedp.ID("invitation-password"), "short"),
				chromedp.SendKeys(chromedp.ID("invitation-confirm"), "short"),
				chromedp.Click(chromedp.CSS(`form[action^="/login/invitation/"] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("invitation-password-error")))
			b.Accessible(t, "an invitation with a refused password, "+view.scheme)
			b.Run(t, "ask for a link", chromedp.Navigate(e.url+"/login"),
				chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
				chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "nobody@example.com"),
				chromedp.Click(chromedp.CSS(`button[formaction="/login/link"]`)),
				chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)))
			b.Accessible(t, "the page after asking for a link, "+view.scheme)
		})
	}
	b.NoErrors(t, "the sign-in pages")
}
