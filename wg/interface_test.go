package wg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/wglab"
)

// testPeer is a client known to the server, with its private key so a real
// client can be started for it.
type testPeer struct {
	priv, pub wgtypes.Key
	psk       wgtypes.Key
	v4, v6    netip.Addr
}

func (p testPeer) peer() Peer {
	return Peer{PublicKey: p.pub, PresharedKey: p.psk, AllowedIPs: []netip.Prefix{HostPrefix(p.v4), HostPrefix(p.v6)}}
}

// lab is a server Interface in its own namespace, with the Config it was
// synced to.
type lab struct {
	ns    *wglab.Namespace
	iface *Interface
	want  Config
	peers []testPeer
	pool4 Pool
	pool6 Pool
}

const testPort = 51820

func newLab(t *testing.T, peers int) *lab {
	t.Helper()
	wglab.Require(t)
	logger := testLogger(t)
	l := &lab{
		ns:    wglab.NewNamespace(t, "wgs"),
		pool4: mustPool(t, "10.3.2.0/24"),
		pool6: mustPool(t, "fd00::3:2:0/120"),
	}
	iface, err := OpenInterface(wglab.UniqueName("wgs"), ModeAlways, logger, WithNetNS(l.ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := iface.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	l.iface = iface
	priv, _, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	l.want = Config{
		PrivateKey: priv,
		ListenPort: testPort,
		Addresses:  []netip.Prefix{l.pool4.ServerPrefix(), l.pool6.ServerPrefix()},
	}
	var used4, used6 []netip.Addr
	for j := range peers {
		var p testPeer
		p.priv, p.pub, _ = GenerateKeyPair()
		if j%2 == 0 {
			p.psk, _ = GeneratePresharedKey()
		}
		p.v4, _ = l.pool4.Allocate(used4)
		p.v6, _ = l.pool6.Allocate(used6)
		used4, used6 = append(used4, p.v4), append(used6, p.v6)
		l.peers = append(l.peers, p)
		l.want.Peers = append(l.want.Peers, p.peer())
	}
	return l
}

func (l *lab) sync(t *testing.T, want Changes) Changes {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := l.iface.Sync(ctx, l.want)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got != want {
		t.Fatalf("Sync changes = %+v\nwant %+v", got, want)
	}
	return got
}

func (l *lab) wg(t *testing.T, args ...string) {
	t.Helper()
	l.ns.Run(t, append([]string{"wg", "set", l.iface.Name()}, args...)...)
}

func (l *lab) checkLink(t *testing.T) {
	t.Helper()
	out := l.ns.Run(t, "ip", "-o", "addr", "show", "dev", l.iface.Name())
	for _, a := range l.want.Addresses {
		if !strings.Contains(out, " "+a.String()+" ") {
			t.Errorf("address %s missing:\n%s", a, out)
		}
	}
	if link := l.ns.Run(t, "ip", "-o", "link", "show", "dev", l.iface.Name()); !strings.Contains(link, ",UP") {
		t.Errorf("link is not up: %s", link)
	}
	checkDump(t, showDump(t, l.ns, l.iface.Name()), l.want)
}

// TestInterfaceSync covers drift repair on a userspace interface: every kind
// of change made by hand with wg(8) or ip(8) is found and undone, and only
// that.
func TestInterfaceSync(t *testing.T) {
	l := newLab(t, 3)
	name := l.iface.Name()
	if k := l.iface.Kind(); k != KindUserspace {
		t.Fatalf("Kind() = %q, want userspace", k)
	}

	l.sync(t, Changes{PeersAdded: 3, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})
	l.checkLink(t)

	t.Log("a peer removed by hand comes back")
	l.wg(t, "peer", l.peers[1].pub.String(), "remove")
	l.sync(t, Changes{PeersAdded: 1})
	l.checkLink(t)

	t.Log("a stray peer added by hand is removed")
	_, stray, _ := GenerateKeyPair()
	l.wg(t, "peer", stray.String(), "allowed-ips", "10.3.2.200/32")
	l.sync(t, Changes{PeersRemoved: 1})
	l.checkLink(t)

	t.Log("allowed ips and preshared key changed by hand are restored")
	l.wg(t, "peer", l.peers[0].pub.String(), "allowed-ips", "10.3.2.99/32,fd00::3:2:99/128")
	l.wg(t, "peer", l.peers[2].pub.String(), "preshared-key", "/dev/null") // peers[2] has one
	l.sync(t, Changes{PeersUpdated: 2})
	l.checkLink(t)

	t.Log("a persistent keepalive set by hand is cleared")
	l.wg(t, "peer", l.peers[1].pub.String(), "persistent-keepalive", "25")
	l.sync(t, Changes{PeersUpdated: 1})
	l.checkLink(t)

	t.Log("the desired state changes: one peer gone, one new, one with a new psk")
	gone := l.want.Peers[2]
	var p testPeer
	p.priv, p.pub, _ = GenerateKeyPair()
	p.v4, p.v6 = gone.AllowedIPs[0].Addr(), gone.AllowedIPs[1].Addr() // the address moves to the new peer
	l.want.Peers[2] = p.peer()
	l.want.Peers[1].PresharedKey, _ = GeneratePresharedKey()
	l.sync(t, Changes{PeersAdded: 1, PeersRemoved: 1, PeersUpdated: 1})
	l.checkLink(t)

	t.Log("key and port changed by hand")
	l.wg(t, "listen-port", "40000")
	other, _, _ := GenerateKeyPair()
	keyFile := t.TempDir() + "/k"
	writeFile(t, keyFile, other.String())
	l.wg(t, "private-key", keyFile)
	l.sync(t, Changes{KeySet: true, PortSet: true})
	l.checkLink(t)

	t.Log("an address deleted and the link set down by hand")
	l.ns.Run(t, "ip", "addr", "del", l.pool6.ServerPrefix().String(), "dev", name)
	l.ns.Run(t, "ip", "link", "set", name, "down")
	l.sync(t, Changes{AddressesAdded: 1, LinkUp: true})
	l.checkLink(t)

	t.Log("an address that is no longer wanted is removed, a foreign one is kept")
	l.ns.Run(t, "ip", "addr", "add", "192.0.2.1/32", "dev", name)
	l.want.Addresses = l.want.Addresses[:1]
	l.sync(t, Changes{AddressesRemoved: 1})
	out := l.ns.Run(t, "ip", "-o", "addr", "show", "dev", name)
	if strings.Contains(out, l.pool6.ServerPrefix().String()) || !strings.Contains(out, "192.0.2.1/32") {
		t.Errorf("addresses after removal:\n%s", out)
	}
	l.want.Addresses = append(l.want.Addresses, l.pool6.ServerPrefix())
	l.sync(t, Changes{AddressesAdded: 1})

	t.Log("nothing changed: nothing done")
	l.sync(t, Changes{})

	t.Log("the link deleted by hand is recreated with everything on it")
	l.ns.Run(t, "ip", "link", "del", name)
	l.sync(t, Changes{LinkCreated: true, PeersAdded: 3, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})
	l.checkLink(t)
	l.sync(t, Changes{})

	t.Log("the UAPI socket deleted by hand is recreated")
	removeFile(t, "/var/run/wireguard/"+name+".sock")
	if !waitFor(5*time.Second, func() bool {
		l.iface.mu.Lock()
		defer l.iface.mu.Unlock()
		return !l.iface.user.uapiAlive()
	}) {
		t.Fatal("UAPI listener did not notice the deleted socket")
	}
	l.sync(t, Changes{SocketRestored: true})
	l.checkLink(t)
}

// TestInterfaceTunnel brings up a real client (Debian wireguard-go and wg,
// configured from a file rendered by ClientConfig) and checks traffic,
// statistics, that a sync touching other peers leaves the session alone, and
// that removing the peer cuts it off at once.
func TestInterfaceTunnel(t *testing.T) {
	l := newLab(t, 3)
	l.sync(t, Changes{PeersAdded: 3, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})

	cliNS := wglab.NewNamespace(t, "wgc")
	srvUnder, cliUnder := wglab.Connect(t, l.ns, cliNS)
	me := l.peers[0] // has a preshared key
	conf := ClientConfig{
		PrivateKey:          me.priv.String(),
		Addresses:           []netip.Prefix{HostPrefix(me.v4), HostPrefix(me.v6)},
		DNS:                 []string{l.pool4.ServerAddr().String()},
		MTU:                 1420,
		ServerPublicKey:     l.want.PrivateKey.PublicKey().String(),
		PresharedKey:        me.psk.String(),
		AllowedIPs:          []netip.Prefix{l.pool4.Network(), l.pool6.Network()},
		Endpoint:            JoinEndpoint(srvUnder.String(), testPort),
		PersistentKeepalive: 25,
	}
	client := wglab.StartClient(t, cliNS, wglab.UniqueName("wgc"), conf.Render())

	for _, dst := range []netip.Addr{l.pool4.ServerAddr(), l.pool6.ServerAddr()} {
		if err := client.Ping(t, dst); err != nil {
			t.Fatalf("ping %s through the tunnel: %v\nclient: %s\nserver: %s", dst, err, client.Show(t), l.ns.Run(t, "wg", "show"))
		}
	}
	// The server reaches the client too.
	if err := l.ns.Ping(me.v4, 5*time.Second); err != nil {
		t.Errorf("ping client from server: %v", err)
	}

	r, err := OpenReader(l.iface.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	stats, err := r.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 {
		t.Fatalf("Reader.Peers returned %d peers, want 3", len(stats))
	}
	var mine PeerStats
	for _, s := range stats {
		if s.PublicKey == me.pub {
			mine = s
		} else if !s.LastHandshake.IsZero() || s.RxBytes != 0 || s.Endpoint.IsValid() {
			t.Errorf("idle peer %s has stats %+v", s.PublicKey, s)
		}
	}
	if mine.LastHandshake.IsZero() || time.Since(mine.LastHandshake) > time.Minute {
		t.Errorf("LastHandshake = %v, want a recent time", mine.LastHandshake)
	}
	if mine.RxBytes <= 0 || mine.TxBytes <= 0 {
		t.Errorf("RxBytes = %d, TxBytes = %d, want both > 0", mine.RxBytes, mine.TxBytes)
	}
	if mine.Endpoint.Addr() != cliUnder {
		t.Errorf("Endpoint = %v, want the client's underlay address %s", mine.Endpoint, cliUnder)
	}
	ifaceStats, err := l.iface.Peers(ctx)
	if err != nil || len(ifaceStats) != 3 {
		t.Errorf("Interface.Peers = %d peers, %v", len(ifaceStats), err)
	}

	t.Log("syncs that change other peers leave this session alone")
	before := showDump(t, l.ns, l.iface.Name()).Peers[me.pub.String()]
	l.sync(t, Changes{})
	l.want.Peers[1].AllowedIPs = append(l.want.Peers[1].AllowedIPs, netip.MustParsePrefix("192.168.50.0/24"))
	l.want.Peers = l.want.Peers[:2]
	l.sync(t, Changes{PeersRemoved: 1, PeersUpdated: 1})
	after := showDump(t, l.ns, l.iface.Name()).Peers[me.pub.String()]
	if after.LatestHandshake != before.LatestHandshake || after.Endpoint != before.Endpoint {
		t.Errorf("session disturbed: before %+v, after %+v", before, after)
	}
	if after.Rx < before.Rx {
		t.Errorf("counters reset: rx %d then %d", before.Rx, after.Rx)
	}
	if err := cliNS.Ping(l.pool4.ServerAddr(), 2*time.Second); err != nil {
		t.Errorf("ping after unrelated sync: %v", err)
	}

	t.Log("removing the peer cuts it off")
	l.want.Peers = l.want.Peers[1:]
	l.sync(t, Changes{PeersRemoved: 1})
	if _, err := cliNS.Exec("ping", "-n", "-c", "2", "-W", "1", l.pool4.ServerAddr().String()); err == nil {
		t.Error("ping still answered after the peer was removed")
	}

	t.Log("adding it back with its last known endpoint restores it at once")
	// The client still holds the session the server forgot, and would only
	// start a new handshake after sending for 15 s without an answer
	// (WireGuard's KEEPALIVE + REKEY_TIMEOUT). The server handshakes first.
	back := me.peer()
	back.Endpoint = mine.Endpoint // as the collector stored it
	l.want.Peers = append(l.want.Peers, back)
	t0 := time.Now()
	l.sync(t, Changes{PeersAdded: 1})
	// One reply, sending every 100 ms: within tens of milliseconds (the figure below); the
	// deadline, 6 s, leaves room for one retransmission of the server's handshake (after 5 s)
	// on a loaded machine, and is still far from the client's own 15 s.
	_, err = cliNS.Exec("ping", "-n", "-c", "1", "-w", "6", "-i", "0.1", l.pool4.ServerAddr().String())
	if err != nil {
		t.Errorf("no ping answered within 6 s of the peer coming back: %v\nclient: %s\nserver: %s", err, client.Show(t), l.ns.Run(t, "wg", "show"))
	} else {
		t.Logf("traffic resumed %v after Sync started", time.Since(t0).Round(time.Millisecond))
	}
	// The handshake keepalive is gone again (checkDump), the endpoint is
	// the one given, and it is not drift.
	checkDump(t, showDump(t, l.ns, l.iface.Name()), l.want)
	l.sync(t, Changes{})

	t.Log("an existing peer's endpoint is never changed")
	l.want.Peers[len(l.want.Peers)-1].Endpoint = netip.MustParseAddrPort("192.0.2.1:9")
	l.sync(t, Changes{})
	if ep := showDump(t, l.ns, l.iface.Name()).Peers[me.pub.String()].Endpoint; ep != mine.Endpoint.String() {
		t.Errorf("endpoint = %s, want the client's %s", ep, mine.Endpoint)
	}
}

// TestReconcilerRepairsDrift runs the Reconciler against a real interface:
// drift made by hand is repaired by the periodic pass, which reads the
// device.
func TestReconcilerRepairsDrift(t *testing.T) {
	l := newLab(t, 2)
	r := &Reconciler{
		Interface: l.iface,
		Desired:   func(context.Context) (Config, error) { return l.want, nil },
		Interval:  200 * time.Millisecond,
		Logger:    testLogger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()

	st, err := r.Wait(wctx, time.Time{})
	if err != nil || st.Err != "" || st.Changes.PeersAdded != 2 || st.Repairs != 1 {
		t.Fatalf("first pass = %+v, %v", st, err)
	}
	l.wg(t, "peer", l.peers[0].pub.String(), "remove")
	t0 := time.Now()
	for {
		st, err = r.Wait(wctx, t0)
		if err != nil {
			t.Fatalf("no pass repaired the removed peer: %+v, %v", st, err)
		}
		if !st.Changes.Empty() {
			break
		}
		t0 = time.Now()
	}
	if st.Changes != (Changes{PeersAdded: 1}) || st.Repairs != 2 {
		t.Fatalf("repair pass = %+v", st)
	}
	checkDump(t, showDump(t, l.ns, l.iface.Name()), l.want)
}

func TestOpenInterfaceModes(t *testing.T) {
	wglab.Require(t)
	ns := wglab.NewNamespace(t, "wgm")
	_, err := ns.Exec("ip", "link", "add", "probe0", "type", "wireguard")
	kernel := err == nil
	if kernel {
		ns.Run(t, "ip", "link", "del", "probe0")
	}

	auto, err := OpenInterface(wglab.UniqueName("wgm"), ModeAuto, testLogger(t), WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	want := KindUserspace
	if kernel {
		want = KindKernel
	}
	if got := auto.Kind(); got != want {
		t.Errorf("auto mode chose %s; kernel wireguard available: %v", got, kernel)
	}
	auto.Close()

	never, err := OpenInterface(wglab.UniqueName("wgm"), ModeNever, testLogger(t), WithNetNS(ns.Path))
	switch {
	case kernel && err != nil:
		t.Errorf("never mode with kernel wireguard: %v", err)
	case !kernel && (err == nil || !strings.Contains(err.Error(), "create kernel wireguard link")):
		t.Errorf("never mode without kernel wireguard: err = %v, want create kernel wireguard link error", err)
	}
	if never != nil {
		never.Close()
	}

	ns.Run(t, "ip", "link", "add", "wgveth0", "type", "veth", "peer", "name", "wgveth1")
	if _, err := OpenInterface("wgveth0", ModeAuto, testLogger(t), WithNetNS(ns.Path)); err == nil ||
		!strings.Contains(err.Error(), "is a veth link, not wireguard") {
		t.Errorf("opening over a veth link: err = %v", err)
	}
	if _, err := OpenInterface("bad/name", ModeAuto, nil); err == nil {
		t.Error("OpenInterface accepted a name with a slash")
	}
	if _, err := OpenInterface("wg0", "sometimes", nil); err == nil {
		t.Error("OpenInterface accepted an unknown mode")
	}
}

func TestCloseRemovesUserspaceLink(t *testing.T) {
	wglab.Require(t)
	ns := wglab.NewNamespace(t, "wgx")
	name := wglab.UniqueName("wgx")
	iface, err := OpenInterface(name, ModeAlways, testLogger(t), WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "ip", "link", "show", name)
	if err := iface.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Exec("ip", "link", "show", name); err == nil {
		t.Error("link still exists after Close")
	}
	if _, err := iface.Sync(context.Background(), Config{PrivateKey: wgtypes.Key{1}}); err == nil {
		t.Error("Sync after Close succeeded")
	}
	if err := iface.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReaderMissingInterface(t *testing.T) {
	wglab.Require(t)
	r, err := OpenReader(wglab.UniqueName("none"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Peers(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Peers of a missing interface: %v, want fs.ErrNotExist", err)
	}
}

// TestPeersAddedWithoutEndpointSendNoHandshake adds, to a running interface,
// a peer with an endpoint (kicked: it handshakes at once) before peers
// without one, as a restart or a re-created link does. Those must not start
// a handshake they cannot send: wireguard-go would retry it, and log it,
// every 5 s for 90 s.
func TestPeersAddedWithoutEndpointSendNoHandshake(t *testing.T) {
	wglab.Require(t)
	burst, every := deviceLogBurst, deviceLogEvery
	deviceLogBurst, deviceLogEvery = 100_000, time.Millisecond // every line, to count them
	t.Cleanup(func() { deviceLogBurst, deviceLogEvery = burst, every })
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns := wglab.NewNamespace(t, "wgs")
	iface, err := OpenInterface(wglab.UniqueName("wgs"), ModeAlways, logger, WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iface.Close() })
	priv, _, _ := GenerateKeyPair()
	want := Config{PrivateKey: priv, ListenPort: testPort, Addresses: prefixes("10.3.2.1/24")}
	ctx := context.Background()
	if _, err := iface.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(log.String(), "requested Up, now Up") }) {
		t.Fatalf("wireguard-go did not come up:\n%s", log.String())
	}

	want.Peers = []Peer{{PublicKey: mustKey(t), AllowedIPs: prefixes("10.3.2.2/32"), Endpoint: netip.MustParseAddrPort("127.0.0.1:9")}}
	for i := range 4 {
		want.Peers = append(want.Peers, Peer{PublicKey: mustKey(t), AllowedIPs: prefixes(fmt.Sprintf("10.3.2.%d/32", i+3))})
	}
	if _, err := iface.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return strings.Contains(log.String(), "Sending handshake initiation") }) {
		t.Fatalf("the peer with an endpoint was not kicked:\n%s", log.String())
	}
	time.Sleep(500 * time.Millisecond) // the write is done; any handshake of it has been tried
	if n := strings.Count(log.String(), "Sending handshake initiation"); n != 1 {
		t.Errorf("got %d handshake initiations, want 1, of the peer with an endpoint:\n%s", n, log.String())
	}
	if strings.Contains(log.String(), "no known endpoint") {
		t.Errorf("a peer without an endpoint tried to handshake:\n%s", log.String())
	}
}

// TestReaddedPeerIsReachedWhereItWasLastHeard: a peer removed and added back by Apply (a
// user disabled and enabled, a session renewed) gets its handshake at once where the
// interface last heard it, even when the caller knows no endpoint (the collector had not
// polled yet) or an old one (the client moved since), and even though Apply's picture of the
// device, read before the client connected, had none. Left to the client, which keeps
// sending under the session the server forgot, traffic would wait 15 s for its own
// handshake.
func TestReaddedPeerIsReachedWhereItWasLastHeard(t *testing.T) {
	l := newLab(t, 1)
	l.sync(t, Changes{PeersAdded: 1, KeySet: true, PortSet: true, AddressesAdded: 2, LinkUp: true})
	cliNS := wglab.NewNamespace(t, "wgc")
	srvUnder, _ := wglab.Connect(t, l.ns, cliNS)
	me := l.peers[0]
	conf := ClientConfig{PrivateKey: me.priv.String(), Addresses: []netip.Prefix{HostPrefix(me.v4)},
		ServerPublicKey: l.want.PrivateKey.PublicKey().String(), PresharedKey: me.psk.String(),
		AllowedIPs: []netip.Prefix{l.pool4.Network()}, Endpoint: JoinEndpoint(srvUnder.String(), testPort), PersistentKeepalive: 25}
	client := wglab.StartClient(t, cliNS, wglab.UniqueName("wgc"), conf.Render())
	if err := client.Ping(t, l.pool4.ServerAddr()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		endpoint netip.AddrPort
	}{
		{"the caller knows no endpoint", netip.AddrPort{}},
		{"the caller knows an old endpoint", netip.MustParseAddrPort("192.0.2.1:9")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.want.Peers = nil
			if ch, err := l.iface.Apply(ctx, l.want); err != nil || ch.PeersRemoved != 1 {
				t.Fatalf("Apply removing the peer: %+v, %v", ch, err)
			}
			if _, err := cliNS.Exec("ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", l.pool4.ServerAddr().String()); err == nil {
				t.Fatal("ping still answered after the peer was removed")
			}
			back := me.peer()
			back.Endpoint = tc.endpoint
			l.want.Peers = []Peer{back}
			t0 := time.Now()
			if ch, err := l.iface.Apply(ctx, l.want); err != nil || ch.PeersAdded != 1 {
				t.Fatalf("Apply adding the peer back: %+v, %v", ch, err)
			}
			// The server's own handshake answers within tens of milliseconds (the figure); 6 s
			// leaves room for one retransmission of it (after 5 s) on a loaded machine and is
			// still far from the client's own retry (15 s after its packets go unanswered),
			// which is what this tells apart.
			if _, err := cliNS.Exec("ping", "-n", "-c", "1", "-w", "6", "-i", "0.1", l.pool4.ServerAddr().String()); err != nil {
				t.Fatalf("no ping answered within 6 s of the peer coming back: %v\nclient: %s\nserver: %s", err, client.Show(t), l.ns.Run(t, "wg", "show"))
			}
			t.Logf("figure: traffic resumed %v after Apply started", time.Since(t0).Round(time.Millisecond))
		})
	}
	// The peer came back where it was last heard, which the caller never knew; then the link
	// goes, and with it every session: the server still knows where to send the handshake.
	t.Run("the link lost after the peer came back", func(t *testing.T) {
		l.want.Peers = []Peer{me.peer()}
		if _, err := l.iface.Apply(ctx, l.want); err != nil {
			t.Fatal(err)
		}
		l.ns.Run(t, "ip", "link", "del", l.iface.Name())
		if ch, err := l.iface.Apply(ctx, l.want); err != nil || !ch.LinkCreated || ch.PeersAdded != 1 {
			t.Fatalf("Apply after the link was deleted: %+v, %v", ch, err)
		}
		t0 := time.Now()
		if _, err := cliNS.Exec("ping", "-n", "-c", "1", "-w", "6", "-i", "0.1", l.pool4.ServerAddr().String()); err != nil {
			t.Fatalf("no ping answered within 6 s of the link coming back: %v\nclient: %s\nserver: %s", err, client.Show(t), l.ns.Run(t, "wg", "show", l.iface.Name()))
		}
		t.Logf("figure: traffic resumed %v after the link came back", time.Since(t0).Round(time.Millisecond))
	})
}
