package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
)

// userRowsJS is the emails of the users table's rows, in order.
const userRowsJS = `[...document.querySelectorAll("#user-list tbody td[data-label=Email] a")].map(a => a.textContent).join(" ")`

// usersServer starts the real binary with ann (a device, a rule) and bob, and a browser
// signed in as the admin.
func usersServer(t *testing.T) (b *apptest.Browser, s *localServer, dir string) {
	b = apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	dir = t.TempDir()
	s = startLocal(t, "WG_DATA_DIR="+dir)
	localCLI(t, dir, "user", "add", "--email", "ann@example.com", "--password", "ann-password-1")
	localCLI(t, dir, "user", "add", "--email", "bob@example.com", "--password", "bob-password-1")
	localCLI(t, dir, "device", "add", "--user", "ann@example.com", "--name", "laptop")
	localCLI(t, dir, "rule", "add", "--user", "ann@example.com", "--action", "drop", "--destination", "10.9.0.0/16")
	signIn(t, b, s.url, adminEmail, adminPassword)
	return b, s, dir
}

// TestBrowserUsersPageLayouts: the Users page, its Add user dialog, a user's page and its
// delete dialog fit at 1280 and 375 px, in light and dark, without a JS error.
func TestBrowserUsersPageLayouts(t *testing.T) {
	b, s, _ := usersServer(t)
	background := `getComputedStyle(document.querySelector(".card")).backgroundColor`
	fits := `document.documentElement.scrollWidth <= window.innerWidth`
	cards := map[string]string{}
	for _, width := range []int64{1280, 375} {
		for _, scheme := range []string{"light", "dark"} {
			at := fmt.Sprintf("at %d px, %s", width, scheme)
			b.Run(t, "the Users page "+at, emulate(width, scheme), chromedp.Navigate(s.url+"/admin/users"),
				chromedp.WaitVisible(chromedp.CSS(`#user-list tbody`)),
				chromedp.Click(chromedp.CSS(`a[data-dialog="#user-add-dialog"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#user-add-dialog #user-add-email`)))
			b.WaitJS(t, "the page and the dialog fit "+at, fits+` && document.querySelector("#user-add-dialog").getBoundingClientRect().right <= window.innerWidth`,
				tooWideInPage, 2*time.Second)
			cards[scheme] = apptest.Eval[string](t, b, background)
			b.Run(t, "ann's page "+at, chromedp.Navigate(s.url+"/admin/users?q=ann"),
				chromedp.Click(chromedp.CSS(`#user-list td[data-label=Email] a`)), chromedp.WaitVisible(chromedp.CSS(`#user-edit`)),
				chromedp.Click(chromedp.CSS(`a[data-dialog="#user-delete-dialog"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#user-delete-dialog button.btn-danger`)))
			b.WaitJS(t, "the page and the dialog fit "+at, fits+` && document.querySelector("#user-delete-dialog").getBoundingClientRect().right <= window.innerWidth`,
				tooWideInPage, 2*time.Second)
			b.NoErrors(t, "the Users pages "+at)
		}
	}
	if cards["light"] == cards["dark"] {
		t.Errorf("the cards are %s in both schemes", cards["light"])
	}
}

