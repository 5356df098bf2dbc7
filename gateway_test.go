package main

// The gateway end to end, with real packets: two users' full-tunnel clients (Debian
// wireguard-go and wg, configured from what the app handed out), the server in its own
// namespace, an "internet" namespace whose hosts have no route back to the tunnel networks, a
// LAN behind client 1 (a relay subnet) and a host on the server's own LAN. Rules and settings
// change through the CLI, as a script would; the server applies each at once.

import (
	"context"
	endian "encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"wiregui/app/apptest"
	"wiregui/wg"
	"wiregui/wg/wglab"
)

// gateway is the lab of the gateway tests.
type gateway struct {
	s    *server
	inet *wglab.Namespace
	// inet4 and inet6 are the internet host's addresses; it has no route to the tunnels.
	inet4, inet6 netip.Addr
	clients      [2]*gwClient
}

type gwClient struct {
	ns     *wglab.Namespace
	wg     *wglab.Client
	user   string
	v4, v6 netip.Addr // tunnel addresses
}

// internet services: every port answers TCP and echoes; UDP is not needed.
var inetPorts = []int{80, 443, 8080, 9000}

func startGateway(t *testing.T, extraEnv ...string) *gateway {
	t.Helper()
	wglab.Require(t)
	g := &gateway{}
	g.s = startServer(t, "sqlite", nil, append([]string{"WG_WG_ENDPOINT_HOST=" + endpointAddr,
		"WG_WG_ALLOWED_IPS=0.0.0.0/0, ::/0"}, extraEnv...)...)
	g.s.ns.Run(t, "ip", "addr", "add", endpointAddr+"/32", "dev", "lo")

	// The internet: reached through the server, knowing nothing of the tunnel networks.
	g.inet = wglab.NewNamespace(t, "wgt-inet")
	srvSide, inetSide := wglab.Connect(t, g.s.ns, g.inet)
	g.inet4 = inetSide
	g.inet6 = netip.MustParseAddr("fd99:1::2")
	srvLink, inetLink := linkTo(t, g.s.ns, srvSide), linkTo(t, g.inet, inetSide)
	g.s.ns.Run(t, "ip", "-6", "addr", "add", "fd99:1::1/64", "dev", srvLink, "nodad")
	g.inet.Run(t, "ip", "-6", "addr", "add", "fd99:1::2/64", "dev", inetLink, "nodad")
	for _, a := range []netip.Addr{g.inet4, g.inet6} {
		for _, port := range inetPorts {
			serveEcho(t, g.inet, netip.AddrPortFrom(a, uint16(port)))
		}
	}

	for i := range g.clients {
		c := &gwClient{ns: wglab.NewNamespace(t, fmt.Sprintf("wgt-g%d", i+1)), user: fmt.Sprintf("gw%d@example.com", i+1)}
		srvAddr, _ := wglab.Connect(t, g.s.ns, c.ns)
		c.ns.Run(t, "ip", "route", "add", endpointAddr+"/32", "via", srvAddr.String())
		if _, err := g.s.cli(t, "user", "add", "--email", c.user, "--password", "password-"+fmt.Sprint(i+1)); err != nil {
			t.Fatal(err)
		}
		conf := g.addDevice(t, c.user, fmt.Sprintf("laptop %d", i+1))
		c.wg = wglab.StartClient(t, c.ns, wglab.UniqueName("wgg"), []byte(conf))
		for _, a := range c.wg.Addresses {
			if a.Addr().Is4() {
				c.v4 = a.Addr()
			} else {
				c.v6 = a.Addr()
			}
		}
		g.clients[i] = c
	}
	for i, c := range g.clients {
		if err := c.wg.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
			t.Fatalf("client %d: %v", i+1, err)
		}
	}
	return g
}

// addDevice adds a device for user through the CLI and returns its client configuration.
func (g *gateway) addDevice(t *testing.T, user, name string) string {
	t.Helper()
	out, err := g.s.cli(t, "device", "add", "--user", user, "--name", name, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ Config string }
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("device add --json: %v\n%s", err, out)
	}
	return added.Config
}

// rule adds a rule through the CLI and returns its id.
func (g *gateway) rule(t *testing.T, args ...string) string {
	t.Helper()
	out, err := g.s.cli(t, append([]string{"rule", "add"}, args...)...)
	if err != nil {
		t.Fatalf("rule add %q: %v", args, err)
	}
	return strings.TrimSpace(out)
}

