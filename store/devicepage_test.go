package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// pagingFixture creates 3 owners and 23 devices whose names, totals and handshakes repeat,
// so that every sort meets equal keys, and returns the devices as stored. Names repeat across
// owners, never within one: a user's device names are unique, without regard to letter case.
func pagingFixture(t *testing.T, s *store.Store) []store.Device {
	t.Helper()
	ctx := context.Background()
	owners := []*store.User{mustUser(t, s, "carol@example.com"), mustUser(t, s, "alice@example.com"), mustUser(t, s, "bob@example.com")}
	names := []string{"laptop", "Laptop", "phone", "Desk PC", "desk pc", "tablet", "laptop"}
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var updates []store.StatsUpdate
	taken := map[string]bool{}
	for i := range 23 {
		owner, name := owners[i%len(owners)].ID, names[i%len(names)]
		if taken[owner+store.DeviceNameKey(name)] {
			name = fmt.Sprintf("%s %d", name, i)
		}
		taken[owner+store.DeviceNameKey(name)] = true
		d := &store.Device{UserID: owner, Name: name, PublicKey: fmt.Sprintf("page-key-%02d", i)}
		if err := s.CreateDevice(ctx, d, store.AddressPools{}); err != nil {
			t.Fatal(err)
		}
		u := store.StatsUpdate{PublicKey: d.PublicKey, DeviceStats: store.DeviceStats{RxTotal: int64(i%3) * 1000, TxTotal: int64(i%4) * 10}}
		if i%4 != 0 { // every fourth device never connected
			at := base.Add(time.Duration(i%5) * time.Minute)
			u.LatestHandshake = &at
		}
		updates = append(updates, u)
	}
	if err := s.UpdateDeviceStats(ctx, updates); err != nil {
		t.Fatal(err)
	}
	// Two devices created in the same microsecond, so that created_at has a tie too.
	devices, err := s.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	execRaw(t, s, "UPDATE devices SET created_at = $1 WHERE id = $2", devices[1].CreatedAt, devices[0].ID)
	devices, err = s.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return devices
}

// wantOrder is the model of each sort, ascending, ties broken by id; descending is its reverse.
var wantOrder = map[store.DeviceSort]func(a, b store.Device) int{
	store.SortByName: func(a, b store.Device) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.ID, b.ID))
	},
	store.SortByOwner: func(a, b store.Device) int {
		return cmp.Or(strings.Compare(a.UserEmail, b.UserEmail), strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
			strings.Compare(a.ID, b.ID))
	},
	store.SortByHandshake: func(a, b store.Device) int {
		switch {
		case a.LatestHandshake == nil && b.LatestHandshake == nil:
			return strings.Compare(a.ID, b.ID)
		case a.LatestHandshake == nil:
			return -1
		case b.LatestHandshake == nil:
			return 1
		}
		return cmp.Or(a.LatestHandshake.Compare(*b.LatestHandshake), strings.Compare(a.ID, b.ID))
	},
	store.SortByReceived: func(a, b store.Device) int {
		return cmp.Or(cmp.Compare(a.RxTotal, b.RxTotal), strings.Compare(a.ID, b.ID))
	},
	store.SortBySent: func(a, b store.Device) int {
		return cmp.Or(cmp.Compare(a.TxTotal, b.TxTotal), strings.Compare(a.ID, b.ID))
	},
	store.SortByCreated: func(a, b store.Device) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	},
}

func ids(devices []store.Device) []string {
	out := make([]string, len(devices))
	for i, d := range devices {
		out[i] = d.ID
	}
	return out
}

