package app_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"wiregui/app/apptest"
	"wiregui/app/mail/mailtest"
	"wiregui/app/rules"
	"wiregui/store"
	"wiregui/store/storetest"
)

// rowEmails are the emails of the users table's rows, in order.
func rowEmails(page string) []string {
	var out []string
	for _, m := range userRowEmail.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

var userRowEmail = regexp.MustCompile(`<td data-label="Email"><a href="/admin/users/[^"]+">([^<]+)</a>`)

// TestUsersTableSearchesSortsAndPages: the Users page shows 50 users a page with their device
// counts and sign-ins, searches emails, sorts by each sortable column either way, and keeps
// it all in its URL; htmx gets the table alone.
func TestUsersTableSearchesSortsAndPages(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UTC()
	for i := range 60 {
		u := &store.User{Email: fmt.Sprintf("user%02d@example.com", i)}
		if i%10 == 0 {
			u.Role = store.RoleAdmin
		}
		if err := e.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			e.store.RecordSignIn(ctx, u.ID, "password", base.Add(time.Duration(i)*time.Minute))
		}
		if i == 7 {
			e.device(t, u, "laptop")
			e.device(t, u, "phone")
		}
	}

	r := c.Get("/admin/users")
	got := rowEmails(r.Body)
	if r.Status != http.StatusOK || len(got) != 50 || got[0] != "root@example.com" && got[0] != "user00@example.com" ||
		!strings.Contains(r.Body, "1–50 of 61") {
		t.Fatalf("the first page: %d, %d rows from %q", r.Status, len(got), got)
	}
	if !strings.Contains(r.Body, `<a href="/admin/devices?owner=user07%40example.com" aria-label="2 devices of user07@example.com">2</a>`) {
		t.Error("user07's row does not link their 2 devices")
	}
	if !strings.Contains(r.Body, `rel="next" href="/admin/users?page=2"`) {
		t.Error("no link to the second page")
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?q=USER0", []string{"user00@example.com", "user01@example.com", "user02@example.com", "user03@example.com",
			"user04@example.com", "user05@example.com", "user06@example.com", "user07@example.com", "user08@example.com",
			"user09@example.com"}},
		{"?q=user0&sort=email&dir=desc", []string{"user09@example.com", "user08@example.com", "user07@example.com",
			"user06@example.com", "user05@example.com", "user04@example.com", "user03@example.com", "user02@example.com",
			"user01@example.com", "user00@example.com"}},
		// The last sign-in, newest first; those who never signed in come last.
		{"?q=user0&sort=signin", []string{"user09@example.com", "user07@example.com", "user05@example.com", "user03@example.com",
			"user01@example.com"}},
		{"?q=ser1&sort=role", []string{"user10@example.com", "user11@example.com", "user12@example.com"}},
		{"?sort=created&dir=asc&page=2", []string{"user49@example.com", "user50@example.com"}},
		{"?q=nobody", nil},
	} {
		r := c.Get("/admin/users" + tc.query)
		got := rowEmails(r.Body)
		if len(got) > len(tc.want) {
			got = got[:len(tc.want)]
		}
		if r.Status != http.StatusOK || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d, rows start %q; want %q", tc.query, r.Status, got, tc.want)
		}
	}
	if r := c.Get("/admin/users?q=nobody"); !strings.Contains(html.UnescapeString(r.Body), "No user's email contains “nobody”") {
		t.Error("an empty search does not say so")
	}
	// A sorted header links the other direction; htmx gets the table alone.
	r = c.HTMXGet("/admin/users?sort=signin&q=user")
	if r.Status != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(r.Body), `<div id="user-list"`) {
		t.Errorf("htmx: %d, want the table alone:\n%.300s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, `aria-sort="descending"><a class="sort" href="/admin/users?dir=asc&amp;q=user&amp;sort=signin"`) {
		t.Errorf("the last sign-in header does not offer the other direction:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, `Last sign-in</a>`) || !strings.Contains(r.Body, `<span class="muted">with a password</span>`) {
		t.Error("no sign-in method shown")
	}
	for _, bad := range []string{"?sort=password_hash", "?dir=up", "?page=0", "?q=" + url.QueryEscape("a\u202eb")} {
		if r := c.Get("/admin/users" + bad); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, r.Status)
		}
	}
	// Past the end: the last page.
	if r := c.Get("/admin/users?page=9"); !strings.Contains(r.Body, "51–61 of 61") {
		t.Error("a page past the end does not show the last")
	}
}