func (g *gateway) deleteRule(t *testing.T, id string) {
	t.Helper()
	if _, err := g.s.cli(t, "rule", "delete", id); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) settings(t *testing.T, kv ...string) {
	t.Helper()
	if _, err := g.s.cli(t, append([]string{"settings", "set"}, kv...)...); err != nil {
		t.Fatalf("settings set %q: %v", kv, err)
	}
}

// linkTo returns the name of ns's link that has addr.
func linkTo(t *testing.T, ns *wglab.Namespace, addr netip.Addr) string {
	t.Helper()
	out := ns.Run(t, "ip", "-o", "-4", "addr", "show", "to", addr.String())
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("no link with %s in %s: %q", addr, ns.Name, out)
	}
	return strings.TrimSuffix(f[1], ":")
}

// serveEcho answers TCP on addr inside ns, echoing what it reads, until the test ends.
func serveEcho(t *testing.T, ns *wglab.Namespace, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
}

// connects reports whether a TCP connection from ns to addr opens within a short while.
func connects(ns *wglab.Namespace, addr netip.AddrPort) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	c, err := ns.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// becomes waits until connects(ns, addr) is want, and returns how long that took; it fails
// the test after within.
func becomes(t *testing.T, ns *wglab.Namespace, addr netip.AddrPort, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if connects(ns, addr) == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("a connection from %s to %s: still %v after %s", ns.Name, addr, !want, within)
		}
	}
}

func ap(a netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(a, uint16(port)) }