// TestBrowserUsersPage is an admin's way through the Users page with the real binary:
// searching and sorting the table, a user added in the dialog after every mistake was named
// at once, a user's page edited, the last enabled admin's own demotion refused, a delete
// confirmed after it named what goes, at a phone's width in the dark.
func TestBrowserUsersPage(t *testing.T) {
	b, s, dir := usersServer(t)
	b.Run(t, "the Users page", emulate(1280, "light"), chromedp.Navigate(s.url+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`#user-list tbody`)))
	b.WaitJS(t, "the users in email order", userRowsJS+` === "admin@example.com ann@example.com bob@example.com"`, userRowsJS, 2*time.Second)

	// Search, then sort.
	b.Run(t, "search", chromedp.SendKeys(chromedp.CSS(`#user-search`), "AN"))
	b.WaitJS(t, "only ann matches", userRowsJS+` === "ann@example.com"`, userRowsJS, 5*time.Second)
	b.WaitJS(t, "the search is in the URL", `location.search === "?q=AN&dir=asc"`, `location.search`, 2*time.Second)
	b.Run(t, "clear the search", chromedp.Navigate(s.url+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(`#user-list tbody`)))
	b.Run(t, "sort by role", chromedp.Click(chromedp.CSS(`#user-list th a[href*="sort=role"]`)))
	b.WaitJS(t, "admins first", userRowsJS+` === "admin@example.com ann@example.com bob@example.com" && location.search.includes("sort=role")`,
		userRowsJS, 5*time.Second)
	b.Run(t, "sort by role the other way", chromedp.Click(chromedp.CSS(`#user-list th a[href*="sort=role"]`)))
	b.WaitJS(t, "admins last", userRowsJS+` === "bob@example.com ann@example.com admin@example.com"`, userRowsJS, 5*time.Second)
	if got := apptest.Eval[string](t, b, `document.querySelector("#user-list th[aria-sort=descending]")?.textContent.trim()`); got != "Role" {
		t.Errorf("the header sorted descending is %q, want Role", got)
	}
	b.NoErrors(t, "searching and sorting")

	// Add a user: three mistakes, each named next to its field at once.
	b.Run(t, "open the Add user dialog", chromedp.Click(chromedp.CSS(`a[data-dialog="#user-add-dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-add-dialog #user-add-email`)),
		chromedp.SendKeys(chromedp.CSS(`#user-add-email`), "carol@"),
		chromedp.SendKeys(chromedp.CSS(`#user-add-password`), "short"),
		chromedp.Click(chromedp.CSS(`#user-add-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-add-password-error`)))
	for id, want := range map[string]string{"user-add-email-error": `"carol@" is not an email address (name@domain).`,
		"user-add-password-error": "The password must have at least 10 characters; this one has 5."} {
		if got := apptest.Eval[string](t, b, `document.getElementById("`+id+`")?.textContent ?? ""`); got != want {
			t.Errorf("%s says %q, want %q", id, got, want)
		}
	}
	if got := apptest.Eval[string](t, b, `document.getElementById("user-add-email").value + "|" + document.getElementById("user-add-password").value`); got != "carol@|" {
		t.Errorf("the form kept %q, want the email typed and no password", got)
	}
	// Focus moves to the first field a message names once the answer has settled; typing
	// before that would race it.
	b.WaitJS(t, "focus on the email field", `document.activeElement.id === "user-add-email"`, `document.activeElement.id`, 2*time.Second)
	b.Run(t, "correct the user",
		chromedp.SetValue(chromedp.CSS(`#user-add-email`), "carol@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#user-add-password`), "carol-password-1"),
		chromedp.Click(chromedp.CSS(`#user-add-dialog button[type="submit"]`)))
	b.WaitJS(t, "the user is created", `!!document.querySelector("#user-add-dialog [data-close][autofocus]")`,
		`document.querySelector("#user-add-dialog").innerHTML`, 5*time.Second)
	if got := apptest.Eval[string](t, b, `document.querySelector("#user-add-dialog .flash").textContent`); got != "Created the user carol@example.com." {
		t.Errorf("the dialog says %q", got)
	}
	b.Run(t, "done", chromedp.Click(chromedp.CSS(`#user-add-dialog [data-close][autofocus]`)), chromedp.WaitNotVisible(chromedp.ID("user-add-dialog")))
	b.WaitJS(t, "the table shows carol", userRowsJS+`.includes("carol@example.com")`, userRowsJS, 5*time.Second)
	b.NoErrors(t, "the Add user dialog")

	// The only enabled admin cannot take their own rights away.
	b.Run(t, "open my own page", chromedp.Click(chromedp.CSS(`#user-list td[data-label=Email]:has(.muted) a`)), // "(you)"
		chromedp.WaitVisible(chromedp.CSS(`#user-edit`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("h1").textContent`); got != adminEmail {
		t.Fatalf("opened %q, want my own page", got)
	}
	b.Run(t, "demote myself", chromedp.SetValue(chromedp.CSS(`#user-edit-role`), "user"),
		chromedp.Click(chromedp.CSS(`#user-edit button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-edit .form-error`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("#user-edit .form-error").textContent`); !strings.HasPrefix(got,
		adminEmail+" is the last enabled admin") {
		t.Errorf("the refusal says %q", got)
	}
	if apptest.Eval[bool](t, b, `!!document.querySelector('[data-dialog="#user-delete-dialog"]')`) {
		t.Error("my own page offers to delete me")
	}
	b.NoErrors(t, "the last admin's refusal")

	// Edit carol: every mistake at once, then a change that goes through.
	b.Run(t, "open carol's page", chromedp.Navigate(s.url+"/admin/users?q=carol"),
		chromedp.Click(chromedp.CSS(`#user-list td[data-label=Email] a`)), chromedp.WaitVisible(chromedp.CSS(`#user-edit`)))
	b.Run(t, "a bad edit", chromedp.SetValue(chromedp.CSS(`#user-edit-email`), "carol"),
		chromedp.SendKeys(chromedp.CSS(`#user-edit-password`), "carol"),
		chromedp.Click(chromedp.CSS(`#user-edit button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-edit-password-error`)))
	if got := apptest.Eval[string](t, b, `document.getElementById("user-edit-email-error")?.textContent ?? ""`); got != `"carol" is not an email address (name@domain).` {
		t.Errorf("the email's message is %q", got)
	}
	b.Run(t, "a good edit", chromedp.SetValue(chromedp.CSS(`#user-edit-email`), "caroline@example.com"),
		chromedp.SetValue(chromedp.CSS(`#user-edit-role`), "admin"),
		chromedp.Click(chromedp.CSS(`#user-edit-disabled`)),
		chromedp.Click(chromedp.CSS(`#user-edit button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-detail > .flash`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("#user-detail > .flash").textContent + " " + document.querySelector("h1").textContent +
		" " + document.querySelector("#user-detail .status-badge").textContent`); got != "Saved caroline@example.com. caroline@example.com Disabled" {
		t.Errorf("after the edit: %q", got)
	}
	if out := localCLI(t, dir, "user", "list"); !strings.Contains(out, "caroline@example.com") {
		t.Errorf("user list after the edit:\n%s", out)
	}
	b.NoErrors(t, "editing a user")

	// Delete ann, after the confirmation names her device and rule, at a phone's width.
	b.Run(t, "open ann's page at 375 px", emulate(375, "dark"), chromedp.Navigate(s.url+"/admin/users?q=ann"),
		chromedp.Click(chromedp.CSS(`#user-list td[data-label=Email] a`)), chromedp.WaitVisible(chromedp.CSS(`#user-edit`)))
	b.WaitJS(t, "ann's page fits", `document.documentElement.scrollWidth <= window.innerWidth`, tooWideInPage, 2*time.Second)
	b.Run(t, "ask to delete ann", chromedp.Click(chromedp.CSS(`a[data-dialog="#user-delete-dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-delete-dialog button.btn-danger`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("#user-delete-dialog").innerText`); !strings.Contains(got,
		"With them go 1 device and 1 firewall rule.") {
		t.Errorf("the confirmation says %q", got)
	}
	b.Run(t, "confirm", chromedp.Click(chromedp.CSS(`#user-delete-dialog button.btn-danger`)),
		chromedp.WaitVisible(chromedp.CSS(`main > .flash`)))
	if got := apptest.Eval[string](t, b, `location.pathname + " " + document.querySelector("main > .flash").textContent`); got !=
		"/admin/users Deleted ann@example.com, with 1 device and 1 firewall rule." {
		t.Errorf("after the delete: %q", got)
	}
	b.WaitJS(t, "ann is gone", `!(`+userRowsJS+`).includes("ann@")`, userRowsJS, 2*time.Second)
	if out := localCLI(t, dir, "device", "list"); strings.Contains(out, "laptop") {
		t.Errorf("ann's device is still listed:\n%s", out)
	}
	b.NoErrors(t, "deleting a user at 375 px, dark")
}

// emulate sets the viewport's width and the colour scheme the page is asked for.
func emulate(width int64, scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			return err
		}
		_, err := chromedp.EmulateViewport(width, 800)(ctx, target)
		return err
	})
}
