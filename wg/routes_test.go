package wg

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/wglab"
)

// countingClient counts the WireGuard reads and writes of an Interface.
type countingClient struct {
	wgClient
	reads, writes atomic.Int32
}

func (c *countingClient) Device(name string) (*wgtypes.Device, error) {
	c.reads.Add(1)
	return c.wgClient.Device(name)
}

func (c *countingClient) ConfigureDevice(name string, cfg wgtypes.Config) error {
	c.writes.Add(1)
	return c.wgClient.ConfigureDevice(name, cfg)
}

func countWireGuard(iface *Interface) *countingClient {
	iface.mu.Lock()
	defer iface.mu.Unlock()
	c := &countingClient{wgClient: iface.wgc}
	iface.wgc = c
	return c
}

// routes returns the destinations routed into dev with proto, both families.
func routes(t *testing.T, ns *wglab.Namespace, dev, proto string) []string {
	t.Helper()
	var dsts []string
	for _, family := range []string{"-4", "-6"} {
		out := ns.Run(t, "ip", family, "-o", "route", "show", "table", "main", "dev", dev, "proto", proto)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				dsts = append(dsts, f[0])
			}
		}
	}
	return dsts
}

// TestInterfaceRoutes: relay subnets are routed into the link and carry
// traffic to the peer behind them; routes removed by hand come back;
// WireGUI's own routes go when no longer wanted, even those of an earlier
// run, and nobody else's route is touched. Routes cost no WireGuard read.
func TestInterfaceRoutes(t *testing.T) {
	l := newLab(t, 2)
	name := l.iface.Name()
	wgc := countWireGuard(l.iface)
	relay4, relay6 := netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("fd00:9::/64")
	site := l.peers[0] // a site-to-site peer with networks behind it
	l.want.Peers[0].AllowedIPs = append(l.want.Peers[0].AllowedIPs, relay4, relay6)
	// The tunnel network is routed by the kernel already; listing it does
	// no harm and adds nothing.
	l.want.Routes = []netip.Prefix{relay4, relay6, l.pool4.Network()}
	l.sync(t, Changes{PeersAdded: 2, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true, RoutesAdded: 2})
	own := func() string { return strings.Join(routes(t, l.ns, name, "87"), " ") }
	if got := own(); got != "10.9.0.0/24 fd00:9::/64" {
		t.Fatalf("routes with proto 87 = %q, want the two relay subnets", got)
	}

	t.Log("the route carries traffic to the network behind the peer")
	cliNS := wglab.NewNamespace(t, "wgr")
	srvUnder, _ := wglab.Connect(t, l.ns, cliNS)
	conf := ClientConfig{
		PrivateKey:      site.priv.String(),
		Addresses:       []netip.Prefix{HostPrefix(site.v4), HostPrefix(site.v6)},
		ServerPublicKey: l.want.PrivateKey.PublicKey().String(),
		PresharedKey:    site.psk.String(),
		AllowedIPs:      []netip.Prefix{l.pool4.Network(), l.pool6.Network()},
		Endpoint:        JoinEndpoint(srvUnder.String(), testPort),
	}
	wglab.StartClient(t, cliNS, wglab.UniqueName("wgr"), conf.Render())
	cliNS.Run(t, "ip", "addr", "add", "10.9.0.1/32", "dev", "lo")
	cliNS.Run(t, "ip", "addr", "add", "fd00:9::1/128", "dev", "lo", "nodad")
	cliNS.Ping(l.pool4.ServerAddr(), 15*time.Second) // the client's first handshake
	for _, dst := range []string{"10.9.0.1", "fd00:9::1"} {
		if err := l.ns.Ping(netip.MustParseAddr(dst), 5*time.Second); err != nil {
			t.Errorf("ping %s behind the peer from the server: %v", dst, err)
		}
	}

	t.Log("routes deleted by hand come back")
	l.ns.Run(t, "ip", "route", "del", relay4.String(), "dev", name)
	l.ns.Run(t, "ip", "-6", "route", "del", relay6.String(), "dev", name)
	l.sync(t, Changes{RoutesAdded: 2})
	if got := own(); got != "10.9.0.0/24 fd00:9::/64" {
		t.Errorf("routes with proto 87 = %q after the repair", got)
	}

	t.Log("the link set down by hand loses its routes; they come back with it")
	l.ns.Run(t, "ip", "link", "set", name, "down")
	ctx := context.Background()
	ch, err := l.iface.Sync(ctx, l.want)
	if err != nil || !ch.LinkUp || ch.RoutesAdded == 0 {
		t.Errorf("Sync after link down = %+v, %v; want the link up and the routes added", ch, err)
	}
	if got := own(); got != "10.9.0.0/24 fd00:9::/64" {
		t.Errorf("routes with proto 87 = %q after link down and up", got)
	}
	l.sync(t, Changes{})

	t.Log("only WireGUI's routes are removed, also those of an earlier run")
	l.ns.Run(t, "ip", "route", "add", "192.0.2.0/24", "dev", name, "proto", "static")
	l.ns.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", name) // proto boot, as by hand
	l.ns.Run(t, "ip", "-6", "route", "add", "fd00:77::/64", "dev", name, "proto", "87")
	l.want.Routes = []netip.Prefix{relay4}
	l.sync(t, Changes{RoutesRemoved: 2}) // fd00:9::/64 and fd00:77::/64
	if got := own(); got != "10.9.0.0/24" {
		t.Errorf("routes with proto 87 = %q, want only 10.9.0.0/24", got)
	}
	if got := strings.Join(append(routes(t, l.ns, name, "static"), routes(t, l.ns, name, "boot")...), " "); got != "192.0.2.0/24 198.51.100.0/24" {
		t.Errorf("routes added by hand = %q, want both kept", got)
	}

	t.Log("a wanted destination that another link routes is an error, and the rest is still applied")
	l.ns.Run(t, "ip", "route", "add", "10.77.0.0/24", "dev", "lo")
	l.want.Routes = []netip.Prefix{relay4, relay6, netip.MustParsePrefix("10.77.0.0/24")}
	ch, err = l.iface.Sync(ctx, l.want)
	if err == nil || !strings.Contains(err.Error(), "add route 10.77.0.0/24: another link already has a route to it") {
		t.Errorf("Sync with a conflicting route: err = %v", err)
	}
	if ch.RoutesAdded != 1 || own() != "10.9.0.0/24 fd00:9::/64" {
		t.Errorf("Sync with a conflicting route = %+v, routes %q", ch, own())
	}
	l.want.Routes = l.want.Routes[:2]
	l.sync(t, Changes{})
	if out := l.ns.Run(t, "ip", "route", "show", "10.77.0.0/24"); !strings.Contains(out, "dev lo") {
		t.Errorf("the other link's route is gone: %q", out)
	}

	// One read for each of the 7 Syncs, whatever they did with routes.
	if n := wgc.reads.Load(); n != 7 {
		t.Errorf("%d WireGuard reads in 7 Syncs, want one each", n)
	}
}