// fieldErrors are the messages next to the fields of a page, by field id.
func fieldErrors(page string) map[string]string {
	out := map[string]string{}
	for _, m := range fieldError.FindAllStringSubmatch(page, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

var fieldError = regexp.MustCompile(`<p id="([a-z0-9_-]+)-error" class="field-error">([^<]*)</p>`)

// TestAddUserNamesEveryMistakeAtOnce: the Add user form names every bad field in one answer,
// keeps what was typed but the password, and creates the user once it is right.
func TestAddUserNamesEveryMistakeAtOnce(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	c.Get("/admin/users/new")
	for _, tc := range []struct {
		name string
		form url.Values
		want map[string]string
	}{
		{"everything wrong", url.Values{"email": {"not an address"}, "role": {"root"}, "password": {"short"}}, map[string]string{
			"user-add-email":    `"not an address" is not an email address (name@domain).`,
			"user-add-role":     "Choose a role: admin or user.",
			"user-add-password": "The password must have at least 10 characters; this one has 5.",
		}},
		{"no password", url.Values{"email": {"ann@"}, "role": {"user"}}, map[string]string{
			"user-add-email":    `"ann@" is not an email address (name@domain).`,
			"user-add-password": "Enter a password for the new user.",
		}},
		{"the email as password", url.Values{"email": {"Ann@Example.com"}, "role": {"user"}, "password": {"ann@example.com"}},
			map[string]string{"user-add-password": "The password cannot be your email address."}},
		{"taken", url.Values{"email": {"ROOT@example.com"}, "role": {"admin"}, "password": {"a long password"}},
			map[string]string{"user-add-email": "A user with the email root@example.com already exists."}},
	} {
		r := c.HTMX("/admin/users", tc.form)
		if got := fieldErrors(r.Body); r.Status != http.StatusUnprocessableEntity || !maps(got, tc.want) {
			t.Errorf("%s: %d %q; want 422 %q", tc.name, r.Status, got, tc.want)
		}
		if strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `value="`+html.EscapeString(tc.form.Get("email"))+`"`) {
			t.Errorf("%s: not the form alone with the email typed", tc.name)
		}
		if p := tc.form.Get("password"); p != "" && strings.Contains(r.Body, html.EscapeString(p)) {
			t.Errorf("%s: the password was sent back", tc.name)
		}
	}
	if n, _ := e.store.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d users after the refused forms, want 1", n)
	}

	r := c.HTMX("/admin/users", url.Values{"email": {" Ann@Example.com "}, "role": {"admin"}, "password": {"ann's password"}})
	if r.Status != http.StatusOK || r.Header.Get("HX-Trigger") != "users-changed" || !strings.Contains(r.Body, "Created the admin ann@example.com.") {
		t.Fatalf("create: %d %q\n%s", r.Status, r.Header.Get("HX-Trigger"), r.Body)
	}
	ann, err := e.store.UserByEmail(context.Background(), "ann@example.com")
	if err != nil || !ann.IsAdmin() {
		t.Fatalf("ann: %+v, %v", ann, err)
	}
	apptest.New(t, e.url).SignIn("ann@example.com", "ann's password")

	// Without JavaScript: the new user's page.
	c.Get("/admin/users/new")
	r = c.Post("/admin/users", url.Values{"email": {"bob@example.com"}, "role": {"user"}, "password": {"bob's password"}})
	if r.Status != http.StatusOK || !strings.Contains(r.URL, "/admin/users/") || !strings.Contains(r.Body, "Created the user bob@example.com.") {
		t.Errorf("create without htmx: %d at %s", r.Status, r.URL)
	}
}

