package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"wiregui/store"
	"wiregui/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// seqPool hands out addresses from a fixed list, skipping used ones; enough to test the store.
type seqPool struct{ addrs []netip.Addr }

func (p seqPool) Allocate(used []netip.Addr) (netip.Addr, error) {
	taken := map[netip.Addr]bool{}
	for _, a := range used {
		taken[a] = true
	}
	for _, a := range p.addrs {
		if !taken[a] {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("pool full")
}

func pools(n int) store.AddressPools {
	var v4, v6 seqPool
	for i := range n {
		v4.addrs = append(v4.addrs, netip.MustParseAddr(fmt.Sprintf("10.3.%d.%d", 2+i/250, 2+i%250)))
		v6.addrs = append(v6.addrs, netip.MustParseAddr(fmt.Sprintf("fd00::3:2:%x", 2+i)))
	}
	return store.AddressPools{IPv4: v4, IPv6: v6}
}

func mustUser(t *testing.T, s *store.Store, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email, PasswordHash: "x"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func TestMigrateTwiceAppliesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		n, err := s.Migrate(context.Background())
		if err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestUsersEmailIsCaseInsensitiveAndUnique(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, " Alice@Example.COM ")
		if u.Email != "alice@example.com" || u.Role != store.RoleUnprivileged {
			t.Errorf("got email %q role %q, want alice@example.com unprivileged", u.Email, u.Role)
		}
		got, err := s.UserByEmail(ctx, "ALICE@example.com")
		if err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail = %v, %v; want %s", got, err, u.ID)
		}
		err = s.CreateUser(ctx, &store.User{Email: "alice@EXAMPLE.com"})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate email: got %v, want ErrConflict", err)
		}
		if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Errorf("CountUsers = %d, want 1", n)
		}
	})
}

func TestUserSignInAndDisable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "bob@example.com")
		at := time.Date(2026, 11, 24, 10, 0, 0, 123000, time.UTC)
		if err := s.RecordSignIn(ctx, u.ID, "password", at); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserDisabled(ctx, u.ID, &at); err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSignedInAt == nil || !got.LastSignedInAt.Equal(at) || !got.Disabled() {
			t.Errorf("got signed in %v disabled %v, want %v and disabled", got.LastSignedInAt, got.DisabledAt, at)
		}
		if err := s.SetUserDisabled(ctx, "no-such-id", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("disable missing user: got %v, want ErrNotFound", err)
		}
	})
}

func TestCreateDeviceAllocatesAndEncryptsPresharedKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "carol@example.com")
		d := &store.Device{UserID: u.ID, Name: "laptop", PublicKey: "pub1", PresharedKey: "psk-secret-value"}
		if err := s.CreateDevice(ctx, d, pools(10)); err != nil {
			t.Fatal(err)
		}
		if d.IPv4 != netip.MustParseAddr("10.3.2.2") || d.IPv6 != netip.MustParseAddr("fd00::3:2:2") {
			t.Errorf("got %v %v, want 10.3.2.2 fd00::3:2:2", d.IPv4, d.IPv6)
		}
		d2 := &store.Device{UserID: u.ID, Name: "phone", PublicKey: "pub2"}
		if err := s.CreateDevice(ctx, d2, store.AddressPools{IPv4: pools(10).IPv4}); err != nil {
			t.Fatal(err)
		}
		if d2.IPv4 != netip.MustParseAddr("10.3.2.3") || d2.IPv6.IsValid() {
			t.Errorf("got %v %v, want 10.3.2.3 and no IPv6", d2.IPv4, d2.IPv6)
		}
		got, err := s.DeviceByID(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PresharedKey != "psk-secret-value" || got.UserEmail != "carol@example.com" || got.Name != "laptop" {
			t.Errorf("got psk %q email %q name %q", got.PresharedKey, got.UserEmail, got.Name)
		}
		if raw := rawColumn(t, s, "SELECT preshared_key FROM devices WHERE id = $1", d.ID); strings.Contains(raw, "psk-secret") || raw == "" {
			t.Errorf("preshared key stored as %q, want ciphertext", raw)
		}
		err = s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "dup", PublicKey: "pub1"}, pools(10))
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate public key: got %v, want ErrConflict", err)
		}
		list, err := s.ListDevicesByUser(ctx, u.ID)
		if err != nil || len(list) != 2 || list[0].Name != "laptop" || list[1].Name != "phone" {
			t.Fatalf("ListDevicesByUser = %+v, %v", list, err)
		}
		if err := s.DeleteDevice(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		d3 := &store.Device{UserID: u.ID, Name: "reuse", PublicKey: "pub3"}
		if err := s.CreateDevice(ctx, d3, pools(10)); err != nil || d3.IPv4 != netip.MustParseAddr("10.3.2.2") {
			t.Errorf("after delete got %v, %v; want the freed 10.3.2.2", d3.IPv4, err)
		}
		if err := s.DeleteDevice(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: got %v, want ErrNotFound", err)
		}
	})
}

func TestCreateDeviceFullPoolWritesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "dan@example.com")
		if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "a", PublicKey: "k1"}, pools(1)); err != nil {
			t.Fatal(err)
		}
		err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "b", PublicKey: "k2"}, pools(1))
		if err == nil || !strings.Contains(err.Error(), "pool full") {
			t.Fatalf("got %v, want the pool's error", err)
		}
		if list, _ := s.ListDevices(ctx); len(list) != 1 {
			t.Errorf("got %d devices, want 1", len(list))
		}
	})
}

func TestConcurrentDeviceCreationGetsDistinctAddresses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "eve@example.com")
		const n = 40
		p := pools(n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: fmt.Sprint("d", i), PublicKey: fmt.Sprintf("key%d", i)}, p)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent create: %v", err)
			}
		}
		list, _ := s.ListDevices(ctx)
		seen := map[netip.Addr]bool{}
		for _, d := range list {
			if seen[d.IPv4] || seen[d.IPv6] {
				t.Fatalf("address reused: %v %v", d.IPv4, d.IPv6)
			}
			seen[d.IPv4], seen[d.IPv6] = true, true
		}
		if len(list) != n {
			t.Errorf("got %d devices, want %d", len(list), n)
		}
	})
}

func TestDeletingUserCascades(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
		for i, u := range []*store.User{a, b} {
			if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "d", PublicKey: fmt.Sprint("k", i)}, pools(5)); err != nil {
				t.Fatal(err)
			}
		}
		execRaw(t, s, "DELETE FROM users WHERE id = $1", a.ID)
		if list, _ := s.ListDevices(ctx); len(list) != 1 || list[0].UserID != b.ID {
			t.Errorf("after deleting a user got %+v, want only b's device", list)
		}
	})
}

