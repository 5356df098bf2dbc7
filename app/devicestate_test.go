package app_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"wiregui/store"
)

// deviceRowState matches a row of a device table: the device's name, then what its Name
// cell says after it.
var deviceRowState = regexp.MustCompile(`<tr id="device-[^"]*"><td data-label="Name"><a [^>]*>([^<]*)</a>(.*?)</td>`)

var tags = regexp.MustCompile(`<[^>]*>`)

// deviceStates is what each device table row in body says of its device's state, as text
// (a screen reader's, the visually hidden colon included), by device name; "" for a device
// it says nothing of.
func deviceStates(t *testing.T, body string) map[string]string {
	t.Helper()
	states := map[string]string{}
	for _, m := range deviceRowState.FindAllStringSubmatch(body, -1) {
		states[html.UnescapeString(m[1])] = html.UnescapeString(tags.ReplaceAllString(m[2], ""))
	}
	return states
}

// wantStates fails the test unless the device rows of body say want, and no other row is listed.
func wantStates(t *testing.T, what, body string, want map[string]string) {
	t.Helper()
	got := deviceStates(t, body)
	for name, w := range want {
		if s, ok := got[name]; !ok {
			t.Errorf("%s: no row of %s", what, name)
		} else if s != w {
			t.Errorf("%s: %s says %q, want %q", what, name, s, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: a row of %s, which it should not list", what, name)
		}
	}
}

const (
	ownerDisabledSays  = "owner disabled: not connected until the owner is enabled again"
	sessionExpiredSays = "session expired: not connected until the owner signs in again"
)

// setSession sets how long a sign-in keeps a user's devices connected (0: for ever).
func (e *env) setSession(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := e.store.UpdateSettings(context.Background(), func(st *store.Settings) error {
		st.VPNSessionDuration = d
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceStatesSayWhyADeviceIsNotLive: All Devices, a user's page and the device's page
// say of each device that is not a live peer why, in the same words: its owner is disabled,
// its owner's VPN session expired, or (to admins only) the data plane left it out; My Devices
// says the first two to the owner; the state follows the owner and the settings.
func TestDeviceStatesSayWhyADeviceIsNotLive(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.setSession(t, time.Hour)
		ann, annc := e.signedIn(t, "ann@example.com", store.RoleUnprivileged)
		bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
		cat, catc := e.signedIn(t, "cat@example.com", store.RoleUnprivileged)
		_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		e.device(t, ann, "ann-laptop")
		left := e.device(t, ann, "ann-left-out")
		bobPhone := e.device(t, bob, "bob-phone")
		e.device(t, cat, "cat-tablet")
		if err := e.store.SetUserDisabled(ctx, bob.ID, new(time.Now())); err != nil {
			t.Fatal(err)
		}
		// cat signed in two hours ago: her session ended an hour ago, her web session goes on.
		if err := e.store.RecordSignIn(ctx, cat.ID, "password", time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		e.wg.Enabled, e.wg.NotApplied = true, map[string]string{left.ID: "the public key is the server's own"}

		all := map[string]string{"ann-laptop": "", "ann-left-out": "not applied: the public key is the server's own",
			"bob-phone": ownerDisabledSays, "cat-tablet": sessionExpiredSays}
		r := admin.Get("/admin/devices")
		if r.Status != http.StatusOK {
			t.Fatalf("All Devices: %d", r.Status)
		}
		wantStates(t, "All Devices", r.Body, all)
		if strings.Count(r.Body, `<span class="sr-only">:</span>`) != 3 {
			t.Errorf("All Devices: the colon between a state's word and its reason is not there for screen readers 3 times")
		}
		r = admin.HTMXGet("/admin/devices?sort=owner")
		wantStates(t, "All Devices refreshed by htmx", r.Body, all)

		for _, tc := range []struct {
			user *store.User
			want map[string]string
		}{
			{ann, map[string]string{"ann-laptop": "", "ann-left-out": all["ann-left-out"]}},
			{bob, map[string]string{"bob-phone": ownerDisabledSays}},
			{cat, map[string]string{"cat-tablet": sessionExpiredSays}},
		} {
			r := admin.Get("/admin/users/" + tc.user.ID)
			if r.Status != http.StatusOK {
				t.Fatalf("%s's page: %d", tc.user.Email, r.Status)
			}
			wantStates(t, tc.user.Email+"'s page", r.Body, tc.want)
		}
		wantContains(t, "cat's page", admin.Get("/admin/users/"+cat.ID).Body,
			"Active, but their VPN session has expired: their devices are disconnected until they sign in again")
		wantContains(t, "bob-phone's page", admin.Get("/devices/"+bobPhone.ID).Body,
			"<strong>Owner disabled:</strong> not connected until the owner is enabled again.")

		// The owners: cat is told her session expired; ann is not told what only admins are.
		wantStates(t, "cat's My Devices", catc.Get("/devices").Body, map[string]string{"cat-tablet": sessionExpiredSays})
		wantStates(t, "ann's My Devices", annc.Get("/devices").Body, map[string]string{"ann-laptop": "", "ann-left-out": ""})

		// Disabling ann on her page answers with her devices held by it.
		admin.Get("/admin/users/" + ann.ID)
		r = admin.HTMX("/admin/users/"+ann.ID, url.Values{"email": {"ann@example.com"}, "role": {"user"}, "disabled": {"on"}})
		if r.Status != http.StatusOK {
			t.Fatalf("disabling ann: %d", r.Status)
		}
		wantStates(t, "ann's page, disabled", r.Body, map[string]string{"ann-laptop": ownerDisabledSays, "ann-left-out": ownerDisabledSays})

		// Sessions that never expire, bob and ann enabled, the data plane content: every device is live.
		e.setSession(t, 0)
		for _, u := range []*store.User{ann, bob} {
			if err := e.store.SetUserDisabled(ctx, u.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		e.wg.NotApplied = nil
		wantStates(t, "All Devices, all live", admin.Get("/admin/devices").Body,
			map[string]string{"ann-laptop": "", "ann-left-out": "", "bob-phone": "", "cat-tablet": ""})
		wantLacks(t, "bob-phone's page, live", admin.Get("/devices/"+bobPhone.ID).Body, "Owner disabled")
		wantLacks(t, "cat's page, live", admin.Get("/admin/users/"+cat.ID).Body, "session has expired")
	})
}

// ownerNote is the Add device form's note on its owner field, saying warning.
func ownerNote(warning string) string {
	return `<p id="device-owner-note" class="field-warning">` + html.EscapeString(warning) + `</p>`
}

// TestAddDeviceWarnsOfAnOwnerWhoKeepsItOff: the Add device form on All Devices says, for the
// owner it names (from a table of their devices, or asked again when the field changes),
// that a disabled owner keeps the device off until enabled and an expired session until they
// sign in; the device is created all the same, and its configuration says it again. On My
// Devices, a user whose VPN session expired is told the same of themself.
func TestAddDeviceWarnsOfAnOwnerWhoKeepsItOff(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.setSession(t, time.Hour)
		e.setFlags(t, true, true)
		_, annc := e.signedIn(t, "ann@example.com", store.RoleUnprivileged)
		bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
		cat, catc := e.signedIn(t, "cat@example.com", store.RoleUnprivileged)
		_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
		if err := e.store.SetUserDisabled(ctx, bob.ID, new(time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := e.store.RecordSignIn(ctx, cat.ID, "password", time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		const (
			bobDisabled = "bob@example.com is disabled: the device will not connect until they are enabled again."
			catExpired  = "cat@example.com's VPN session has expired: the device connects once they sign in again."
			selfExpired = "Your VPN session has expired: the device connects once you sign in again."
		)

		wantContains(t, "All Devices of bob", admin.Get("/admin/devices?owner=bob%40example.com").Body,
			`href="/admin/devices/new?user_email=bob%40example.com"`)
		for _, tc := range []struct{ email, note string }{
			{"bob@example.com", bobDisabled},
			{"CAT@example.com", catExpired},
			{"ann@example.com", ""},
			{"nobody@example.com", ""},
			{"not an email", ""},
		} {
			r := admin.Get("/admin/devices/new?" + url.Values{"user_email": {tc.email}}.Encode())
			if r.Status != http.StatusOK {
				t.Fatalf("the Add device form for %s: %d", tc.email, r.Status)
			}
			wantContains(t, "the Add device form for "+tc.email, r.Body, ownerNote(tc.note),
				`value="`+html.EscapeString(tc.email)+`"`)
		}

		// A refused form still warns; a good one creates the device, and says it again.
		r := admin.HTMX("/admin/devices", defaultsForm("user_email", "bob@example.com", "name", ""))
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("an Add device form without a name: %d, want 422", r.Status)
		}
		wantContains(t, "the refused form", r.Body, ownerNote(bobDisabled), `id="device-name-error"`)
		admin.Get("/admin/devices")
		r = admin.HTMX("/admin/devices", defaultsForm("user_email", "bob@example.com", "name", "phone"))
		if r.Status != http.StatusOK {
			t.Fatalf("an Add device form for bob: %d, want 200: a warning, not a refusal", r.Status)
		}
		wantContains(t, "bob's new device", r.Body, `<p class="notice" role="alert">`+html.EscapeString(bobDisabled)+`</p>`, `id="device-config"`)
		if _, err := e.store.DeviceByName(ctx, bob.ID, "phone"); err != nil {
			t.Errorf("bob's new device: %v", err)
		}
		admin.Get("/admin/devices")
		r = admin.HTMX("/admin/devices", defaultsForm("user_email", "ann@example.com", "name", "phone"))
		wantLacks(t, "ann's new device", r.Body, "is disabled", "has expired")

		// cat is told of her own session, on her form and with her new device; ann is not.
		wantContains(t, "cat's Add device form", catc.Get("/devices/new").Body, `<p class="notice" role="status">`+selfExpired+`</p>`)
		r = catc.HTMX("/devices", defaultsForm("name", "tablet"))
		wantContains(t, "cat's new device", r.Body, `<p class="notice" role="alert">`+selfExpired+`</p>`)
		wantLacks(t, "ann's Add device form", annc.Get("/devices/new").Body, "has expired", `id="device-owner-note"`)
	})
}