// maps reports whether got and want hold the same messages.
func maps(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestEditUser: a user's email, role, password and status change on their page; every bad
// field is named at once; the last enabled admin keeps their rights; and an admin who takes
// their own goes to their devices.
func TestEditUser(t *testing.T) {
	e := newEnv(t)
	root, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	c.Get("/admin/users/" + bob.ID)

	r := c.HTMX("/admin/users/"+bob.ID, url.Values{"email": {"bob@"}, "role": {"god"}, "password": {"bob@"}})
	want := map[string]string{"user-edit-email": `"bob@" is not an email address (name@domain).`, "user-edit-role": "Choose a role: admin or user.",
		"user-edit-password": "The password must have at least 10 characters; this one has 4."}
	if got := fieldErrors(r.Body); r.Status != http.StatusUnprocessableEntity || !maps(got, want) {
		t.Errorf("bad edit: %d %q; want %q", r.Status, got, want)
	}

	e.changed = nil
	r = c.HTMX("/admin/users/"+bob.ID, url.Values{"email": {"Robert@Example.com"}, "role": {"admin"}, "password": {"robert's new password"},
		"disabled": {"on"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Saved robert@example.com.") || !strings.Contains(r.Body, "Disabled") {
		t.Fatalf("edit: %d\n%s", r.Status, r.Body)
	}
	got, _ := e.store.UserByID(context.Background(), bob.ID)
	if got.Email != "robert@example.com" || !got.IsAdmin() || !got.Disabled() || got.PasswordHash == bob.PasswordHash {
		t.Errorf("bob after the edit: %+v", got)
	}
	if !slices.Equal(e.changed, []string{bob.ID}) {
		t.Errorf("the data plane was told of %v, want bob", e.changed)
	}

	// Root is the only enabled admin: neither demoting nor disabling themself goes through.
	c.Get("/admin/users/" + root.ID)
	for _, form := range []url.Values{{"email": {root.Email}, "role": {"user"}}, {"email": {root.Email}, "role": {"admin"}, "disabled": {"on"}}} {
		r := c.HTMX("/admin/users/"+root.ID, form)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body),
			"root@example.com is the last enabled admin, and without one nobody could manage the server. Make another user an admin first.") {
			t.Errorf("%v: %d\n%s", form, r.Status, r.Body)
		}
	}
	if got, _ := e.store.UserByID(context.Background(), root.ID); !got.IsAdmin() || got.Disabled() {
		t.Errorf("root after the refusals: %+v", got)
	}

	// With robert enabled, root may step down, and is sent where they may still go.
	c.HTMX("/admin/users/"+bob.ID, url.Values{"email": {"robert@example.com"}, "role": {"admin"}})
	r = c.HTMX("/admin/users/"+root.ID, url.Values{"email": {root.Email}, "role": {"user"}})
	if r.Header.Get("HX-Redirect") != "/devices" {
		t.Errorf("root stepping down: %d, HX-Redirect %q; want /devices", r.Status, r.Header.Get("HX-Redirect"))
	}
	if r := c.Get("/devices"); !strings.Contains(r.Body, "Saved root@example.com. You are no longer an admin.") {
		t.Error("root's devices do not say why they are there")
	}
	if r := c.Get("/admin/users"); r.Status != http.StatusNotFound {
		t.Errorf("root as a user opens the Users page: %d", r.Status)
	}
}

// TestChangedUsersLoseAccessOnTheirNextRequest: a demoted admin's next request finds them a
// user, under a new session token (the old one signs nobody in); a disabled user's ends
// their session.
func TestChangedUsersLoseAccessOnTheirNextRequest(t *testing.T) {
	e := newEnv(t)
	_, root := e.signedIn(t, "root@example.com", store.RoleAdmin)
	bob, bobC := e.signedIn(t, "bob@example.com", store.RoleAdmin)
	if r := bobC.Get("/admin/users"); r.Status != http.StatusOK {
		t.Fatalf("bob as an admin: %d", r.Status)
	}
	before := sessionCookie(t, bobC)

	root.Get("/admin/users/" + bob.ID)
	if r := root.HTMX("/admin/users/"+bob.ID, url.Values{"email": {bob.Email}, "role": {"user"}}); r.Status != http.StatusOK {
		t.Fatalf("demote bob: %d", r.Status)
	}
	if r := bobC.Get("/admin/users"); r.Status != http.StatusNotFound {
		t.Errorf("bob, demoted, opens the Users page: %d", r.Status)
	}
	after := sessionCookie(t, bobC)
	if after == before {
		t.Error("bob's session token was not renewed after the demotion")
	}
	if r := bobC.Get("/devices"); r.Status != http.StatusOK || strings.HasSuffix(r.URL, "/login") || sessionCookie(t, bobC) != after {
		t.Errorf("bob's next page: %d at %s; want his devices, under the same new token", r.Status, r.URL)
	}
	stale := apptest.New(t, e.url)
	u, _ := url.Parse(e.url)
	stale.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "wiregui_session", Value: before}})
	if r := stale.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("the old token still opens %s", r.URL)
	}

	root.HTMX("/admin/users/"+bob.ID, url.Values{"email": {bob.Email}, "role": {"user"}, "disabled": {"on"}})
	if r := bobC.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("bob, disabled, still opens %s", r.URL)
	}
}

