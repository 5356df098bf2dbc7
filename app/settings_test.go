package app_test

import (
	"context"
	"fmt"

	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/store"
)

// The Settings page's cards, each a form of its own: where it posts, its fields, and what
// it says once saved.
type settingsCardUnderTest struct {
	id, path, saved string
	fields          []string
}

var settingsCardsUnderTest = []settingsCardUnderTest{
	{"client-settings", "/admin/settings/client", "Client defaults saved.",
		[]string{"endpoint", "dns", "allowed_ips", "mtu", "persistent_keepalive"}},
	{"device-settings", "/admin/settings/devices", "Device settings saved.",
		[]string{"allow_unprivileged_device_management", "allow_unprivileged_device_configuration"}},
	{"session-settings", "/admin/settings/session", "VPN session duration saved.", []string{"vpn_session_duration"}},
	{"signin-settings", "/admin/settings/sign-in", "Sign-in settings saved.",
		[]string{"local_auth_enabled", "magic_link_enabled", "passwordless_enabled", "mfa_required"}},
	{"email-settings", "/admin/settings/email", "Email settings saved.",
		[]string{"host", "port", "tls", "username", "password", "from"}},
}

// switches is a card's switches as a browser sends them: name=off from the hidden input
// before each box, then name=on from the box when it is ticked.
func switches(on map[string]bool) url.Values {
	v := url.Values{}
	for name, ticked := range on {
		v[name] = []string{"off"}
		if ticked {
			v.Add(name, "on")
		}
	}
	return v
}

// merged is the union of forms; a later form's field replaces an earlier one's.
func merged(forms ...url.Values) url.Values {
	out := url.Values{}
	for _, f := range forms {
		for k, v := range f {
			out[k] = v
		}
	}
	return out
}

// settingsState is every setting the Settings page shows, the firewall's too, as text that
// compares whole.
func settingsState(t *testing.T, e *env) string {
	t.Helper()
	st, err := e.store.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.store.MailSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%+v\n%+v", st, m)
}