// TestInterfaceApply: Apply writes what the desired state changed without
// reading WireGuard, leaves drift made by others to Sync, and reads when it
// has nothing to compare with.
func TestInterfaceApply(t *testing.T) {
	l := newLab(t, 3)
	wgc := countWireGuard(l.iface)
	ctx := context.Background()
	apply := func(want Changes) {
		t.Helper()
		got, err := l.iface.Apply(ctx, l.want)
		if err != nil || got != want {
			t.Fatalf("Apply = %+v, %v; want %+v", got, err, want)
		}
	}

	apply(Changes{PeersAdded: 3, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})
	if r := wgc.reads.Load(); r != 1 {
		t.Errorf("first Apply read WireGuard %d times, want once: it knows nothing yet", r)
	}
	l.checkLink(t)

	t.Log("changes to the desired state: one write each, and a read only to remove a peer (where it is now is remembered)")
	removed := l.want.Peers[2]
	l.want.Peers = l.want.Peers[:2]
	l.want.Peers[0].PresharedKey = wgtypes.Key{}
	apply(Changes{PeersRemoved: 1, PeersUpdated: 1})
	l.want.Peers = append(l.want.Peers, removed)
	apply(Changes{PeersAdded: 1})
	apply(Changes{})
	if r, w := wgc.reads.Load(), wgc.writes.Load(); r != 2 || w != 3 {
		t.Errorf("%d reads and %d writes, want 2 and 3", r, w)
	}
	l.checkLink(t)

	t.Log("drift made by hand: Apply does not see it, Sync repairs it")
	l.wg(t, "peer", l.peers[1].pub.String(), "remove")
	apply(Changes{})
	l.sync(t, Changes{PeersAdded: 1})
	l.checkLink(t)

	t.Log("the link deleted: Apply reads the new device")
	l.ns.Run(t, "ip", "link", "del", l.iface.Name())
	apply(Changes{LinkCreated: true, PeersAdded: 3, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})
	l.checkLink(t)

	t.Log("a failed write: Apply reads again")
	l.iface.mu.Lock()
	l.iface.wgc = failingWrites{wgc}
	l.iface.mu.Unlock()
	l.want.Peers = l.want.Peers[:2]
	if _, err := l.iface.Apply(ctx, l.want); err == nil {
		t.Fatal("Apply with a failing write succeeded")
	}
	before := wgc.reads.Load()
	l.iface.mu.Lock()
	l.iface.wgc = wgc
	l.iface.mu.Unlock()
	apply(Changes{PeersRemoved: 1})
	if r := wgc.reads.Load() - before; r != 1 {
		t.Errorf("Apply after a failed write read %d times, want once", r)
	}
	l.checkLink(t)
}

type failingWrites struct{ wgClient }

func (failingWrites) ConfigureDevice(string, wgtypes.Config) error {
	return errTestWrite
}

var errTestWrite = testError("injected write failure")

type testError string

func (e testError) Error() string { return string(e) }
