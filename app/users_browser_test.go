package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/app/mail/mailtest"
	"wiregui/store"
)

// view emulates a screen width and a colour scheme.
func view(width int64, scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			return err
		}
		_, err := chromedp.EmulateViewport(width, 900)(ctx, target)
		return err
	})
}

// addUserViews are the screens the Add user dialog is tested on: light at 1280 px, dark at
// 375 px.
var addUserViews = []struct {
	scheme string
	width  int64
}{{"light", 1280}, {"dark", 375}}

const (
	// passwordShown says the Add user form shows its password field.
	passwordShown = `document.querySelector("#user-add-password").offsetParent !== null`
	// dialogFits says the page and the Add user dialog fit the screen's width.
	dialogFits = `document.documentElement.scrollWidth <= window.innerWidth && document.querySelector("#user-add-dialog").getBoundingClientRect().right <= window.innerWidth`
)

// openAddUser opens the Users page and its Add user dialog, and waits for ready (a CSS
// selector) in it.
func openAddUser(t *testing.T, b *apptest.Browser, base, at, ready string) {
	t.Helper()
	b.Run(t, "open the Add user dialog, "+at, chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`#user-list tbody`)),
		chromedp.Click(chromedp.CSS(`a[data-dialog="#user-add-dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(ready)))
	b.WaitJS(t, "the dialog fits, "+at, dialogFits, "document.documentElement.scrollWidth", 2*time.Second)
}

// The Add user dialog with the invitation choice, light at 1280 px and dark at 375 px: the
// password field goes while the invitation is chosen, the invitation is sent and the dialog
// says to whom, the table behind shows them invited; axe-core finds no violation before and
// after.
func TestBrowserAddUserByInvitation(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	e := newEnv(t)
	e.user(t, "root@example.com", password, store.RoleAdmin)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	browserSignIn(t, b, e.url, "root@example.com", password)
	for _, v := range addUserViews {
		at := fmt.Sprintf("%s at %d px", v.scheme, v.width)
		email := "new-" + v.scheme + "@example.com"
		b.Run(t, at, view(v.width, v.scheme))
		openAddUser(t, b, e.url, at, "#user-add-setup-invitation")
		if !apptest.Eval[bool](t, b, passwordShown) {
			t.Errorf("%s: the password field is hidden while a password is chosen", at)
		}
		b.Run(t, "choose the invitation, "+at, chromedp.Click(chromedp.ID("user-add-setup-invitation")),
			chromedp.SendKeys(chromedp.ID("user-add-email"), email))
		b.WaitJS(t, "the password field goes, "+at, "!("+passwordShown+")", passwordShown, 2*time.Second)
		b.Accessible(t, "the Add user dialog with the invitation chosen, "+at)

		b.Run(t, "send the invitation, "+at, chromedp.Click(chromedp.CSS(`#user-add button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#user-add p.flash[role="status"]`)))
		if got := apptest.Eval[string](t, b, `document.querySelector("#user-add p.flash").textContent`); !strings.HasPrefix(got,
			"Invited the user "+email+": the email is sent, and its link works until ") {
			t.Errorf("%s: the dialog says %q", at, got)
		}
		if got := apptest.Eval[string](t, b, `document.querySelector("#user-add-title").textContent`); got != "User invited" {
			t.Errorf("%s: the dialog's title is %q", at, got)
		}
		if m := srv.Next(t, 10*time.Second); m.To[0] != email || mailtest.Link(m.Text, e.url+"/login/invitation/") == "" {
			t.Errorf("%s: the email went to %v:\n%s", at, m.To, m.Text)
		}
		b.WaitJS(t, "the table shows them invited, "+at,
			`[...document.querySelectorAll("#user-list tbody tr")].some(tr => tr.textContent.includes("`+email+`") && tr.textContent.includes("Invited"))`,
			`document.querySelector("#user-list tbody").textContent`, 5*time.Second)
		b.Accessible(t, "the Add user dialog after the invitation, "+at)
	}
	b.NoErrors(t, "the Add user dialog")
}

// Without email set up, the Add user dialog shows the invitation disabled, with why and a
// link to Settings, light at 1280 px and dark at 375 px, and axe-core finds no violation.
// Without scripts, the form's own page hides the password for the invitation all the same.
func TestBrowserAddUserWithoutEmail(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	e := newEnv(t)
	e.user(t, "root@example.com", password, store.RoleAdmin)
	browserSignIn(t, b, e.url, "root@example.com", password)
	for _, v := range addUserViews {
		at := fmt.Sprintf("%s at %d px", v.scheme, v.width)
		b.Run(t, at, view(v.width, v.scheme))
		openAddUser(t, b, e.url, at, "#user-add-setup-off")
		if !apptest.Eval[bool](t, b, `document.querySelector("#user-add-setup-invitation").disabled && document.querySelector("#user-add-setup-password").checked &&
			document.querySelector('#user-add-setup-off a[href="/admin/settings#email-settings"]') !== null`) {
			t.Errorf("%s: without email the invitation is not disabled with a link to Settings", at)
		}
		b.Accessible(t, "the Add user dialog without email, "+at)
	}
	b.NoErrors(t, "the Add user dialog without email")

	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	b.Run(t, "the Add user page without scripts", view(1280, "light"), scripts(false), chromedp.Navigate(e.url+"/admin/users/new"),
		chromedp.WaitVisible(chromedp.ID("user-add-setup-invitation")), chromedp.Click(chromedp.ID("user-add-setup-invitation")),
		chromedp.SendKeys(chromedp.ID("user-add-email"), "nojs@example.com"))
	if apptest.Eval[bool](t, b, passwordShown) {
		t.Error("without scripts the password field stays while the invitation is chosen")
	}
	submit(t, b, "send the invitation without scripts", `form[action="/admin/users"]`)
	if got := apptest.Eval[string](t, b, `document.body.textContent`); !strings.Contains(got, "Invited the user nojs@example.com") ||
		!strings.Contains(got, "Send the invitation again") {
		t.Errorf("without scripts the answer is not nojs@'s page saying they were invited:\n%s", got)
	}
	srv.Next(t, 10*time.Second)
}