func TestLiveDevicesFollowDisableAndSessionExpiry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		fresh, stale, never, off := mustUser(t, s, "fresh@example.com"), mustUser(t, s, "stale@example.com"),
			mustUser(t, s, "never@example.com"), mustUser(t, s, "off@example.com")
		for i, u := range []*store.User{fresh, stale, never, off} {
			if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "d", PublicKey: fmt.Sprint("k", i)}, pools(9)); err != nil {
				t.Fatal(err)
			}
		}
		s.RecordSignIn(ctx, fresh.ID, "password", now.Add(-10*time.Minute))
		s.RecordSignIn(ctx, stale.ID, "password", now.Add(-2*time.Hour))
		s.RecordSignIn(ctx, off.ID, "password", now.Add(-time.Minute))
		s.SetUserDisabled(ctx, off.ID, &now)

		emailOf := map[string]string{fresh.ID: fresh.Email, stale.ID: stale.Email, never.ID: never.Email, off.ID: off.Email}
		owners := func(peers []store.LivePeer) []string {
			var out []string
			for _, p := range peers {
				out = append(out, emailOf[p.UserID])
			}
			sort.Strings(out)
			return out
		}
		live, changesAt, err := s.ListLivePeers(ctx, now, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := owners(live), []string{"fresh@example.com", "never@example.com", "stale@example.com"}; !slices.Equal(got, want) || !changesAt.IsZero() {
			t.Errorf("without expiry: live %v, changes at %v; want %v and never", got, changesAt, want)
		}

		if _, err := s.UpdateSettings(ctx, func(st *store.Settings) error { st.VPNSessionDuration = time.Hour; return nil }); err != nil {
			t.Fatal(err)
		}
		live, changesAt, err = s.ListLivePeers(ctx, now, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := owners(live); !slices.Equal(got, []string{"fresh@example.com"}) {
			t.Errorf("with a 1h session: live %v, want only fresh@ (stale expired, never signed in, off disabled)", got)
		}
		if want := now.Add(50 * time.Minute); !changesAt.Equal(want) {
			t.Errorf("changes at %v, want %v (fresh@'s expiry)", changesAt, want)
		}
		// Scoped to one owner: only that owner's devices and session.
		live, changesAt, err = s.ListLivePeers(ctx, now, fresh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := owners(live); !slices.Equal(got, []string{"fresh@example.com"}) || !changesAt.Equal(now.Add(50*time.Minute)) {
			t.Errorf("scoped to fresh@: live %v, changes at %v; want fresh@ and its expiry", got, changesAt)
		}
		live, changesAt, err = s.ListLivePeers(ctx, now, stale.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 0 || !changesAt.IsZero() {
			t.Errorf("scoped to stale@: live %v, changes at %v; want nothing", owners(live), changesAt)
		}
		expired, err := s.ListExpiredSessions(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var emails []string
		for _, u := range expired {
			emails = append(emails, u.Email)
		}
		if !slices.Equal(emails, []string{"never@example.com", "stale@example.com"}) {
			t.Errorf("expired sessions %v, want never@ and stale@", emails)
		}
	})
}

// TestDeviceHoldAgreesWithLivePeers: what the pages say of a device (Device.Hold, from the
// owner's columns that every device read fills) agrees with what the data plane applies
// (ListLivePeers), for owners disabled, never signed in and signed in around the session's
// edge, with sessions that expire and that do not.
func TestDeviceHoldAgreesWithLivePeers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		signIns := map[string]time.Duration{ // before now; absent: never signed in
			"fresh": 10 * time.Minute, "edge": time.Hour, "inside": time.Hour - time.Second, "stale": 2 * time.Hour,
			"off": time.Minute, "off-stale": 3 * time.Hour,
		}
		names := []string{"fresh", "edge", "inside", "stale", "never", "off", "off-stale", "off-never"}
		for i, name := range names {
			u := mustUser(t, s, name+"@example.com")
			if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: name, PublicKey: fmt.Sprint("k", i)}, pools(9)); err != nil {
				t.Fatal(err)
			}
			if ago, ok := signIns[name]; ok {
				if err := s.RecordSignIn(ctx, u.ID, "password", now.Add(-ago)); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasPrefix(name, "off") {
				if err := s.SetUserDisabled(ctx, u.ID, &now); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range []struct {
			session time.Duration
			want    map[string]store.Hold
		}{
			{0, map[string]store.Hold{"off": store.HeldByDisabledOwner, "off-stale": store.HeldByDisabledOwner,
				"off-never": store.HeldByDisabledOwner}},
			{time.Hour, map[string]store.Hold{"edge": store.HeldByExpiredSession, "stale": store.HeldByExpiredSession,
				"never": store.HeldByExpiredSession, "off": store.HeldByDisabledOwner, "off-stale": store.HeldByDisabledOwner,
				"off-never": store.HeldByDisabledOwner}},
		} {
			t.Run(fmt.Sprint("session=", tc.session), func(t *testing.T) {
				if _, err := s.UpdateSettings(ctx, func(st *store.Settings) error { st.VPNSessionDuration = tc.session; return nil }); err != nil {
					t.Fatal(err)
				}
				peers, _, err := s.ListLivePeers(ctx, now, "")
				if err != nil {
					t.Fatal(err)
				}
				live := map[string]bool{}
				for _, p := range peers {
					live[p.DeviceID] = true
				}
				page, _, err := s.ListDevicesPage(ctx, store.DeviceQuery{Limit: 50})
				if err != nil || len(page) != len(names) {
					t.Fatalf("%d devices listed (%v), want %d", len(page), err, len(names))
				}
				for _, d := range page {
					one, err := s.DeviceByID(ctx, d.ID)
					if err != nil {
						t.Fatal(err)
					}
					hold := d.Hold(now, tc.session)
					if hold != tc.want[d.Name] || one.Hold(now, tc.session) != hold {
						t.Errorf("%s: hold %q listed, %q read alone; want %q", d.Name, hold, one.Hold(now, tc.session), tc.want[d.Name])
					}
					if live[d.ID] != (hold == "") {
						t.Errorf("%s: a live peer %v, but its hold is %q: the pages and the data plane disagree", d.Name, live[d.ID], hold)
					}
				}
			})
		}
	})
}

