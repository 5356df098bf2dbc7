package app_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg"
)

// TestTextFieldsOnBothDatabases checks the text rule where it matters: what it refuses never
// reaches either database (PostgreSQL would fail on a NUL or invalid UTF-8 that SQLite keeps),
// and what it accepts comes back from both exactly as the rule wrote it.
func TestTextFieldsOnBothDatabases(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.EnsureServerKeys(ctx, func() (store.ServerKeys, error) {
			priv, pub, err := wg.GenerateKeyPair()
			return store.ServerKeys{PrivateKey: priv.String(), PublicKey: pub.String()}, err
		}); err != nil {
			t.Fatal(err)
		}
		v4, _ := wg.NewPool(netip.MustParsePrefix("10.3.2.0/24"))
		svc := &devices.Service{Store: s, Pools: store.AddressPools{IPv4: v4},
			Client: devices.ClientDefaults{EndpointHost: "vpn.example.com", EndpointPort: 51820}}
		email, err := text.Email("Zoe\u0308@Example.com") // decomposed, as some keyboards send it
		if err != nil {
			t.Fatal(err)
		}
		owner := &store.User{Email: email, Role: store.RoleUnprivileged}
		if err := s.CreateUser(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByEmail(ctx, "zo\u00eb@example.com"); err != nil || got.Email != "zo\u00eb@example.com" {
			t.Errorf("the user's email came back as %v, %v; want zo\u00eb@example.com", got, err)
		}

		for _, tc := range []struct {
			name, description string
			field, message    string
		}{
			{"gpj\u202e.exe", "", "name", "A device name cannot contain invisible formatting characters such as U+202E."},
			{"ad\u200bmin", "", "name", "A device name cannot contain invisible formatting characters such as U+200B."},
			{"a\x00b", "", "name", "A device name cannot contain NUL bytes."},
			{"caf\xe9", "", "name", "A device name must be UTF-8 text; this one has a byte that is not."},
			{"two\nlines", "", "name", "A device name cannot contain line breaks."},
			{"laptop", "before\x00after", "description", "A description cannot contain NUL bytes."},
			{"laptop", "Latin-1 caf\xe9", "description", "A description must be UTF-8 text; this one has a byte that is not."},
			{"laptop", "bell\a", "description", "A description cannot contain control characters such as U+0007."},
		} {
			_, err := svc.Create(ctx, devices.Spec{UserID: owner.ID, Name: tc.name, Description: tc.description})
			var bad *text.InputError
			if !errors.As(err, &bad) || bad.Field != tc.field || bad.Message != tc.message {
				t.Errorf("Create(name %q, description %q): got %v, want %s: %q", tc.name, tc.description, err, tc.field, tc.message)
			}
		}
		if list, err := s.ListDevices(ctx); err != nil || len(list) != 0 {
			t.Fatalf("refused text reached the database: %d devices, %v", len(list), err)
		}

		const (
			name        = "Zo\u00eb's \U0001F680 laptop"
			description = "Zo\u00eb's work laptop\n\t\u2014 \u05e2\u05d1\u05e8\u05d9\u05ea, \u65e5\u672c\u8a9e, \U0001F469\u200d\U0001F4BB\nsecond line"
		)
		created, err := svc.Create(ctx, devices.Spec{UserID: owner.ID,
			Name:        "  Zoe\u0308's \U0001F680 laptop ",
			Description: "Zoe\u0308's work laptop\r\n\t\u2014 \u05e2\u05d1\u05e8\u05d9\u05ea, \u65e5\u672c\u8a9e, \U0001F469\u200d\U0001F4BB\rsecond line\n"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.DeviceByID(ctx, created.Device.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Description != description {
			t.Errorf("stored name %q and description %q, want %q and %q", got.Name, got.Description, name, description)
		}

		// An edit meets the same rule, and a refused one leaves the stored device as it was.
		_, err = svc.Update(ctx, got.ID, func(d *store.Device) error {
			d.Description = "now with a NUL\x00"
			return nil
		})
		if bad := (*text.InputError)(nil); !errors.As(err, &bad) || bad.Field != "description" {
			t.Errorf("an edit to a description with a NUL: got %v, want an error on the description", err)
		}
		if again, err := s.DeviceByID(ctx, got.ID); err != nil || again.Description != description {
			t.Errorf("after a refused edit the description is %q, %v; want %q", again.Description, err, description)
		}
	})
}
