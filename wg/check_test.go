package wg

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestCheckLeavesOutOnlyTheBadPeers: each bad peer is left out with its reason, the peers
// around it are kept in order, and a peer left out claims nothing (a later peer may have its
// key or allowed IP).
func TestCheckLeavesOutOnlyTheBadPeers(t *testing.T) {
	priv, own, _ := GenerateKeyPair()
	good1, good2, dup, later := mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	weak := wgtypes.Key(lowOrderPoints[3])
	tests := []struct {
		name       string
		bad        Peer
		wantReason string
	}{
		{"zero key", Peer{AllowedIPs: prefixes("10.0.0.9/32")}, "it has no public key"},
		{"low-order key", Peer{PublicKey: weak, AllowedIPs: prefixes("10.0.0.9/32")}, "low-order point"},
		{"server's own key", Peer{PublicKey: own, AllowedIPs: prefixes("10.0.0.9/32")}, "the public key is the server's own"},
		{"another peer's key", Peer{PublicKey: good1, AllowedIPs: prefixes("10.0.0.9/32")}, "the public key is also another peer's"},
		{"another peer's address", Peer{PublicKey: dup, AllowedIPs: prefixes("10.0.0.9/32", "10.0.0.1/32")},
			"allowed IP 10.0.0.1/32 is also another peer's"},
		{"invalid allowed ip", Peer{PublicKey: dup, AllowedIPs: []netip.Prefix{{}}}, "is invalid"},
		{"route outside its allowed ips", Peer{PublicKey: dup, AllowedIPs: prefixes("10.0.0.9/32"), Routes: prefixes("10.7.0.0/16")},
			"route 10.7.0.0/16 is not one of its allowed IPs"},
		{"default route", Peer{PublicKey: dup, AllowedIPs: prefixes("10.0.0.9/32", "0.0.0.0/0"), Routes: prefixes("0.0.0.0/0")},
			"would take the server's default route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Config{PrivateKey: priv, Peers: []Peer{
				{PublicKey: good1, AllowedIPs: prefixes("10.0.0.1/32")},
				tt.bad,
				{PublicKey: good2, AllowedIPs: prefixes("10.0.0.2/32", "10.8.0.7/24"), Routes: prefixes("10.8.0.0/24")},
				// Claims what the bad peer claimed: applied, since a peer left out claims nothing.
				{PublicKey: later, AllowedIPs: prefixes("10.0.0.9/32")},
			}}
			got := want.Check()
			if len(got.Skipped) != 1 || got.Skipped[0].PublicKey != tt.bad.PublicKey || got.Skipped[0].Index != 1 ||
				!strings.Contains(got.Skipped[0].Reason, tt.wantReason) {
				t.Fatalf("skipped = %+v, want the bad peer with a reason containing %q", got.Skipped, tt.wantReason)
			}
			var keys []wgtypes.Key
			for _, p := range got.Peers {
				keys = append(keys, p.PublicKey)
			}
			if fmt.Sprint(keys) != fmt.Sprint([]wgtypes.Key{good1, good2, later}) {
				t.Errorf("peers = %v, want the three good ones in order", keys)
			}
			if r := got.Peers[1].AllowedIPs; fmt.Sprint(r) != "[10.0.0.2/32 10.8.0.0/24]" {
				t.Errorf("allowed ips = %v, want masked", r)
			}
			n, err := got.normalize()
			if err != nil {
				t.Fatalf("normalize after Check: %v", err)
			}
			if fmt.Sprint(n.Routes) != "[10.8.0.0/24]" {
				t.Errorf("routes = %v, want the good peer's relay subnet only", n.Routes)
			}
			if again := got.Check(); len(again.Skipped) != 1 || len(again.Peers) != 3 {
				t.Errorf("Check on its own result: %d skipped, %d peers; want it unchanged", len(again.Skipped), len(again.Peers))
			}
		})
	}
}

// TestCheckFirstPeerWins: of two peers with the same key or allowed IP, the first is applied
// whatever comes after, so the caller decides by their order.
func TestCheckFirstPeerWins(t *testing.T) {
	priv, _, _ := GenerateKeyPair()
	a, b := mustKey(t), mustKey(t)
	first := Peer{PublicKey: a, AllowedIPs: prefixes("10.0.0.2/32")}
	second := Peer{PublicKey: b, AllowedIPs: prefixes("10.0.0.2/32")}
	for _, order := range [][]Peer{{first, second}, {second, first}} {
		got := Config{PrivateKey: priv, Peers: order}.Check()
		if len(got.Peers) != 1 || got.Peers[0].PublicKey != order[0].PublicKey ||
			len(got.Skipped) != 1 || got.Skipped[0].PublicKey != order[1].PublicKey {
			t.Errorf("order %v: applied %+v, skipped %+v; want the first applied", order, got.Peers, got.Skipped)
		}
	}
}

// TestReconcilerAppliesAroundABadPeer: a cold start with a desired peer that has the
// server's own key (one bad database row) still brings the interface up with its key, port,
// addresses and every other peer, and the status names the peer left out.
func TestReconcilerAppliesAroundABadPeer(t *testing.T) {
	l := newLab(t, 2)
	own := l.want.PrivateKey.PublicKey()
	bad := Peer{PublicKey: own, AllowedIPs: prefixes("10.3.2.200/32")}
	want := l.want
	want.Peers = []Peer{l.want.Peers[0], bad, l.want.Peers[1]}
	rec := &Reconciler{Interface: l.iface, Logger: testLogger(t), Interval: time.Hour,
		Desired: func(context.Context) (Config, error) { return want, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	st, err := rec.Wait(wctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Err != "" {
		t.Errorf("pass error %q, want none", st.Err)
	}
	if len(st.Skipped) != 1 || st.Skipped[0].PublicKey != own || st.Skipped[0].Reason != "the public key is the server's own" {
		t.Errorf("status skipped = %+v, want the server's own key", st.Skipped)
	}
	l.checkLink(t) // key, port, addresses, link up, and exactly the two good peers
}