func TestDeviceOverridesAndRelaySubnetsRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "g@example.com")
		d := &store.Device{UserID: u.ID, Name: "router", PublicKey: "rk",
			AllowedSubnets: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd10::/64")}}
		d.Overrides.DNS = store.Some([]string{"9.9.9.9", "lan.example"})
		d.Overrides.MTU = store.Optional[int]{Value: 1400} // typed, then switched back to the default
		if err := s.CreateDevice(ctx, d, pools(2)); err != nil {
			t.Fatal(err)
		}
		got, _ := s.DeviceByID(ctx, d.ID)
		if !reflect.DeepEqual(got.Overrides, d.Overrides) || !slices.Equal(got.AllowedSubnets, d.AllowedSubnets) {
			t.Errorf("stored %+v %v, want %+v %v", got.Overrides, got.AllowedSubnets, d.Overrides, d.AllowedSubnets)
		}
		updated, err := s.UpdateDevice(ctx, d.ID, func(d *store.Device) error {
			d.Name = "router 2"
			d.Overrides.Endpoint = store.Some("[2001:db8::1]:51821")
			d.Overrides.AllowedIPs = store.Some([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
			d.Overrides.DNS.Set = false
			d.AllowedSubnets = nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.DeviceByID(ctx, d.ID)
		if !reflect.DeepEqual(got.Overrides, updated.Overrides) || got.Name != "router 2" || len(got.AllowedSubnets) != 0 {
			t.Errorf("after update: %+v", got)
		}
		if !slices.Equal(got.Overrides.DNS.Value, []string{"9.9.9.9", "lan.example"}) {
			t.Errorf("switching DNS back to the default lost the typed value: %v", got.Overrides.DNS)
		}
		boom := errors.New("boom")
		if _, err := s.UpdateDevice(ctx, d.ID, func(d *store.Device) error { d.Name = "x"; return boom }); !errors.Is(err, boom) {
			t.Errorf("an aborted update returned %v", err)
		}
		if got, _ := s.DeviceByID(ctx, d.ID); got.Name != "router 2" {
			t.Errorf("an aborted update wrote the name %q", got.Name)
		}
		if _, err := s.UpdateDevice(ctx, "missing", func(*store.Device) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing device: %v", err)
		}
	})
}

func TestSettingsDefaultsAndUpdates(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st, err := s.Settings(ctx)
		if err != nil || !st.AllowUnprivilegedDeviceManagement || !st.AllowUnprivilegedDeviceConfiguration ||
			st.ClientDefaults.MTU.Set || st.VPNSessionDuration != 0 || st.PasswordlessEnabled || st.MFARequired {
			t.Fatalf("initial settings %+v, %v", st, err)
		}
		// The firewall's settings are not UpdateSettings' to change: they stay.
		want := store.Settings{VPNSessionDuration: 24 * time.Hour, AllowUnprivilegedDeviceConfiguration: true,
			PasswordlessEnabled: true, MFARequired: true, Firewall: st.Firewall}
		want.ClientDefaults.MTU = store.Some(1420)
		want.ClientDefaults.PersistentKeepalive = store.Some(0)
		want.ClientDefaults.DNS = store.Some([]string{"9.9.9.9"})
		want.ClientDefaults.AllowedIPs = store.Some([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		want.ClientDefaults.Endpoint = store.Some("vpn.example.com:51821")
		if _, err := s.UpdateSettings(ctx, func(st *store.Settings) error { *st = want; return nil }); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Settings(ctx)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

func TestNotifyRaisesAnEventOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "h@example.com")
		for i, wantNew := range []bool{true, false, false} {
			added, err := s.Notify(ctx, &store.Notification{Kind: "vpn_session_expired", UserID: u.ID, Message: "expired"}, "k1")
			if err != nil || added != wantNew {
				t.Errorf("notify #%d = %v, %v; want %v", i, added, err, wantNew)
			}
		}
		s.Notify(ctx, &store.Notification{Kind: "other", Message: "no user"}, "k2")
		list, err := s.OpenNotifications(ctx, 10)
		if err != nil || len(list) != 2 {
			t.Fatalf("notifications %+v, %v; want 2", list, err)
		}
	})
}

func TestDeviceStatsKeep64BitCounters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "frank@example.com")
		d := &store.Device{UserID: u.ID, Name: "d", PublicKey: "statkey"}
		if err := s.CreateDevice(ctx, d, pools(2)); err != nil {
			t.Fatal(err)
		}
		hs := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		up := store.StatsUpdate{PublicKey: "statkey", DeviceStats: store.DeviceStats{
			RxBytes: 1<<33 + 7, TxBytes: 1<<31 + 1, RxTotal: 1<<62 + 3, TxTotal: 1<<40 + 5,
			LatestHandshake: &hs, RemoteEndpoint: "[2001:db8::1]:51820"}}
		if err := s.UpdateDeviceStats(ctx, []store.StatsUpdate{up, {PublicKey: "gone"}}); err != nil {
			t.Fatal(err)
		}
		tracked, err := s.TrackedDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tracked) != 1 || tracked[0].ID != d.ID || tracked[0].Name != "d" || tracked[0].UserEmail != "frank@example.com" {
			t.Fatalf("tracked devices %+v, want frank's d", tracked)
		}
		got := tracked[0].DeviceStats
		if got.RxBytes != up.RxBytes || got.TxBytes != up.TxBytes || got.RxTotal != up.RxTotal || got.TxTotal != up.TxTotal ||
			!got.LatestHandshake.Equal(hs) || got.RemoteEndpoint != up.RemoteEndpoint {
			t.Errorf("got %+v, want %+v", got, up.DeviceStats)
		}
		again, err := s.DeviceByID(ctx, d.ID)
		if err != nil || again.RxTotal != up.RxTotal || again.TxTotal != up.TxTotal {
			t.Errorf("DeviceByID totals %d/%d (%v), want %d/%d", again.RxTotal, again.TxTotal, err, up.RxTotal, up.TxTotal)
		}
	})
}

