package wg

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// desiredFunc returns a Desired func that builds a fresh Config of n peers
// on every call, as the caller does from database rows (the rows themselves
// are not part of the benchmark), each with a /32 and a /128 and, for one
// peer in 100, a relay subnet routed into the interface. While *without is
// odd, peer 0 is left out, as if its user were disabled.
func desiredFunc(b *testing.B, n int, without *atomic.Int64) func(context.Context) (Config, error) {
	base := benchConfig(b, n)
	v6 := make([]netip.Addr, n)
	for j := range n {
		v4 := base.Peers[j].AllowedIPs[0].Addr().As4()
		v6[j] = netip.AddrFrom16([16]byte{0: 0xfd, 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]})
	}
	return func(context.Context) (Config, error) {
		want := Config{PrivateKey: base.PrivateKey, ListenPort: base.ListenPort,
			Addresses: base.Addresses, Peers: make([]Peer, 0, n)}
		skip0 := without != nil && without.Load()%2 == 1
		for j, p := range base.Peers {
			if j == 0 && skip0 {
				continue
			}
			peer := Peer{PublicKey: p.PublicKey, AllowedIPs: []netip.Prefix{p.AllowedIPs[0], HostPrefix(v6[j])}}
			if j%100 == 1 {
				relay := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(j/100/256), byte(j / 100), 0}), 24)
				peer.AllowedIPs = append(peer.AllowedIPs, relay)
				want.Routes = append(want.Routes, relay)
			}
			want.Peers = append(want.Peers, peer)
		}
		return want, nil
	}
}

// BenchmarkReconcilePass10k measures the periodic pass with nothing to
// change at 10,000 devices: build the desired state, one WireGuard read,
// the diff, the link, address and route checks.
func BenchmarkReconcilePass10k(b *testing.B) {
	wglab.Require(b)
	ns := wglab.NewNamespace(b, "wgb")
	iface := benchInterface(b, ns)
	defer iface.Close()
	r := &Reconciler{Interface: iface, Desired: desiredFunc(b, 10000, nil)}
	r.init()
	ctx := context.Background()
	if r.pass(ctx, true, time.Time{}); r.Status().Changes.PeersAdded != 10000 {
		b.Fatalf("first pass = %+v", r.Status())
	}
	wgc := countWireGuard(iface)
	for b.Loop() {
		r.pass(ctx, true, time.Time{})
		if st := r.Status(); st.Err != "" || !st.Changes.Empty() {
			b.Fatalf("no-change pass = %+v", st)
		}
	}
	b.ReportMetric(float64(wgc.reads.Load())/float64(b.N), "wgreads/op")
}

// syncOnly hides Interface.Apply from the Reconciler, so that every pass
// reads the device.
type syncOnly struct{ iface *Interface }

func (s syncOnly) Sync(ctx context.Context, want Config) (Changes, error) {
	return s.iface.Sync(ctx, want)
}

// BenchmarkTriggerLatency measures a single device change from Trigger to
// the end of the pass that applied it, as after a request that disabled or
// enabled a device: p50 and p90 over b.N changes. "apply" is the
// Reconciler's path after a Trigger; "sync" reads the device first, as the
// periodic pass does.
func BenchmarkTriggerLatency(b *testing.B) {
	wglab.Require(b)
	for _, n := range []int{1000, 10000} {
		for _, path := range []string{"apply", "sync"} {
			b.Run(fmt.Sprintf("peers=%d/%s", n, path), func(b *testing.B) {
				ns := wglab.NewNamespace(b, "wgb")
				iface := benchInterface(b, ns)
				defer iface.Close()
				var without atomic.Int64
				r := &Reconciler{Desired: desiredFunc(b, n, &without), Interval: time.Hour}
				r.Interface = iface
				if path == "sync" {
					r.Interface = syncOnly{iface}
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { r.Run(ctx); close(done) }()
				defer func() { cancel(); <-done }()
				if st, err := r.Wait(ctx, time.Time{}); err != nil || st.Changes.PeersAdded != n {
					b.Fatalf("first pass = %+v, %v", st, err)
				}
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					gone := without.Add(1)%2 == 1
					t0 := time.Now()
					r.Trigger()
					st, err := r.Wait(ctx, t0)
					lat = append(lat, time.Since(t0))
					if err != nil || st.Err != "" || (gone && st.Changes != (Changes{PeersRemoved: 1})) ||
						(!gone && st.Changes != (Changes{PeersAdded: 1})) {
						b.Fatalf("pass = %+v, %v", st, err)
					}
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
			})
		}
	}
}
