package app_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"wiregui/app/apptest"
	"wiregui/app/rules"
	"wiregui/store"
	"wiregui/store/storetest"
)

// onBothDatabases runs fn with a web server on SQLite and on PostgreSQL.
func onBothDatabases(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) { fn(t, newEnvOn(t, driver, storetest.DSN(t, driver))) })
	}
}

// sessionCookie is the value of the client's session cookie.
func sessionCookie(t *testing.T, c *apptest.Client) string {
	t.Helper()
	u, _ := url.Parse(c.Base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "wiregui_session" {
			return ck.Value
		}
	}
	return ""
}

// signedOut fails the test unless the client's session has ended: a page for users sends it to
// sign in.
func signedOut(t *testing.T, who string, c *apptest.Client) {
	t.Helper()
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("%s: /devices went to %s, want /login: the session should have ended", who, r.URL)
	}
}

// signedInStill fails the test unless the client is still signed in.
func signedInStill(t *testing.T, who string, c *apptest.Client) {
	t.Helper()
	if r := c.Get("/account"); r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/account") {
		t.Errorf("%s: /account answered %d at %s, want the page: the session should go on", who, r.Status, r.URL)
	}
}

func TestAccountPageShowsTheUsersDetails(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
		bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
		e.device(t, alice, "laptop")
		e.device(t, alice, "phone")
		e.device(t, bob, "bob's")
		e.rule(t, rules.RuleSpec{Action: "drop", Destination: "192.0.2.0/24"})
		e.rule(t, rules.RuleSpec{UserID: alice.ID, Action: "accept", Destination: "198.51.100.0/24"})
		e.rule(t, rules.RuleSpec{UserID: bob.ID, Action: "accept", Destination: "203.0.113.0/24"})

		r := c.Get("/account")
		if r.Status != http.StatusOK {
			t.Fatalf("GET /account: %d", r.Status)
		}
		body := html.UnescapeString(r.Body)
		wantContains(t, "the Account page", body,
			"<title>Account · WireGUI</title>",
			"<dt>Email</dt><dd>alice@example.com</dd>", "<dt>Role</dt><dd>User</dd>",
			" with a password</dd>", // the last sign-in: when, and how
			`<dt>Devices</dt><dd><a href="/devices">2</a></dd>`,
			"<dt>Firewall rules that apply to you</dt><dd>2</dd>", // the global rule and her own
			`name="current_password"`, `name="new_password"`, `name="confirm_password"`,
			`value="system" checked`, `value="light"`, `value="dark"`,
			"<strong>This session</strong>, now", "You are signed in here only.",
			"Delete my account", "with your 2 devices",
			`<a class="user-email" href="/account"`, `aria-current="page">alice@example.com</a>`,
			`<a class="btn" href="/account/mfa">Manage two-factor authentication</a>`)
		wantLacks(t, "the Account page", body, "Sign out everywhere else", // she has no other session
			"SSO", "single sign-on", "API token", "coming soon")

		_, ac := e.signedIn(t, "root@example.com", store.RoleAdmin)
		wantContains(t, "an admin's Account page", ac.Get("/account").Body, "<dt>Role</dt><dd>Admin</dd>", "with your 0 devices")
	})
}