func TestListDevicesPageSortsAndPages(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := pagingFixture(t, s)
		carol := all[len(all)-1].UserID // ListDevices orders by email: carol's devices come last
		laptop := func(d store.Device) bool { return strings.Contains(strings.ToLower(d.Name), "laptop") }
		filters := []struct {
			name  string
			q     store.DeviceQuery
			match func(store.Device) bool
		}{
			{"all", store.DeviceQuery{}, func(store.Device) bool { return true }},
			{"search", store.DeviceQuery{Search: "LAPTOP"}, laptop},
			{"owner", store.DeviceQuery{UserID: carol}, func(d store.Device) bool { return d.UserID == carol }},
			{"owner+search", store.DeviceQuery{UserID: carol, Search: "LAPTOP"}, func(d store.Device) bool { return d.UserID == carol && laptop(d) }},
		}
		sorts := []store.DeviceSort{store.SortByName, store.SortByOwner, store.SortByHandshake, store.SortByReceived,
			store.SortBySent, store.SortByCreated}
		for _, f := range filters {
			for _, sort := range sorts {
				for _, desc := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/desc=%v", f.name, sort, desc), func(t *testing.T) {
						var want []store.Device
						for _, d := range all {
							if f.match(d) {
								want = append(want, d)
							}
						}
						slices.SortFunc(want, wantOrder[sort])
						if desc {
							slices.Reverse(want)
						}
						// Three pages, the last one short or full, then one past the end.
						size := (len(want) + 2) / 3
						q := f.q
						q.Sort, q.Desc, q.Limit = sort, desc, size
						var got []store.Device
						for q.Offset = 0; q.Offset <= len(want); q.Offset += size {
							page, total, err := s.ListDevicesPage(ctx, q)
							if err != nil {
								t.Fatal(err)
							}
							if total != len(want) {
								t.Errorf("offset %d: got total %d, want %d", q.Offset, total, len(want))
							}
							if n := min(size, len(want)-q.Offset); len(page) != n {
								t.Errorf("offset %d: got %d devices, want %d", q.Offset, len(page), n)
							}
							got = append(got, page...)
						}
						if !slices.Equal(ids(got), ids(want)) {
							t.Errorf("got order\n%s\nwant\n%s", describe(got, sort), describe(want, sort))
						}
					})
				}
			}
		}
		page, total, err := s.ListDevicesPage(ctx, store.DeviceQuery{Offset: 100, Limit: 10})
		if err != nil || len(page) != 0 || total != len(all) {
			t.Errorf("past the end: got %d devices, total %d, %v; want none, %d, nil", len(page), total, err, len(all))
		}
		page, total, err = s.ListDevicesPage(ctx, store.DeviceQuery{Search: "LAPTOP", Offset: 100, Limit: 10})
		if want := len(slices.DeleteFunc(slices.Clone(all), func(d store.Device) bool { return !laptop(d) })); err != nil || len(page) != 0 || total != want {
			t.Errorf("search past the end: got %d devices, total %d, %v; want none, %d, nil", len(page), total, err, want)
		}
	})
}

func names(devices []store.Device) []string {
	var out []string
	for _, d := range devices {
		out = append(out, d.Name)
	}
	return out
}

// describe lists devices with the key of sort, one per line, for failure messages.
func describe(devices []store.Device, sort store.DeviceSort) string {
	var b strings.Builder
	for _, d := range devices {
		var key any
		switch sort {
		case store.SortByName:
			key = d.Name
		case store.SortByOwner:
			key = d.UserEmail + " " + d.Name
		case store.SortByHandshake:
			key = d.LatestHandshake
		case store.SortByReceived:
			key = d.RxTotal
		case store.SortBySent:
			key = d.TxTotal
		case store.SortByCreated:
			key = d.CreatedAt
		}
		fmt.Fprintf(&b, "  %s %v\n", d.ID, key)
	}
	return b.String()
}

func TestListDevicesPageFillsDevices(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "dora@example.com")
		d := &store.Device{UserID: u.ID, Name: "laptop", PublicKey: "fill-key", PresharedKey: "psk-value"}
		if err := s.CreateDevice(ctx, d, pools(1)); err != nil {
			t.Fatal(err)
		}
		page, _, err := s.ListDevicesPage(ctx, store.DeviceQuery{Limit: 1})
		if err != nil || len(page) != 1 {
			t.Fatalf("got %d devices, %v; want 1", len(page), err)
		}
		got := page[0]
		if got.ID != d.ID || got.UserEmail != "dora@example.com" || got.PresharedKey != "psk-value" || got.IPv4 != d.IPv4 || got.IPv6 != d.IPv6 {
			t.Errorf("got %+v, want %+v with the owner's email", got, d)
		}
	})
}