func TestGateway(t *testing.T) {
	g := startGateway(t)
	c1, c2 := g.clients[0], g.clients[1]

	t.Run("full tunnel reaches the internet through masquerade", func(t *testing.T) {
		for _, c := range g.clients {
			for _, a := range []netip.Addr{g.inet4, g.inet6} {
				if !connects(c.ns, ap(a, 443)) {
					t.Errorf("%s cannot reach %s through the gateway", c.user, ap(a, 443))
				}
				if err := c.ns.Ping(a, 3*time.Second); err != nil {
					t.Errorf("%s cannot ping %s: %v", c.user, a, err)
				}
			}
		}
		if out := g.s.ns.Run(t, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"); strings.Fields(out)[0] != "1" || strings.Fields(out)[1] != "1" {
			t.Errorf("forwarding in the server's namespace: %q, want 1 and 1", out)
		}
	})

	t.Run("a user's drop rule blocks that port within 1 s, and nothing else", func(t *testing.T) {
		for _, a := range []netip.Addr{g.inet4, g.inet6} {
			id := g.rule(t, "--action", "drop", "--destination", netip.PrefixFrom(a, a.BitLen()).String(),
				"--protocol", "tcp", "--ports", "8080", "--user", c1.user)
			took := becomes(t, c1.ns, ap(a, 8080), false, 3*time.Second)
			t.Logf("figure: rule saved → %s blocked: %s", ap(a, 8080), took.Round(time.Millisecond))
			if took > time.Second {
				t.Errorf("the rule took %s to apply, want within 1 s", took)
			}
			if !connects(c1.ns, ap(a, 9000)) {
				t.Errorf("another port of the same host is blocked too")
			}
			if !connects(c2.ns, ap(a, 8080)) {
				t.Errorf("the other user is blocked by %s's rule", c1.user)
			}
			g.deleteRule(t, id)
			becomes(t, c1.ns, ap(a, 8080), true, 3*time.Second)
		}
	})

	t.Run("a global rule applies to everyone", func(t *testing.T) {
		id := g.rule(t, "--action", "drop", "--destination", g.inet4.String()+"/32", "--protocol", "tcp", "--ports", "80-443")
		for _, c := range g.clients {
			becomes(t, c.ns, ap(g.inet4, 443), false, 3*time.Second)
			if connects(c.ns, ap(g.inet4, 80)) {
				t.Errorf("%s reaches port 80, the range's first", c.user)
			}
			if !connects(c.ns, ap(g.inet4, 8080)) {
				t.Errorf("%s is blocked outside the range", c.user)
			}
		}
		g.deleteRule(t, id)
		becomes(t, c1.ns, ap(g.inet4, 443), true, 3*time.Second)
	})

	t.Run("priority decides and a reorder flips it", func(t *testing.T) {
		accept := g.rule(t, "--action", "accept", "--destination", g.inet4.String()+"/32", "--priority", "10", "--user", c1.user)
		drop := g.rule(t, "--action", "drop", "--destination", g.inet4.String()+"/32", "--priority", "20", "--user", c1.user)
		defer g.deleteRule(t, accept)
		defer g.deleteRule(t, drop)
		if !connects(c1.ns, ap(g.inet4, 9000)) {
			t.Error("the accept rule at priority 10 does not win over the drop at 20")
		}
		g.moveRule(t, c1.user, drop, -1) // the drop before the accept, as an admin drags it
		took := becomes(t, c1.ns, ap(g.inet4, 9000), false, 3*time.Second)
		t.Logf("figure: reorder saved → the connection refused: %s", took.Round(time.Millisecond))
	})

	t.Run("default action drop blocks what no rule accepts", func(t *testing.T) {
		g.settings(t, "default_action=drop")
		defer func() {
			g.settings(t, "default_action=accept")
			becomes(t, c1.ns, ap(g.inet4, 443), true, 3*time.Second)
		}()
		becomes(t, c1.ns, ap(g.inet6, 443), false, 3*time.Second)
		id := g.rule(t, "--action", "accept", "--destination", g.inet6.String()+"/128", "--protocol", "tcp", "--ports", "443", "--user", c1.user)
		defer g.deleteRule(t, id)
		becomes(t, c1.ns, ap(g.inet6, 443), true, 3*time.Second)
		if connects(c1.ns, ap(g.inet6, 80)) || connects(c2.ns, ap(g.inet6, 443)) {
			t.Error("with default drop, a port or a user no rule accepts gets through")
		}
	})

	t.Run("peer-to-peer is off by default and on when allowed", func(t *testing.T) {
		serveEcho(t, c2.ns, ap(c2.v4, 7000))
		serveEcho(t, c2.ns, ap(c2.v6, 7000))
		for _, a := range []netip.Addr{c2.v4, c2.v6} {
			if connects(c1.ns, ap(a, 7000)) {
				t.Errorf("client 1 reaches client 2 at %s with peer-to-peer off", a)
			}
		}
		g.settings(t, "allow_peer_to_peer=true")
		defer g.settings(t, "allow_peer_to_peer=false")
		for _, a := range []netip.Addr{c2.v4, c2.v6} {
			becomes(t, c1.ns, ap(a, 7000), true, 3*time.Second)
		}
	})

	t.Run("LAN to peers is off by default and on when allowed", func(t *testing.T) {
		// A host on the server's own network, with a route to the tunnel through it.
		lan := wglab.NewNamespace(t, "wgt-slan")
		srvAddr, _ := wglab.Connect(t, g.s.ns, lan)
		lan.Run(t, "ip", "route", "add", "10.3.2.0/24", "via", srvAddr.String())
		serveEcho(t, c1.ns, ap(c1.v4, 7001))
		if connects(lan, ap(c1.v4, 7001)) {
			t.Error("a LAN host opens a connection to a device with LAN to peers off")
		}
		g.settings(t, "allow_lan_to_peers=true")
		defer g.settings(t, "allow_lan_to_peers=false")
		becomes(t, lan, ap(c1.v4, 7001), true, 3*time.Second)
	})

	t.Run("another user's rule change keeps a running transfer", func(t *testing.T) {
		conn, err := c2.ns.DialContext(context.Background(), "tcp", ap(g.inet4, 9000).String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var moved atomic.Int64
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 32<<10)
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write(buf); err != nil {
					done <- err
					return
				}
				n, err := io.ReadFull(conn, buf)
				moved.Add(int64(n))
				if err != nil {
					done <- err
					return
				}
			}
		}()
		for i := range 5 {
			id := g.rule(t, "--action", "drop", "--destination", fmt.Sprintf("198.51.100.%d/32", i), "--user", c1.user)
			time.Sleep(300 * time.Millisecond)
			g.deleteRule(t, id)
		}
		before := moved.Load()
		time.Sleep(500 * time.Millisecond)
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("client 2's transfer broke while client 1's rules changed: %v", err)
		}
		if moved.Load() == before {
			t.Error("client 2's transfer stalled")
		}
	})

	t.Run("drift is repaired within an interval", func(t *testing.T) {
		id := g.rule(t, "--action", "drop", "--destination", g.inet4.String()+"/32", "--protocol", "tcp", "--ports", "8080", "--user", c1.user)
		defer g.deleteRule(t, id)
		becomes(t, c1.ns, ap(g.inet4, 8080), false, 3*time.Second)
		g.s.ns.Run(t, "nft", "add", "table", "inet", "other")
		g.s.ns.Run(t, "nft", "add", "chain", "inet", "other", "seen", "{ type filter hook forward priority 10; policy accept; }")
		g.s.ns.Run(t, "nft", "add", "rule", "inet", "other", "seen", "counter")
		foreign := g.s.ns.Run(t, "nft", "list", "table", "inet", "other")

		// Each change by hand is undone within an interval (2 s) and a pass; the probes do
		// not race the repair (it may come first), the table's text and the packets say it.
		g.s.ns.Run(t, "nft", "delete", "table", "inet", "wiregui")
		g.tableBecomes(t, func(text string, err error) bool { return err == nil }, 3*time.Second)
		becomes(t, c1.ns, ap(g.inet4, 8080), false, time.Second)

		g.s.ns.Run(t, "nft", "insert", "rule", "inet", "wiregui", "forward", "accept", "comment", `"by hand"`)
		g.tableBecomes(t, func(text string, err error) bool { return err == nil && !strings.Contains(text, "by hand") }, 3*time.Second)
		becomes(t, c1.ns, ap(g.inet4, 8080), false, time.Second)
		if !connects(c1.ns, ap(g.inet4, 80)) {
			t.Error("after the repairs, client 1 cannot reach port 80, which no rule drops")
		}
		if got := g.s.ns.Run(t, "nft", "list", "table", "inet", "other"); withoutCounters(got) != withoutCounters(foreign) {
			t.Errorf("the foreign table changed:\n%s\nwas\n%s", got, foreign)
		}
	})

	t.Run("a relay subnet's traffic obeys its owner's rules", func(t *testing.T) {
		lan := wglab.NewNamespace(t, "wgt-glan")
		c1Addr, lanAddr := wglab.Connect(t, c1.ns, lan)
		lanNet := netip.PrefixFrom(lanAddr, 30).Masked()
		c1.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		lan.Run(t, "ip", "route", "add", "default", "via", c1Addr.String())
		g.setRelaySubnet(t, c1.user, lanNet)
		if !connects(lan, ap(g.inet4, 443)) {
			t.Error("the LAN behind client 1 cannot reach the internet")
		}
		rid := g.rule(t, "--action", "drop", "--destination", g.inet4.String()+"/32", "--user", c1.user)
		defer g.deleteRule(t, rid)
		becomes(t, lan, ap(g.inet4, 443), false, 3*time.Second)
	})
}

