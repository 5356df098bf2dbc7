package main

// One bad device row stops nobody: rows that no WireGuard peer can have, written straight
// into the database as a restore, a hand edit or an older version would, are left out and
// named to admins, while access control keeps working for everyone else, across a restart
// too, on both databases, with real clients.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/store/storetest"
)

func TestOneBadDeviceRowStopsNobody(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) { badRows(t, driver) })
	}
}

func badRows(t *testing.T, driver string) {
	l := startLab(t, driver, [3]string{}, [3]string{})
	serverKey := strings.TrimSpace(l.s.ns.Run(t, "wg", "show", l.s.iface, "public-key"))
	key1 := l.clientKey(t, 0)
	var ip1 string
	for _, d := range l.s.devices(t) {
		if d.PublicKey == key1 {
			ip1 = d.IPv4
		}
	}
	orderEight := []byte{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}
	// Each bad row, owned by user 3, and the reason an admin reads for it.
	bad := []struct{ name, set, reason string }{
		{"own-key", "public_key = '" + serverKey + "'", "the public key is the server&#39;s own"},
		{"zero-key", "public_key = '" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "'", "public key must not be all zeros"},
		{"weak-key", "public_key = '" + base64.StdEncoding.EncodeToString(orderEight) + "'", "public key is a low-order point"},
		{"taken-key", "public_key = ' " + key1 + "'", "the public key is also another peer&#39;s"},
		{"taken-address", "allowed_subnets = '" + ip1 + "/32'", "overlaps the tunnel network"},
		{"default-route", "allowed_subnets = '0.0.0.0/0'", "default route"},
		{"garbage", "ipv4 = 'garbage'", "its IPv4 address &#34;garbage&#34; is invalid"},
	}
	// No form, command or API takes such a key; the database is the only way in.
	out, err := l.s.cli(t, "device", "add", "--user", l.users[2], "--name", "sneaky", "--public-key", serverKey)
	if err == nil || !strings.Contains(err.Error(), "server's public key") {
		t.Errorf("device add with the server's key: err %v, output %q; want it refused", err, out)
	}
	db := l.sqlDB(t)
	for _, b := range bad {
		if _, err := l.s.cli(t, "device", "add", "--user", l.users[2], "--name", b.name); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("UPDATE devices SET "+b.set+" WHERE name = $1", b.name); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	l.s.proc.Signal(syscall.SIGHUP) // apply the database now, as after a restore
	waitFor(t, 10*time.Second, "healthz counts every bad device", func() bool {
		n, status := l.notApplied(t)
		return n == len(bad) && status == "degraded"
	})

	for i := range 3 {
		if !reachesWithin(l.ns[i], tunnelServer, 2*time.Second) {
			t.Errorf("client %d lost its tunnel to the bad rows", i+1)
		}
	}
	admin := apptest.New(t, l.s.url)
	admin.SignIn(adminEmail, adminPassword)
	page := admin.Get("/admin/devices?owner=" + l.users[2])
	for _, b := range bad {
		if !strings.Contains(page.Body, `<span class="badge badge-warn">not applied</span>`) || !strings.Contains(page.Body, b.reason) {
			t.Errorf("All Devices does not say why %s is not applied (%q)", b.name, b.reason)
		}
	}

	// Access control still works for everyone else: disabling user 2 cuts client 2 at once.
	if _, err := l.s.cli(t, "user", "disable", l.users[1]); err != nil {
		t.Fatal(err)
	}
	key2 := l.clientKey(t, 1)
	l.s.waitPeers(t, time.Second, func(p []string) bool { return !slices.Contains(p, key2) })
	if pingOnce(l.ns[1], tunnelServer) {
		t.Error("client 2 still reaches the server after its user was disabled")
	}
	for _, i := range []int{0, 2} {
		if !pingOnce(l.ns[i], tunnelServer) {
			t.Errorf("client %d lost its tunnel when client 2 was disabled", i+1)
		}
	}
	time.Sleep(3 * time.Second) // more reconcile passes (every 2 s): each bad row is still logged once
	if n := strings.Count(l.s.proc.Output(), "device not applied"); n != len(bad) {
		t.Errorf("%d log lines say a device is not applied, want one per bad row (%d)", n, len(bad))
	}

	// A restart brings the interface up whole: key, port, address, and every good peer.
	if err := l.s.proc.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	l.s.start(t)
	waitFor(t, 10*time.Second, "the interface is up after the restart", func() bool {
		out, err := l.s.ns.Exec("ip", "-o", "addr", "show", "dev", l.s.iface)
		return err == nil && strings.Contains(out, " 10.3.2.1/24 ")
	})
	if port := strings.TrimSpace(l.s.ns.Run(t, "wg", "show", l.s.iface, "listen-port")); port != "51820" {
		t.Errorf("listen port after the restart %s, want 51820", port)
	}
	if key := strings.TrimSpace(l.s.ns.Run(t, "wg", "show", l.s.iface, "public-key")); key != serverKey {
		t.Errorf("server key after the restart %s, want %s", key, serverKey)
	}
	for _, i := range []int{0, 2} {
		if !reachesWithin(l.ns[i], tunnelServer, 5*time.Second) {
			t.Errorf("client %d has no tunnel after the restart", i+1)
		}
	}
	if pingOnce(l.ns[1], tunnelServer) {
		t.Error("client 2 reaches the server after the restart, although its user is disabled")
	}
	if n, _ := l.notApplied(t); n != len(bad) {
		t.Errorf("after the restart healthz counts %d devices not applied, want %d", n, len(bad))
	}
}

// notApplied returns what /healthz says: how many devices are not applied, and the status.
func (l *lab) notApplied(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(l.s.url + "/healthz")
	if err != nil {
		return -1, ""
	}
	defer resp.Body.Close()
	var h struct {
		Status    string `json:"status"`
		WireGuard struct {
			NotApplied int `json:"devices_not_applied"`
		} `json:"wireguard"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return -1, ""
	}
	return h.WireGuard.NotApplied, h.Status
}

// sqlDB opens the server's database directly, to write what no form would accept.
func (l *lab) sqlDB(t *testing.T) *sql.DB {
	t.Helper()
	driver, dsn := l.s.database()
	name := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[driver]
	db, err := sql.Open(name, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}
