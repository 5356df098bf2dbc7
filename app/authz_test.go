package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/rules"
	"wiregui/assets"
	"wiregui/collector"
	"wiregui/store"
)

// per is the status a role gets from a route for each device the path may name: the role's
// own, another user's, and one that does not exist. A path that names no device has one
// status (every).
type per struct{ own, others, missing int }

func every(status int) per { return per{status, status, status} }

// authzRow is the answer of one route to each role. {id} in path is the device, {method} an
// MFA method; {rule}, {test} and {newuser} are a rule, a policy test and a user made for the
// request.
type authzRow struct {
	pattern                string // as routes.go registers it
	method                 string // only for a pattern without one
	path                   string
	form                   url.Values // the body of a POST; the CSRF token is added
	anonymous, user, admin per
}

// authzTable is the authorization table: what every route answers anyone who is not signed
// in, a user and an admin, for each device it may name. Every route has a row: a route added
// without one fails TestEveryRouteAnswersEachRoleAsTheTableSays. A route's CSRF check comes
// before it, so a visitor's POST (which has no session, hence no token) is 403.
//
// History reads VictoriaMetrics, which the test server names but cannot reach: 502 says the
// request got past the check.
var authzTable = []authzRow{
	{pattern: "GET /static/", path: assets.StaticURL("app.css"), anonymous: every(200), user: every(200), admin: every(200)},
	{pattern: "GET /healthz", path: "/healthz", anonymous: every(200), user: every(200), admin: every(200)},
	{pattern: "GET /metrics", path: "/metrics", anonymous: every(401), user: every(401), admin: every(401)}, // a token, not a session
	{pattern: "GET /{$}", path: "/", anonymous: every(303), user: every(303), admin: every(303)},
	{pattern: "GET /login", path: "/login", anonymous: every(200), user: every(303), admin: every(303)},
	{pattern: "POST /login", path: "/login", form: url.Values{"email": {"nobody@example.com"}, "password": {"wrong"}},
		anonymous: every(401), user: every(401), admin: every(401)},
	{pattern: "POST /logout", path: "/logout", anonymous: every(403), user: every(303), admin: every(303)},
	// Sign-in links (on in this test) and invitations: anyone may ask for a link; a token
	// that is no link's or invitation's is 404 for everyone.
	{pattern: "POST /login/link", path: "/login/link", form: url.Values{"email": {"nobody@example.com"}},
		anonymous: every(200), user: every(200), admin: every(200)},
	{pattern: "GET /login/link/{token}", path: "/login/link/" + strings.Repeat("A", 43),
		anonymous: every(404), user: every(404), admin: every(404)},
	{pattern: "POST /login/link/{token}", path: "/login/link/" + strings.Repeat("A", 43),
		anonymous: every(404), user: every(404), admin: every(404)},
	{pattern: "GET /login/invitation/{token}", path: "/login/invitation/not-a-token",
		anonymous: every(404), user: every(404), admin: every(404)},
	{pattern: "POST /login/invitation/{token}", path: "/login/invitation/" + strings.Repeat("A", 43),
		form:      url.Values{"password": {"long enough password"}, "confirm": {"long enough password"}},
		anonymous: every(404), user: every(404), admin: every(404)},

	// The Account page acts on the viewer's own account only. A wrong current password and a
	// wrong email (422) got past the guard.
	{pattern: "GET /account", path: "/account", anonymous: every(303), user: every(200), admin: every(200)},
	{pattern: "POST /account/password", path: "/account/password", form: url.Values{"current_password": {"wrong"}},
		anonymous: every(403), user: every(422), admin: every(422)},
	{pattern: "POST /account/theme", path: "/account/theme", form: url.Values{"theme": {"dark"}},
		anonymous: every(403), user: every(303), admin: every(303)},
	{pattern: "POST /account/sessions/end", path: "/account/sessions/end", anonymous: every(403), user: every(303), admin: every(303)},
	{pattern: "POST /account/delete", path: "/account/delete", form: url.Values{"confirm_email": {"someone@example.com"}},
		anonymous: every(403), user: every(422), admin: every(422)},
	// A sign-in's second factor: nobody here waits for one, so a visitor is sent to sign in
	// and a signed-in user to their devices. A visitor's POST to /mfa carries the sign-in
	// form's token, whose cookie is for /login only (403). The passkey's sign-in is allowed,
	// and the server at 127.0.0.1 can do no WebAuthn (409: past the checks).
	{pattern: "GET /mfa", path: "/mfa", anonymous: every(303), user: every(303), admin: every(303)},
	{pattern: "POST /mfa", path: "/mfa", form: url.Values{"code": {"123456"}}, anonymous: every(403), user: every(303), admin: every(303)},
	{pattern: "POST /mfa/webauthn/begin", path: "/mfa/webauthn/begin", anonymous: every(403), user: every(303), admin: every(303)},
	{pattern: "POST /mfa/webauthn/finish", path: "/mfa/webauthn/finish", anonymous: every(403), user: every(303), admin: every(303)},
	{pattern: "POST /login/passkey/begin", path: "/login/passkey/begin", anonymous: every(409), user: every(409), admin: every(409)},
	{pattern: "POST /login/passkey/finish", path: "/login/passkey/finish", anonymous: every(409), user: every(409), admin: every(409)},

	// Two-factor authentication: everyone's own page. {method} is an MFA method: the role's
	// own, another user's, or none; nobody reaches another user's here, admins included. A
	// wrong code and recovery codes without a method are 422.
	{pattern: "GET /account/mfa", path: "/account/mfa", anonymous: every(303), user: every(200), admin: every(200)},
	{pattern: "GET /account/mfa/totp", path: "/account/mfa/totp", anonymous: every(303), user: every(200), admin: every(200)},
	{pattern: "POST /account/mfa/totp", path: "/account/mfa/totp", form: url.Values{"name": {"Phone"}, "code": {"000000"}},
		anonymous: every(403), user: every(422), admin: every(422)},
	{pattern: "POST /account/mfa/webauthn/begin", path: "/account/mfa/webauthn/begin", form: url.Values{"name": {"Key"}},
		anonymous: every(403), user: every(409), admin: every(409)},
	{pattern: "POST /account/mfa/webauthn/finish", path: "/account/mfa/webauthn/finish",
		anonymous: every(403), user: every(409), admin: every(409)},
	{pattern: "POST /account/mfa/recovery", path: "/account/mfa/recovery", anonymous: every(403), user: every(422), admin: every(422)},
	{pattern: "GET /account/mfa/{id}/delete", path: "/account/mfa/{method}/delete",
		anonymous: every(303), user: per{200, 404, 404}, admin: per{200, 404, 404}},
	{pattern: "POST /account/mfa/{id}/delete", path: "/account/mfa/{method}/delete",
		anonymous: every(403), user: per{303, 404, 404}, admin: per{303, 404, 404}},

	{pattern: "GET /devices", path: "/devices", anonymous: every(303), user: every(200), admin: every(200)},
	{pattern: "POST /devices", path: "/devices", form: url.Values{"name": {"new"}},
		anonymous: every(403), user: every(200), admin: every(200)},
	{pattern: "GET /devices/new", path: "/devices/new", anonymous: every(303), user: every(200), admin: every(200)},
	{pattern: "GET /devices/live", path: "/devices/live?id={id}",
		anonymous: every(303), user: per{200, 404, 404}, admin: per{200, 200, 404}},
	{pattern: "GET /devices/{id}", path: "/devices/{id}",
		anonymous: every(303), user: per{200, 404, 404}, admin: per{200, 200, 404}},
	{pattern: "POST /devices/{id}", path: "/devices/{id}", form: defaultsForm("name", "renamed"),
		anonymous: every(403), user: per{303, 404, 404}, admin: per{303, 303, 404}},
	{pattern: "GET /devices/{id}/live", path: "/devices/{id}/live",
		anonymous: every(303), user: per{200, 404, 404}, admin: per{200, 200, 404}},
	{pattern: "GET /devices/{id}/history", path: "/devices/{id}/history?range=1h",
		anonymous: every(303), user: per{502, 404, 404}, admin: per{502, 502, 404}},
	{pattern: "GET /devices/{id}/delete", path: "/devices/{id}/delete",
		anonymous: every(303), user: per{200, 404, 404}, admin: per{200, 200, 404}},
	{pattern: "POST /devices/{id}/delete", path: "/devices/{id}/delete",
		anonymous: every(403), user: per{303, 404, 404}, admin: per{303, 303, 404}},

	{pattern: "GET /admin/devices", path: "/admin/devices", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/devices", path: "/admin/devices", form: url.Values{"user_email": {"bob@example.com"}, "name": {"new"}},
		anonymous: every(403), user: every(404), admin: every(200)},
	{pattern: "GET /admin/devices/new", path: "/admin/devices/new", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "GET /admin/settings", path: "/admin/settings", anonymous: every(303), user: every(404), admin: every(200)},
	// The Settings page's cards, each saving on its own.
	{pattern: "POST /admin/settings/client", path: "/admin/settings/client", form: url.Values{"mtu": {"1400"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/settings/devices", path: "/admin/settings/devices",
		form:      url.Values{"allow_unprivileged_device_management": {"on"}, "allow_unprivileged_device_configuration": {"on"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/settings/session", path: "/admin/settings/session", form: url.Values{"vpn_session_duration": {"0"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/settings/sign-in", path: "/admin/settings/sign-in",
		form:      url.Values{"local_auth_enabled": {"on"}, "magic_link_enabled": {"on"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/settings/email", path: "/admin/settings/email", form: smtpForm,
		anonymous: every(403), user: every(404), admin: every(303)},
	// Nothing listens on port 1: the test email is not sent, and the form says why.
	{pattern: "POST /admin/settings/email/test", path: "/admin/settings/email/test", form: smtpForm,
		anonymous: every(403), user: every(404), admin: every(422)},
	{pattern: "POST /admin/notifications/clear", path: "/admin/notifications/clear",
		anonymous: every(403), user: every(404), admin: every(303)},

	// The Rules page. {rule} and {test} in a path are a new rule and policy test, {user} in a
	// form a user's id. A stale order and a device that is not there (422) got past the guard.
	{pattern: "GET /admin/rules", path: "/admin/rules", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/rules", path: "/admin/rules", form: url.Values{"action": {"accept"}, "destination": {"10.9.0.0/16"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "GET /admin/rules/new", path: "/admin/rules/new", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "GET /admin/rules/{id}", path: "/admin/rules/{rule}", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/rules/{id}", path: "/admin/rules/{rule}", form: url.Values{"action": {"drop"}, "destination": {"10.8.0.0/16"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "GET /admin/rules/{id}/delete", path: "/admin/rules/{rule}/delete", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/rules/{id}/delete", path: "/admin/rules/{rule}/delete", anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/rules/{id}/move", path: "/admin/rules/{rule}/move", form: url.Values{"scope": {"global"}, "by": {"1"}},
		anonymous: every(403), user: every(404), admin: every(422)},
	{pattern: "POST /admin/rules/reorder", path: "/admin/rules/reorder", form: url.Values{"scope": {"global"}, "version": {"old"}},
		anonymous: every(403), user: every(404), admin: every(422)},
	{pattern: "POST /admin/rules/default", path: "/admin/rules/default", form: url.Values{"scope": {"{user}"}, "default_action": {"drop"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "POST /admin/rules/policies", path: "/admin/rules/policies", form: url.Values{"default_action": {"accept"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "GET /admin/rules/explain", path: "/admin/rules/explain?user=nobody@example.com&device=x&destination=10.0.0.1",
		anonymous: every(303), user: every(404), admin: every(422)},
	{pattern: "POST /admin/rules/tests", path: "/admin/rules/tests", form: url.Values{"destination": {"10.0.0.1"}},
		anonymous: every(403), user: every(404), admin: every(422)},
	{pattern: "POST /admin/rules/tests/{id}/delete", path: "/admin/rules/tests/{test}/delete",
		anonymous: every(403), user: every(404), admin: every(303)},

	// The Users page. {newuser} in a path is a user made for the request.
	{pattern: "GET /admin/users", path: "/admin/users", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/users", path: "/admin/users",
		form:      url.Values{"email": {"added@example.com"}, "role": {"user"}, "password": {"a long password"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "GET /admin/users/new", path: "/admin/users/new", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "GET /admin/users/{id}", path: "/admin/users/{newuser}", anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/users/{id}", path: "/admin/users/{newuser}", form: url.Values{"email": {"renamed@example.com"}, "role": {"user"}},
		anonymous: every(403), user: every(404), admin: every(303)},
	{pattern: "GET /admin/users/{id}/delete", path: "/admin/users/{newuser}/delete",
		anonymous: every(303), user: every(404), admin: every(200)},
	{pattern: "POST /admin/users/{id}/delete", path: "/admin/users/{newuser}/delete",
		anonymous: every(403), user: every(404), admin: every(303)},
	// {newuser} has no password, so it may be invited; the mail server (port 1) is not there, and
	// the refusal to send, 422, says the request got past the guard.
	{pattern: "POST /admin/users/{id}/invitation", path: "/admin/users/{newuser}/invitation",
		anonymous: every(403), user: every(404), admin: every(422)},

	{pattern: "/", method: "GET", path: "/no-such-page", anonymous: every(404), user: every(404), admin: every(404)},
	{pattern: "/", method: "POST", path: "/no-such-page", anonymous: every(403), user: every(404), admin: every(404)},
}

// smtpForm is the email settings of a server that is not there.
var smtpForm = url.Values{"host": {"127.0.0.1"}, "port": {"1"}, "tls": {"none"}, "from": {"vpn@example.com"}}

// roleClient is a client signed in as user, or a visitor's when user is nil.
type roleClient struct {
	name string
	user *store.User
	*apptest.Client
}

// TestEveryRouteAnswersEachRoleAsTheTableSays walks the route table: every route × role
// (anonymous, user, admin) × device (own, another user's, missing) × method gets the status
// of its row in authzTable, and every route has a row.
func TestEveryRouteAnswersEachRoleAsTheTableSays(t *testing.T) {
	e := newEnv(t, func(o *app.Options) {
		o.Metrics = &collector.MetricsHandler{Devices: o.Store.(*store.Store).TrackedDevices, Health: o.Live.Health,
			Token: "metrics-token"}
		o.History = &collector.History{URL: "http://127.0.0.1:1"} // nothing listens on port 1
	})
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	if _, err := e.store.UpdateSettings(t.Context(), func(st *store.Settings) error { st.PasswordlessEnabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	e.linksOn(t, "127.0.0.1", 1)

	rows := map[string]bool{}
	for _, row := range authzTable {
		rows[row.pattern] = true
	}
	routes := e.web.RoutePatterns()
	for _, p := range routes {
		if !rows[p] {
			t.Errorf("route %q has no row in authzTable: say what it answers each role", p)
		}
	}
	for p := range rows {
		if !slices.Contains(routes, p) {
			t.Errorf("authzTable has a row for %q, which is no route", p)
		}
	}

	signIn := func(name string, u *store.User) *roleClient {
		c := &roleClient{name: name, user: u, Client: apptest.New(t, e.url)}
		if u == nil {
			c.Get("/login") // its cookie and CSRF token
		} else {
			c.SignIn(u.Email, password)
		}
		return c
	}
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	root := e.user(t, "root@example.com", password, store.RoleAdmin)
	clients := []*roleClient{signIn("anonymous", nil), signIn("user", alice), signIn("admin", root)}
	made := 0 // devices made: each gets a name of its own, as a user's device names are unique
	newDevice := func(owner *store.User, name string) string {
		made++
		return e.device(t, owner, fmt.Sprint(name, " ", made)).ID
	}

	for _, row := range authzTable {
		method, _, ok := strings.Cut(row.pattern, " ")
		if !ok {
			method = row.method
		}
		for i, c := range clients {
			want := []per{row.anonymous, row.user, row.admin}[i]
			objects := []struct {
				name string
				want int
				id   func() string // a new device each time: a request may delete it
			}{
				{"own device", want.own, func() string { return newDevice(ownerOf(c, alice), "own") }},
				{"another user's device", want.others, func() string { return newDevice(bob, "bob's") }},
				{"missing device", want.missing, func() string { return "no-such-device" }},
			}
			if strings.Contains(row.path, "{method}") {
				objects[0].id = func() string { return e.mfaMethod(t, ownerOf(c, alice)) }
				objects[1].id = func() string { return e.mfaMethod(t, bob) }
				objects[2].id = func() string { return "no-such-method" }
			}
			if !strings.Contains(row.path, "{id}") && !strings.Contains(row.path, "{method}") {
				if want != every(want.own) {
					t.Errorf("%s %s: the path names no device, so one status per role, got %+v", method, row.path, want)
				}
				objects = objects[:1]
				objects[0].name, objects[0].id = "", nil
			}
			for _, o := range objects {
				path := row.path
				if o.id != nil {
					path = strings.NewReplacer("{id}", o.id(), "{method}", o.id()).Replace(path)
				}
				if strings.Contains(path, "{rule}") {
					path = strings.ReplaceAll(path, "{rule}", e.rule(t, rules.RuleSpec{Action: "drop", Destination: "192.0.2.0/24"}).ID)
				}
				if strings.Contains(path, "{newuser}") {
					made++
					u := &store.User{Email: fmt.Sprint("member", made, "@example.com")}
					if err := e.store.CreateUser(context.Background(), u); err != nil {
						t.Fatal(err)
					}
					path = strings.ReplaceAll(path, "{newuser}", u.ID)
				}
				if strings.Contains(path, "{test}") {
					made++
					path = strings.ReplaceAll(path, "{test}", e.policyTest(t, e.device(t, bob, fmt.Sprint("tested ", made))).ID)
				}
				form := url.Values{}
				for k, vs := range row.form {
					form[k] = []string{strings.ReplaceAll(vs[0], "{user}", bob.ID)}
				}
				name := strings.TrimSpace(fmt.Sprintf("%s %s as %s %s", method, row.path, c.name, o.name))
				r := c.Answer(method, path, form)
				if r.Status != o.want {
					t.Errorf("%s: got %d, want %d", name, r.Status, o.want)
				}
				if loc := r.Header.Get("Location"); c.user == nil && r.Status == http.StatusSeeOther && loc != "/login" {
					t.Errorf("%s: sent to %q, want /login", name, loc)
				}
				for _, u := range []*store.User{alice, root, bob} { // a second factor would stop the next sign-ins
					e.store.ResetMFA(t.Context(), u.ID)
				}
			}
			if row.pattern == "POST /logout" && c.user != nil {
				clients[i] = signIn(c.name, c.user)
			}
		}
	}
}

// ownerOf is the owner of the role's own device: the role's user, or, for a visitor, alice.
func ownerOf(c *roleClient, alice *store.User) *store.User {
	if c.user == nil {
		return alice
	}
	return c.user
}