// tableBecomes waits until ok accepts the server's table inet wiregui as nft lists it.
func (g *gateway) tableBecomes(t *testing.T, ok func(text string, err error) bool, within time.Duration) {
	t.Helper()
	var text string
	var err error
	for start := time.Now(); time.Since(start) < within; time.Sleep(50 * time.Millisecond) {
		if text, err = g.s.ns.Exec("nft", "list", "table", "inet", "wiregui"); ok(text, err) {
			return
		}
	}
	t.Fatalf("table inet wiregui not repaired within %s: %v\n%s", within, err, text)
}

// admin returns a web client signed in as the admin.
func (g *gateway) admin(t *testing.T) *apptest.Client {
	t.Helper()
	c := apptest.New(t, g.s.url)
	c.SignIn(adminEmail, adminPassword)
	return c
}

// setRelaySubnet gives user's one device the relay subnet, through the admin's device form.
func (g *gateway) setRelaySubnet(t *testing.T, user string, subnet netip.Prefix) {
	t.Helper()
	st := g.s.db(t)
	u, err := st.UserByEmail(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	owned, err := st.ListDevicesByUser(context.Background(), u.ID)
	if err != nil || len(owned) != 1 {
		t.Fatalf("%s's devices: %d, %v", user, len(owned), err)
	}
	form := url.Values{"name": {owned[0].Name}, "allowed_subnets": {subnet.String()}}
	for _, f := range []string{"allowed_ips", "dns", "endpoint", "mtu", "persistent_keepalive"} {
		form.Set("use_default_"+f, "on")
	}
	admin := g.admin(t)
	admin.Get("/devices/" + owned[0].ID)
	if r := admin.Post("/devices/"+owned[0].ID, form); r.Status != http.StatusOK {
		t.Fatalf("set relay subnet: %d\n%.500s", r.Status, r.Body)
	}
}

// moveRule moves one of user's rules by places, as the Rules page's move buttons do.
func (g *gateway) moveRule(t *testing.T, user, id string, by int) {
	t.Helper()
	u, err := g.s.db(t).UserByEmail(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	admin := g.admin(t)
	page := admin.Get("/admin/rules?user=" + url.QueryEscape(user))
	m := regexp.MustCompile(`name="version" value="([^"]*)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no order version on the rules page:\n%.1000s", page.Body)
	}
	r := admin.Post("/admin/rules/"+id+"/move", url.Values{"scope": {u.ID}, "version": {html.UnescapeString(m[1])}, "by": {fmt.Sprint(by)}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Order saved.") {
		t.Fatalf("move rule: %d\n%.1000s", r.Status, r.Body)
	}
}

// TestGatewayReusedAddressInheritsNothing: a new device on the address of a deleted one
// obeys its own owner's rules, not the old owner's.
func TestGatewayReusedAddressInheritsNothing(t *testing.T) {
	g := startGateway(t)
	c1, c2 := g.clients[0], g.clients[1]
	g.rule(t, "--action", "drop", "--destination", g.inet4.String()+"/32", "--protocol", "tcp", "--ports", "8080", "--user", c1.user)
	start := func(user, name string) (*wglab.Namespace, netip.Addr) {
		ns := wglab.NewNamespace(t, "wgt-gx")
		srvAddr, _ := wglab.Connect(t, g.s.ns, ns)
		ns.Run(t, "ip", "route", "add", endpointAddr+"/32", "via", srvAddr.String())
		client := wglab.StartClient(t, ns, wglab.UniqueName("wgx"), []byte(g.addDevice(t, user, name)))
		if err := client.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
			t.Fatal(err)
		}
		for _, a := range client.Addresses {
			if a.Addr().Is4() {
				return ns, a.Addr()
			}
		}
		t.Fatal("no IPv4 address")
		return nil, netip.Addr{}
	}
	old, oldAddr := start(c1.user, "spare")
	becomes(t, old, ap(g.inet4, 8080), false, 3*time.Second)
	if _, err := g.s.cli(t, "device", "delete", "--user", c1.user, "--name", "spare"); err != nil {
		t.Fatal(err)
	}
	fresh, freshAddr := start(c2.user, "new")
	if freshAddr != oldAddr {
		t.Fatalf("the new device got %s, not the deleted device's %s", freshAddr, oldAddr)
	}
	if !connects(fresh, ap(g.inet4, 8080)) {
		t.Errorf("the new device on %s inherits the deleted device's owner's drop rule", freshAddr)
	}
}

func withoutCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "counter packets"); i >= 0 {
			l = l[:i] + "counter"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestGatewayWithoutMasquerade(t *testing.T) {
	g := startGateway(t, "WG_WG_MASQUERADE=false")
	for _, a := range []netip.Addr{g.inet4, g.inet6} {
		if connects(g.clients[0].ns, ap(a, 443)) {
			t.Errorf("%s is reached without masquerade, although it has no route back", a)
		}
	}
	if !connects(g.clients[0].ns, ap(netip.MustParseAddr(tunnelServer), 13000)) {
		t.Error("the server itself is unreachable through the tunnel")
	}
}

// gatewayHealth is what the server's /healthz says: its status and the gateway's part; nil
// while it does not answer.
func gatewayHealth(base string) (status string, gw *wg.GatewayStatus) {
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return "", nil
	}
	defer resp.Body.Close()
	var h struct {
		Status    string `json:"status"`
		WireGuard struct {
			Gateway *wg.GatewayStatus `json:"gateway"`
		} `json:"wireguard"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return "", nil
	}
	return h.Status, h.WireGuard.Gateway
}

// healthBecomes waits until ok accepts what /healthz says, and fails the test after within.
func (g *gateway) healthBecomes(t *testing.T, what string, within time.Duration, ok func(status string, gw *wg.GatewayStatus) bool) {
	t.Helper()
	var status string
	var gw *wg.GatewayStatus
	for start := time.Now(); time.Since(start) < within; time.Sleep(100 * time.Millisecond) {
		if status, gw = gatewayHealth(g.s.url); gw != nil && ok(status, gw) {
			return
		}
	}
	t.Fatalf("/healthz: not %s within %s: %s, %+v", what, within, status, gw)
}

// TestGatewayFaults: what the host does to the firewall is said (/healthz, a banner on the
// admin's pages), fails closed, and is recovered from by itself once it stops.
func TestGatewayFaults(t *testing.T) {
	g := startGateway(t)
	c := g.clients[0]
	internet := ap(g.inet4, 443)
	admin := g.admin(t)
	banners := func() string {
		r := admin.Get("/devices")
		if r.Status != http.StatusOK {
			t.Fatalf("GET /devices: %d", r.Status)
		}
		return r.Body
	}

	t.Run("another table's forward chain that drops is named", func(t *testing.T) {
		g.s.ns.Run(t, "nft", "add", "table", "ip", "dockerish")
		g.s.ns.Run(t, "nft", "add", "chain", "ip", "dockerish", "FORWARD", "{ type filter hook forward priority 0; policy drop; }")
		const named = "table ip dockerish, chain FORWARD"
		g.healthBecomes(t, "naming the chain", 4*time.Second, func(status string, gw *wg.GatewayStatus) bool {
			return status == "degraded" && slices.Contains(gw.ForeignForwardDrops, named)
		})
		if connects(c.ns, internet) {
			t.Error("the chain does not drop the tunnel's traffic; the test proves nothing")
		}
		if body := banners(); !strings.Contains(body, html.EscapeString(named)) || !strings.Contains(body, "policy drop") {
			t.Errorf("no banner names %s:\n%.3000s", named, body)
		}
		g.s.ns.Run(t, "nft", "delete", "table", "ip", "dockerish")
		g.healthBecomes(t, "clear", 4*time.Second, func(status string, gw *wg.GatewayStatus) bool {
			return status == "ok" && len(gw.ForeignForwardDrops) == 0
		})
		if strings.Contains(banners(), "dockerish") {
			t.Error("the banner stays after the chain is gone")
		}
		becomes(t, c.ns, internet, true, time.Second)
	})

	t.Run("nftables refusing the server: no forwarding, said, and recovered", func(t *testing.T) {
		logged := func(msg string) int { return strings.Count(g.s.proc.Output(), `msg="`+msg+`"`) }
		refusedBefore, backBefore := logged("firewall or forwarding not applied"), logged("firewall and forwarding applied again")
		release := holdTable(t, g.s.ns)
		g.healthBecomes(t, "saying nftables is unavailable", 4*time.Second, func(status string, gw *wg.GatewayStatus) bool {
			return status == "degraded" && gw.Unavailable && !gw.InKernel && gw.IPv4Forwarding == "off"
		})
		if got := strings.TrimSpace(g.s.ns.Run(t, "sysctl", "-n", "net.ipv4.ip_forward")); got != "0" {
			t.Errorf("net.ipv4.ip_forward = %s without our rule set, want 0 (fail closed)", got)
		}
		becomes(t, c.ns, internet, false, time.Second)
		if body := banners(); !strings.Contains(body, "CAP_NET_ADMIN") || !strings.Contains(body, "nothing new is forwarded") {
			t.Errorf("no banner says why and how to fix it:\n%.3000s", body)
		}
		if err := c.wg.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
			t.Errorf("the tunnel itself went down with the firewall: %v", err)
		}

		release()
		g.healthBecomes(t, "recovered", 4*time.Second, func(status string, gw *wg.GatewayStatus) bool {
			return status == "ok" && gw.Err == "" && gw.InKernel && gw.IPv4Forwarding == "on"
		})
		becomes(t, c.ns, internet, true, time.Second)
		if strings.Contains(banners(), "CAP_NET_ADMIN") {
			t.Error("the banner stays after the firewall is back")
		}
		// Several passes were refused; the log says so once (the first names the drift too),
		// and once that it is over.
		if n := logged("firewall or forwarding not applied") - refusedBefore; n < 1 || n > 2 {
			t.Errorf("the refusal was logged %d times, want once (twice with the drift that began it)", n)
		}
		if n := logged("firewall and forwarding applied again") - backBefore; n != 1 {
			t.Errorf("the recovery was logged %d times, want once", n)
		}
	})
}

// nftTableOwner is NFT_TABLE_F_OWNER: the table belongs to the netlink socket that created
// it; the kernel refuses everyone else's changes to it and deletes it when the socket closes.
const nftTableOwner = 2

// holdTable replaces the server's table inet wiregui in ns, in one batch, by an empty one that
// this process owns: the kernel refuses the server's writes with EPERM, as it does a server
// without CAP_NET_ADMIN. release closes the socket, and the kernel deletes the table.
func holdTable(t *testing.T, ns *wglab.Namespace) (release func()) {
	t.Helper()
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	table := func(flags uint32) []byte {
		attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_TABLE_NAME, Data: []byte("wiregui\x00")},
			{Type: unix.NFTA_TABLE_FLAGS, Data: endian.BigEndian.AppendUint32(nil, flags)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{unix.NFPROTO_INET, 0, 0, 0}, attrs...)
	}
	batch := []byte{unix.AF_UNSPEC, 0, 0, unix.NFNL_SUBSYS_NFTABLES}
	msg := func(typ int) netlink.HeaderType { return netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ) }
	if _, err := conn.SendMessages([]netlink.Message{
		{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_BEGIN, Flags: netlink.Request}, Data: batch},
		{Header: netlink.Header{Type: msg(unix.NFT_MSG_DELTABLE), Flags: netlink.Request | netlink.Acknowledge}, Data: table(0)},
		{Header: netlink.Header{Type: msg(unix.NFT_MSG_NEWTABLE), Flags: netlink.Request | netlink.Acknowledge | netlink.Create}, Data: table(nftTableOwner)},
		{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_END, Flags: netlink.Request}, Data: batch},
	}); err != nil {
		t.Fatal(err)
	}
	for acks := 0; acks < 2; {
		msgs, err := conn.Receive()
		if err != nil {
			t.Fatalf("taking table inet wiregui: %v", err)
		}
		acks += len(msgs)
	}
	if out := ns.Run(t, "nft", "list", "table", "inet", "wiregui"); !strings.Contains(out, "owner") {
		t.Fatalf("table inet wiregui is not held:\n%s", out)
	}
	return func() { conn.Close() }
}

