package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg"
)

// TestDesiredStateRereadsOnlyWhatChanged drives the data plane's desired state against both
// databases: a change reported for one user re-reads that user alone, and a change for
// everyone re-reads everyone.
func TestMain(m *testing.M) { storetest.Main(m) }

func TestDesiredStateRereadsOnlyWhatChanged(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		priv, pub, err := wg.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(Options{Store: s, ListenPort: 51820,
			Keys: store.ServerKeys{PrivateKey: priv.String(), PublicKey: pub.String()}})
		if err != nil {
			t.Fatal(err)
		}
		desired := p.desired(nil)
		v4, _ := wg.NewPool(netip.MustParsePrefix("10.9.0.0/24"))
		pools := store.AddressPools{IPv4: v4}

		addDevice := func(u *store.User) string {
			t.Helper()
			_, pub, _ := wg.GenerateKeyPair()
			d := &store.Device{UserID: u.ID, Name: pub.String()[:8], PublicKey: pub.String()}
			if err := s.CreateDevice(ctx, d, pools); err != nil {
				t.Fatal(err)
			}
			return d.PublicKey
		}
		peers := func(step string, want ...string) {
			t.Helper()
			c, err := desired(ctx)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			got := map[string]bool{}
			for _, peer := range c.Peers {
				got[peer.PublicKey.String()] = true
			}
			if len(got) != len(want) {
				t.Errorf("%s: %d peers, want %d", step, len(got), len(want))
			}
			for _, k := range want {
				if !got[k] {
					t.Errorf("%s: peer %s missing", step, k)
				}
			}
		}

		ann := &store.User{Email: "ann@example.com"}
		bob := &store.User{Email: "bob@example.com"}
		for _, u := range []*store.User{ann, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		annKey, bobKey := addDevice(ann), addDevice(bob)
		peers("first read", annKey, bobKey)

		now := time.Now()
		if err := s.SetUserDisabled(ctx, ann.ID, &now); err != nil {
			t.Fatal(err)
		}
		p.Trigger(bob.ID)
		peers("after a change reported for bob only", annKey, bobKey)
		p.Trigger(ann.ID)
		peers("after ann's change is reported", bobKey)

		bobKey2 := addDevice(bob)
		if err := s.SetUserDisabled(ctx, ann.ID, nil); err != nil {
			t.Fatal(err)
		}
		p.Trigger("")
		peers("after a change for everyone", annKey, bobKey, bobKey2)

		// Another process (the CLI in another container) writes and cannot signal: the next
		// pass sees the access mark move.
		if err := s.SetUserDisabled(ctx, bob.ID, &now); err != nil {
			t.Fatal(err)
		}
		peers("after a change nobody reported", annKey)
	})
}

// BenchmarkDesiredConfig10k is the data plane's share of a pass at 10,000 devices: the
// cached devices put in order (oldest first) and checked into the interface's desired state.
func BenchmarkDesiredConfig10k(b *testing.B) {
	const users, perUser = 100, 100
	c := &desiredCache{byUser: make(map[string][]livePeer)}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := range users {
		id := fmt.Sprintf("user-%03d", u)
		for d := range perUser {
			_, pub, err := wg.GenerateKeyPair()
			if err != nil {
				b.Fatal(err)
			}
			n := u*perUser + d
			addr := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			c.byUser[id] = append(c.byUser[id], livePeer{deviceID: fmt.Sprintf("dev-%05d", n), userID: id,
				createdAt: start.Add(time.Duration(n*7919%10000) * time.Second),
				peer:      wg.Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{wg.HostPrefix(addr)}}})
		}
	}
	priv, _, _ := wg.GenerateKeyPair()
	b.ReportAllocs()
	for b.Loop() {
		want, notApplied, _ := c.config(priv, 51820, nil)
		if len(want.Peers) != users*perUser || len(notApplied) != 0 {
			b.Fatalf("%d peers, %d not applied", len(want.Peers), len(notApplied))
		}
	}
}
