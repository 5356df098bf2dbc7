package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// seedDevices creates n devices spread over n/10 users.
func seedDevices(b *testing.B, s *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	var users []*store.User
	for i := range max(n/10, 1) {
		u := &store.User{Email: fmt.Sprintf("u%d@example.com", i)}
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
		s.RecordSignIn(ctx, u.ID, "password", time.Now())
		users = append(users, u)
	}
	// Insert directly in one transaction: CreateDevice's allocation is benchmarked elsewhere.
	db := store.RawDBForTest(s)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		name := fmt.Sprint("device ", i)
		_, err := tx.Exec(`INSERT INTO devices (id, user_id, name, name_key, public_key, preshared_key, ipv4, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, fmt.Sprintf("d%06d", i), users[i%len(users)].ID, name, store.DeviceNameKey(name),
			fmt.Sprintf("key%06d", i), store.SealForTest(s, "preshared-key-value-0123456789abcdef"), ip.String(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// benchSeeded runs fn as a sub-benchmark per driver, on a fresh store holding n devices of
// seedDevices.
func benchSeeded(b *testing.B, n int, fn func(b *testing.B, driver string, s *store.Store)) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			seedDevices(b, s, n)
			fn(b, driver, s)
		})
	}
}

// BenchmarkListLivePeers10k is the database half of a reconcile pass at 10,000 devices.
func BenchmarkListLivePeers10k(b *testing.B) {
	benchSeeded(b, 10_000, func(b *testing.B, _ string, s *store.Store) {
		ctx := context.Background()
		for _, session := range []time.Duration{0, time.Hour} {
			s.UpdateSettings(ctx, func(st *store.Settings) error { st.VPNSessionDuration = session; return nil })
			b.Run(fmt.Sprint("session=", session), func(b *testing.B) {
				for b.Loop() {
					devices, _, err := s.ListLivePeers(ctx, time.Now(), "")
					if err != nil || len(devices) != 10_000 {
						b.Fatalf("got %d devices, %v", len(devices), err)
					}
				}
			})
		}
	})
}

// BenchmarkAccessMark10k is what every reconcile pass asks the database at 10,000 devices
// to find changes other processes made.
func BenchmarkAccessMark10k(b *testing.B) {
	benchSeeded(b, 10_000, func(b *testing.B, _ string, s *store.Store) {
		ctx := context.Background()
		for b.Loop() {
			if _, err := s.AccessMark(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkListDevicesPage10k is the database half of one page of the device tables at
// 10,000 devices: 100 owners of 100 devices each, two thirds of the devices with traffic and
// a handshake. PostgreSQL is vacuumed and analyzed first, as autovacuum would have done.
func BenchmarkListDevicesPage10k(b *testing.B) {
	benchSeeded(b, 10_000, func(b *testing.B, driver string, s *store.Store) {
		owner := gatherDevicesOwners(b, s, 100)
		seedDeviceStats(b, s, 10_000)
		if driver == "postgres" {
			if _, err := store.RawDBForTest(s).Exec(`VACUUM ANALYZE`); err != nil {
				b.Fatal(err)
			}
		}
		cases := []struct {
			name    string
			q       store.DeviceQuery
			matches int
		}{
			{"name/page=1", store.DeviceQuery{Limit: 50}, 10_000},
			{"name/offset=5000", store.DeviceQuery{Offset: 5000, Limit: 50}, 10_000},
			{"owner=one/rx-desc", store.DeviceQuery{UserID: owner, Sort: store.SortByReceived, Desc: true, Limit: 50}, 100},
			// "7" is in the name, address or key of 4,988 devices; "device 123" in the names of 11.
			{"search=half/handshake", store.DeviceQuery{Search: "7", Sort: store.SortByHandshake, Limit: 50}, 4_988},
			{"search=11/name", store.DeviceQuery{Search: "device 123", Limit: 50}, 11},
			{"sort=owner", store.DeviceQuery{Sort: store.SortByOwner, Limit: 50}, 10_000},
			{"sort=rx-desc", store.DeviceQuery{Sort: store.SortByReceived, Desc: true, Limit: 50}, 10_000},
		}
		ctx := context.Background()
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					devices, total, err := s.ListDevicesPage(ctx, c.q)
					if err != nil || total != c.matches || len(devices) != min(c.q.Limit, c.matches) {
						b.Fatalf("got %d devices of %d, %v; want %d of %d", len(devices), total, err, min(c.q.Limit, c.matches), c.matches)
					}
				}
			})
		}
	})
}

// gatherDevicesOwners hands the devices of seedDevices to its first owners users
// (u0@example.com, u1@example.com, …), so that each of them has n/owners devices and the
// other users none, and returns the id of u0.
func gatherDevicesOwners(b *testing.B, s *store.Store, owners int) string {
	b.Helper()
	ctx := context.Background()
	db := store.RawDBForTest(s)
	ids := map[string]string{}
	rows, err := db.Query(`SELECT email, id FROM users`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&email, &id); err != nil {
			b.Fatal(err)
		}
		ids[email] = id
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		b.Fatal(err)
	}
	for i := owners; i < len(ids); i++ {
		_, err := db.ExecContext(ctx, `UPDATE devices SET user_id = $1 WHERE user_id = $2`,
			ids[fmt.Sprintf("u%d@example.com", i%owners)], ids[fmt.Sprintf("u%d@example.com", i)])
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids["u0@example.com"]
}

// seedDeviceStats gives two of every three devices of seedDevices traffic and a handshake
// within the last day, in no relation to their names; the third never connected.
func seedDeviceStats(b *testing.B, s *store.Store, n int) {
	b.Helper()
	at := time.Now().UTC().Truncate(time.Second)
	updates := make([]store.StatsUpdate, 0, n)
	for i := range n {
		if i%3 == 0 {
			continue
		}
		scrambled := int64(i) * 7919 % 100_003
		handshake := at.Add(-time.Duration(scrambled) * time.Second)
		updates = append(updates, store.StatsUpdate{PublicKey: fmt.Sprintf("key%06d", i), DeviceStats: store.DeviceStats{
			RxTotal: scrambled * 4096, TxTotal: scrambled * 1024, LatestHandshake: &handshake}})
	}
	if err := s.UpdateDeviceStats(context.Background(), updates); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListDeviceSources10k is what Explain and the policy tests read of the devices.
func BenchmarkListDeviceSources10k(b *testing.B) {
	benchSeeded(b, 10_000, func(b *testing.B, _ string, s *store.Store) {
		for b.Loop() {
			if list, err := s.ListDeviceSources(context.Background()); err != nil || len(list) != 10_000 {
				b.Fatalf("got %d devices, %v", len(list), err)
			}
		}
	})
}

// BenchmarkListUsersPage10k is the database half of one page of the users table at 10,000
// users: 1,000 of them own the 10,000 devices of seedDevices and have signed in; of the
// 9,000 others every tenth is an admin and two thirds signed in at scattered times.
// PostgreSQL is vacuumed and analyzed first, as autovacuum would have done.
func BenchmarkListUsersPage10k(b *testing.B) {
	benchSeeded(b, 10_000, func(b *testing.B, driver string, s *store.Store) {
		db := store.RawDBForTest(s)
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		for i := range 9_000 {
			role, method := store.RoleUnprivileged, ""
			if i%10 == 0 {
				role = store.RoleAdmin
			}
			var signedIn any
			if i%3 != 0 {
				signedIn, method = now.Add(-time.Duration(i*7919%43_200)*time.Minute), "password"
			}
			if _, err := tx.Exec(`INSERT INTO users (id, email, role, last_signed_in_at, last_signed_in_method, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6)`, fmt.Sprintf("m%05d", i), fmt.Sprintf("member%05d@example.com", i), role,
				signedIn, method, now.Add(-time.Duration(9_000-i)*time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if driver == "postgres" {
			if _, err := db.Exec(`VACUUM ANALYZE`); err != nil {
				b.Fatal(err)
			}
		}
		cases := []struct {
			name    string
			q       store.UserQuery
			matches int
		}{
			{"email/page=1", store.UserQuery{Limit: 50}, 10_000},
			{"email/offset=5000", store.UserQuery{Offset: 5000, Limit: 50}, 10_000},
			{"role/offset=5000", store.UserQuery{Sort: store.SortUsersByRole, Offset: 5000, Limit: 50}, 10_000},
			{"signin-desc/offset=5000", store.UserQuery{Sort: store.SortUsersBySignIn, Desc: true, Offset: 5000, Limit: 50}, 10_000},
			{"created-desc/page=1", store.UserQuery{Sort: store.SortUsersByCreated, Desc: true, Limit: 50}, 10_000},
			// "example" is in every email; "member012" in 100.
			{"search=all/signin-desc", store.UserQuery{Search: "example", Sort: store.SortUsersBySignIn, Desc: true, Limit: 50}, 10_000},
			{"search=100/email", store.UserQuery{Search: "member012", Limit: 50}, 100},
		}
		ctx := context.Background()
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					users, total, err := s.ListUsersPage(ctx, c.q)
					if err != nil || total != c.matches || len(users) != min(c.q.Limit, c.matches) {
						b.Fatalf("got %d users of %d, %v; want %d of %d", len(users), total, err, min(c.q.Limit, c.matches), c.matches)
					}
				}
			})
		}
	})
}