// TestGatewayUndoneAtExit: with the embedded WireGuard the interface goes with the process, so
// serve, stopped by SIGTERM or SIGINT, switches off the forwarding it switched on and deletes
// its table inet wiregui, and says so in one line; a host that forwarded before keeps
// forwarding.
func TestGatewayUndoneAtExit(t *testing.T) {
	for _, c := range []struct {
		name         string
		sig          syscall.Signal
		hostForwards bool
	}{
		{"forwarding switched on by serve, SIGTERM", syscall.SIGTERM, false},
		{"forwarding the host had on, SIGINT", syscall.SIGINT, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			wglab.Require(t)
			s := newServer(t, "sqlite", nil)
			forwarding := func() string {
				return strings.Join(strings.Fields(s.ns.Run(t, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")), " ")
			}
			hasTable := func() bool { _, err := s.ns.Exec("nft", "list", "table", "inet", "wiregui"); return err == nil }
			wantOn := wg.ForwardingOn
			if c.hostForwards {
				s.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
				wantOn = wg.ForwardingByHost
			}
			s.start(t)
			(&gateway{s: s}).healthBecomes(t, "forwarding with the rule set in the kernel", 10*time.Second,
				func(_ string, gw *wg.GatewayStatus) bool {
					return gw.InKernel && gw.IPv4Forwarding == wantOn && gw.IPv6Forwarding == wantOn
				})
			if got := forwarding(); got != "1 1" || !hasTable() {
				t.Fatalf("while serving: forwarding %s, table %v; want 1 1 and the table", got, hasTable())
			}

			s.proc.Signal(c.sig)
			select {
			case <-s.proc.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("serve did not exit within 10s of %s", c.sig)
			}
			if err := s.proc.Err(); err != nil {
				t.Errorf("serve exit: %v, want 0\n%s", err, s.proc.Output())
			}
			want := "0 0"
			if c.hostForwards {
				want = "1 1"
			}
			if got := forwarding(); got != want {
				t.Errorf("forwarding %s after serve exited, want %s", got, want)
			}
			if hasTable() {
				t.Error("table inet wiregui is still in the kernel after serve exited")
			}
			const undone = `msg="userspace wireguard link gone with the process; its gateway is undone"`
			if n := strings.Count(s.proc.Output(), undone); n != 1 {
				t.Errorf("%d lines say the gateway is undone, want 1:\n%s", n, s.proc.Output())
			}
		})
	}
}