func TestServerKeysAreGeneratedOnceAndEncrypted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.ServerKeys(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("before: got %v, want ErrNotFound", err)
		}
		calls := 0
		gen := func() (store.ServerKeys, error) {
			calls++
			return store.ServerKeys{PrivateKey: fmt.Sprint("private-", calls), PublicKey: fmt.Sprint("public-", calls)}, nil
		}
		k1, err := s.EnsureServerKeys(ctx, gen)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := s.EnsureServerKeys(ctx, gen)
		if err != nil || k2 != k1 || calls != 1 {
			t.Errorf("second Ensure = %+v, %v after %d generations; want %+v after 1", k2, err, calls, k1)
		}
		if raw := rawColumn(t, s, "SELECT server_private_key FROM configuration WHERE id = $1", "1"); strings.Contains(raw, "private-1") {
			t.Errorf("server private key stored in plaintext: %q", raw)
		}
	})
}

func TestConfigurationIsASingleton(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		s.EnsureServerKeys(context.Background(), func() (store.ServerKeys, error) { return store.ServerKeys{PrivateKey: "a", PublicKey: "b"}, nil })
		err := tryRaw(s, "INSERT INTO configuration (id, created_at, updated_at) VALUES (2, $1, $1)", time.Now())
		if err == nil {
			t.Error("a second configuration row was accepted")
		}
	})
}

func TestWrongEncryptionKeyIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: path, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	s.Migrate(ctx)
	s.EnsureServerKeys(ctx, func() (store.ServerKeys, error) { return store.ServerKeys{PrivateKey: "a", PublicKey: "b"}, nil })
	s.Close()
	other := []byte(strings.Repeat("z", 32))
	s, err = store.Open(ctx, store.Options{Driver: "sqlite", DSN: path, Key: other})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ServerKeys(ctx); err == nil || !strings.Contains(err.Error(), "wrong encryption key") {
		t.Errorf("got %v, want a wrong-key error", err)
	}
}

func TestSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ss := s.Sessions()
		if err := ss.SaveCtx(ctx, "tok", []byte("data1"), time.Now().Add(time.Hour), store.SessionOwner{}); err != nil {
			t.Fatal(err)
		}
		if err := ss.SaveCtx(ctx, "tok", []byte("data2"), time.Now().Add(time.Hour), store.SessionOwner{}); err != nil {
			t.Fatal(err)
		}
		if err := ss.SaveCtx(ctx, "old", []byte("x"), time.Now().Add(-time.Second), store.SessionOwner{}); err != nil {
			t.Fatal(err)
		}
		if b, ok, err := ss.FindCtx(ctx, "tok"); err != nil || !ok || string(b) != "data2" {
			t.Errorf("Find(tok) = %q, %v, %v; want data2", b, ok, err)
		}
		if _, ok, _ := ss.FindCtx(ctx, "old"); ok {
			t.Error("an expired session was found")
		}
		if n, err := ss.DeleteExpired(ctx); err != nil || n != 1 {
			t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
		}
		ss.DeleteCtx(ctx, "tok")
		if _, ok, _ := ss.FindCtx(ctx, "tok"); ok {
			t.Error("a deleted session was found")
		}
		if n, err := ss.DeleteExpired(ctx); err != nil || n != 1 {
			t.Errorf("DeleteExpired after a delete = %d, %v; want 1: the ended session is swept", n, err)
		}
	})
}

