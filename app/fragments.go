package app

import (
	"html"
	"html/template"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"wiregui/app/devices"
	"wiregui/assets"
	"wiregui/store"
)

// The HTML fragments written in Go rather than by templates: the device tables' rows, the
// users table's rows and the live cells, which the pages show and the live streams send again when they read
// differently. html/template spends about 0.6 µs on each value it writes: at 30 values a row,
// 50 rows made a table cost 1 ms, most of the page, and a table has 200 live cells. Every
// value from users is escaped here; fragments_test.go holds each fragment's golden file.

// liveCell is a fragment of a device that the live streams follow: the stream's event for it
// is the prefix and the device id, and an element with sse-swap="<event><id>" shows it.
type liveCell struct {
	event    string
	fragment func(deviceLive) template.HTML
}

var (
	statusCell    = liveCell{"status-", deviceLive.StatusHTML}
	handshakeCell = liveCell{"handshake-", deviceLive.HandshakeHTML}
	receivedCell  = liveCell{"rx-", deviceLive.ReceivedHTML}
	sentCell      = liveCell{"tx-", deviceLive.SentHTML}
)

// deviceColumn is a column of the device tables: the header (listColumns) and every row's
// cell (deviceRow.HTML) are written from this one list.
type deviceColumn struct {
	label  string
	sort   store.DeviceSort // "" for a column that does not sort
	admin  bool             // on All Devices only
	hidden bool             // its header is for screen readers only, and its cells have no label
	class  string           // of its cells
	live   *liveCell        // the live streams replace its cells; nil when they do not
	cell   func(row *deviceRow) string
}

var deviceColumns = []deviceColumn{
	{label: "Name", sort: store.SortByName, cell: nameCell},
	{label: "Owner", sort: store.SortByOwner, admin: true,
		cell: func(row *deviceRow) string { return html.EscapeString(row.Device.UserEmail) }},
	{label: "Addresses", class: "mono", cell: func(row *deviceRow) string { return string(addressesHTML(row.Device)) }},
	{label: "Status", sort: store.SortByHandshake, live: &statusCell},
	{label: "Last handshake", live: &handshakeCell},
	{label: "Received", sort: store.SortByReceived, class: "num", live: &receivedCell},
	{label: "Sent", sort: store.SortBySent, class: "num", live: &sentCell},
	{label: "Actions", hidden: true, class: "row-actions", cell: actionsCell},
}

// shownOn reports whether the column is part of a table; admin is All Devices.
func (c *deviceColumn) shownOn(admin bool) bool { return admin || !c.admin }

// deviceRow is one device of a table.
type deviceRow struct {
	Device     *store.Device
	Live       deviceLive
	Href       string        // the device's page
	ShowOwner  bool          // the row is on All Devices
	DeleteHref string        // the delete confirmation; "" when the user may not delete it
	State      devices.State // why the device is not a live WireGuard peer, if it is not
}

// HTML is the row's <tr>: a <td> per column, labelled for narrow screens.
func (row deviceRow) HTML() template.HTML {
	id := html.EscapeString(row.Device.ID)
	var b strings.Builder
	b.Grow(1600)
	w := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	w(`<tr id="device-`, id, `">`)
	for i := range deviceColumns {
		c := &deviceColumns[i]
		if !c.shownOn(row.ShowOwner) {
			continue
		}
		w("<td")
		if !c.hidden {
			w(` data-label="`, c.label, `"`)
		}
		if c.class != "" {
			w(` class="`, c.class, `"`)
		}
		if c.live != nil {
			w(` sse-swap="`, c.live.event, id, `">`, string(c.live.fragment(row.Live)))
		} else {
			w(">", c.cell(&row))
		}
		w("</td>")
	}
	w("</tr>")
	return template.HTML(b.String())
}

// nameCell links the device's page, and says why it is not a live peer when it is not.
func nameCell(row *deviceRow) string {
	return `<a href="` + html.EscapeString(row.Href) + `">` + html.EscapeString(row.Device.Name) + `</a>` + stateHTML(row.State)
}

// stateHTML is why a device is not a live peer: its word as a badge, then the reason, which
// a screen reader reads after a colon; "" for a device that is.
func stateHTML(st devices.State) string {
	if st.Word == "" {
		return ""
	}
	return `<span class="device-state"><span class="badge badge-warn">` + html.EscapeString(st.Word) +
		`</span><span class="sr-only">:</span> <span class="state-reason">` + html.EscapeString(st.Reason) + `</span></span>`
}

// actionsCell links the delete confirmation, when the user may delete the device.
func actionsCell(row *deviceRow) string {
	if row.DeleteHref == "" {
		return ""
	}
	return `<a href="` + html.EscapeString(row.DeleteHref) + `">Delete<span class="sr-only"> ` +
		html.EscapeString(row.Device.Name) + `</span>…</a>`
}

// addressesHTML is a device's tunnel addresses.
func addressesHTML(d *store.Device) template.HTML {
	var out string
	for _, a := range []netip.Addr{d.IPv4, d.IPv6} {
		if a.IsValid() {
			out += `<span class="addr">` + a.String() + `</span>`
		}
	}
	if out == "" {
		return `<span class="muted">none</span>`
	}
	return template.HTML(out)
}

