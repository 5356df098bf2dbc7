package main

// Access enforced in the kernel, end to end: three independent clients (Debian wireguard-go
// and wg, configured from what the app handed out), a LAN behind client 1 routed as a relay
// subnet, disable/enable, VPN session expiry, and the interface deleted by hand.

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/store"
	"wiregui/wg/wglab"
)

// endpointAddr is the server's underlay address that every client dials: it sits on the
// server namespace's loopback and each client routes to it over its own link.
const endpointAddr = "10.214.255.1"

type lab struct {
	s       *server
	clients [3]*wglab.Client
	ns      [3]*wglab.Namespace
	keys    [3]string
	users   [3]string
	lanNS   *wglab.Namespace
	lanAddr netip.Addr
}

// db opens the server's database, as another process would.
func (s *server) db(t *testing.T) *store.Store {
	t.Helper()
	driver, dsn := s.database()
	st, err := store.Open(context.Background(), store.Options{Driver: driver, DSN: dsn,
		Key: readKey(t, filepath.Join(settingOf(s, "WG_DATA_DIR"), "encryption.key"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// database returns the server's database: its driver and address.
func (s *server) database() (driver, dsn string) {
	if url := settingOf(s, "WG_DATABASE_URL"); url != "" {
		return "postgres", url
	}
	return "sqlite", filepath.Join(settingOf(s, "WG_DATA_DIR"), "wiregui.db")
}

func readKey(t *testing.T, path string) []byte {
	t.Helper()
	key, err := store.ReadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pingOnce sends one ping from ns and reports whether it was answered within a second.
func pingOnce(ns *wglab.Namespace, addr string) bool { return pingWithin(ns, addr, "1") }

// reachesWithin pings addr from ns until it answers, for at most d. The pings are short: the
// first may leave under a session the server forgot with the peer, and be lost; the next goes
// under the new handshake.
func reachesWithin(ns *wglab.Namespace, addr string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if pingWithin(ns, addr, "0.2") {
			return true
		}
	}
	return false
}

// pingWithin sends one ping from ns and reports whether it was answered within seconds.
func pingWithin(ns *wglab.Namespace, addr, seconds string) bool {
	_, err := ns.Exec("ping", "-n", "-c", "1", "-W", seconds, addr)
	return err == nil
}

// latestHandshake returns a client's last handshake with the server, as its own wg sees it.
// (Name the interface: `wg show all` lists every namespace's, as their sockets share a directory.)
func latestHandshake(t *testing.T, c *wglab.Client) string {
	t.Helper()
	return strings.TrimSpace(c.NS.Run(t, "sh", "-c", "wg show "+c.Iface+" latest-handshakes | awk '{print $2}'"))
}

// startLab starts the server on driver ("sqlite" or "postgres") and three clients, each a
// user of its own with one device, connected through the tunnel. users and devices name them
// ("" for the defaults).
func startLab(t *testing.T, driver string, users, devices [3]string, extraEnv ...string) *lab {
	t.Helper()
	wglab.Require(t)
	l := &lab{}
	l.s = startServer(t, driver, nil, append([]string{"WG_WG_ENDPOINT_HOST=" + endpointAddr}, extraEnv...)...)
	l.s.ns.Run(t, "ip", "addr", "add", endpointAddr+"/32", "dev", "lo")
	l.s.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	for i := range 3 {
		l.ns[i] = wglab.NewNamespace(t, fmt.Sprintf("wgt-c%d", i+1))
		srvAddr, _ := wglab.Connect(t, l.s.ns, l.ns[i])
		l.ns[i].Run(t, "ip", "route", "add", endpointAddr+"/32", "via", srvAddr.String())
		l.users[i] = cmp.Or(users[i], fmt.Sprintf("user%d@example.com", i+1))
		password := "password-" + fmt.Sprint(i+1)
		if _, err := l.s.cli(t, "user", "add", "--email", l.users[i], "--password", password); err != nil {
			t.Fatal(err)
		}
		c := apptest.New(t, l.s.url)
		c.SignIn(l.users[i], password)
		r := c.Post("/devices", url.Values{"name": {cmp.Or(devices[i], fmt.Sprintf("client %d", i+1))}})
		conf := apptest.ConfigFromPage(r.Body)
		if !strings.Contains(conf, "Endpoint = "+endpointAddr+":51820") {
			t.Fatalf("client %d config:\n%s", i+1, conf)
		}
		l.clients[i] = wglab.StartClient(t, l.ns[i], wglab.UniqueName("wgc"), []byte(conf))
	}
	for i := range 3 {
		if err := l.clients[i].Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
			t.Fatalf("client %d: %v", i+1, err)
		}
	}
	return l
}

func TestAccessIsEnforcedInTheKernel(t *testing.T) {
	l := startLab(t, "sqlite", [3]string{}, [3]string{})
	t.Run("relay subnet behind client 1 is reachable from the server", func(t *testing.T) { l.relay(t) })
	t.Run("disable cuts one client at once and leaves the others alone", func(t *testing.T) { l.disableEnable(t) })
	t.Run("session expiry cuts and a new sign-in restores", func(t *testing.T) { l.expiry(t) })
	t.Run("a deleted interface is recreated with all peers", func(t *testing.T) { l.recreate(t) })
	t.Run("100 concurrent device creations", func(t *testing.T) { l.concurrentCreates(t) })
}

var deviceLink = regexp.MustCompile(`href="/devices/([0-9a-f-]{36})[?"]`)

func (l *lab) relay(t *testing.T) {
	l.lanNS = wglab.NewNamespace(t, "wgt-lan")
	c1Addr, lanAddr := wglab.Connect(t, l.ns[0], l.lanNS)
	l.lanAddr = lanAddr
	lanNet := netip.PrefixFrom(lanAddr, 30).Masked()
	l.ns[0].Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.lanNS.Run(t, "ip", "route", "add", "10.3.2.0/24", "via", c1Addr.String())

	admin := apptest.New(t, l.s.url)
	admin.SignIn(adminEmail, adminPassword)
	page := admin.Get("/admin/devices")
	var id string
	for _, m := range deviceLink.FindAllStringSubmatch(page.Body, -1) {
		if d := admin.Get("/devices/" + m[1]); strings.Contains(d.Body, "client 1") {
			id = m[1]
		}
	}
	if id == "" {
		t.Fatalf("client 1's device is not linked from /admin/devices")
	}
	form := url.Values{"name": {"client 1"}, "allowed_subnets": {lanNet.String()}}
	for _, f := range []string{"allowed_ips", "dns", "endpoint", "mtu", "persistent_keepalive"} {
		form.Set("use_default_"+f, "on")
	}
	if r := admin.Post("/devices/"+id, form); r.Status != http.StatusOK {
		t.Fatalf("set relay subnet: %d\n%.500s", r.Status, r.Body)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !pingOnce(l.s.ns, lanAddr.String()) {
		if time.Now().After(deadline) {
			routes, _ := l.s.ns.Exec("ip", "route")
			t.Fatalf("the LAN %s behind client 1 is unreachable from the server\nroutes:\n%s", lanAddr, routes)
		}
	}
	if out := l.s.ns.Run(t, "ip", "route", "show", lanNet.String()); !strings.Contains(out, l.s.iface) {
		t.Errorf("route to %s is %q, want via %s", lanNet, out, l.s.iface)
	}
}

func (l *lab) disableEnable(t *testing.T) {
	// The collector records every client's endpoint within a poll of its first handshake.
	st := l.s.db(t)
	waitFor(t, 5*time.Second, "the collector recorded every client's endpoint", func() bool {
		devices, err := st.ListDevices(context.Background())
		if err != nil || len(devices) != 3 {
			return false
		}
		for _, d := range devices {
			if d.RemoteEndpoint == "" {
				return false
			}
		}
		return true
	})
	before1, before3 := latestHandshake(t, l.clients[0]), latestHandshake(t, l.clients[2])
	if _, err := l.s.cli(t, "user", "disable", l.users[1]); err != nil {
		t.Fatal(err)
	}
	disabled := time.Now()
	key2 := l.clientKey(t, 1)
	l.s.waitPeers(t, time.Second, func(p []string) bool { return !slices.Contains(p, key2) && len(p) == 2 })
	t.Logf("figure: disable → peer removed: %s", time.Since(disabled).Round(time.Millisecond))
	if pingOnce(l.ns[1], tunnelServer) {
		t.Error("client 2 still reaches the server after its user was disabled")
	}
	for _, i := range []int{0, 2} {
		if !pingOnce(l.ns[i], tunnelServer) {
			t.Errorf("client %d lost its tunnel when client 2 was disabled", i+1)
		}
	}
	if after1, after3 := latestHandshake(t, l.clients[0]), latestHandshake(t, l.clients[2]); after1 != before1 || after3 != before3 {
		t.Errorf("clients 1 and 3 made a new handshake (%s→%s, %s→%s)", before1, after1, before3, after3)
	}

	// The endpoint the collector stored is its last poll's: missing until its first one (60 s
	// with the in-process stats loop), old once the client moved. The server comes back to
	// where it last heard the client itself.
	forgetEndpoint(t, st, key2)
	if _, err := l.s.cli(t, "user", "enable", l.users[1]); err != nil {
		t.Fatal(err)
	}
	enabled := time.Now()
	if !reachesWithin(l.ns[1], tunnelServer, time.Second) {
		dump, _ := exec.Command("wg", "show", l.s.iface, "dump").CombinedOutput()
		var stored []string
		devices, _ := l.s.db(t).ListDevices(context.Background())
		for _, d := range devices {
			stored = append(stored, fmt.Sprintf("%s=%s rx=%d hs=%v", d.Name, d.RemoteEndpoint, d.RxBytes, d.LatestHandshake))
		}
		t.Fatalf("client 2 has no tunnel 1s after its user was enabled; stored endpoints %v; server:\n%s\nclient:\n%s",
			stored, dump, l.clients[1].Show(t))
	}
	t.Logf("figure: enable → client traffic flows again: %s", time.Since(enabled).Round(time.Millisecond))
}

func (l *lab) expiry(t *testing.T) {
	st := l.s.db(t)
	ctx := context.Background()
	setSession := func(d time.Duration) {
		t.Helper()
		if _, err := st.UpdateSettings(ctx, func(s *store.Settings) error { s.VPNSessionDuration = d; return nil }); err != nil {
			t.Fatal(err)
		}
		l.s.proc.Signal(syscall.SIGHUP) // what a settings change in the UI does: apply now
	}
	// Everyone signed in more than 2 s ago: all three sessions are over at once.
	setSession(2 * time.Second)
	t.Cleanup(func() { setSession(0) })
	l.s.waitPeers(t, time.Second, func(p []string) bool { return len(p) == 0 })
	if pingOnce(l.ns[2], tunnelServer) {
		t.Error("client 3 still reaches the server after its session expired")
	}

	c := apptest.New(t, l.s.url)
	c.SignIn(l.users[2], "password-3")
	signedIn := time.Now()
	key3 := l.clientKey(t, 2)
	l.s.waitPeers(t, time.Second, func(p []string) bool { return len(p) == 1 && p[0] == key3 })
	if !reachesWithin(l.ns[2], tunnelServer, time.Second) {
		t.Error("client 3 has no tunnel 1s after signing in again")
	}
	// The renewed session runs out 2 s after the sign-in, and the peer goes then.
	l.s.waitPeers(t, 3*time.Second, func(p []string) bool { return len(p) == 0 })
	if late := time.Since(signedIn) - 2*time.Second; late > time.Second {
		t.Errorf("the peer was removed %s after the session ended, want within 1s", late)
	}
	time.Sleep(2 * time.Second) // more reconciles: the expiry must still be reported once
	notes, err := st.OpenNotifications(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	perUser := map[string]int{}
	for _, n := range notes {
		if n.Kind == "vpn_session_expired" {
			perUser[n.UserID]++
		}
	}
	if len(perUser) != 3 {
		t.Errorf("expiry notifications for %d users, want 3: %+v", len(perUser), notes)
	}
	for u, n := range perUser {
		if n > 2 { // user 3: once for the first session, once for the renewed one
			t.Errorf("user %s got %d expiry notifications", u, n)
		}
	}
}

func (l *lab) recreate(t *testing.T) {
	// Back from the expiry test: sessions never expire again, and every peer returns.
	l.s.waitPeers(t, time.Second, func(p []string) bool { return len(p) == 3 })
	l.s.ns.Run(t, "ip", "link", "del", l.s.iface)
	deleted := time.Now()
	deadline := deleted.Add(2*time.Second + 2*time.Second) // one reconcile interval, plus slack
	for {
		out, err := l.s.ns.Exec("ip", "link", "show", l.s.iface)
		if err == nil && strings.Contains(out, "UP") {
			if peers := l.s.peers(t); len(peers) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("interface not back with 3 peers %s after deleting it", time.Since(deleted))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("interface recreated with all peers after %s", time.Since(deleted).Round(time.Millisecond))
	for i := range 3 {
		if err := l.clients[i].Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
			t.Errorf("client %d after the interface came back: %v", i+1, err)
		}
	}
	// The server knew where each client was and sent it a handshake at once; left to the
	// clients, traffic would wait for their 15 s handshake retry.
	back := time.Since(deleted)
	t.Logf("figure: interface deleted by hand to traffic from all three clients: %s", back.Round(time.Millisecond))
	if back > 6*time.Second {
		t.Errorf("traffic came back %s after the interface was deleted, want it within a reconcile interval and a handshake", back.Round(time.Millisecond))
	}
}

func (l *lab) concurrentCreates(t *testing.T) {
	admin := apptest.New(t, l.s.url)
	admin.SignIn(adminEmail, adminPassword)
	var wg sync.WaitGroup
	statuses := make(chan int, 100)
	for i := range 100 {
		wg.Go(func() {
			r := admin.Post("/devices", url.Values{"name": {fmt.Sprintf("bulk %d", i)}})
			statuses <- r.Status
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("a concurrent creation answered %d", s)
		}
	}
	list := l.s.devices(t)
	seen := map[string]bool{}
	for _, d := range list {
		if seen[d.IPv4] || seen[d.IPv6] {
			t.Fatalf("address %s/%s handed out twice", d.IPv4, d.IPv6)
		}
		seen[d.IPv4], seen[d.IPv6] = true, true
	}
	if len(list) != 103 {
		t.Errorf("got %d devices, want 103", len(list))
	}
	l.s.waitPeers(t, 3*time.Second, func(p []string) bool { return len(p) == 103 })
}

// forgetEndpoint removes a device's stored endpoint, as if the collector had never seen it.
func forgetEndpoint(t *testing.T, st *store.Store, publicKey string) {
	t.Helper()
	ctx := context.Background()
	devices, err := st.TrackedDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		if d.PublicKey == publicKey {
			stats := d.DeviceStats
			stats.RemoteEndpoint = ""
			if err := st.UpdateDeviceStats(ctx, []store.StatsUpdate{{PublicKey: publicKey, DeviceStats: stats}}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no device has the key %s", publicKey)
}

// clientKey returns the public key of client i as its own wg reports it.
func (l *lab) clientKey(t *testing.T, i int) string {
	t.Helper()
	return strings.TrimSpace(l.ns[i].Run(t, "wg", "show", l.clients[i].Iface, "public-key"))
}