// TestDeleteUser: the confirmation names what goes with the user; the delete takes it, tells
// the data plane, and says so on the Users page; an admin cannot delete themself here.
func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	root, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	ann := e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	laptop := e.device(t, ann, "laptop")
	e.device(t, ann, "phone")
	e.rule(t, rules.RuleSpec{Action: "drop", Destination: "10.9.0.0/16", UserID: ann.ID})
	e.policyTest(t, laptop)

	for _, path := range []string{"/admin/users/" + ann.ID, "/admin/users/" + ann.ID + "/delete"} {
		r := c.Get(path)
		if !strings.Contains(r.Body, "With them go 2 devices (and their 1 policy test) and 1 firewall rule.") {
			t.Errorf("%s does not name what goes with ann:\n%s", path, r.Body)
		}
	}
	e.changed = nil
	r := c.HTMX("/admin/users/"+ann.ID+"/delete", nil)
	if r.Status != http.StatusNoContent || r.Header.Get("HX-Redirect") != "/admin/users" {
		t.Fatalf("delete: %d, HX-Redirect %q", r.Status, r.Header.Get("HX-Redirect"))
	}
	if !slices.Contains(e.changed, ann.ID) {
		t.Errorf("the data plane was told of %v, not ann", e.changed)
	}
	if b, err := e.store.UserBelongings(context.Background(), ann.ID); err != nil || b != (store.Belongings{}) {
		t.Errorf("left of ann: %+v, %v", b, err)
	}
	if r := c.Get("/admin/users"); !strings.Contains(r.Body, "Deleted ann@example.com, with 2 devices (and their 1 policy test) and 1 firewall rule.") {
		t.Error("the Users page does not say what was deleted")
	}
	if r := c.Get("/admin/users/" + ann.ID); r.Status != http.StatusNotFound {
		t.Errorf("ann's page after the delete: %d", r.Status)
	}

	// Oneself, with another admin there: no button, and a POST is refused with the way.
	e.user(t, "other@example.com", password, store.RoleAdmin)
	r = c.Get("/admin/users/" + root.ID)
	if strings.Contains(r.Body, `data-dialog="#user-delete-dialog"`) || !strings.Contains(r.Body, "use the Account page") {
		t.Error("root's own page offers to delete them")
	}
	r = c.HTMX("/admin/users/"+root.ID+"/delete", nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "You cannot delete your own account here: use the Account page") {
		t.Errorf("self-delete: %d\n%s", r.Status, r.Body)
	}
	if _, err := e.store.UserByID(context.Background(), root.ID); err != nil {
		t.Errorf("root after the refused self-delete: %v", err)
	}
}

// onBothDatabasesWithClock runs fn with a web server on SQLite and on PostgreSQL whose clock
// the test moves.
func onBothDatabasesWithClock(t *testing.T, fn func(t *testing.T, e *env, clk *clock)) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			clk := newClock()
			fn(t, newEnvOn(t, driver, storetest.DSN(t, driver), withClockAndLog(clk, &logLines{})), clk)
		})
	}
}

// invitationPath is the path of the invitation link in an email the server m received.
func invitationPath(t *testing.T, e *env, m mailtest.Received) string {
	t.Helper()
	link := mailtest.Link(m.Text, e.url+"/login/invitation/")
	if link == "" {
		t.Fatalf("no invitation link in the email to %v:\n%s", m.To, m.Text)
	}
	return strings.TrimPrefix(link, e.url)
}

