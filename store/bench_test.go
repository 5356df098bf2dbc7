package store_test

import (
	"context"
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
		_, err := tx.Exec(`INSERT INTO devices (id, user_id, name, public_key, preshared_key, ipv4, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, fmt.Sprintf("d%06d", i), users[i%len(users)].ID, fmt.Sprint("device ", i),
			fmt.Sprintf("key%06d", i), store.SealForTest(s, "preshared-key-value-0123456789abcdef"), ip.String(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListLivePeers10k is the database half of a reconcile pass at 10,000 devices.
func BenchmarkListLivePeers10k(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			seedDevices(b, s, 10_000)
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
}

// BenchmarkAccessMark10k is what every reconcile pass asks the database at 10,000 devices
// to find changes other processes made.
func BenchmarkAccessMark10k(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			seedDevices(b, s, 10_000)
			ctx := context.Background()
			for b.Loop() {
				if _, err := s.AccessMark(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
