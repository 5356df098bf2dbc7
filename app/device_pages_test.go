package app_test

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"wiregui/app/apptest"
	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg"
)

const password = "right-password"

// signedIn creates a user with role and returns a client signed in as them.
func (e *env) signedIn(t *testing.T, email, role string) (*store.User, *apptest.Client) {
	t.Helper()
	u := e.user(t, email, password, role)
	c := apptest.New(t, e.url)
	c.SignIn(email, password)
	return u, c
}

// device creates a device for owner directly, as the CLI would.
func (e *env) device(t testing.TB, owner *store.User, name string, subnets ...string) *store.Device {
	t.Helper()
	nd := devices.Spec{UserID: owner.ID, Name: name}
	for _, s := range subnets {
		nd.AllowedSubnets = append(nd.AllowedSubnets, netip.MustParsePrefix(s))
	}
	created, err := e.devices.Create(context.Background(), nd)
	if err != nil {
		t.Fatal(err)
	}
	return created.Device
}

func (e *env) stored(t *testing.T, id string) *store.Device {
	t.Helper()
	d, err := e.store.DeviceByID(context.Background(), id)
	if err != nil {
		t.Fatalf("device %s: %v", id, err)
	}
	return d
}

func (e *env) setFlags(t *testing.T, management, configuration bool) {
	t.Helper()
	_, err := e.store.UpdateSettings(context.Background(), func(st *store.Settings) error {
		st.AllowUnprivilegedDeviceManagement, st.AllowUnprivilegedDeviceConfiguration = management, configuration
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// defaultsForm is what a browser posts from an Add or Edit form left as it was shown: every
// client setting prefilled with the environment's default and "Use default" ticked.
func defaultsForm(kv ...string) url.Values {
	form := url.Values{
		"endpoint": {"vpn.example.com:51820"}, "use_default_endpoint": {"on"},
		"dns": {"1.1.1.1"}, "use_default_dns": {"on"},
		"allowed_ips": {"0.0.0.0/0"}, "use_default_allowed_ips": {"on"},
		"mtu": {"1280"}, "use_default_mtu": {"on"},
		"persistent_keepalive": {"25"}, "use_default_persistent_keepalive": {"on"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			form.Del(kv[i])
			continue
		}
		form.Set(kv[i], kv[i+1])
	}
	return form
}

func wantContains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// captures returns what the first group of re matched, at each match in body.
func captures(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func wantLacks(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("%s contains %q", what, u)
		}
	}
}

func TestDevicePageIsForItsOwnerAndAdmins(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, bc := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	dev := e.device(t, alice, "alice-laptop")

	r := ac.Get("/devices")
	wantContains(t, "alice's device list", r.Body, `<a href="/devices/`+dev.ID+`">alice-laptop</a>`)

	r = ac.Get("/devices/" + dev.ID)
	if r.Status != http.StatusOK {
		t.Fatalf("owner: got %d, want 200", r.Status)
	}
	wantContains(t, "the owner's device page", r.Body, "<h1>alice-laptop</h1>", strings.ReplaceAll(dev.PublicKey, "+", "&#43;"), "10.3.2.2", "fd00::3:2:2",
		"Last handshake", "Remote endpoint", "Relay subnets",
		"In effect: <strong>1280</strong> — default from the server environment.",
		`action="/devices/`+dev.ID+`"`, `name="csrf_token"`, `data-dialog="#device-delete-dialog"`)
	wantLacks(t, "the owner's device page", r.Body, "alice@example.com</dd>", `name="allowed_subnets"`)

	for name, path := range map[string]string{"page": "/devices/" + dev.ID, "delete confirmation": "/devices/" + dev.ID + "/delete"} {
		if r := bc.Get(path); r.Status != http.StatusNotFound {
			t.Errorf("another user's %s: got %d, want 404", name, r.Status)
		}
	}
	if r := ac.Get("/devices/no-such-id"); r.Status != http.StatusNotFound {
		t.Errorf("a device that does not exist: got %d, want 404", r.Status)
	}

	r = admin.Get("/devices/" + dev.ID)
	if r.Status != http.StatusOK {
		t.Fatalf("admin: got %d, want 200", r.Status)
	}
	wantContains(t, "the admin's view of alice's device", r.Body, "<dt>Owner</dt><dd>alice@example.com</dd>",
		`name="allowed_subnets"`, `<p class="breadcrumb"><a href="/admin/devices">All Devices</a>`,
		`name="next" value="/admin/devices"`, `href="/devices/`+dev.ID+`/delete?next=/admin/devices"`)

	own := e.device(t, adminUser(t, e), "admin-phone")
	r = admin.Get("/devices/" + own.ID)
	wantContains(t, "the admin's own device", r.Body, `<p class="breadcrumb"><a href="/devices">My Devices</a>`)
	r = admin.Get("/devices/" + own.ID + "?next=/admin/devices")
	wantContains(t, "the admin's own device opened from All Devices", r.Body,
		`<p class="breadcrumb"><a href="/admin/devices">All Devices</a>`)
}

func adminUser(t *testing.T, e *env) *store.User {
	t.Helper()
	u, err := e.store.UserByEmail(context.Background(), "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNavigationShowsAdminPagesToAdminsOnly(t *testing.T) {
	e := newEnv(t)
	alice, user := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	r := admin.Get("/admin/settings")
	wantContains(t, "the admin's navigation", r.Body, `<a href="/devices">My Devices</a>`,
		`<a href="/admin/devices">All Devices</a>`, `<a href="/admin/settings" aria-current="page">Settings</a>`)
	r = user.Get("/devices")
	wantLacks(t, "a user's navigation", r.Body, `href="/admin/`)
	for _, path := range []string{"/admin/devices", "/admin/settings"} {
		if r := user.Get(path); r.Status != http.StatusNotFound {
			t.Errorf("a user's GET %s: got %d, want 404", path, r.Status)
		}
	}
	form := url.Values{"name": {"x"}, "user_id": {alice.ID}, "mtu": {"1400"}, "vpn_session_duration": {"0"},
		"allow_unprivileged_device_management": {"off"}}
	for _, path := range []string{"/admin/devices", "/admin/settings/client", "/admin/settings/devices", "/admin/settings/session"} {
		if r := user.Post(path, form); r.Status != http.StatusNotFound {
			t.Errorf("a user's POST %s: got %d, want 404", path, r.Status)
		}
	}
	if list, _ := e.store.ListDevices(context.Background()); len(list) != 0 {
		t.Errorf("a refused request created %d devices", len(list))
	}
	if st, _ := e.store.Settings(context.Background()); st.ClientDefaults.MTU.Set || !st.AllowUnprivilegedDeviceManagement {
		t.Errorf("a refused request changed the settings: %+v", st)
	}
}

func TestUnprivilegedUsersNeverSetRelaySubnets(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	routed := e.device(t, alice, "router", "192.168.7.0/24")

	for _, path := range []string{"/devices", "/devices/" + routed.ID} {
		if r := c.Get(path); strings.Contains(r.Body, "allowed_subnets") || strings.Contains(r.Body, "Relay subnets (site-to-site)") {
			t.Errorf("%s shows a relay subnets field to an unprivileged user", path)
		}
	}

	r := c.Post("/devices", defaultsForm("name", "sneaky", "allowed_subnets", "192.168.9.0/24"))
	if r.Status != http.StatusOK {
		t.Fatalf("create: got %d", r.Status)
	}
	r = c.Post("/devices/"+routed.ID, defaultsForm("name", "router2", "allowed_subnets", "10.99.0.0/16"))
	if !strings.HasSuffix(r.URL, "/devices/"+routed.ID) || !strings.Contains(r.Body, "Device saved.") {
		t.Fatalf("edit: got %d at %s, want the device page saying it saved", r.Status, r.URL)
	}
	devices, _ := e.store.ListDevicesByUser(context.Background(), alice.ID)
	for _, d := range devices {
		want := []netip.Prefix(nil)
		if d.ID == routed.ID {
			want = []netip.Prefix{netip.MustParsePrefix("192.168.7.0/24")}
			if d.Name != "router2" {
				t.Errorf("the edit was not saved: name %q", d.Name)
			}
		}
		if !slices.Equal(d.AllowedSubnets, want) {
			t.Errorf("device %s: relay subnets %v, want %v", d.Name, d.AllowedSubnets, want)
		}
	}
}

func TestSettingsFlagsOffRefuseUsersChanges(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	dev := e.device(t, alice, "laptop")
	e.setFlags(t, false, false)
	before := len(e.changed)

	r := c.Get("/devices")
	wantContains(t, "the devices page with management off", r.Body, "Your administrator adds and removes devices.")
	wantLacks(t, "the devices page with management off", r.Body, `method="post" action="/devices"`, "Add device")
	r = c.Get("/devices/" + dev.ID)
	wantContains(t, "the device page with configuration off", r.Body, "Your administrator has turned off changes",
		"<dt>MTU</dt><dd><span class=\"mono\">1280</span>")
	wantLacks(t, "the device page with configuration off", r.Body, `action="/devices/`+dev.ID+`"`, "Delete device…", "<dialog")

	for _, tc := range []struct {
		name, method, path string
		form               url.Values
	}{
		{"create", http.MethodPost, "/devices", defaultsForm("name", "new")},
		{"edit", http.MethodPost, "/devices/" + dev.ID, defaultsForm("name", "renamed", "mtu", "1420", "use_default_mtu", "")},
		{"delete", http.MethodPost, "/devices/" + dev.ID + "/delete", url.Values{}},
		{"delete confirmation", http.MethodGet, "/devices/" + dev.ID + "/delete", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r apptest.Response
			if tc.method == http.MethodGet {
				r = c.Get(tc.path)
			} else {
				r = c.Post(tc.path, tc.form)
			}
			if r.Status != http.StatusNotFound {
				t.Errorf("got %d, want 404", r.Status)
			}
		})
	}
	devices, _ := e.store.ListDevices(context.Background())
	if len(devices) != 1 || devices[0].Name != "laptop" || devices[0].Overrides.MTU.Set {
		t.Errorf("refused requests changed the devices: %+v", devices)
	}
	if len(e.changed) != before {
		t.Errorf("refused requests told the reconciler about %q", e.changed[before:])
	}

	// Management on, configuration off: create and delete, but no edit.
	e.setFlags(t, true, false)
	if r := c.Post("/devices/"+dev.ID, defaultsForm("name", "renamed")); r.Status != http.StatusNotFound {
		t.Errorf("edit with configuration off: got %d, want 404", r.Status)
	}
	if r := c.Post("/devices", defaultsForm("name", "new")); r.Status != http.StatusOK {
		t.Errorf("create with management on: got %d, want 200", r.Status)
	}
}

// wgMessage is the message the forms show for a wg parser's error.
func wgMessage(err error) string { return html.EscapeString(text.Sentence(err.Error())) }

func TestOverrideErrorsShowNextToTheFieldAndSaveNothing(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	dev := e.device(t, alice, "laptop")
	_, endpointErr := func() (string, error) { _, _, err := wg.ParseEndpoint("bad host!"); return "", err }()
	_, dnsErr := wg.ParseDNS("not_a domain")
	_, ipsErr := wg.ParseAllowedIPs("10.0.0.1/8")
	_, mtuErr := wg.ParseMTU("100")
	_, keepaliveErr := wg.ParseKeepalive("often")
	for _, tc := range []struct {
		field, typed string
		err          error
	}{
		{"endpoint", "bad host!", endpointErr},
		{"dns", "not_a domain", dnsErr},
		{"allowed_ips", "10.0.0.1/8", ipsErr},
		{"mtu", "100", mtuErr},
		{"persistent_keepalive", "often", keepaliveErr},
	} {
		t.Run(tc.field, func(t *testing.T) {
			if tc.err == nil {
				t.Fatalf("wg accepts %q", tc.typed)
			}
			form := defaultsForm("name", "new-device", tc.field, tc.typed, "use_default_"+tc.field, "")
			for _, target := range []struct{ path, id string }{{"/devices", "device-"}, {"/devices/" + dev.ID, "edit-"}} {
				c.Get(target.path)
				r := c.Post(target.path, form)
				id := target.id + tc.field
				if r.Status != http.StatusUnprocessableEntity {
					t.Errorf("POST %s: got %d, want 422", target.path, r.Status)
				}
				wantContains(t, "POST "+target.path, r.Body,
					`id="`+id+`" name="`+tc.field+`" type="text" value="`+html.EscapeString(tc.typed)+`"`,
					`aria-invalid="true" aria-describedby="`+id+`-error `+id+`-hint"`,
					`<p id="`+id+`-error" class="field-error">`+wgMessage(tc.err)+`</p>`)
				if n := strings.Count(r.Body, `class="field-error"`); n != 1 {
					t.Errorf("POST %s: %d field errors, want 1", target.path, n)
				}
			}
		})
	}
	devices, _ := e.store.ListDevices(context.Background())
	if len(devices) != 1 || devices[0].Name != "laptop" || !equalOverrides(devices[0].Overrides, dev.Overrides) {
		t.Errorf("invalid input changed the devices: %+v", devices)
	}
}

func equalOverrides(a, b store.ClientSettings) bool {
	return a.Endpoint == b.Endpoint && a.MTU == b.MTU && a.PersistentKeepalive == b.PersistentKeepalive &&
		a.DNS.Set == b.DNS.Set && slices.Equal(a.DNS.Value, b.DNS.Value) &&
		a.AllowedIPs.Set == b.AllowedIPs.Set && slices.Equal(a.AllowedIPs.Value, b.AllowedIPs.Value)
}

func TestNameErrorsShowWithOverrideErrors(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	r := c.HTMX("/devices", defaultsForm("name", " ", "mtu", "99999", "use_default_mtu", ""))
	if r.Status != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<html") {
		t.Fatalf("got %d, want the 422 form fragment", r.Status)
	}
	wantContains(t, "the form fragment", r.Body, `<p id="device-name-error" class="field-error">Enter a name for the device.</p>`,
		`id="device-mtu-error"`, "<details class=\"advanced\" open>")
}

func TestUseDefaultKeepsTheTypedValue(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	r := c.Post("/devices", defaultsForm("name", "phone", "mtu", "1420", "dns", "9.9.9.9, 149.112.112.112",
		"use_default_dns", ""))
	if r.Status != http.StatusOK {
		t.Fatalf("create: got %d", r.Status)
	}
	conf := apptest.ConfigFromPage(r.Body)
	wantContains(t, "the configuration", conf, "MTU = 1280", "DNS = 9.9.9.9, 149.112.112.112")
	devices, _ := e.store.ListDevicesByUser(context.Background(), alice.ID)
	o := devices[0].Overrides
	if o.MTU != (store.Optional[int]{Value: 1420}) {
		t.Errorf("MTU override %+v, want the typed 1420 kept, unset", o.MTU)
	}
	if !o.DNS.Set || !slices.Equal(o.DNS.Value, []string{"9.9.9.9", "149.112.112.112"}) {
		t.Errorf("DNS override %+v, want set to the two servers", o.DNS)
	}
	if o.Endpoint.Set || o.Endpoint.Value != "" || o.PersistentKeepalive.Set || o.AllowedIPs.Set {
		t.Errorf("settings left on their default were stored: %+v", o)
	}

	r = c.Get("/devices/" + devices[0].ID)
	wantContains(t, "the device page", r.Body,
		`id="edit-mtu" name="mtu" type="text" value="1420"`,
		`name="use_default_mtu" value="on" data-use-default checked>`,
		`In effect: <strong>1280</strong> — default from the server environment.`,
		`In effect: <strong>9.9.9.9, 149.112.112.112</strong> — set for this device.`)
	wantLacks(t, "the device page", r.Body, `name="use_default_dns" value="on" data-use-default checked>`)
}

func TestEditDevice(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	dev := e.device(t, alice, "laptop")
	c.Get("/devices/" + dev.ID)
	r := c.HTMX("/devices/"+dev.ID, defaultsForm("name", "work laptop", "description", "the grey one",
		"endpoint", "vpn2.example.com", "use_default_endpoint", ""))
	if r.Status != http.StatusOK || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx edit: got %d, want the device-detail fragment:\n%.300s", r.Status, r.Body)
	}
	wantContains(t, "the device-detail fragment", r.Body, `<div id="device-detail">`, "<h1>work laptop</h1>",
		"Device saved.", "the grey one", "In effect: <strong>vpn2.example.com:51820</strong> — set for this device.")
	got := e.stored(t, dev.ID)
	if got.Name != "work laptop" || got.Description != "the grey one" || got.Overrides.Endpoint != store.Some("vpn2.example.com") {
		t.Errorf("stored %q %q %+v", got.Name, got.Description, got.Overrides.Endpoint)
	}
}