// acceptInvitation chooses pw on the invitation's page at path and reports where it ended.
func acceptInvitation(t *testing.T, e *env, path, pw string) apptest.Response {
	t.Helper()
	c := apptest.New(t, e.url)
	if r := c.Get(path); r.Status != http.StatusOK {
		t.Fatalf("the invitation's page %s: %d", path, r.Status)
	}
	return c.Post(path, url.Values{"password": {pw}, "confirm": {pw}})
}

// TestAddUserByInvitation: the Add user form invites by email through a real SMTP server,
// says to whom and until when; the Users table and the user's page show them invited; the
// link opens the invitation page and the password chosen there signs in; sending again
// replaces the link; mistakes are named at once and send nothing.
func TestAddUserByInvitation(t *testing.T) {
	onBothDatabasesWithClock(t, func(t *testing.T, e *env, clk *clock) {
		ctx := context.Background()
		_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
		e.user(t, "taken@example.com", password, store.RoleUnprivileged)
		srv := mailtest.Start(t, mailtest.Options{})
		e.linksOn(t, srv.Host, srv.Port)

		form := c.Get("/admin/users/new").Body
		if !strings.Contains(form, `name="setup" value="invitation">`) || strings.Contains(form, "No invitation can be sent") ||
			!strings.Contains(form, `<div class="field setup-password">`) {
			t.Fatalf("the Add user form does not offer the invitation, or not enabled:\n%s", form)
		}

		for _, tc := range []struct {
			name string
			form url.Values
			want map[string]string
		}{
			{"bad email and role", url.Values{"email": {"new@"}, "role": {"root"}, "setup": {"invitation"}}, map[string]string{
				"user-add-email": `"new@" is not an email address (name@domain).`, "user-add-role": "Choose a role: admin or user."}},
			{"no such choice", url.Values{"email": {"new@"}, "role": {"user"}, "setup": {"pigeon"}}, map[string]string{
				"user-add-email": `"new@" is not an email address (name@domain).`,
				"user-add-setup": "Choose how they get a password: set one, or send an invitation by email."}},
			{"has a password", url.Values{"email": {"Taken@example.com"}, "role": {"user"}, "setup": {"invitation"}}, map[string]string{
				"user-add-email": "A user with the email taken@example.com already exists and has a password."}},
		} {
			r := c.HTMX("/admin/users", tc.form)
			if got := fieldErrors(r.Body); r.Status != http.StatusUnprocessableEntity || !maps(got, tc.want) {
				t.Errorf("%s: %d %q; want 422 %q", tc.name, r.Status, got, tc.want)
			}
		}
		srv.None(t, 200*time.Millisecond)

		// The password typed before the choice changed is not used.
		r := c.HTMX("/admin/users", url.Values{"email": {" New@Example.com "}, "role": {"admin"}, "setup": {"invitation"},
			"password": {"a password nobody set"}})
		until := clk.now().Add(72 * time.Hour).UTC().Format("2 Jan 2006 15:04 UTC")
		want := "Invited the admin new@example.com: the email is sent, and its link works until " + until + "."
		if r.Status != http.StatusOK || r.Header.Get("HX-Trigger") != "users-changed" || !strings.Contains(r.Body, want) ||
			!strings.Contains(r.Body, "User invited") {
			t.Fatalf("invite: %d %q, want 200 with %q\n%s", r.Status, r.Header.Get("HX-Trigger"), want, r.Body)
		}
		m := srv.Next(t, 10*time.Second)
		if len(m.To) != 1 || m.To[0] != "new@example.com" || m.Subject != "You are invited to WireGUI" {
			t.Fatalf("the email: to %v, %q", m.To, m.Subject)
		}
		first := invitationPath(t, e, m)
		invited, err := e.store.UserByEmail(ctx, "new@example.com")
		if err != nil || invited.PasswordHash != "" || !invited.IsAdmin() {
			t.Fatalf("the invited user: %+v, %v", invited, err)
		}

		// Invited, until when: in the table and on their page, which offers to send it again.
		table := c.Get("/admin/users?q=new").Body
		if !strings.Contains(table, `<span class="dot warn" aria-hidden="true"></span>Invited</span> <span class="muted">until <time`) ||
			!strings.Contains(table, ">"+until+"</time>") {
			t.Errorf("the table does not show new@ invited until %s:\n%s", until, table)
		}
		page := c.Get("/admin/users/" + invited.ID).Body
		for _, s := range []string{"Invited until <time", ">" + until + "</time>: they have not chosen a password yet", "Send the invitation again"} {
			if !strings.Contains(page, s) {
				t.Errorf("new@'s page does not say %q", s)
			}
		}

		// Again: a new link, and the first no longer works.
		clk.add(time.Hour)
		r = c.HTMX("/admin/users/"+invited.ID+"/invitation", nil)
		until = clk.now().Add(72 * time.Hour).UTC().Format("2 Jan 2006 15:04 UTC")
		if want := "Sent a new invitation to new@example.com: its link works until " + until + ", and the earlier link no longer works."; r.Status != http.StatusOK || !strings.Contains(r.Body, want) || !strings.HasPrefix(strings.TrimSpace(r.Body), `<div id="user-detail"`) {
			t.Fatalf("send again: %d, want the user's page with %q\n%s", r.Status, want, r.Body)
		}
		second := invitationPath(t, e, srv.Next(t, 10*time.Second))
		if second == first {
			t.Fatal("the invitation sent again has the same link")
		}
		if r := apptest.New(t, e.url).Get(first); r.Status != http.StatusNotFound {
			t.Errorf("the first link after a new one was sent: %d, want 404", r.Status)
		}

		// The link opens the invitation's page; the password chosen there signs in.
		if r := acceptInvitation(t, e, second, "new's own password"); r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
			t.Fatalf("accepting: %d at %s, want /devices", r.Status, r.URL)
		}
		apptest.New(t, e.url).SignIn("new@example.com", "new's own password")
		table = c.Get("/admin/users?q=new").Body
		if strings.Contains(table, "Invited") || !strings.Contains(table, "Active") {
			t.Errorf("the table after the invitation was used does not show new@ active")
		}
		page = c.Get("/admin/users/" + invited.ID).Body
		if strings.Contains(page, `id="user-invitation"`) {
			t.Error("the page of a user with a password offers an invitation")
		}
		if r := c.HTMX("/admin/users/"+invited.ID+"/invitation", nil); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, "A user with the email new@example.com already exists and has a password.") {
			t.Errorf("inviting a user who has a password: %d\n%s", r.Status, r.Body)
		}
		srv.None(t, 200*time.Millisecond)

		// Without JavaScript: the new user's page says so.
		c.Get("/admin/users/new")
		r = c.Post("/admin/users", url.Values{"email": {"plain@example.com"}, "role": {"user"}, "setup": {"invitation"}})
		if r.Status != http.StatusOK || !strings.Contains(r.URL, "/admin/users/") || !strings.Contains(r.Body, "Invited the user plain@example.com") ||
			!strings.Contains(r.Body, "Send the invitation again") {
			t.Errorf("invite without htmx: %d at %s", r.Status, r.URL)
		}
		srv.Next(t, 10*time.Second)

		// After 72 hours the invitation is over: the page offers a new one.
		clk.add(72*time.Hour + time.Minute)
		plain, _ := e.store.UserByEmail(ctx, "plain@example.com")
		page = c.Get("/admin/users/" + plain.ID).Body
		if strings.Contains(page, "Invited until") || !strings.Contains(page, "no invitation whose link still works") ||
			!strings.Contains(page, ">Send an invitation</button>") {
			t.Errorf("plain@'s page after 72 hours:\n%s", page)
		}
	})
}