// StatusHTML is the connection status badge: a dot and the word.
func (l deviceLive) StatusHTML() template.HTML {
	return template.HTML(`<span class="status status-` + string(l.Status) + `"><span class="dot" aria-hidden="true"></span>` +
		string(l.Status) + `</span>`)
}

// ReceivedHTML and SentHTML are a byte total with the current rate.
func (l deviceLive) ReceivedHTML() template.HTML { return trafficHTML(l.RxTotal, l.RxRate) }
func (l deviceLive) SentHTML() template.HTML     { return trafficHTML(l.TxTotal, l.TxRate) }

func trafficHTML(total int64, rate float64) template.HTML {
	return template.HTML(`<span class="total">` + assets.FormatBytes(float64(total)) + `</span> <span class="rate">` +
		assets.FormatRate(rate) + `</span>`)
}

// HandshakeHTML is the last handshake's age in words, as of Seen.
func (l deviceLive) HandshakeHTML() template.HTML {
	if l.Handshake.IsZero() {
		return `<span class="muted">never</span>`
	}
	return agoHTML(l.Handshake, l.Seen)
}

// agoHTML is how long before now at was, in words, with the time itself for machines and
// as the title.
func agoHTML(at, now time.Time) template.HTML {
	utc := at.UTC()
	return template.HTML(`<time datetime="` + utc.Format(time.RFC3339) + `" title="` + utc.Format("2006-01-02 15:04:05 UTC") + `">` +
		html.EscapeString(assets.Ago(now, at)) + `</time>`)
}

// liveCurrent is the live notice while the collector reports: nothing to see, but an event
// needs data to be delivered at all.
const liveCurrent template.HTML = "<!-- live data is current -->"

// delayedHTML is the live notice while the collector is stalled: that live data is delayed,
// and since when (collectorSilence).
func delayedHTML(silence string) template.HTML {
	return template.HTML(`<p class="live-notice" role="status">Live data is delayed: ` + html.EscapeString(silence) + `.</p>`)
}

// userColumn is a column of the users table: the header (userListPage) and every row's cell
// (userRow.HTML) are written from this one list.
type userColumn struct {
	label string
	sort  store.UserSort // "" for a column that does not sort
	class string         // of its cells
	cell  func(row *userRow) string
}

var userColumns = []userColumn{
	{label: "Email", sort: store.SortUsersByEmail, cell: func(row *userRow) string {
		s := `<a href="` + html.EscapeString(row.Href) + `">` + html.EscapeString(row.Email) + `</a>`
		if row.Self {
			s += ` <span class="muted">(you)</span>`
		}
		return s
	}},
	{label: "Role", sort: store.SortUsersByRole, cell: func(row *userRow) string {
		if row.IsAdmin() {
			return `<span class="badge">admin</span>`
		}
		return "user"
	}},
	{label: "Devices", class: "num", cell: func(row *userRow) string {
		n := strconv.Itoa(row.Devices)
		if row.Devices == 0 {
			return n
		}
		return `<a href="` + html.EscapeString(row.DevicesHref) + `" aria-label="` + n + ` devices of ` + html.EscapeString(row.Email) +
			`">` + n + `</a>`
	}},
	{label: "Status", cell: func(row *userRow) string {
		switch {
		case row.Disabled():
			return `<span class="status"><span class="dot off" aria-hidden="true"></span>Disabled</span>`
		case row.Invited():
			at := row.InvitationExpires.UTC()
			return `<span class="status"><span class="dot warn" aria-hidden="true"></span>Invited</span> <span class="muted">until <time datetime="` +
				at.Format(time.RFC3339) + `">` + dateTimeWords(at) + `</time></span>`
		}
		return `<span class="status"><span class="dot ok" aria-hidden="true"></span>Active</span>`
	}},
	{label: "Last sign-in", sort: store.SortUsersBySignIn, cell: func(row *userRow) string {
		if row.LastSignedInAt == nil {
			return `<span class="muted">never</span>`
		}
		s := string(agoHTML(*row.LastSignedInAt, row.Now))
		if row.LastSignedInMethod != "" {
			s += ` <span class="muted">with ` + html.EscapeString(signInWords(row.LastSignedInMethod)) + `</span>`
		}
		return s
	}},
	{label: "Created", sort: store.SortUsersByCreated, cell: func(row *userRow) string {
		return `<time datetime="` + row.CreatedAt.UTC().Format(time.RFC3339) + `">` + row.CreatedAt.UTC().Format("2 Jan 2006") + `</time>`
	}},
}

// userRow is one user of the users table.
type userRow struct {
	store.UserRow
	Href        string // the user's page
	DevicesHref string // All Devices, showing theirs
	Self        bool   // the viewer
	Now         time.Time
}

// Invited reports whether the user has an invitation whose link still works.
func (row *userRow) Invited() bool {
	return row.InvitationExpires != nil && row.InvitationExpires.After(row.Now)
}

// HTML is the row's <tr>: a <td> per column, labelled for narrow screens.
func (row userRow) HTML() template.HTML {
	var b strings.Builder
	b.Grow(700)
	b.WriteString("<tr>")
	for i := range userColumns {
		c := &userColumns[i]
		b.WriteString(`<td data-label="` + c.label + `"`)
		if c.class != "" {
			b.WriteString(` class="` + c.class + `"`)
		}
		b.WriteString(">" + c.cell(&row) + "</td>")
	}
	b.WriteString("</tr>")
	return template.HTML(b.String())
}
