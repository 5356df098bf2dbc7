package app_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"wiregui/app/dataplane"
	"wiregui/store"
)

// TestKeysNoPeerCanHaveAreRefused: the server's own public key (it is in every downloaded
// configuration) and low-order points never reach the database.
func TestKeysNoPeerCanHaveAreRefused(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	server, err := e.store.ServerKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	orderEight := []byte{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x80}
	for name, tc := range map[string]struct{ key, message string }{
		"the server's own key": {server.PublicKey, "This is the server&#39;s public key."},
		"a low-order point":    {base64.StdEncoding.EncodeToString(orderEight), "Public key is a low-order point"},
		"all zeros":            {base64.StdEncoding.EncodeToString(make([]byte, 32)), "Public key must not be all zeros."},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.Post("/devices", url.Values{"name": {"phone"}, "public_key": {tc.key}})
			if r.Status != http.StatusUnprocessableEntity {
				t.Errorf("got %d, want 422", r.Status)
			}
			wantContains(t, "the form", r.Body, tc.message)
		})
	}
	if _, total, err := e.store.ListDevicesPage(context.Background(), store.DeviceQuery{Limit: 10}); err != nil || total != 0 {
		t.Errorf("%d devices stored (err %v), want none", total, err)
	}
}

// TestDevicesNotAppliedAreShownToAdmins: a device the data plane leaves out, or whose row
// does not read, is named with the reason on All Devices and its page, to admins only, and
// counted on /healthz; the rest of the pages work.
func TestDevicesNotAppliedAreShownToAdmins(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	left, damaged, fine := e.device(t, alice, "left-out"), e.device(t, alice, "damaged"), e.device(t, alice, "fine")
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE devices SET ipv4 = 'garbage' WHERE id = $1`, damaged.ID); err != nil {
		t.Fatal(err)
	}
	e.wg = dataplane.Status{Enabled: true, NotApplied: map[string]string{left.ID: "the public key is the server's own"}}

	r := admin.Get("/admin/devices")
	if r.Status != http.StatusOK {
		t.Fatalf("All Devices with a damaged row: got %d, want 200", r.Status)
	}
	wantStates(t, "All Devices", r.Body, map[string]string{"left-out": "not applied: the public key is the server's own",
		"damaged": `not applied: its IPv4 address "garbage" is invalid`, "fine": ""})
	wantContains(t, "the left-out device's page", admin.Get("/devices/"+left.ID).Body,
		"<strong>Not applied:</strong> the public key is the server&#39;s own.")
	wantLacks(t, "a sound device's page", admin.Get("/devices/"+fine.ID).Body, "Not applied")
	wantContains(t, "an admin's page", admin.Get("/devices").Body, "1 device is not applied to WireGuard; All Devices says why.")
	wantLacks(t, "the owner's list", ac.Get("/devices").Body, "not applied")
	wantLacks(t, "the owner's page", ac.Get("/devices/"+left.ID).Body, "Not applied")

	r = ac.Post("/devices/"+damaged.ID, url.Values{"name": {"renamed"}})
	wantContains(t, "an edit of the damaged device", r.Body, "stored data is damaged")
	if d := e.stored(t, damaged.ID); d.Name != "damaged" {
		t.Errorf("the damaged device was written: name %q", d.Name)
	}

	resp, err := http.Get(e.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		Status    string `json:"status"`
		WireGuard struct {
			NotApplied int `json:"devices_not_applied"`
		} `json:"wireguard"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	if health.Status != "degraded" || health.WireGuard.NotApplied != 1 {
		t.Errorf("/healthz: status %q, %d devices not applied; want degraded and 1", health.Status, health.WireGuard.NotApplied)
	}
}
