package app

import (
	"flag"
	"html/template"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"wiregui/app/devices"
	"wiregui/collector"
	"wiregui/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Every hand-written fragment, with what users typed in it, against its golden file
// (testdata/fragments/NAME.golden; go test -run TestFragments -update rewrites them).
func TestFragmentsMatchTheirGoldenFiles(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	typed := &store.Device{ID: "d-1", UserID: "u-1", UserEmail: `o'brien+<b>@example.com`,
		Name: `<img src=x onerror="alert(1)"> & 'co'`, IPv4: netip.MustParseAddr("10.3.2.2"), IPv6: netip.MustParseAddr("fd00::3:2:2")}
	plain := &store.Device{ID: "d-2", UserID: "u-1", Name: "laptop", IPv4: netip.MustParseAddr("10.3.2.3")}
	online := deviceLive{Status: collector.Online, Handshake: now.Add(-30 * time.Second), RxTotal: 3 << 20, TxTotal: 1536,
		RxRate: 2048, TxRate: 10, Seen: now}
	never := deviceLive{Status: collector.Offline, Seen: now}
	signedIn := now.Add(-3 * time.Minute)
	invitedUntil := now.Add(72 * time.Hour)
	for _, tc := range []struct {
		name string
		html template.HTML
	}{
		{"row-my-devices", deviceRow{Device: plain, Live: online, Href: "/devices/d-2", DeleteHref: "/devices/d-2/delete"}.HTML()},
		{"row-all-devices", deviceRow{Device: typed, Live: never, Href: "/devices/d-1?next=/admin/devices", ShowOwner: true,
			State: devices.StateOf(typed, now, 0, `public key "<x>" is not a key`)}.HTML()},
		{"row-owner-disabled", deviceRow{Device: plain, Live: online, Href: "/devices/d-2?next=/admin/devices", ShowOwner: true,
			State: devices.OwnerDisabled}.HTML()},
		{"addresses-both", addressesHTML(typed)},
		{"addresses-ipv4", addressesHTML(plain)},
		{"addresses-none", addressesHTML(&store.Device{})},
		{"status-online", online.StatusHTML()},
		{"status-idle", deviceLive{Status: collector.Idle}.StatusHTML()},
		{"status-offline", never.StatusHTML()},
		{"handshake", online.HandshakeHTML()},
		{"handshake-never", never.HandshakeHTML()},
		{"received", online.ReceivedHTML()},
		{"sent", online.SentHTML()},
		{"user-row", userRow{UserRow: store.UserRow{User: store.User{ID: "u-1", Email: `o'brien+<b>@example.com`, Role: store.RoleAdmin,
			LastSignedInAt: &signedIn, LastSignedInMethod: `pass<word>`, CreatedAt: now.Add(-48 * time.Hour)}, Devices: 3},
			Href: "/admin/users/u-1", DevicesHref: "/admin/devices?owner=o%27brien%2B%3Cb%3E%40example.com", Self: true, Now: now}.HTML()},
		{"user-row-disabled", userRow{UserRow: store.UserRow{User: store.User{ID: "u-2", Email: "bob@example.com", Role: store.RoleUnprivileged,
			DisabledAt: &now, CreatedAt: now}}, Href: "/admin/users/u-2", DevicesHref: "/admin/devices?owner=bob%40example.com", Now: now}.HTML()},
		{"user-row-invited", userRow{UserRow: store.UserRow{User: store.User{ID: "u-3", Email: "new@example.com", Role: store.RoleUnprivileged,
			CreatedAt: now}, InvitationExpires: &invitedUntil}, Href: "/admin/users/u-3", DevicesHref: "/admin/devices?owner=new%40example.com", Now: now}.HTML()},
		{"user-row-invitation-expired", userRow{UserRow: store.UserRow{User: store.User{ID: "u-4", Email: "late@example.com", Role: store.RoleUnprivileged,
			CreatedAt: now}, InvitationExpires: &now}, Href: "/admin/users/u-4", DevicesHref: "/admin/devices?owner=late%40example.com", Now: now}.HTML()},
		{"live-current", liveCurrent},
		{"live-delayed", delayedHTML(collectorSilence(now.Add(-90*time.Second), now))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "fragments", tc.name+".golden")
			got := string(tc.html) + "\n"
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
			}
		})
	}
}

// A table's header and its rows' cells come from one column list: the same labels in the
// same order, on both tables.
func TestDeviceTableHeaderMatchesItsCells(t *testing.T) {
	s := &Server{}
	dev := &store.Device{ID: "d-1", Name: "laptop"}
	for _, l := range []deviceList{myDevices, allDevices} {
		var header []string
		for _, c := range s.listColumns(l, listQuery{tableQuery: tableQuery[store.DeviceSort]{Sort: store.SortByName}}) {
			header = append(header, c.Label)
		}
		var cells []string
		for _, m := range cellLabel.FindAllStringSubmatch(string(deviceRow{Device: dev, ShowOwner: l.admin}.HTML()), -1) {
			cells = append(cells, m[1])
		}
		if want := append(cells, "Actions"); !slices.Equal(header, want) {
			t.Errorf("%s: header %q, cells %q (and the actions)", l.title, header, cells)
		}
	}
}

var cellLabel = regexp.MustCompile(`<td data-label="([^"]*)"`)