func TestListDevicesPageFilters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice, bob := mustUser(t, s, "alice@example.com"), mustUser(t, s, "bob@example.com")
		devices := []struct {
			owner     *store.User
			name, key string
		}{
			{alice, "Work Laptop", "QWxpY2VXb3JrTGFwdG9wS2V5AAAAAAAAAAAAAAAAAAA="}, // 10.3.2.2, fd00::3:2:2
			{alice, "phone", "UGhvbmVLZXlaZzYiBbJiYmJiYmJiYmJiYmJiYmJiYmI="},       // 10.3.2.3 …
			{bob, "LAPTOP (old)", "Qm9iTGFwdG9wS2V5Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M="},
			{bob, "100% done", "key-percent"},
			{bob, "100x done", "key-x"},
			{bob, "my_box", "key-underscore"},
			{bob, "myXbox", "key-x-box"},
			{alice, `back\slash`, "key-backslash"},
			{alice, "Café", "key-cafe"},   // 10.3.2.10, fd00::3:2:a
			{alice, "router", "key-r1"},   // 10.3.2.11
			{bob, "printer", "key-p1"},    // 10.3.2.12
			{alice, "Tv", "key-tv"},       // 10.3.2.13
			{bob, "t_v", "key-t-v"},       // 10.3.2.14
			{alice, "watch", "key-watch"}, // 10.3.2.15
		}
		p := pools(len(devices))
		for _, d := range devices {
			if err := s.CreateDevice(ctx, &store.Device{UserID: d.owner.ID, Name: d.name, PublicKey: d.key}, p); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			q    store.DeviceQuery
			want []string // names in name order
		}{
			{"one owner", store.DeviceQuery{UserID: bob.ID}, []string{"100% done", "100x done", "LAPTOP (old)", "my_box", "myXbox", "printer", "t_v"}},
			{"name, any case", store.DeviceQuery{Search: "laptop"}, []string{"LAPTOP (old)", "Work Laptop"}},
			{"upper-case search", store.DeviceQuery{Search: "LAPTOP"}, []string{"LAPTOP (old)", "Work Laptop"}},
			{"surrounding spaces", store.DeviceQuery{Search: "  lapTOP \t"}, []string{"LAPTOP (old)", "Work Laptop"}},
			{"inner space kept", store.DeviceQuery{Search: "k lap"}, []string{"Work Laptop"}},
			{"percent is literal", store.DeviceQuery{Search: "100%"}, []string{"100% done"}},
			{"underscore is literal", store.DeviceQuery{Search: "my_"}, []string{"my_box"}},
			{"lone underscore", store.DeviceQuery{Search: "_"}, []string{"my_box", "t_v"}},
			{"lone percent", store.DeviceQuery{Search: "%"}, []string{"100% done"}},
			{"backslash is literal", store.DeviceQuery{Search: `k\s`}, []string{`back\slash`}},
			{"lone backslash", store.DeviceQuery{Search: `\`}, []string{`back\slash`}},
			{"ipv4 exact", store.DeviceQuery{Search: "10.3.2.3"}, []string{"phone"}},
			{"ipv4 substring", store.DeviceQuery{Search: "10.3.2.1"}, []string{"Café", "printer", "router", "t_v", "Tv", "watch"}},
			{"ipv6, any case", store.DeviceQuery{Search: "FD00::3:2:A"}, []string{"Café"}},
			{"public key fragment, any case", store.DeviceQuery{Search: "zzyibb"}, []string{"phone"}},
			{"ascii letters fold next to others", store.DeviceQuery{Search: "CAFé"}, []string{"Café"}},
			{"search within one owner", store.DeviceQuery{UserID: alice.ID, Search: "laptop"}, []string{"Work Laptop"}},
			{"search within the other owner", store.DeviceQuery{UserID: bob.ID, Search: "laptop"}, []string{"LAPTOP (old)"}},
			{"no match", store.DeviceQuery{Search: "nothing like it"}, nil},
			{"NUL byte", store.DeviceQuery{Search: "lap\x00top"}, nil},
			{"invalid UTF-8", store.DeviceQuery{Search: "lap\xfftop"}, nil},
			{"unknown owner", store.DeviceQuery{UserID: "no-such-user"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.q.Limit = 500
				page, total, err := s.ListDevicesPage(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				got := names(page)
				if !slices.Equal(got, tt.want) || total != len(tt.want) {
					t.Errorf("got %q, total %d; want %q, total %d", got, total, tt.want, len(tt.want))
				}
			})
		}
		// A page of a filtered list counts the whole filtered list.
		page, total, err := s.ListDevicesPage(ctx, store.DeviceQuery{Search: "10.3.2.1", Sort: store.SortByName, Desc: true, Offset: 1, Limit: 2})
		if err != nil || total != 6 || len(page) != 2 || page[0].Name != "Tv" || page[1].Name != "t_v" {
			t.Errorf("second page of a search: got %q, total %d, %v; want Tv, t_v of 6", names(page), total, err)
		}
	})
}

func TestListDevicesPageOwnerSortWithinOneOwner(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := pagingFixture(t, s)
		owner := all[0].UserID
		var want []store.Device
		for _, d := range all {
			if d.UserID == owner {
				want = append(want, d)
			}
		}
		slices.SortFunc(want, wantOrder[store.SortByName])
		slices.Reverse(want)
		got, total, err := s.ListDevicesPage(ctx, store.DeviceQuery{UserID: owner, Sort: store.SortByOwner, Desc: true, Limit: 500})
		if err != nil || total != len(want) || !slices.Equal(ids(got), ids(want)) {
			t.Errorf("got %s total %d, %v; want\n%s", describe(got, store.SortByName), total, err, describe(want, store.SortByName))
		}
	})
}

func TestListDevicesPageRejectsBadQueries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		tests := []struct {
			name string
			q    store.DeviceQuery
			want string
		}{
			{"unknown sort", store.DeviceQuery{Sort: "name; DROP TABLE devices", Limit: 10},
				`device query: sort "name; DROP TABLE devices" is not one of name, owner, handshake, rx, tx, created`},
			{"sort in another case", store.DeviceQuery{Sort: "Name", Limit: 10}, `sort "Name" is not one of`},
			{"no limit", store.DeviceQuery{}, "device query: limit 0 is not in 1..500"},
			{"limit too large", store.DeviceQuery{Limit: 501}, "device query: limit 501 is not in 1..500"},
			{"negative offset", store.DeviceQuery{Limit: 10, Offset: -1}, "device query: offset -1 is negative"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.ListDevicesPage(context.Background(), tt.q)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("got %v, want an error containing %q", err, tt.want)
				}
			})
		}
	})
}

func TestDevicesByID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := pagingFixture(t, s)
		want := []store.Device{all[3], all[0], all[17]}
		got, err := s.DevicesByID(ctx, []string{all[3].ID, "no-such-device", all[0].ID, all[17].ID, all[3].ID})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) })
		slices.SortFunc(want, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) })
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("got %q, want %q", ids(got), ids(want))
		}
		for i := range got {
			if got[i].UserEmail == "" || got[i].UserEmail != want[i].UserEmail || got[i].Name != want[i].Name {
				t.Errorf("device %s: got owner %q name %q, want %q %q", got[i].ID, got[i].UserEmail, got[i].Name, want[i].UserEmail, want[i].Name)
			}
		}
		for _, in := range [][]string{nil, {}} {
			if got, err := s.DevicesByID(ctx, in); err != nil || len(got) != 0 {
				t.Errorf("DevicesByID(%#v) = %d devices, %v; want none, nil", in, len(got), err)
			}
		}
		many := make([]string, 500)
		for i := range many {
			many[i] = all[i%len(all)].ID
		}
		if got, err := s.DevicesByID(ctx, many); err != nil || len(got) != len(all) {
			t.Errorf("500 ids: got %d devices, %v; want %d", len(got), err, len(all))
		}
		if _, err := s.DevicesByID(ctx, append(many, all[0].ID)); err == nil || !strings.Contains(err.Error(), "501 ids, at most 500") {
			t.Errorf("501 ids: got %v, want an error naming the count", err)
		}
	})
}