// A user's sessions are listed, newest use first, with the current one marked; ending the
// others leaves only it, and an ended session stays ended when a request that read it before
// saves it after (the save that would bring it back is refused without an error), as does a
// deleted one. Deleting the user deletes their sessions.
func TestUserSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ss := s.Sessions()
		ann, bob := &store.User{Email: "ann@example.com"}, &store.User{Email: "bob@example.com"}
		for _, u := range []*store.User{ann, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		hour := time.Now().Add(time.Hour)
		save := func(token string, u *store.User, seen time.Duration) {
			t.Helper()
			owner := store.SessionOwner{UserID: u.ID, SignedInAt: base, SeenAt: base.Add(seen)}
			if err := ss.SaveCtx(ctx, token, []byte("data of "+token), hour, owner); err != nil {
				t.Fatal(err)
			}
		}
		save("ann-laptop", ann, time.Minute)
		save("ann-phone", ann, 3*time.Minute)
		save("ann-tablet", ann, 2*time.Minute)
		save("bob-laptop", bob, time.Minute)
		if err := ss.SaveCtx(ctx, "ann-expired", []byte("x"), time.Now().Add(-time.Second), store.SessionOwner{UserID: ann.ID}); err != nil {
			t.Fatal(err)
		}

		list, err := ss.ForUser(ctx, ann.ID, "ann-laptop")
		if err != nil {
			t.Fatal(err)
		}
		var seen []time.Duration
		var current []bool
		for _, sn := range list {
			if sn.SignedInAt == nil || !sn.SignedInAt.Equal(base) || sn.SeenAt == nil {
				t.Fatalf("session %+v: want signed in at %v, seen set", sn, base)
			}
			seen, current = append(seen, sn.SeenAt.Sub(base)), append(current, sn.Current)
		}
		if !slices.Equal(seen, []time.Duration{3 * time.Minute, 2 * time.Minute, time.Minute}) ||
			!slices.Equal(current, []bool{false, false, true}) {
			t.Errorf("ann's sessions: seen %v current %v; want the three unexpired ones, newest use first, the laptop current", seen, current)
		}

		if n, err := ss.EndOthers(ctx, ann.ID, "ann-laptop"); err != nil || n != 2 {
			t.Errorf("EndOthers = %d, %v; want 2", n, err)
		}
		for token, want := range map[string]bool{"ann-laptop": true, "ann-phone": false, "ann-tablet": false, "bob-laptop": true} {
			if _, ok, err := ss.FindCtx(ctx, token); ok != want || err != nil {
				t.Errorf("after EndOthers, Find(%s) = %v, %v; want %v", token, ok, err, want)
			}
		}
		// The phone's request read its session before it ended, and saves it after.
		save("ann-phone", ann, 4*time.Minute)
		if _, ok, _ := ss.FindCtx(ctx, "ann-phone"); ok {
			t.Error("an ended session came back when a request saved it")
		}
		ss.DeleteCtx(ctx, "bob-laptop")
		save("bob-laptop", bob, 2*time.Minute)
		if _, ok, _ := ss.FindCtx(ctx, "bob-laptop"); ok {
			t.Error("a deleted session came back when a request saved it")
		}
		if list, _ := ss.ForUser(ctx, ann.ID, "ann-laptop"); len(list) != 1 || !list[0].Current {
			t.Errorf("after EndOthers ann has %+v, want the current session alone", list)
		}

		if err := s.DeleteUser(ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := ss.FindCtx(ctx, "ann-laptop"); ok {
			t.Error("a deleted user's session was found")
		}
		// A request of hers that was running saves its session: nothing is saved, no error.
		if err := ss.SaveCtx(ctx, "ann-new", []byte("x"), hour, store.SessionOwner{UserID: ann.ID}); err != nil {
			t.Errorf("saving a session of a deleted user: %v, want nothing saved and no error", err)
		}
		if _, ok, _ := ss.FindCtx(ctx, "ann-new"); ok {
			t.Error("a session of a deleted user was saved")
		}
	})
}