func TestChangePassword(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
		other := apptest.New(t, e.url)
		other.SignIn("alice@example.com", password)
		_, bob := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)
		c.Get("/account")

		// Every bad field at once, each named; nothing typed is sent back.
		for _, tc := range []struct {
			name string
			form url.Values
			says []string
		}{
			{"all empty", url.Values{}, []string{"Enter your current password.", "Enter a password."}},
			{"all wrong", url.Values{"current_password": {"not-my-password"}, "new_password": {"1234567890"}, "confirm_password": {"0987654321"}},
				[]string{"This is not your current password.", "one of the 10,000 most common passwords", "The two new passwords differ"}},
			{"the email", url.Values{"current_password": {password}, "new_password": {"Alice@Example.com"}, "confirm_password": {"Alice@Example.com"}},
				[]string{"The password cannot be your email address."}},
			{"short", url.Values{"current_password": {password}, "new_password": {"short"}, "confirm_password": {"short"}},
				[]string{"at least 10 characters; this one has 5."}},
			{"the same", url.Values{"current_password": {password}, "new_password": {password}, "confirm_password": {password}},
				[]string{"The new password is the one you have now"}},
		} {
			r := c.Post("/account/password", tc.form)
			if r.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: got %d, want 422", tc.name, r.Status)
			}
			wantContains(t, tc.name, html.UnescapeString(r.Body), tc.says...)
			for _, typed := range tc.form {
				if typed[0] != "" && strings.Contains(r.Body, `value="`+html.EscapeString(typed[0])+`"`) {
					t.Errorf("%s: the page sends back the typed password %q", tc.name, typed[0])
				}
			}
		}
		if r := c.Post("/account/password", url.Values{"current_password": {password}, "new_password": {"violet staple 42 ferry"},
			"confirm_password": {"violet staple 42 feRRy"}}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, "The two new passwords differ") || strings.Contains(r.Body, "account-new-password-error") {
			t.Errorf("a new password typed differently the second time: got %d, want 422 on the second field alone", r.Status)
		}
		signedInStill(t, "alice after refused changes", c)
		signedInStill(t, "alice's other session after refused changes", other)

		before := sessionCookie(t, c)
		r := c.Post("/account/password", url.Values{"current_password": {password}, "new_password": {"violet staple 42 ferry"},
			"confirm_password": {"violet staple 42 ferry"}})
		if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/account") ||
			!strings.Contains(r.Body, "Password changed. Your 1 other session was signed out.") {
			t.Fatalf("a good change: got %d at %s, want the Account page saying so", r.Status, r.URL)
		}
		if after := sessionCookie(t, c); after == "" || after == before {
			t.Error("the session's token was not renewed")
		}
		signedInStill(t, "alice, who changed her password", c)
		signedOut(t, "alice's other session", other)
		signedInStill(t, "bob", bob)

		fresh := apptest.New(t, e.url)
		fresh.Get("/login")
		if r := fresh.Post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}}); r.Status != http.StatusUnauthorized {
			t.Errorf("signing in with the old password: got %d, want 401", r.Status)
		}
		fresh.SignIn("alice@example.com", "violet staple 42 ferry")
		if !slices.Contains(e.changed, alice.ID) {
			t.Errorf("the data plane was not told of alice's change: %v", e.changed)
		}
	})
}

func TestThemeIsSavedAndDrawnFromTheServer(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
		if r := c.Get("/account"); !strings.Contains(r.Body, `<html lang="en" data-theme="system">`) ||
			!strings.Contains(r.Body, `media="(prefers-color-scheme: dark)"`) {
			t.Error("a new user's page does not follow the system's scheme")
		}
		r := c.Post("/account/theme", url.Values{"theme": {"dark"}})
		if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/account") || !strings.Contains(r.Body, "Theme saved.") {
			t.Fatalf("saving the dark theme: got %d at %s", r.Status, r.URL)
		}
		for _, path := range []string{"/account", "/devices"} {
			body := c.Get(path).Body
			wantContains(t, path+" in the dark theme", body, `<html lang="en" data-theme="dark">`,
				`<meta name="color-scheme" content="dark">`)
			if strings.Contains(body, `prefers-color-scheme`) || !strings.Contains(body, "dark.css") {
				t.Errorf("%s: the dark stylesheet is not linked for every scheme", path)
			}
		}
		wantContains(t, "the theme card", c.Get("/account").Body, `value="dark" checked`)
		c.Post("/account/theme", url.Values{"theme": {"light"}})
		if body := c.Get("/account").Body; !strings.Contains(body, `data-theme="light"`) || strings.Contains(body, "dark.css") {
			t.Error("the light theme links the dark stylesheet")
		}
		for _, bad := range []string{"purple", ""} {
			r := c.Post("/account/theme", url.Values{"theme": {bad}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Choose a theme: system, light or dark.") {
				t.Errorf("the theme %q: got %d, want 422 naming the choices", bad, r.Status)
			}
		}
		// Nobody is signed in on the sign-in page: it follows the system.
		visitor := apptest.New(t, e.url)
		wantContains(t, "the sign-in page", visitor.Get("/login").Body, `data-theme="system"`, `media="(prefers-color-scheme: dark)"`)
	})
}

func TestSignOutEverywhereElse(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
		phone, tablet := apptest.New(t, e.url), apptest.New(t, e.url)
		phone.SignIn("alice@example.com", password)
		tablet.SignIn("alice@example.com", password)
		_, bob := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)

		body := c.Get("/account").Body
		if n := strings.Count(body, "<tr"); n != 4 { // the head and three sessions
			t.Errorf("the sessions table has %d rows, want a head and 3 sessions", n)
		}
		if n := strings.Count(body, "<strong>This session</strong>, now"); n != 1 {
			t.Errorf(`"This session" marks %d rows, want the current one`, n)
		}
		wantContains(t, "three sessions", body, "Sign out everywhere else")

		r := c.Post("/account/sessions/end", nil)
		if !strings.HasSuffix(r.URL, "/account") || !strings.Contains(r.Body, "Your 2 other sessions were signed out.") {
			t.Errorf("sign out everywhere else: landed on %s without saying so", r.URL)
		}
		signedOut(t, "the phone", phone)
		signedOut(t, "the tablet", tablet)
		signedInStill(t, "the session that asked", c)
		signedInStill(t, "bob", bob)
		if r := c.Post("/account/sessions/end", nil); !strings.Contains(r.Body, "You had no other sessions.") {
			t.Error("a second time: the page does not say there was nothing to end")
		}
		wantLacks(t, "one session", c.Get("/account").Body, "Sign out everywhere else")
	})
}