// TestInvitationWithoutEmailIsRefused: with no SMTP server set, the invitation is shown
// disabled with the reason and the way to Settings, and a POST that chooses it anyway is
// refused with that reason, on the Add user form and on a user's page; nobody is added.
func TestInvitationWithoutEmailIsRefused(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	const reason = "Email is not set up: the SMTP server and the sender address are needed (Settings, or WG_SMTP_HOST and WG_SMTP_FROM)."

	form := c.Get("/admin/users/new").Body
	for _, s := range []string{
		`<input id="user-add-setup-invitation" type="radio" name="setup" value="invitation" disabled>`,
		`<fieldset class="choices" aria-describedby="user-add-setup-off">`,
		`<p id="user-add-setup-off" class="hint">No invitation can be sent. ` + reason + ` <a href="/admin/settings#email-settings">Set up email in Settings</a>.</p>`,
	} {
		if !strings.Contains(html.UnescapeString(form), s) {
			t.Errorf("the Add user form does not have %s", s)
		}
	}
	r := c.HTMX("/admin/users", url.Values{"email": {"new@example.com"}, "role": {"user"}, "setup": {"invitation"}})
	if got := fieldErrors(r.Body); r.Status != http.StatusUnprocessableEntity || got["user-add-setup"] != reason {
		t.Errorf("inviting without email: %d %q; want 422 with %q", r.Status, got, reason)
	}
	if !strings.Contains(r.Body, `value="password" checked>`) {
		t.Error("after the refusal the form does not choose the password, the choice there is")
	}
	if _, err := e.store.UserByEmail(context.Background(), "new@example.com"); !isNotFound(err) {
		t.Errorf("new@ after the refused invitation: %v; want nobody", err)
	}

	// A user without a password: the button is disabled with the reason, and a POST refused.
	u := &store.User{Email: "nopassword@example.com"}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(c.Get("/admin/users/" + u.ID).Body)
	if !strings.Contains(page, `<button type="submit" class="btn" disabled aria-describedby="user-invitation-off">Send an invitation</button>`) ||
		!strings.Contains(page, reason) {
		t.Errorf("the page of a user without a password does not show the invitation disabled with why:\n%s", page)
	}
	r = c.HTMX("/admin/users/"+u.ID+"/invitation", nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), `<p id="user-invitation-error" class="form-error" role="alert">`+reason) {
		t.Errorf("inviting again without email: %d\n%s", r.Status, r.Body)
	}
}

