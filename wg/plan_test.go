package wg

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func mustKey(t testing.TB) wgtypes.Key {
	t.Helper()
	_, pub, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func ipNets(ss ...string) []net.IPNet {
	var ns []net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			panic(err)
		}
		ns = append(ns, *n)
	}
	return ns
}

func TestPlan(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	psk, _ := GeneratePresharedKey()
	same, changedIPs, changedPSK, gone, fresh := mustKey(t), mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	dev := &wgtypes.Device{
		PrivateKey: priv,
		ListenPort: 51820,
		Peers: []wgtypes.Peer{
			// Order and v4 vs. v6 listing differ from want: still the same.
			{PublicKey: same, PresharedKey: psk, AllowedIPs: ipNets("fd00::2/128", "10.0.0.2/32")},
			{PublicKey: changedIPs, AllowedIPs: ipNets("10.0.0.3/32")},
			{PublicKey: changedPSK, PresharedKey: psk, AllowedIPs: ipNets("10.0.0.4/32")},
			{PublicKey: gone, AllowedIPs: ipNets("10.0.0.5/32")},
		},
	}
	want, err := Config{
		PrivateKey: priv,
		ListenPort: 51820,
		Peers: []Peer{
			{PublicKey: same, PresharedKey: psk, AllowedIPs: prefixes("10.0.0.2/32", "fd00::2/128", "10.0.0.2/32")},
			{PublicKey: changedIPs, AllowedIPs: prefixes("10.0.0.3/32", "192.168.7.9/24")},
			{PublicKey: changedPSK, AllowedIPs: prefixes("10.0.0.4/32")},
			{PublicKey: fresh, AllowedIPs: prefixes("10.0.0.5/32")},
		},
	}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	cfg, ch := plan(dev, want)
	wantCh := Changes{PeersAdded: 1, PeersRemoved: 1, PeersUpdated: 2}
	if ch != wantCh {
		t.Errorf("changes = %+v, want %+v", ch, wantCh)
	}
	if cfg.PrivateKey != nil || cfg.ListenPort != nil || cfg.ReplacePeers {
		t.Errorf("config touches the device: %+v", cfg)
	}
	var order []string
	for _, p := range cfg.Peers {
		switch {
		case p.PublicKey == same:
			t.Error("identical peer is in the configuration")
		case p.Remove:
			order = append(order, "remove")
			if p.PublicKey != gone {
				t.Errorf("removes %s, want %s", p.PublicKey, gone)
			}
		case p.PublicKey == fresh:
			order = append(order, "add")
		default:
			order = append(order, "update")
			if !p.ReplaceAllowedIPs || p.PresharedKey == nil {
				t.Errorf("update of %s does not replace allowed ips and psk: %+v", p.PublicKey, p)
			}
		}
		if p.PublicKey == changedIPs && (len(p.AllowedIPs) != 2 || p.AllowedIPs[1].String() != "192.168.7.0/24") {
			t.Errorf("allowed ips of changed peer = %v, want 10.0.0.3/32 and masked 192.168.7.0/24", p.AllowedIPs)
		}
		if p.PublicKey == changedPSK && *p.PresharedKey != (wgtypes.Key{}) {
			t.Errorf("psk of %s = %s, want the zero key that clears it", p.PublicKey, p.PresharedKey)
		}
	}
	// Removals first, so an allowed IP can move to a new peer in one call.
	if got := strings.Join(order, ","); got != "remove,update,update,add" {
		t.Errorf("order = %s, want remove,update,update,add", got)
	}

	// The same state again: nothing to do.
	dev.Peers = []wgtypes.Peer{{PublicKey: same, PresharedKey: psk, AllowedIPs: ipNets("10.0.0.2/32", "fd00::2/128")}}
	want.Peers = want.Peers[:1]
	if cfg, ch := plan(dev, want); !ch.Empty() || len(cfg.Peers) != 0 {
		t.Errorf("no-change plan = %+v, %+v", cfg, ch)
	}
}

