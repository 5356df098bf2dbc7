package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// TestADamagedDeviceRowIsListedWithItsProblem: a row whose columns do not read (a hand edit,
// a restore under another encryption key) is listed with what is wrong, and neither the live
// peers nor a page of devices fail for everyone else.
func TestADamagedDeviceRowIsListedWithItsProblem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "owner@example.com")
		var ids []string
		for i := range 3 {
			d := &store.Device{UserID: u.ID, Name: fmt.Sprint("d", i), PublicKey: fmt.Sprint("k", i), PresharedKey: "psk"}
			if err := s.CreateDevice(ctx, d, pools(9)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		db := store.RawDBForTest(s)
		if _, err := db.ExecContext(ctx, `UPDATE devices SET ipv4 = 'not an address', allowed_subnets = '10.9.0.0/99',
			preshared_key = 'v1:garbage' WHERE id = $1`, ids[1]); err != nil {
			t.Fatal(err)
		}

		live, _, err := s.ListLivePeers(ctx, time.Now(), "")
		if err != nil {
			t.Fatalf("ListLivePeers with a damaged row: %v", err)
		}
		if len(live) != 3 {
			t.Fatalf("%d live peers, want all 3 listed", len(live))
		}
		for _, p := range live {
			damaged := p.DeviceID == ids[1]
			if got := p.Problem != ""; got != damaged {
				t.Errorf("device %s: problem %q, want one only for the damaged row", p.DeviceID, p.Problem)
			}
			if !damaged && (!p.IPv4.IsValid() || p.PresharedKey != "psk") {
				t.Errorf("sound device %s read as %+v", p.DeviceID, p)
			}
		}
		wantProblem := []string{`IPv4 address "not an address" is invalid`, `relay subnets "10.9.0.0/99" are invalid`,
			"preshared key cannot be decrypted"}
		page, total, err := s.ListDevicesPage(ctx, store.DeviceQuery{Limit: 50})
		if err != nil || total != 3 || len(page) != 3 {
			t.Fatalf("page: %d of %d devices, err %v; want all 3", len(page), total, err)
		}
		for _, d := range page {
			if d.ID != ids[1] {
				continue
			}
			for _, w := range wantProblem {
				if !strings.Contains(d.Problem, w) {
					t.Errorf("problem %q, want it to say %q", d.Problem, w)
				}
			}
		}
		d, err := s.DeviceByID(ctx, ids[1])
		if err != nil {
			t.Fatalf("DeviceByID of the damaged row: %v", err)
		}
		if d.Problem == "" {
			t.Error("DeviceByID of the damaged row: no problem named")
		}
	})
}