// TestInvitationNotSentLeavesNothing: when the mail server refuses the invitation, the admin
// reads its answer; a user added by it is removed again, and a new link for a user invited
// before is removed too (the page no longer says they are invited); on both databases.
func TestInvitationNotSentLeavesNothing(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
		good := mailtest.Start(t, mailtest.Options{})
		e.linksOn(t, good.Host, good.Port)
		c.Get("/admin/users/new")
		if r := c.HTMX("/admin/users", url.Values{"email": {"first@example.com"}, "role": {"user"}, "setup": {"invitation"}}); r.Status != http.StatusOK {
			t.Fatalf("the first invitation: %d", r.Status)
		}
		good.Next(t, 10*time.Second)
		first, err := e.store.UserByEmail(ctx, "first@example.com")
		if err != nil {
			t.Fatal(err)
		}

		refusing := mailtest.Start(t, mailtest.Options{Refuse: &smtp.SMTPError{Code: 550, Message: "mailbox unavailable"}})
		e.linksOn(t, refusing.Host, refusing.Port)
		r := c.HTMX("/admin/users", url.Values{"email": {"New@example.com"}, "role": {"admin"}, "setup": {"invitation"}})
		msg := html.UnescapeString(formError(r.Body))
		if r.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(msg, "The invitation to new@example.com was not sent, so they were not added.") ||
			!strings.Contains(msg, "mailbox unavailable") {
			t.Errorf("a refused invitation: %d %q", r.Status, msg)
		}
		if !strings.Contains(r.Body, `value="invitation" checked>`) || !strings.Contains(r.Body, `value="New@example.com"`) {
			t.Error("the refused form does not keep what was chosen and typed")
		}
		if _, err := e.store.UserByEmail(ctx, "new@example.com"); !isNotFound(err) {
			t.Errorf("new@ after the refused invitation: %v; want nobody", err)
		}

		r = c.HTMX("/admin/users/"+first.ID+"/invitation", nil)
		body := html.UnescapeString(r.Body)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(body, `<p id="user-invitation-error" class="form-error" role="alert">The invitation was not sent.`) ||
			!strings.Contains(body, "mailbox unavailable") || !strings.Contains(body, "Their earlier link no longer works either") {
			t.Errorf("a refused invitation sent again: %d\n%s", r.Status, r.Body)
		}
		if _, err := e.store.InvitationExpiry(ctx, first.ID); !isNotFound(err) {
			t.Errorf("the link that was not sent: %v; want none", err)
		}
		if page := c.Get("/admin/users/" + first.ID).Body; strings.Contains(page, "Invited until") || !strings.Contains(page, ">Send an invitation</button>") {
			t.Errorf("first@'s page after the refused invitation says they are invited, or offers none")
		}
	})
}

// isNotFound reports whether err is the store's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
