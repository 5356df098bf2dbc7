package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/collector"
	"wiregui/store"
)

// rowNames returns the device names of a table's rows, in order.
func rowNames(body string) []string { return captures(rowName, body) }

var rowName = regexp.MustCompile(`<td data-label="Name"><a href="[^"]*">([^<]*)</a></td>`)

func TestMyDevicesShowsOwnDevicesWithStatusAndTraffic(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	online, idle := e.device(t, alice, "online laptop"), e.device(t, alice, "idle phone")
	e.device(t, alice, "never tablet")
	e.device(t, bob, "bob laptop")
	// The collector writes the stats, then reports the tick with the rates.
	now := time.Now()
	peers := []collector.Peer{
		{DeviceID: online.ID, PublicKey: online.PublicKey, RxTotal: 3 << 20, TxTotal: 1536, RxRate: 2048, TxRate: 10,
			LatestHandshake: now.Add(-30 * time.Second), Changed: true},
		{DeviceID: idle.ID, PublicKey: idle.PublicKey, RxTotal: 10, LatestHandshake: now.Add(-200 * time.Second), Changed: true},
	}
	var stats []store.StatsUpdate
	for _, p := range peers {
		hs := p.LatestHandshake
		stats = append(stats, store.StatsUpdate{PublicKey: p.PublicKey, DeviceStats: store.DeviceStats{
			RxBytes: p.RxTotal, TxBytes: p.TxTotal, RxTotal: p.RxTotal, TxTotal: p.TxTotal, LatestHandshake: &hs}})
	}
	if err := e.store.UpdateDeviceStats(context.Background(), stats); err != nil {
		t.Fatal(err)
	}
	e.live.Publish(collector.Message{Tick: &collector.Tick{Seq: 1, At: now, Peers: peers}})

	r := ac.Get("/devices")
	if got := rowNames(r.Body); strings.Join(got, ",") != "idle phone,never tablet,online laptop" {
		t.Errorf("alice's rows: %q, want her three devices by name", got)
	}
	wantContains(t, "My Devices", r.Body,
		`<th scope="col" aria-sort="ascending"><a class="sort" href="/devices?dir=desc"`,
		`<td data-label="Status" sse-swap="status-`+online.ID+`"><span class="status status-online"><span class="dot" aria-hidden="true"></span>online</span></td>`,
		`<td data-label="Status" sse-swap="status-`+idle.ID+`"><span class="status status-idle">`,
		`<span class="status status-offline"><span class="dot" aria-hidden="true"></span>offline</span>`,
		`<span class="total">3 MiB</span> <span class="rate">2 KiB/s</span>`,
		`<span class="total">1.5 KiB</span> <span class="rate">10 B/s</span>`,
		`<a href="/devices/`+online.ID+`">online laptop</a>`,
		`sse-connect="/devices/live?id=`,
		`1–3 of 3`, `data-dialog="#add-device-dialog"`, `href="/devices/new"`, `hx-get="/devices/new"`,
	)
	wantLacks(t, "My Devices", r.Body, "bob laptop", `data-label="Owner"`, `name="owner"`)
	live := regexp.MustCompile(`sse-connect="([^"]+)"`).FindStringSubmatch(r.Body)
	if live == nil || strings.Count(live[1], "id=") != 3 {
		t.Errorf("the live stream URL %q does not name exactly the three rows", live)
	}

	// The search and the sort are the server's; the htmx answer is the table alone.
	r = ac.Get("/devices?q=LAPTOP")
	if got := rowNames(r.Body); len(got) != 1 || got[0] != "online laptop" {
		t.Errorf("search laptop: %q", got)
	}
	r = ac.Get("/devices?sort=rx&dir=desc")
	if got := rowNames(r.Body); len(got) != 3 || got[0] != "online laptop" || got[1] != "idle phone" {
		t.Errorf("by received, descending: %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/devices?sort=handshake", nil)
	req.Header.Set("HX-Request", "true")
	hx := ac.Do(req)
	if hx.Status != http.StatusOK || strings.Contains(hx.Body, "<html") || !strings.Contains(hx.Body, `<div id="device-list"`) {
		t.Errorf("htmx sort: %d, want the device-list fragment alone:\n%s", hx.Status, hx.Body)
	}
	if got := rowNames(hx.Body); len(got) != 3 || got[0] != "online laptop" || got[2] != "never tablet" {
		t.Errorf("by status (latest handshake first): %q", got)
	}
}

func TestDeviceListRejectsBadParametersByName(t *testing.T) {
	e := newEnv(t)
	_, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "root@example.com", store.RoleAdmin)
	for _, tc := range []struct {
		path, want string
	}{
		{"/devices?sort=password", "sort: "},
		{"/devices?sort=owner", "sort: "}, // My Devices has no owner column
		{"/devices?dir=up", "dir: "},
		{"/devices?page=0", "page: "},
		{"/devices?page=two", "page: "},
		{"/devices?q=" + strings.Repeat("x", 201), "q: "},
		{"/devices?q=a%00b", "q: a search cannot contain NUL bytes"},
		{"/devices?q=%FF", "q: a search must be UTF-8 text"},
	} {
		r := ac.Get(tc.path)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, tc.want) {
			t.Errorf("%s: %d, want 400 naming %q", tc.path, r.Status, tc.want)
		}
	}
	if r := admin.Get("/admin/devices?owner=a%00b"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "owner: an email address cannot contain NUL bytes") {
		t.Errorf("All Devices of an owner with a NUL: %d, want 400 naming owner", r.Status)
	}
	if r := admin.Get("/admin/devices?sort=owner&dir=desc"); r.Status != http.StatusOK {
		t.Errorf("All Devices by owner: %d", r.Status)
	}
	if r := ac.Get("/admin/devices"); r.Status != http.StatusNotFound {
		t.Errorf("a user on All Devices: %d, want 404", r.Status)
	}
}

