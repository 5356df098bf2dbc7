package wg

import (
	"net"
	"net/netip"
	"strings"
	"testing"

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
		{"own key", "server's own public key", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: pub}}}},
		{"duplicate peer", "listed twice", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: a}, {PublicKey: a}}}},
		{"shared allowed ip", "is also given to peer", Config{PrivateKey: priv, Peers: []Peer{
			{PublicKey: a, AllowedIPs: prefixes("10.0.0.2/32")},
			{PublicKey: b, AllowedIPs: prefixes("10.0.0.2/32")},
		}}},
		{"invalid allowed ip", "invalid allowed ip", Config{PrivateKey: priv, Peers: []Peer{{PublicKey: a, AllowedIPs: []netip.Prefix{{}}}}}},
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