func TestPlanKeyAndPort(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	cfg, ch := plan(&wgtypes.Device{}, Config{PrivateKey: priv, ListenPort: 51999})
	if !ch.KeySet || !ch.PortSet || *cfg.PrivateKey != priv || *cfg.ListenPort != 51999 {
		t.Errorf("plan on an empty device = %+v, %+v", cfg, ch)
	}
	_, ch = plan(&wgtypes.Device{PrivateKey: priv, ListenPort: 40000}, Config{PrivateKey: priv})
	if !ch.Empty() {
		t.Errorf("ListenPort 0 must leave the port alone; changes %+v", ch)
	}
}

func TestNormalizeRejects(t *testing.T) {
	priv, pub, _ := GenerateKeyPair()
	a, b := mustKey(t), mustKey(t)
	tests := []struct {
		name, wantErr string
		cfg           Config
	}{
		{"no private key", "private key is not set", Config{}},
		{"bad port", "listen port 70000", Config{PrivateKey: priv, ListenPort: 70000}},
		{"zero peer key", "has no public key", Config{PrivateKey: priv, Peers: []Peer{{}}}},
		{"own key", "the public key is the server's own", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: pub}}}},
		{"duplicate peer", "the public key is also another peer's", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: a}, {PublicKey: a}}}},
		{"shared allowed ip", "allowed IP 10.0.0.2/32 is also another peer's", Config{PrivateKey: priv, Peers: []Peer{
			{PublicKey: a, AllowedIPs: prefixes("10.0.0.2/32")},
			{PublicKey: b, AllowedIPs: prefixes("10.0.0.2/32")},
		}}},
		{"invalid allowed ip", "allowed IP invalid Prefix is invalid", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: a, AllowedIPs: []netip.Prefix{{}}}}}},
		{"invalid address", "invalid interface address", Config{PrivateKey: priv, Addresses: []netip.Prefix{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.normalize()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("normalize() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	got, err := Config{PrivateKey: priv, Peers: []Peer{{PublicKey: a, AllowedIPs: prefixes("::ffff:10.1.2.3/128", "10.9.9.9/8")}}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Peers[0].AllowedIPs; s[0].String() != "10.1.2.3/32" || s[1].String() != "10.0.0.0/8" {
		t.Errorf("normalized allowed ips = %v, want [10.1.2.3/32 10.0.0.0/8]", s)
	}
}

// TestPlanEndpointKick: a peer added with an endpoint gets it and a
// keepalive that starts a handshake, cleared again at the end of the same
// configuration; existing peers keep their endpoint whatever want says.
func TestPlanEndpointKick(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	existing, fresh, quiet := mustKey(t), mustKey(t), mustKey(t)
	ep := netip.MustParseAddrPort("198.51.100.7:41000")
	dev := &wgtypes.Device{PrivateKey: priv, Peers: []wgtypes.Peer{{
		PublicKey:  existing,
		Endpoint:   &net.UDPAddr{IP: net.ParseIP("203.0.113.9"), Port: 5555},
		AllowedIPs: ipNets("10.0.0.2/32"),
	}}}
	want, err := Config{PrivateKey: priv, Peers: []Peer{
		{PublicKey: existing, AllowedIPs: prefixes("10.0.0.2/32"), Endpoint: ep},
		{PublicKey: fresh, AllowedIPs: prefixes("10.0.0.3/32"), Endpoint: netip.MustParseAddrPort("[::ffff:198.51.100.8]:41001")},
		{PublicKey: quiet, AllowedIPs: prefixes("10.0.0.4/32")},
	}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	cfg, ch := plan(dev, want)
	if ch != (Changes{PeersAdded: 2}) {
		t.Fatalf("changes = %+v, want two peers added and the existing one left alone", ch)
	}
	if len(cfg.Peers) != 3 {
		t.Fatalf("configuration has %d peer entries, want add, add, clear keepalive: %+v", len(cfg.Peers), cfg.Peers)
	}
	addQuiet, add, clearKA := cfg.Peers[0], cfg.Peers[1], cfg.Peers[2]
	if add.PublicKey != fresh || add.Endpoint == nil || add.Endpoint.String() != "198.51.100.8:41001" ||
		add.PersistentKeepaliveInterval == nil || *add.PersistentKeepaliveInterval <= 0 {
		t.Errorf("added peer with an endpoint = %+v, want the unmapped endpoint and a keepalive", add)
	}
	if addQuiet.PublicKey != quiet || addQuiet.Endpoint != nil || addQuiet.PersistentKeepaliveInterval != nil {
		t.Errorf("added peer without an endpoint = %+v, want neither endpoint nor keepalive", addQuiet)
	}
	if clearKA.PublicKey != fresh || !clearKA.UpdateOnly || clearKA.PersistentKeepaliveInterval == nil ||
		*clearKA.PersistentKeepaliveInterval != 0 || clearKA.Endpoint != nil || clearKA.AllowedIPs != nil {
		t.Errorf("last entry = %+v, want an update-only entry that clears the keepalive", clearKA)
	}

	// Applied, the state has the peers and no keepalive: nothing more to do,
	// although want's endpoints differ from the device's.
	after := applyConfig(dev, cfg)
	if cfg, ch := plan(after, want); !ch.Empty() || len(cfg.Peers) != 0 {
		t.Errorf("plan after applying = %+v, %+v", cfg, ch)
	}

	// A keepalive found on a peer (set by hand, or left by a failed write)
	// is cleared; the update does not touch the endpoint.
	after.Peers[0].PersistentKeepaliveInterval = 25 * time.Second
	cfg, ch = plan(after, want)
	if ch != (Changes{PeersUpdated: 1}) || len(cfg.Peers) != 1 || cfg.Peers[0].PersistentKeepaliveInterval == nil ||
		*cfg.Peers[0].PersistentKeepaliveInterval != 0 || cfg.Peers[0].Endpoint != nil {
		t.Errorf("plan with a stray keepalive = %+v, %+v", cfg, ch)
	}
}

// TestPlanKickedPeersComeLast: wireguard-go carries a keepalive turned on
// for one peer of a write over to the next peers that set none, which would
// then handshake too. Every entry after the first kick sets a keepalive.
func TestPlanKickedPeersComeLast(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	existing := mustKey(t)
	dev := &wgtypes.Device{PrivateKey: priv, Peers: []wgtypes.Peer{{PublicKey: existing, AllowedIPs: ipNets("10.0.0.2/32")}}}
	want := Config{PrivateKey: priv, Peers: []Peer{
		{PublicKey: mustKey(t), AllowedIPs: prefixes("10.0.0.3/32"), Endpoint: netip.MustParseAddrPort("198.51.100.3:51820")},
		{PublicKey: mustKey(t), AllowedIPs: prefixes("10.0.0.4/32")},
		{PublicKey: existing, AllowedIPs: prefixes("10.0.0.2/32", "192.168.7.0/24")}, // an update
		{PublicKey: mustKey(t), AllowedIPs: prefixes("10.0.0.5/32"), Endpoint: netip.MustParseAddrPort("198.51.100.5:51820")},
		{PublicKey: mustKey(t), AllowedIPs: prefixes("10.0.0.6/32")},
	}}
	want, err := want.normalize()
	if err != nil {
		t.Fatal(err)
	}
	cfg, ch := plan(dev, want)
	if ch != (Changes{PeersAdded: 4, PeersUpdated: 1}) {
		t.Fatalf("changes = %+v, want four added and one updated", ch)
	}
	kicked := -1
	for i, pc := range cfg.Peers {
		on := pc.PersistentKeepaliveInterval != nil && *pc.PersistentKeepaliveInterval > 0
		if on && kicked < 0 {
			kicked = i
		}
		if kicked >= 0 && pc.PersistentKeepaliveInterval == nil {
			t.Errorf("entry %d (%v) sets no keepalive after the kick in entry %d: it would handshake too", i, pc.PublicKey, kicked)
		}
	}
	if kicked < 0 {
		t.Errorf("no entry kicks a peer: %+v", cfg.Peers)
	}
}

// TestApplyConfig checks the device state Apply diffs against: after any
// plan is applied, planning again finds nothing to do, and the input is
// left as it was.
func TestApplyConfig(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	other, _, _ := GenerateKeyPair()
	psk, _ := GeneratePresharedKey()
	a, b, c, d := mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	dev := &wgtypes.Device{PrivateKey: other, ListenPort: 1, Peers: []wgtypes.Peer{
		{PublicKey: a, AllowedIPs: ipNets("10.0.0.2/32", "10.9.0.0/24")},
		{PublicKey: b, PresharedKey: psk, AllowedIPs: ipNets("10.0.0.3/32")},
		{PublicKey: c, AllowedIPs: ipNets("10.0.0.4/32"), PersistentKeepaliveInterval: time.Second},
	}}
	before := fmt.Sprintf("%+v", *dev)
	want, err := Config{PrivateKey: priv, ListenPort: 51820, Peers: []Peer{
		{PublicKey: a, AllowedIPs: prefixes("10.0.0.2/32")}, // loses its subnet
		{PublicKey: c, AllowedIPs: prefixes("10.0.0.4/32", "10.9.0.0/24")},
		{PublicKey: d, PresharedKey: psk, AllowedIPs: prefixes("10.0.0.3/32"), Endpoint: netip.MustParseAddrPort("192.0.2.1:9")},
	}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	cfg, ch := plan(dev, want)
	if ch != (Changes{KeySet: true, PortSet: true, PeersAdded: 1, PeersRemoved: 1, PeersUpdated: 2}) {
		t.Fatalf("changes = %+v", ch)
	}
	after := applyConfig(dev, cfg)
	if got := fmt.Sprintf("%+v", *dev); got != before {
		t.Errorf("applyConfig modified its input:\n%s\nwas\n%s", got, before)
	}
	if after.PrivateKey != priv || after.PublicKey != priv.PublicKey() || after.ListenPort != 51820 || len(after.Peers) != 3 {
		t.Errorf("applied device = %+v", after)
	}
	if cfg, ch := plan(after, want); !ch.Empty() {
		t.Errorf("plan after applying = %+v, %+v", cfg, ch)
	}
	if cfg, ch := plan(applyConfig(after, wgtypes.Config{}), want); !ch.Empty() {
		t.Errorf("an empty configuration changed the state: %+v, %+v", cfg, ch)
	}
}

func TestNormalizeRoutesAndEndpoints(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	a, b, c := mustKey(t), mustKey(t), mustKey(t)
	got, err := Config{
		PrivateKey: priv,
		Routes:     prefixes("10.9.0.7/24", "10.9.0.0/24", "::ffff:10.8.0.0/112", "fd00:9::1/64"),
		Peers: []Peer{
			{PublicKey: a, Endpoint: netip.MustParseAddrPort("[::ffff:192.0.2.1]:51820")},
			{PublicKey: b, Endpoint: netip.MustParseAddrPort("192.0.2.2:0")},
			{PublicKey: c, Endpoint: netip.MustParseAddrPort("[::]:51820")},
		},
	}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Routes) != "[10.9.0.0/24 10.8.0.0/16 fd00:9::/64]" {
		t.Errorf("routes = %v, want masked, unmapped and without duplicates", got.Routes)
	}
	if ep := got.Peers[0].Endpoint.String(); ep != "192.0.2.1:51820" {
		t.Errorf("endpoint = %s, want the mapped address unmapped", ep)
	}
	if got.Peers[1].Endpoint.IsValid() || got.Peers[2].Endpoint.IsValid() {
		t.Errorf("endpoints without a port or address kept: %v, %v", got.Peers[1].Endpoint, got.Peers[2].Endpoint)
	}
	if _, err := (Config{PrivateKey: priv, Routes: []netip.Prefix{{}}}).normalize(); err == nil ||
		!strings.Contains(err.Error(), "invalid route") {
		t.Errorf("invalid route: err = %v", err)
	}
}

func TestChangesLogValue(t *testing.T) {
	var b strings.Builder
	logger := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logger.Info("x", slog.Any("changes", Changes{PeersAdded: 1, RoutesAdded: 2, RoutesRemoved: 3}))
	if got, want := strings.TrimSpace(b.String()), "level=INFO msg=x changes.peers_added=1 changes.routes_added=2 changes.routes_removed=3"; got != want {
		t.Errorf("log line = %s, want %s", got, want)
	}
}