func TestAllDevicesPagesFiltersAndLinks(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", password, store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	_, admin := e.signedIn(t, "root@example.com", store.RoleAdmin)
	for i := range 53 {
		e.device(t, alice, fmt.Sprintf("alice %02d", i))
	}
	b1 := e.device(t, bob, "bob laptop")

	r := admin.Get("/admin/devices")
	rows := rowNames(r.Body)
	if len(rows) != 50 || rows[0] != "alice 00" || rows[49] != "alice 49" {
		t.Fatalf("page 1: %d rows %q…", len(rows), rows[:min(3, len(rows))])
	}
	wantContains(t, "All Devices page 1", r.Body, "1–50 of 54", `rel="next" href="/admin/devices?page=2"`,
		`<span class="btn btn-small" aria-disabled="true">Previous</span>`,
		`<td data-label="Owner">alice@example.com</td>`, `<option value="bob@example.com">`,
		`<th scope="col" aria-sort="none"><a class="sort" href="/admin/devices?sort=owner"`)
	r = admin.Get("/admin/devices?page=2")
	if rows := rowNames(r.Body); len(rows) != 4 || rows[3] != "bob laptop" {
		t.Errorf("page 2: %q, want the last three of alice's and bob's", rows)
	}
	wantContains(t, "All Devices page 2", r.Body, "51–54 of 54", `rel="prev" href="/admin/devices"`,
		`<a href="/devices/`+b1.ID+`?next=/admin/devices">bob laptop</a>`)
	r = admin.Get("/admin/devices?page=9")
	if !strings.Contains(r.Body, "51–54 of 54") {
		t.Errorf("a page past the end shows the last one")
	}

	r = admin.Get("/admin/devices?owner=BOB@example.com")
	if rows := rowNames(r.Body); len(rows) != 1 || rows[0] != "bob laptop" {
		t.Errorf("owner filter: %q", rows)
	}
	wantContains(t, "the owner filter", r.Body, `name="owner" type="search" list="user-emails" value="BOB@example.com"`, "1–1 of 1")
	r = admin.Get("/admin/devices?owner=nobody@example.com")
	wantContains(t, "an owner filter that matches nobody", r.Body, "No device matches.")
	r = admin.Get("/admin/devices?q=" + url.QueryEscape(b1.PublicKey[:12]))
	if rows := rowNames(r.Body); len(rows) != 1 || rows[0] != "bob laptop" {
		t.Errorf("search by a piece of the public key: %q", rows)
	}
	r = admin.Get("/admin/devices?q=" + b1.IPv4.String())
	if rows := rowNames(r.Body); len(rows) != 1 || rows[0] != "bob laptop" {
		t.Errorf("search by address: %q", rows)
	}
	r = admin.Get("/admin/devices?q=nothing-like-this")
	wantContains(t, "a search without matches", r.Body, "No device matches.")
	wantLacks(t, "a search without matches", r.Body, "sse-connect=")

	// Sorting by owner puts alice's devices first; descending, bob's.
	r = admin.Get("/admin/devices?sort=owner&dir=desc")
	if rows := rowNames(r.Body); len(rows) == 0 || rows[0] != "bob laptop" {
		t.Errorf("by owner, descending: %q…", rows[:min(2, len(rows))])
	}
	wantContains(t, "by owner, descending", r.Body, `<th scope="col" aria-sort="descending"><a class="sort" href="/admin/devices?sort=owner"`)

	// The device's page opened from the table leads back to it; another user's page is a 404.
	r = admin.Get("/devices/" + b1.ID + "?next=/admin/devices")
	wantContains(t, "bob's device for the admin", r.Body, `<p class="breadcrumb"><a href="/admin/devices">All Devices</a></p>`, "bob@example.com")
	_, ac := e.signedIn(t, "carol@example.com", store.RoleUnprivileged)
	if r := ac.Get("/devices/" + b1.ID); r.Status != http.StatusNotFound {
		t.Errorf("another user's device page: %d, want 404", r.Status)
	}
	if _, err := e.store.DeviceByID(context.Background(), b1.ID); err != nil {
		t.Fatal(err)
	}
}

func TestAddDevicePageWorksWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	_, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	r := ac.Get("/devices/new")
	wantContains(t, "the Add device page", r.Body, `<form method="post" action="/devices"`, `name="name"`,
		`name="use_default_mtu"`, `value="1280"`)
	wantLacks(t, "the Add device page", r.Body, `name="allowed_subnets"`, `name="user_id"`)
	r = ac.Post("/devices", defaultsForm("name", "laptop"))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="device-config"`) || !strings.Contains(r.Body, `<img class="qr"`) {
		t.Errorf("create without JavaScript: %d, want the configuration with its QR code", r.Status)
	}
	r = ac.Post("/devices", defaultsForm("name", ""))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="device-name-error"`) {
		t.Errorf("an empty name: %d, want 422 with the message by the field", r.Status)
	}
	if r := ac.Get("/admin/devices/new"); r.Status != http.StatusNotFound {
		t.Errorf("a user on the admin's Add device page: %d", r.Status)
	}
}

func TestDeviceRowsEscapeWhatUsersTyped(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "root@example.com", store.RoleAdmin)
	e.device(t, alice, `<img src=x onerror="alert(1)"> & 'co'`)
	for path, c := range map[string]*apptest.Client{"/devices": ac, "/admin/devices": admin} {
		r := c.Get(path)
		wantContains(t, path, r.Body, `&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &#39;co&#39;</a>`)
		wantLacks(t, path, r.Body, `<img src=x`)
	}
}

func TestBackToATableGetsTheWholePage(t *testing.T) {
	e := newEnv(t)
	_, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	req, _ := http.NewRequest(http.MethodGet, e.url+"/devices?sort=rx", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-History-Restore-Request", "true")
	if r := ac.Do(req); !strings.Contains(r.Body, "<html") {
		t.Errorf("htmx restoring a page from its history got a fragment, not the page")
	}
}