// startAwayFromDefaults sets every card's settings, and the firewall's, to values that are
// no default and none a test form sends, so that a save that wrote another card's settings
// shows.
func startAwayFromDefaults(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.rules.UpdateSettings(ctx, func(st *store.Settings) error {
		st.ClientDefaults = store.ClientSettings{Endpoint: store.Some("start.example.com"), DNS: store.Some([]string{"192.0.2.53"}),
			MTU: store.Some(1400), PersistentKeepalive: store.Some(40)}
		st.VPNSessionDuration = 7 * 24 * time.Hour
		st.AllowUnprivilegedDeviceManagement, st.AllowUnprivilegedDeviceConfiguration = false, true
		st.PasswordlessEnabled, st.MFARequired, st.LocalAuthEnabled, st.MagicLinkEnabled = true, true, true, false
		st.Firewall = store.FirewallSettings{PeerToPeer: true, DefaultAction: store.ActionDrop}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateMailSettings(ctx, func(m *store.MailSettings) error {
		*m = store.MailSettings{Host: "smtp.start.example.com", Port: 587, TLS: "starttls", Username: "start",
			Password: "start smtp pw", From: "start@example.com"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// staleForm is what an old page sends for every field of every card: the Settings page of
// before, when one form held most of them, or a card's form from a page loaded long ago.
// None of its values is a current one.
var staleForm = merged(url.Values{"endpoint": {"stale.example.com"}, "dns": {"203.0.113.53"}, "allowed_ips": {"10.99.0.0/16"},
	"mtu": {"1300"}, "persistent_keepalive": {"15"}, "vpn_session_duration": {"3600"},
	"host": {"smtp.stale.example.com"}, "port": {"2525"}, "tls": {"none"}, "username": {"stale"}, "password": {"stale smtp pw"},
	"from": {"stale@example.com"}},
	switches(map[string]bool{"allow_unprivileged_device_management": true, "allow_unprivileged_device_configuration": false,
		"passwordless_enabled": false, "mfa_required": false, "local_auth_enabled": false, "magic_link_enabled": true}))

// Each card saves its own settings and nothing else: the form of one card that also carries
// every other card's fields with other values (an old page's form) changes that card's
// settings only, the firewall's neither. The htmx answer is the card alone with its own
// confirmation, and the server applies the change at once.
func TestEachSettingsCardSavesOnItsOwn(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		startAwayFromDefaults(t, e)
		ctx := context.Background()
		for _, tc := range []struct {
			card      string
			form      url.Values                // the card's own fields
			change    func(*store.Settings)     // what the form changes
			mail      func(*store.MailSettings) // what the email card's form changes
			reconcile bool                      // the reconciler looks at everyone at once
		}{
			{card: "client-settings", reconcile: true,
				form: url.Values{"endpoint": {""}, "dns": {"9.9.9.9, 149.112.112.112"}, "allowed_ips": {"10.0.0.0/8, 192.168.0.0/16"},
					"mtu": {"1420"}, "persistent_keepalive": {"30"}},
				change: func(st *store.Settings) {
					st.ClientDefaults = store.ClientSettings{DNS: store.Some([]string{"9.9.9.9", "149.112.112.112"}),
						AllowedIPs: store.Some(prefixes("10.0.0.0/8", "192.168.0.0/16")), MTU: store.Some(1420),
						PersistentKeepalive: store.Some(30)}
				}},
			{card: "device-settings",
				form: switches(map[string]bool{"allow_unprivileged_device_management": true, "allow_unprivileged_device_configuration": false}),
				change: func(st *store.Settings) {
					st.AllowUnprivilegedDeviceManagement, st.AllowUnprivilegedDeviceConfiguration = true, false
				}},
			{card: "session-settings", reconcile: true, form: url.Values{"vpn_session_duration": {"86400"}},
				change: func(st *store.Settings) { st.VPNSessionDuration = 24 * time.Hour }},
			{card: "signin-settings",
				form: switches(map[string]bool{"local_auth_enabled": true, "magic_link_enabled": true, "passwordless_enabled": false,
					"mfa_required": false}),
				change: func(st *store.Settings) {
					st.MagicLinkEnabled, st.PasswordlessEnabled, st.MFARequired = true, false, false
				}},
			{card: "email-settings",
				form: url.Values{"host": {"smtp.example.com"}, "port": {""}, "tls": {"tls"}, "username": {""}, "password": {""},
					"clear_password": {"on"}, "from": {"vpn@example.com"}},
				mail: func(m *store.MailSettings) {
					*m = store.MailSettings{Host: "smtp.example.com", TLS: "tls", From: "vpn@example.com"}
				}},
		} {
			t.Run(tc.card, func(t *testing.T) {
				card := settingsCardsUnderTest[slices.IndexFunc(settingsCardsUnderTest,
					func(c settingsCardUnderTest) bool { return c.id == tc.card })]
				st, _ := e.store.Settings(ctx)
				m, _ := e.store.MailSettings(ctx)
				if tc.change != nil {
					tc.change(&st)
				}
				if tc.mail != nil {
					tc.mail(&m)
				}
				want := fmt.Sprintf("%+v\n%+v", st, m)

				c.Get("/admin/settings")
				before := len(e.changed)
				r := c.HTMX(card.path, merged(staleForm, tc.form))
				if r.Status != http.StatusOK {
					t.Fatalf("save: got %d\n%s", r.Status, r.Body)
				}
				wantContains(t, "the answer", r.Body, `<section class="card" id="`+card.id+`"`,
					`<div class="flash" role="status" tabindex="-1" data-focus>`+card.saved+`</div>`)
				for _, other := range settingsCardsUnderTest {
					if other.id != card.id {
						wantLacks(t, "the answer", r.Body, `id="`+other.id+`"`, other.saved)
					}
				}
				wantLacks(t, "the answer", r.Body, "<html", "Notifications")
				if got := settingsState(t, e); got != want {
					t.Errorf("saved\n%s\nwant\n%s", got, want)
				}
				got := e.changed[before:]
				if tc.reconcile && !slices.Equal(got, []string{""}) || !tc.reconcile && len(got) != 0 {
					t.Errorf("the reconciler was told about %q; want everyone once: %v", got, tc.reconcile)
				}
			})
		}
	})
}

// prefixes parses networks for a test.
func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// A card's form changes only what it sends: a field it does not send keeps its saved value,
// so that a form from an old page (the sign-in card before it held the two-factor switches,
// whose boxes sent nothing when unticked) or a script never turns a setting off by leaving
// it out. The old one-form route is gone, and a form without the CSRF token changes nothing.
func TestSettingsFormsKeepWhatTheyDoNotSend(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		startAwayFromDefaults(t, e)
		ctx := context.Background()
		unchanged := func(t *testing.T, what, want string) {
			t.Helper()
			if got := settingsState(t, e); got != want {
				t.Errorf("%s changed the settings:\n%s\nwant\n%s", what, got, want)
			}
		}

		for _, tc := range []struct {
			name, path string
			form       url.Values
			change     func(*store.Settings, *store.MailSettings)
		}{
			{"one client setting", "/admin/settings/client", url.Values{"mtu": {"1380"}},
				func(st *store.Settings, _ *store.MailSettings) { st.ClientDefaults.MTU = store.Some(1380) }},
			{"the sign-in card of before", "/admin/settings/sign-in", url.Values{"local_auth_enabled": {"on"}}, nil},
			{"a device card without its switches", "/admin/settings/devices", url.Values{}, nil},
			{"a session card without its duration", "/admin/settings/session", url.Values{}, nil},
			{"one email setting", "/admin/settings/email", url.Values{"host": {"smtp2.example.com"}},
				func(_ *store.Settings, m *store.MailSettings) { m.Host = "smtp2.example.com" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, _ := e.store.Settings(ctx)
				m, _ := e.store.MailSettings(ctx)
				if tc.change != nil {
					tc.change(&st, &m)
				}
				c.Get("/admin/settings")
				if r := c.HTMX(tc.path, tc.form); r.Status != http.StatusOK {
					t.Fatalf("got %d\n%s", r.Status, r.Body)
				}
				unchanged(t, tc.name, fmt.Sprintf("%+v\n%+v", st, m))
			})
		}

		want := settingsState(t, e)
		c.Get("/admin/settings")
		if r := c.Post("/admin/settings", staleForm); r.Status != http.StatusNotFound {
			t.Errorf("the old one-form route: got %d, want 404", r.Status)
		}
		unchanged(t, "the old one-form route", want)
		for _, card := range settingsCardsUnderTest {
			req, _ := http.NewRequest(http.MethodPost, e.url+card.path, strings.NewReader(staleForm.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if r := c.Do(req); r.Status != http.StatusForbidden {
				t.Errorf("%s without the CSRF token: got %d, want 403", card.path, r.Status)
			}
		}
		unchanged(t, "forms without the CSRF token", want)
	})
}

// A refused card names every bad field at once, keeps what was typed, saves nothing; without
// htmx the whole page shows the card so, and every other card as saved.
func TestSettingsCardsNameEveryBadField(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		startAwayFromDefaults(t, e)
		want := settingsState(t, e)
		badClient := url.Values{"endpoint": {"vpn.example.com:99999"}, "dns": {"1.1.1.1, not a name"},
			"allowed_ips": {"10.0.0.0/33"}, "mtu": {"70000"}, "persistent_keepalive": {"-1"}}
		for _, tc := range []struct {
			name, path string
			form       url.Values
			errors     map[string]string // element id → the start of its message
		}{
			{"every client setting", "/admin/settings/client", badClient, map[string]string{
				"settings-endpoint":             `Port "99999" in "vpn.example.com:99999" is not between 1 and 65535.`,
				"settings-dns":                  `"not a name" is not an IP address or search domain`,
				"settings-allowed_ips":          `"10.0.0.0/33" has prefix length "33"; it must be a number from 0 to 32.`,
				"settings-mtu":                  `MTU "70000" is not between 1280 and 9000.`,
				"settings-persistent_keepalive": `Persistent keepalive "-1" is not a whole number.`,
			}},
			{"an unlisted duration", "/admin/settings/session", url.Values{"vpn_session_duration": {"12345"}},
				map[string]string{"settings-session": "Choose one of the listed durations."}},
			{"a negative duration", "/admin/settings/session", url.Values{"vpn_session_duration": {"-3600"}},
				map[string]string{"settings-session": "Choose one of the listed durations."}},
			{"no way to sign in", "/admin/settings/sign-in",
				switches(map[string]bool{"local_auth_enabled": false, "magic_link_enabled": false}),
				map[string]string{"signin-local": "Keep password sign-in on, or turn sign-in links on"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c.Get("/admin/settings")
				r := c.HTMX(tc.path, tc.form)
				if r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("got %d, want 422\n%s", r.Status, r.Body)
				}
				got := fieldErrors(r.Body)
				if len(got) != len(tc.errors) {
					t.Errorf("messages %q, want one for each of %d fields", got, len(tc.errors))
				}
				for id, message := range tc.errors {
					if !strings.HasPrefix(got[id], message) || got[id] == "" {
						t.Errorf("%s says %q, want %q", id, got[id], message)
					}
					wantContains(t, "the answer", r.Body, `aria-invalid="true" aria-describedby="`+id+`-error `+id+`-hint"`)
				}
				wantLacks(t, "the answer", r.Body, "<html", "saved.")
				settingsUnchanged(t, e, want)
			})
		}

		// Without htmx: the whole page, the client card as typed with its messages, the
		// others as saved.
		c.Get("/admin/settings")
		r := c.Post("/admin/settings/client", badClient)
		if r.Status != http.StatusUnprocessableEntity || len(fieldErrors(r.Body)) != 5 {
			t.Fatalf("got %d with %q, want 422 with 5 messages", r.Status, fieldErrors(r.Body))
		}
		wantContains(t, "the page", r.Body, "<html", `id="settings-mtu" name="mtu" type="text" value="70000"`,
			`id="settings-dns" name="dns" type="text" value="1.1.1.1, not a name"`,
			`<option value="604800" selected>1 week</option>`, `id="smtp-host" name="host" type="text" value="smtp.start.example.com"`,
			`id="signin-mfa" name="mfa_required" value="on" aria-describedby="signin-mfa-hint" checked>`)
		settingsUnchanged(t, e, want)
	})
}

func settingsUnchanged(t *testing.T, e *env, want string) {
	t.Helper()
	if got := settingsState(t, e); got != want {
		t.Errorf("a refused form changed the settings:\n%s\nwant\n%s", got, want)
	}
}

// A client setting left empty uses its default: the field shows it as a placeholder (a hint,
// styled so: TestBrowserSettingsCardsSaveOnTheirOwn), and under it "Default: …" and where
// the default comes from, which the field names as its description. A saved value is the
// field's value. Saved without htmx, the page comes back with the card's confirmation, and
// a new device's form offers the saved defaults.
func TestSettingsShowDefaultsAsHints(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		_, c := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		page := c.Get("/admin/settings").Body
		for _, f := range []struct{ name, placeholder, shown string }{
			{"endpoint", "vpn.example.com:51820", "vpn.example.com:51820"},
			{"dns", "1.1.1.1", "1.1.1.1"},
			{"allowed_ips", "0.0.0.0/0", "0.0.0.0/0"},
			{"mtu", "1280", "1280"},
			{"persistent_keepalive", "25", "25 seconds"},
		} {
			id := "settings-" + f.name
			wantContains(t, "the Settings page", page,
				`<input id="`+id+`" name="`+f.name+`" type="text" value="" class="mono"`,
				`placeholder="`+f.placeholder+`" aria-describedby="`+id+`-hint">`,
				`<span class="effective">Default: <strong>`+f.shown+`</strong> — from the server&#39;s environment.</span></p>`)
			if !strings.Contains(page, `<p id="`+id+`-hint" class="hint">`) {
				t.Errorf("%s has no hint element for its aria-describedby", id)
			}
		}
		wantLacks(t, "the Settings page", page, "In effect")
		wantContains(t, "the Settings page", page, `<option value="0" selected>Never expires</option>`,
			`<input type="hidden" name="allow_unprivileged_device_management" value="off">`,
			`id="settings-management" name="allow_unprivileged_device_management" value="on" aria-describedby="settings-management-hint" checked>`,
			`id="smtp-port" name="port" type="text" value="" autocomplete="off" spellcheck="false"`,
			`placeholder="587, 465 or 25"`, "Default: 587 for STARTTLS, 465 for TLS, 25 for none.")

		r := c.Post("/admin/settings/client", url.Values{"endpoint": {""}, "dns": {"9.9.9.9"}, "allowed_ips": {""},
			"mtu": {"1420"}, "persistent_keepalive": {""}})
		if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/admin/settings") {
			t.Fatalf("save without htmx: got %d at %s", r.Status, r.URL)
		}
		wantContains(t, "the page after saving", r.Body, `<div class="flash" role="status">Client defaults saved.</div>`,
			`id="settings-mtu" name="mtu" type="text" value="1420" class="mono"`,
			`id="settings-dns" name="dns" type="text" value="9.9.9.9" class="mono"`,
			`id="settings-allowed_ips" name="allowed_ips" type="text" value="" class="mono"`)
		wantContains(t, "a new device's form", c.Get("/devices/new").Body,
			"In effect: <strong>1420</strong> — default from settings.", `id="device-mtu" name="mtu" type="text" value="1420"`)
	})
}
