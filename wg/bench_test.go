package wg

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/wglab"
)

var (
	benchKeysOnce sync.Once
	benchKeys     []wgtypes.Key
)

// benchConfig returns a server config with n peers, one /32 each in
// 10.64.0.0/10. The keys are generated once per test binary.
func benchConfig(b *testing.B, n int) Config {
	b.Helper()
	benchKeysOnce.Do(func() {
		for range 10000 {
			_, pub, err := GenerateKeyPair()
			if err != nil {
				panic(err)
			}
			benchKeys = append(benchKeys, pub)
		}
	})
	priv, _, err := GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	pool, err := NewPool(netip.MustParsePrefix("10.64.0.0/10"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{PrivateKey: priv, ListenPort: 51820, Addresses: []netip.Prefix{pool.ServerPrefix()}}
	a := pool.ServerAddr()
	for j := range n {
		a = a.Next()
		cfg.Peers = append(cfg.Peers, Peer{PublicKey: benchKeys[j], AllowedIPs: []netip.Prefix{HostPrefix(a)}})
	}
	return cfg
}

func benchInterface(b *testing.B, ns *wglab.Namespace) *Interface {
	b.Helper()
	iface, err := OpenInterface(wglab.UniqueName("wgb"), ModeAlways, nil, WithNetNS(ns.Path))
	if err != nil {
		b.Fatal(err)
	}
	return iface
}

// BenchmarkSyncNoChange measures the periodic repair pass when nothing
// drifted: one device read, the diff, the address and link checks.
func BenchmarkSyncNoChange(b *testing.B) {
	wglab.Require(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			ns := wglab.NewNamespace(b, "wgb")
			iface := benchInterface(b, ns)
			defer iface.Close()
			want := benchConfig(b, n)
			ctx := context.Background()
			if ch, err := iface.Sync(ctx, want); err != nil || ch.PeersAdded != n {
				b.Fatalf("first Sync = %+v, %v", ch, err)
			}
			for b.Loop() {
				ch, err := iface.Sync(ctx, want)
				if err != nil {
					b.Fatal(err)
				}
				if !ch.Empty() {
					b.Fatalf("no-change Sync changed %+v", ch)
				}
			}
		})
	}
}

// BenchmarkSyncColdStart10k measures a start on an empty machine: create the
// link and the embedded device, then load 10,000 peers in one Sync.
func BenchmarkSyncColdStart10k(b *testing.B) {
	wglab.Require(b)
	ns := wglab.NewNamespace(b, "wgb")
	want := benchConfig(b, 10000)
	ctx := context.Background()
	for b.Loop() {
		iface := benchInterface(b, ns)
		ch, err := iface.Sync(ctx, want)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if ch.PeersAdded != 10000 {
			b.Fatalf("cold Sync = %+v", ch)
		}
		iface.Close()
		b.StartTimer()
	}
}
