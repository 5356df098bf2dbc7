package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

func TestDeviceNameKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Phone", "phone", true},
		{"  Phone ", "PHONE", true},
		{"Émile", "ÉMILE", true},
		{"E\u0301mile", "émile", true}, // decomposed and composed
		{"Straße", "STRASSE", true},
		{"Ωmega", "ωMEGA", true},
		{"Phone", "Phone 2", false},
		{"Émile", "Emile", false},
	} {
		if got := store.DeviceNameKey(tc.a) == store.DeviceNameKey(tc.b); got != tc.same {
			t.Errorf("%q and %q: got same %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// Names are unique per user, without regard to letter case, on both databases: the store
// says which device has the name, and the unique index refuses what gets past the check.
func TestDeviceNamesAreUniquePerUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice, bob := mustUser(t, s, "alice@example.com"), mustUser(t, s, "bob@example.com")
		create := func(u *store.User, name string) (*store.Device, error) {
			d := &store.Device{UserID: u.ID, Name: name, PublicKey: "key-" + u.Email + "-" + name}
			return d, s.CreateDevice(ctx, d, store.AddressPools{})
		}
		phone, err := create(alice, "Phone")
		if err != nil {
			t.Fatal(err)
		}
		emile, err := create(alice, "Émile")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Phone", "phone", "PHONE", " phone "} {
			_, err := create(alice, name)
			var taken *store.DeviceNameTakenError
			if !errors.As(err, &taken) || taken.Existing != "Phone" || !errors.Is(err, store.ErrConflict) {
				t.Errorf("create %q: got %v, want the name taken by Phone (an ErrConflict)", name, err)
			}
		}
		if _, err := create(alice, "ÉMILE"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("create ÉMILE next to Émile: got %v, want ErrConflict", err)
		}
		if _, err := create(bob, "phone"); err != nil {
			t.Errorf("bob's phone: got %v, want it created: names are unique per user", err)
		}

		// Renaming: to another device's name is refused, to a new case of its own name is not.
		_, err = s.UpdateDevice(ctx, emile.ID, func(d *store.Device) error { d.Name = "pHONE"; return nil })
		var taken *store.DeviceNameTakenError
		if !errors.As(err, &taken) || taken.Existing != "Phone" {
			t.Errorf("rename Émile to pHONE: got %v, want the name taken by Phone", err)
		}
		if got, _ := s.DeviceByID(ctx, emile.ID); got.Name != "Émile" {
			t.Errorf("after the refused rename: name %q, want Émile", got.Name)
		}
		if _, err := s.UpdateDevice(ctx, phone.ID, func(d *store.Device) error { d.Name = "phone"; return nil }); err != nil {
			t.Errorf("rename Phone to phone: got %v, want it renamed", err)
		}

		got, err := s.DeviceByName(ctx, alice.ID, " PHONE")
		if err != nil || got.ID != phone.ID {
			t.Errorf("DeviceByName(PHONE) = %v, %v; want %s", got, err, phone.ID)
		}
		if _, err := s.DeviceByName(ctx, alice.ID, "Tablet"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeviceByName(Tablet) = %v, want ErrNotFound", err)
		}

		// The index itself, for a writer that skips the check.
		err = tryRaw(s, `INSERT INTO devices (id, user_id, name, name_key, public_key, preshared_key, created_at, updated_at)
			VALUES ('raw', $1, 'PHONE', $2, 'raw-key', '', $3, $3)`, alice.ID, store.DeviceNameKey("PHONE"), time.Now().UTC())
		if err == nil {
			t.Error("a raw insert of a taken name key succeeded; want the unique index to refuse it")
		}
	})
}

// Concurrent creations of one name: exactly one wins, on both databases.
func TestConcurrentDevicesOfOneNameGetOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice@example.com")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := &store.Device{UserID: u.ID, Name: []string{"Laptop", "laptop"}[i%2], PublicKey: "key-" + string(rune('a'+i))}
				errs[i] = s.CreateDevice(ctx, d, store.AddressPools{})
			})
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			var taken *store.DeviceNameTakenError
			switch {
			case err == nil:
				created++
			case !errors.As(err, &taken):
				t.Errorf("creation %d: got %v, want the name taken", i, err)
			}
		}
		if created != 1 {
			t.Errorf("got %d devices created, want 1", created)
		}
	})
}

// Migration 00007 renames each user's devices whose names are the same but for letter case:
// the oldest keeps its name, the others get the first free " (n)", within the length limit,
// and each rename is logged once the migration committed.
func TestMigrationRenamesDuplicateDeviceNames(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			var logs bytes.Buffer
			s, err := store.Open(ctx, store.Options{Driver: driver, DSN: storetest.DSN(t, driver), Key: storetest.Key,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := store.MigrateToForTest(ctx, s, 6); err != nil {
				t.Fatal(err)
			}
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, u := range []string{"u1", "u2"} {
				execRaw(t, s, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
					u, u+"@example.com", start.Add(time.Duration(i)*time.Second))
			}
			long := strings.Repeat("x", store.MaxDeviceName)
			devices := []struct{ id, user, name string }{
				{"a", "u1", "Phone"}, {"b", "u1", "phone"}, {"c", "u1", "Phone (2)"}, {"d", "u1", "PHONE"},
				{"e", "u1", "Laptop"}, {"f", "u2", "phone"}, {"g", "u1", long}, {"h", "u1", strings.ToUpper(long)},
				{"i", "u1", "Émile"}, {"j", "u1", "ÉMILE"},
			}
			for i, d := range devices {
				execRaw(t, s, `INSERT INTO devices (id, user_id, name, public_key, preshared_key, created_at, updated_at)
					VALUES ($1, $2, $3, $4, '', $5, $5)`, d.id, d.user, d.name, "key-"+d.id, start.Add(time.Duration(i)*time.Minute))
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"a": "Phone", "b": "phone (3)", "c": "Phone (2)", "d": "PHONE (4)", "e": "Laptop", "f": "phone",
				"g": long, "h": strings.Repeat("X", store.MaxDeviceName-4) + " (2)", "i": "Émile", "j": "ÉMILE (2)",
			}
			for id, name := range want {
				got, err := s.DeviceByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != name {
					t.Errorf("device %s: got name %q, want %q", id, got.Name, name)
				}
				// name_key is filled: the device is found by its name in another case.
				if byName, err := s.DeviceByName(ctx, got.UserID, strings.ToLower(name)); err != nil || byName.ID != id {
					t.Errorf("DeviceByName(%q) = %v, %v; want device %s", strings.ToLower(name), byName, err, id)
				}
			}
			for _, line := range []string{`from=phone to="phone (3)"`, `from=PHONE to="PHONE (4)"`, `from=ÉMILE to="ÉMILE (2)"`} {
				if !strings.Contains(logs.String(), line) {
					t.Errorf("the log has no line with %s:\n%s", line, logs.String())
				}
			}
			if n := strings.Count(logs.String(), "device renamed"); n != 4 {
				t.Errorf("got %d rename lines, want 4:\n%s", n, logs.String())
			}
		})
	}
}