// Listing one user's sessions reads the index on user_id, not the whole table.
func TestUserSessionsUseTheIndex(t *testing.T) {
	s := storetest.Open(t, "sqlite")
	var plan []string
	rows, err := store.RawDBForTest(s).Query(`EXPLAIN QUERY PLAN SELECT token_hash FROM sessions WHERE user_id = 'x' AND expiry > '2024-01-01'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	rows.Close()
	if !strings.Contains(strings.Join(plan, "; "), "USING INDEX sessions_user_id") {
		t.Errorf("the plan %q does not use sessions_user_id", plan)
	}
}

// A read of the sessions table yields no cookie: the token is stored only as its hash, and a
// stored value used as a token finds nothing.
func TestSessionsStoreOnlyAHashOfTheToken(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ss := s.Sessions()
		const token = "Yq3nW0bE6d2Xk9pLr4sVt7uA1cZ8fGhJ"
		if err := ss.SaveCtx(ctx, token, []byte("user_id=alice"), time.Now().Add(time.Hour), store.SessionOwner{}); err != nil {
			t.Fatal(err)
		}
		rows, err := store.RawDBForTest(s).QueryContext(ctx, `SELECT token_hash, data, expiry FROM sessions`)
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for rows.Next() {
			var key, data, expiry string
			if err := rows.Scan(&key, &data, &expiry); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(key+data+expiry, token) {
				t.Errorf("the row (%q, %q, %q) holds the token", key, data, expiry)
			}
			stored = append(stored, key)
		}
		rows.Close()
		if len(stored) != 1 {
			t.Fatalf("got %d session rows, want 1", len(stored))
		}
		if b, ok, err := ss.FindCtx(ctx, token); err != nil || !ok || string(b) != "user_id=alice" {
			t.Errorf("Find(token) = %q, %v, %v; want the session", b, ok, err)
		}
		if _, ok, err := ss.FindCtx(ctx, stored[0]); err != nil || ok {
			t.Errorf("Find(the stored key) = %v, %v; want no session: a copied row must sign nobody in", ok, err)
		}
	})
}

// Sessions stored in clear by an older version cannot be hashed in SQL: the upgrade ends them.
func TestMigrationEndsSessionsStoredInClear(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Driver: driver, DSN: storetest.DSN(t, driver), Key: storetest.Key})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := store.MigrateToForTest(ctx, s, 4); err != nil {
				t.Fatal(err)
			}
			execRaw(t, s, "INSERT INTO sessions (token, data, expiry) VALUES ('clear-token', $1, $2)", []byte("x"), time.Now().Add(time.Hour).UTC())
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := store.RawDBForTest(s).QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
				t.Errorf("after the upgrade: %d sessions (%v), want 0", n, err)
			}
			if _, ok, err := s.Sessions().FindCtx(ctx, "clear-token"); ok || err != nil {
				t.Errorf("Find(clear-token) = %v, %v; want no session", ok, err)
			}
		})
	}
}

// A write that finds the disk full fails with ErrDiskFull and writes nothing; the store says
// so until a write succeeds again. SQLite's max_page_count gives the very error a full disk
// does (SQLITE_FULL); the real full disk is TestDiskFull in the root package.
func TestDiskFullIsReportedUntilAWriteSucceeds(t *testing.T) {
	s := storetest.Open(t, "sqlite")
	ctx := context.Background()
	db := store.RawDBForTest(s) // the one write connection, so the pragma holds for every write
	var pages int
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	execRaw(t, s, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
	var err error
	var email string
	for i := 0; err == nil && i < 1000; i++ {
		email = fmt.Sprintf("u%d@example.com", i)
		err = s.CreateUser(ctx, &store.User{Email: email, PasswordHash: strings.Repeat("x", 2000)})
	}
	if !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("creating users on a full database: got %v, want ErrDiskFull", err)
	}
	if _, err := s.UserByEmail(ctx, email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user whose write failed: %v, want not found", err)
	}
	if !s.DiskFull() {
		t.Error("DiskFull() = false after a write found the disk full")
	}
	if _, err := s.UserByEmail(ctx, "u0@example.com"); err != nil {
		t.Errorf("reading on a full disk: %v", err)
	}
	if _, err := s.Sessions().DeleteExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.DiskFull() {
		t.Error("DiskFull() = false after a statement that wrote nothing, want true until a write succeeds")
	}
	execRaw(t, s, fmt.Sprintf(`PRAGMA max_page_count = %d`, 1<<30))
	if err := s.CreateUser(ctx, &store.User{Email: "after@example.com"}); err != nil {
		t.Fatal(err)
	}
	if s.DiskFull() {
		t.Error("DiskFull() = true after a write succeeded again")
	}
}

// PostgreSQL's disk_full cannot be caused in a test cluster without filling a disk under it;
// its SQLSTATE is classified like SQLite's code.
func TestDiskFullErrorsOfBothDatabases(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"postgres disk_full", fmt.Errorf("create device: %w", &pgconn.PgError{Code: "53100"}), true},
		{"postgres out of memory", &pgconn.PgError{Code: "53200"}, false},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"other", errors.New("database or disk is full"), false},
	} {
		if got := store.IsDiskFullForTest(tc.err); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOpenCorruptSQLiteFileSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(path, []byte(strings.Repeat("this is not sqlite ", 100)), 0o600)
	_, err := store.Open(context.Background(), store.Options{Driver: "sqlite", DSN: path, Key: storetest.Key})
	if err == nil || !strings.Contains(err.Error(), "not a database") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v, want a one-line 'not a database' error", err)
	}
}

func TestOpenUnreachablePostgresFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := store.Open(ctx, store.Options{Driver: "postgres", DSN: "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", Key: storetest.Key})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v, want a one-line error", err)
	}
}

// raw SQL helpers for checks the store API deliberately does not offer.
func rawDB(t *testing.T, s *store.Store) *sql.DB {
	t.Helper()
	return store.RawDBForTest(s)
}

func rawColumn(t *testing.T, s *store.Store, query string, arg any) string {
	t.Helper()
	var v string
	if err := rawDB(t, s).QueryRow(query, arg).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func execRaw(t *testing.T, s *store.Store, query string, args ...any) {
	t.Helper()
	if _, err := rawDB(t, s).Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func tryRaw(s *store.Store, query string, args ...any) error {
	_, err := store.RawDBForTest(s).Exec(query, args...)
	return err
}

func TestMigrateBacksUpAnExistingSQLiteDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	ctx := context.Background()
	open := func() *store.Store {
		s, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: path, Key: storetest.Key})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if err := store.MigrateToForTest(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	execRaw(t, s, "INSERT INTO users (id, email, created_at, updated_at) VALUES ('u1', 'old@example.com', $1, $1)", time.Now())
	s.Close()

	s = open()
	defer s.Close()
	if n, err := s.Migrate(ctx); err != nil || n == 0 {
		t.Fatalf("Migrate = %d, %v; want the pending migrations applied", n, err)
	}
	backups, _ := filepath.Glob(path + ".v1-*.bak")
	if len(backups) != 1 {
		t.Fatalf("backups %v, want one of version 1", backups)
	}
	b, err := store.Open(ctx, store.Options{Driver: "sqlite", DSN: backups[0], Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The backup has the old schema, which today's queries may not read: plain SQL.
	var id string
	if err := store.RawDBForTest(b).QueryRow(`SELECT id FROM users WHERE email = 'old@example.com'`).Scan(&id); err != nil || id != "u1" {
		t.Errorf("the backup lacks the old data: %q, %v", id, err)
	}
	if u, err := s.UserByEmail(ctx, "old@example.com"); err != nil || u.ID != "u1" {
		t.Errorf("the migrated database lost the old data: %v, %v", u, err)
	}
}

func TestAccessMarkChangesWithEveryWrite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		marks := map[string]string{}
		step := func(what string) {
			t.Helper()
			m, err := s.AccessMark(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for before, old := range marks {
				if old == m {
					t.Errorf("after %s the mark is the same as after %s: %q", what, before, m)
				}
			}
			marks[what] = m
		}
		step("nothing")
		u := mustUser(t, s, "mark@example.com")
		step("a new user")
		d := &store.Device{UserID: u.ID, Name: "d", PublicKey: "markkey"}
		if err := s.CreateDevice(ctx, d, pools(2)); err != nil {
			t.Fatal(err)
		}
		step("a new device")
		if _, err := s.UpdateDevice(ctx, d.ID, func(d *store.Device) error { d.Name = "e"; return nil }); err != nil {
			t.Fatal(err)
		}
		step("a renamed device")
		now := time.Now()
		if err := s.SetUserDisabled(ctx, u.ID, &now); err != nil {
			t.Fatal(err)
		}
		step("a disabled user")
		if _, err := s.UpdateSettings(ctx, func(st *store.Settings) error { st.VPNSessionDuration = time.Hour; return nil }); err != nil {
			t.Fatal(err)
		}
		step("new settings")
		if err := s.UpdateDeviceStats(ctx, []store.StatsUpdate{{PublicKey: "markkey", DeviceStats: store.DeviceStats{RxBytes: 5}}}); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.AccessMark(ctx); m != marks["new settings"] {
			t.Errorf("traffic counters changed the mark: %q", m)
		}
		if err := s.DeleteDevice(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		step("a deleted device")
	})
}

func TestUpdateDeviceStatsAcrossBatches(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "fleet@example.com")
		const n = 501 // one more than a statement updates
		var updates []store.StatsUpdate
		for i := range n {
			key := fmt.Sprintf("key-%03d", i)
			if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: key, PublicKey: key}, store.AddressPools{}); err != nil {
				t.Fatal(err)
			}
			updates = append(updates, store.StatsUpdate{PublicKey: key, DeviceStats: store.DeviceStats{
				RxBytes: int64(i), TxBytes: int64(2 * i), RxTotal: int64(1<<40 + i), TxTotal: int64(3 * i)}})
		}
		if err := s.UpdateDeviceStats(ctx, updates); err != nil {
			t.Fatal(err)
		}
		tracked, err := s.TrackedDevices(ctx)
		if err != nil || len(tracked) != n {
			t.Fatalf("tracked: %v, %d", err, len(tracked))
		}
		for _, d := range tracked {
			var i int
			fmt.Sscanf(d.PublicKey, "key-%d", &i)
			if d.RxBytes != int64(i) || d.TxBytes != int64(2*i) || d.RxTotal != int64(1<<40+i) || d.TxTotal != int64(3*i) ||
				d.LatestHandshake != nil {
				t.Fatalf("%s: %+v", d.PublicKey, d.DeviceStats)
			}
		}
	})
}

// A user's theme starts as the system's, changes without moving updated_at (the data plane's
// mark: a preference changes nobody's access), and is one of the three; the sign-in method is
// read back.
func TestUserThemeAndSignInMethod(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := &store.User{Email: "ann@example.com"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(ctx, u.ID); got.Theme != store.ThemeSystem || got.LastSignedInMethod != "" {
			t.Errorf("a new user: theme %q, method %q; want system and none", got.Theme, got.LastSignedInMethod)
		}
		if err := s.SetUserTheme(ctx, u.ID, store.ThemeDark); err != nil {
			t.Fatal(err)
		}
		got, _ := s.UserByID(ctx, u.ID)
		if got.Theme != store.ThemeDark || !got.UpdatedAt.Equal(u.UpdatedAt) {
			t.Errorf("after SetUserTheme(dark): theme %q, updated %v (was %v); want dark, unchanged", got.Theme, got.UpdatedAt, u.UpdatedAt)
		}
		if err := s.SetUserTheme(ctx, u.ID, "purple"); err == nil {
			t.Error("the theme purple was stored")
		}
		if err := s.SetUserTheme(ctx, "nobody", store.ThemeLight); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the theme of nobody: %v, want ErrNotFound", err)
		}
		if err := s.RecordSignIn(ctx, u.ID, "password", time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByEmail(ctx, u.Email); got.LastSignedInMethod != "password" {
			t.Errorf("sign-in method %q, want password", got.LastSignedInMethod)
		}
	})
}