func TestAdminCreatesADeviceForAnotherUserWithARelaySubnet(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	_, c := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	r := c.Get("/admin/devices/new")
	wantContains(t, "the Add device page of All Devices", r.Body, `<datalist id="user-emails">`, `<option value="alice@example.com">`,
		`name="user_email"`, `name="allowed_subnets"`, "Relay subnets (site-to-site)")

	form := defaultsForm("user_email", "alice@example.com", "name", "office", "allowed_subnets", "192.168.1.0/24, 10.20.0.0/16")
	r = c.Post("/admin/devices", form)
	if r.Status != http.StatusOK {
		t.Fatalf("create: got %d", r.Status)
	}
	wantContains(t, "the created device", r.Body, `<img class="qr" src="data:image/png;base64,iVBOR`,
		`alt="QR code of the configuration"`, `data-filename="office.conf"`, "Download office.conf",
		`href="/admin/devices">Done — back to all devices`)
	if conf := apptest.ConfigFromPage(r.Body); !strings.Contains(conf, "PrivateKey = ") {
		t.Errorf("no configuration with a private key shown:\n%s", conf)
	}
	devices, _ := e.store.ListDevicesByUser(context.Background(), alice.ID)
	want := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.20.0.0/16")}
	if len(devices) != 1 || devices[0].Name != "office" || !slices.Equal(devices[0].AllowedSubnets, want) {
		t.Fatalf("alice's devices: %+v", devices)
	}
	r = c.Get("/admin/devices")
	wantContains(t, "the All Devices table", r.Body, `<a href="/devices/`+devices[0].ID+`?next=/admin/devices">office</a>`,
		`<td data-label="Owner">alice@example.com</td>`)

	r = c.HTMX("/admin/devices", defaultsForm("user_email", "alice@example.com", "name", "phone"))
	if r.Status != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `<img class="qr"`) ||
		r.Header.Get("HX-Trigger") != "devices-changed" {
		t.Errorf("htmx create: got %d, want the device-created fragment with a QR code and an HX-Trigger", r.Status)
	}

	for owner, message := range map[string]string{"": "Choose an owner.", "nobody@example.com": "No user has this email."} {
		r := c.Post("/admin/devices", defaultsForm("user_email", owner, "name", "stray"))
		if r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, `<p id="device-owner-email-error" class="field-error">`+message) ||
			!strings.Contains(r.Body, `value="stray"`) {
			t.Errorf("owner %q: got %d, want 422 asking for an owner and keeping the name", owner, r.Status)
		}
	}
	r = c.Post("/admin/devices", defaultsForm("user_email", "alice@example.com", "name", "overlap", "allowed_subnets", "10.3.2.0/25"))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="device-allowed-subnets-error"`) {
		t.Errorf("a relay subnet inside the tunnel network: got %d, want 422 next to the field", r.Status)
	}
	if all, _ := e.store.ListDevices(context.Background()); len(all) != 2 {
		t.Errorf("%d devices, want 2: rejected input saved one", len(all))
	}
}

func TestDeleteDeviceAfterConfirmation(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, bc := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	first, second := e.device(t, alice, "first"), e.device(t, alice, "second")

	r := ac.Get("/devices/" + first.ID)
	wantContains(t, "the device page", r.Body, `href="/devices/`+first.ID+`/delete"`, `<dialog id="device-delete-dialog"`,
		`<form method="post" action="/devices/`+first.ID+`/delete">`)
	r = ac.Get("/devices/" + first.ID + "/delete")
	wantContains(t, "the confirmation page", r.Body, "<h1>Delete first?</h1>", `action="/devices/`+first.ID+`/delete"`,
		`name="csrf_token"`, `<a class="btn btn-subtle" href="/devices/`+first.ID+`">Cancel</a>`)

	bc.Get("/devices")
	if r := bc.Post("/devices/"+first.ID+"/delete", nil); r.Status != http.StatusNotFound {
		t.Errorf("another user's delete: got %d, want 404", r.Status)
	}
	e.stored(t, first.ID)

	// An unprivileged user cannot be sent to the admin page.
	r = ac.Post("/devices/"+first.ID+"/delete", url.Values{"next": {"/admin/devices"}})
	if !strings.HasSuffix(r.URL, "/devices") || !strings.Contains(r.Body, "Device first deleted.") {
		t.Errorf("delete landed on %s (%d), want /devices with a message", r.URL, r.Status)
	}
	if _, err := e.store.DeviceByID(context.Background(), first.ID); err == nil {
		t.Error("the device is still stored")
	}

	admin.Get("/admin/devices")
	r = admin.Post("/devices/"+second.ID+"/delete", url.Values{"next": {"/admin/devices"}})
	if !strings.HasSuffix(r.URL, "/admin/devices") {
		t.Errorf("an admin's delete from All Devices landed on %s", r.URL)
	}
	if r := admin.Post("/devices/"+second.ID+"/delete", nil); r.Status != http.StatusNotFound {
		t.Errorf("deleting a deleted device: got %d, want 404", r.Status)
	}

	third := e.device(t, alice, "third")
	r = admin.Post("/devices/"+third.ID+"/delete", url.Values{"next": {"https://evil.example/"}})
	if r.Status != http.StatusOK || !strings.HasPrefix(r.URL, e.url+"/devices") {
		t.Errorf("a delete with a foreign next landed on %s (%d), want /devices", r.URL, r.Status)
	}
}

// A name the user's devices have already, in any letter case, is refused next to the name
// field, on the Add form and on the device page, with what was typed kept; another user may
// have it.
func TestTakenDeviceNameShowsNextToTheName(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	e.device(t, alice, "Laptop")
	phone := e.device(t, alice, "Phone")
	taken := "A device named “Laptop” exists already for this user, and names that differ only in upper and lower case count as the same. Choose another name."
	for _, target := range []struct{ path, id string }{{"/devices", "device-"}, {"/devices/" + phone.ID, "edit-"}} {
		c.Get(target.path)
		r := c.Post(target.path, defaultsForm("name", " laptop "))
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("POST %s: got %d, want 422", target.path, r.Status)
		}
		wantContains(t, "POST "+target.path, r.Body, `<p id="`+target.id+`name-error" class="field-error">`+taken+`</p>`,
			`name="name" type="text" value=" laptop "`)
	}
	if got := e.stored(t, phone.ID); got.Name != "Phone" {
		t.Errorf("the refused rename stored the name %q", got.Name)
	}
	if devs, _ := e.store.ListDevicesByUser(context.Background(), alice.ID); len(devs) != 2 {
		t.Errorf("alice has %d devices, want 2", len(devs))
	}
	_, bob := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)
	bob.Get("/devices")
	if r := bob.Post("/devices", defaultsForm("name", "laptop")); r.Status != http.StatusOK {
		t.Errorf("bob's laptop: got %d, want 200: names are unique per user", r.Status)
	}
}

// While the endpoint new devices get is one that devices on other networks cannot dial, every
// page tells admins how to set it, a new device's configuration says so to whoever made it,
// and the Settings page says where the address came from.
func TestPrivateEndpointIsPointedOut(t *testing.T) {
	e := newEnv(t)
	e.devices.Client.EndpointHost, e.devices.Client.EndpointDetected = "192.168.1.5", true
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	_, user := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	banner := `<div class="banner warning" role="alert"><div class="container">New devices get the endpoint 192.168.1.5:51820, ` +
		`a private address: devices on other networks cannot connect. To fix it, set WG_WG_ENDPOINT_HOST to this server&#39;s ` +
		`public IP address or host name (or the Endpoint default on the Settings page).</div></div>`
	for _, path := range []string{"/devices", "/admin/devices", "/admin/settings"} {
		wantContains(t, "the admin's "+path, admin.Get(path).Body, banner)
	}
	wantLacks(t, "the user's /devices", user.Get("/devices").Body, "New devices get the endpoint")
	wantContains(t, "the Settings page", admin.Get("/admin/settings").Body,
		`placeholder="192.168.1.5:51820"`,
		"Default: <strong>192.168.1.5:51820</strong> — the server&#39;s address on its default route, as WG_WG_ENDPOINT_HOST is not set.")

	r := user.Post("/devices", defaultsForm("name", "phone"))
	wantContains(t, "the user's new configuration", r.Body, `<p class="notice" role="alert">This configuration dials 192.168.1.5:51820, `+
		`a private address: devices on other networks cannot connect. An administrator can set the server&#39;s public address.</p>`)
	admin.Get("/devices")
	r = admin.Post("/devices", defaultsForm("name", "laptop"))
	wantContains(t, "the admin's new configuration", r.Body, "This configuration dials 192.168.1.5:51820, a private address",
		"To fix it, set WG_WG_ENDPOINT_HOST")
	r = admin.Post("/devices", defaultsForm("name", "tablet", "endpoint", "vpn.example.org", "use_default_endpoint", ""))
	wantLacks(t, "a configuration with a public endpoint", r.Body, "This configuration dials")

	// The Endpoint default on the Settings page is what new devices get: public, no banner.
	if _, err := e.store.UpdateSettings(context.Background(), func(st *store.Settings) error {
		st.ClientDefaults.Endpoint = store.Some("vpn.example.org")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantLacks(t, "the admin's /devices with a public default", admin.Get("/devices").Body, "New devices get the endpoint")
}

// The device page says whether the device's tunnel is full or split, and what each means.
func TestDevicePageSaysFullOrSplitTunnel(t *testing.T) {
	e := newEnv(t)
	alice, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	full := e.device(t, alice, "laptop") // the environment's 0.0.0.0/0
	split := e.device(t, alice, "phone")
	if _, err := e.devices.Update(context.Background(), split.ID, func(d *store.Device) error {
		d.Overrides.AllowedIPs = store.Some([]netip.Prefix{netip.MustParsePrefix("10.3.2.0/24")})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	explained := "A <strong>full tunnel</strong> (Allowed IPs <code>0.0.0.0/0, ::/0</code>) sends everything through the"
	for _, tc := range []struct {
		dev         *store.Device
		want, lacks string
	}{
		{full, "<dt>Tunnel</dt><dd>Full: all of the device's traffic goes through the VPN</dd>", "Split:"},
		{split, "<dt>Tunnel</dt><dd>Split: only traffic to its Allowed IPs goes through the VPN</dd>", "Full:"},
	} {
		body := c.Get("/devices/" + tc.dev.ID).Body
		wantContains(t, tc.dev.Name+"'s page", body, tc.want, explained)
		wantLacks(t, tc.dev.Name+"'s page", body, tc.lacks)
	}
}