func TestDeleteMyAccount(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
		other := apptest.New(t, e.url)
		other.SignIn("alice@example.com", password)
		dev := e.device(t, alice, "laptop")
		own := e.rule(t, rules.RuleSpec{UserID: alice.ID, Action: "accept", Destination: "198.51.100.0/24"})
		c.Get("/account")

		for typed, says := range map[string]string{
			"":                   "Type your email address to confirm.",
			"Alice@Example.com":  "This is not your email address; type alice@example.com exactly.",
			"bob@example.com":    "This is not your email address; type alice@example.com exactly.",
			"alice@example.co":   "This is not your email address",
			"alice@example.com.": "This is not your email address",
		} {
			r := c.Post("/account/delete", url.Values{"confirm_email": {typed}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, says) {
				t.Errorf("confirming with %q: got %d, want 422 saying %q", typed, r.Status, says)
			}
		}
		if _, err := e.store.UserByID(ctx, alice.ID); err != nil {
			t.Fatalf("a refused deletion deleted: %v", err)
		}

		e.changed = nil
		r := c.Post("/account/delete", url.Values{"confirm_email": {"alice@example.com"}})
		if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/login") ||
			!strings.Contains(r.Body, "Your account was deleted, with its devices and everything else it had.") {
			t.Fatalf("deleting: got %d at %s, want the sign-in page saying so", r.Status, r.URL)
		}
		if _, err := e.store.UserByID(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the user: %v, want not found", err)
		}
		if _, err := e.store.DeviceByID(ctx, dev.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("her device: %v, want not found", err)
		}
		if p, _ := e.rules.Policy(ctx); slices.ContainsFunc(p.Rules, func(r store.Rule) bool { return r.ID == own.ID }) {
			t.Error("her rule is still in the policy")
		}
		if !slices.Contains(e.changed, alice.ID) {
			t.Errorf("the data plane was not told: %v", e.changed)
		}
		if strings.Contains(c.Get("/login").Body, "Your account was deleted") {
			t.Error("the notice is shown again on the next sign-in page")
		}
		signedOut(t, "the session that deleted", c)
		signedOut(t, "her other session", other)
		c.Get("/login")
		if r := c.Post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}}); r.Status != http.StatusUnauthorized {
			t.Errorf("signing in as the deleted user: %d, want 401", r.Status)
		}

		// The last enabled admin cannot delete themself; with another admin they can.
		root, rc := e.signedIn(t, "root@example.com", store.RoleAdmin)
		rc.Get("/account")
		r = rc.Post("/account/delete", url.Values{"confirm_email": {"root@example.com"}})
		if r.Status != http.StatusConflict || !strings.Contains(r.Body, "root@example.com is the last enabled admin") ||
			!strings.Contains(r.Body, `value="root@example.com"`) {
			t.Errorf("the last admin deleting themself: got %d, want 409 saying why, the typed email kept", r.Status)
		}
		signedInStill(t, "the last admin", rc)
		e.user(t, "second@example.com", password, store.RoleAdmin)
		if r := rc.Post("/account/delete", url.Values{"confirm_email": {"root@example.com"}}); !strings.HasSuffix(r.URL, "/login") {
			t.Errorf("an admin with another admin deleting themself: landed on %s, want /login", r.URL)
		}
		if _, err := e.store.UserByID(ctx, root.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the admin: %v, want deleted", err)
		}
	})
}

// Every change on the Account page needs the session's CSRF token; a forged one changes nothing.
func TestAccountChangesNeedTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	for path, form := range map[string]url.Values{
		"/account/password":     {"current_password": {password}, "new_password": {"violet staple 42 ferry"}, "confirm_password": {"violet staple 42 ferry"}},
		"/account/theme":        {"theme": {"dark"}},
		"/account/sessions/end": {},
		"/account/delete":       {"confirm_email": {"alice@example.com"}},
	} {
		form.Set("csrf_token", "forged")
		if r := c.Post(path, form); r.Status != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: got %d, want 403", path, r.Status)
		}
	}
	u, err := e.store.UserByID(context.Background(), alice.ID)
	if err != nil || u.Theme != store.ThemeSystem || u.PasswordHash != alice.PasswordHash {
		t.Errorf("after forged requests: %+v, %v; want alice unchanged", u, err)
	}
}
