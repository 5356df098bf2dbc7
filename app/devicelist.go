package app

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"wiregui/app/access"
	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
)

// listPageSize is how many devices a page of a device table shows.
const listPageSize = 50

// deviceList is one of the device tables: My Devices (the user's own) and All Devices
// (admins: every owner, with an owner column and filter), whose routes' guards check who may
// see them and add to them (routes.go); and a user's devices on their page (admins), one
// owner's part of All Devices, which does not sort (All Devices does).
type deviceList struct {
	path, title, nav string
	admin            bool
	create           access.Action // what the user must be allowed to add to it
	fixed            bool          // the table does not sort
}

var (
	myDevices  = deviceList{path: "/devices", title: "My Devices", nav: "devices", create: access.CreateOwnDevice}
	allDevices = deviceList{path: "/admin/devices", title: "All Devices", nav: "admin-devices", admin: true,
		create: access.ManageAllDevices}
	ownerDevices = deviceList{path: "/admin/devices", title: "Devices", nav: "users", create: access.ManageAllDevices, fixed: true}
)

// listQuery is what a device table was asked to show: its URL parameters q, sort, dir and
// page (tableQuery), and owner.
type listQuery struct {
	tableQuery[store.DeviceSort]
	Owner string // the owner's email; All Devices only
}

// deviceSorts are the device tables' sortable columns (the owner on All Devices only).
var deviceSorts = tableSorts[store.DeviceSort]{def: store.SortByName, first: map[store.DeviceSort]bool{
	store.SortByName: false, store.SortByOwner: false, store.SortByHandshake: true,
	store.SortByReceived: true, store.SortBySent: true, store.SortByCreated: true,
}}

// parseListQuery reads a table's URL parameters; the error names the parameter.
func parseListQuery(v url.Values, l deviceList) (listQuery, error) {
	var q listQuery
	var err error
	if q.tableQuery, err = deviceSorts.parse(v); err != nil {
		return q, err
	}
	if q.Sort == store.SortByOwner && !l.admin {
		return q, fmt.Errorf("sort: %q is not a column this table sorts by", q.Sort)
	}
	if l.admin {
		if q.Owner, err = text.EmailAddress.Clean(v.Get("owner")); err != nil {
			return q, fmt.Errorf("owner: %w", err)
		}
	}
	return q, nil
}

// url is the table's URL for q, naming only what differs from the defaults.
func (q listQuery) url(path string) string {
	v := deviceSorts.values(q.tableQuery)
	if q.Owner != "" {
		v.Set("owner", q.Owner)
	}
	return urlOf(path, v)
}

// deviceListPage is the payload of a device table page (pages/device-list.html).
type deviceListPage struct {
	Admin     bool   // All Devices: the owner column and filter
	Path      string // the table's path: /devices or /admin/devices
	URL       string // this view of it, with its parameters
	Query     listQuery
	Columns   []listColumn
	Rows      []deviceRow
	Total     int // devices that match, on every page
	First     int // the row numbers shown, from 1; 0 when none
	Last      int
	PrevURL   string        // "" on the first page
	NextURL   string        // "" on the last
	LiveURL   string        // the Server-Sent Events of the rows shown; "" when none
	Notice    template.HTML // what the live rows say about the collector (liveNotice)
	Users     []string      // every user's email, for owner fields; All Devices only
	Filtered  bool          // a search or an owner filter is applied
	CanCreate bool
	NewURL    string // the Add device page; the dialog loads its form from there
	// OwnerWarning is what the Add device form says of the owner it names (ownerWarning).
	OwnerWarning string
	Overrides    []clientField // the Add device form's Advanced section: the defaults in effect
	Created      *createdView  // set once, right after a device was created
	// Firewall is what decides the connections of the user's devices, read-only; My Devices only.
	Firewall *firewallView
}

// firewallView is the firewall as it applies to one user's devices.
type firewallView struct {
	Rules      []ruleRow // the global rules and the user's own, in the order they apply
	Default    string    // what the rest gets: accept or drop
	PeerToPeer bool
}

// listColumn is a column header of a table; Href is "" for one that does not sort.
type listColumn struct {
	Label  string
	Hidden bool   // for screen readers only
	Href   string // the table sorted by this column (the other way round when it already is)
	Aria   string // aria-sort: ascending, descending or none
}

// showDeviceList answers GET /devices and GET /admin/devices; an htmx request (sorting,
// paging, filtering, refreshing) gets the table alone.
func (s *Server) showDeviceList(l deviceList) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := parseListQuery(r.URL.Query(), l)
		if err != nil {
			s.clientError(w, r, http.StatusBadRequest, "The table cannot show this: "+err.Error())
			return
		}
		pd := s.page(r, l.title, l.nav)
		list, err := s.deviceListPage(r, l, q)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		pd.Data = list
		if isHTMX(r) {
			s.renderFragment(w, r, http.StatusOK, "device-list", "device-list", pd)
			return
		}
		if l.admin { // the owner filter suggests from every user's email
			if list.Users, err = s.store.UserEmails(r.Context()); err != nil {
				s.serverError(w, r, err)
				return
			}
		} else if list.Firewall, err = s.firewallFor(r, currentUser(r).ID); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.renderPage(w, r, http.StatusOK, "device-list", pd)
	}
}

// deviceListPage reads one page of the table l.
func (s *Server) deviceListPage(r *http.Request, l deviceList, q listQuery) (*deviceListPage, error) {
	ctx := r.Context()
	sq := store.DeviceQuery{Search: q.Search, Sort: q.Sort, Desc: q.Desc,
		Offset: (q.Page - 1) * listPageSize, Limit: listPageSize}
	var list []store.Device
	var total int
	var err error
	switch {
	case !l.admin:
		sq.UserID = currentUser(r).ID
	case q.Owner != "":
		owner, err := s.store.UserByEmail(ctx, q.Owner)
		if isNotFound(err) {
			return s.deviceRows(r, l, q, sq, nil, 0), nil // nobody has that email: no device
		}
		if err != nil {
			return nil, err
		}
		sq.UserID = owner.ID
	}
	list, total, err = s.store.ListDevicesPage(ctx, sq)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 && total > 0 && q.Page > 1 { // past the end: show the last page
		q.Page = (total + listPageSize - 1) / listPageSize
		sq.Offset = (q.Page - 1) * listPageSize
		if list, total, err = s.store.ListDevicesPage(ctx, sq); err != nil {
			return nil, err
		}
	}
	return s.deviceRows(r, l, q, sq, list, total), nil
}

// deviceRows makes the page of the table l that shows devices, the page of sq.
func (s *Server) deviceRows(r *http.Request, l deviceList, q listQuery, sq store.DeviceQuery, list []store.Device,
	total int) *deviceListPage {
	p := &deviceListPage{Admin: l.admin, Path: l.path, URL: q.url(l.path), Query: q, Total: total,
		Filtered: q.Search != "" || q.Owner != "", CanCreate: s.can(r, l.create, nil)}
	p.NewURL = l.path + "/new"
	if q.Owner != "" { // the form names the owner the table shows
		p.NewURL += "?" + url.Values{"user_email": {q.Owner}}.Encode()
	}
	now := time.Now()
	ids := url.Values{}
	stateOf := s.deviceStates(r)
	for i := range list {
		d := &list[i]
		row := deviceRow{Device: d, Live: s.liveOf(d, now), Href: devicePath(d.ID, l.path), ShowOwner: l.admin,
			State: stateOf(d, now)}
		if s.can(r, access.DeleteDevice, d) {
			row.DeleteHref = "/devices/" + d.ID + "/delete" + map[bool]string{true: "?next=/admin/devices"}[l.admin]
		}
		p.Rows = append(p.Rows, row)
		ids.Add("id", d.ID)
	}
	if len(list) > 0 {
		p.First = sq.Offset + 1
		p.Last = sq.Offset + len(list)
		p.LiveURL = "/devices/live?" + ids.Encode()
		p.Notice = s.liveNotice(now)
	}
	if q.Page > 1 {
		prev := q
		prev.Page--
		p.PrevURL = prev.url(l.path)
	}
	if p.Last < total {
		next := q
		next.Page++
		p.NextURL = next.url(l.path)
	}
	p.Columns = s.listColumns(l, q)
	return p
}

// listColumns is the header of the table l showing q (deviceColumns).
func (s *Server) listColumns(l deviceList, q listQuery) []listColumn {
	var cols []listColumn
	for i := range deviceColumns {
		c := &deviceColumns[i]
		if !c.shownOn(l.admin) {
			continue
		}
		col := listColumn{Label: c.label, Hidden: c.hidden}
		if c.sort != "" && !l.fixed {
			to := q
			to.tableQuery, col.Aria = deviceSorts.sortedBy(q.tableQuery, c.sort)
			col.Href = to.url(l.path)
		}
		cols = append(cols, col)
	}
	return cols
}

// showNewDevice answers GET /devices/new and GET /admin/devices/new: the Add device form on a
// page of its own, for browsers without JavaScript; the tables' dialog loads it from here.
func (s *Server) showNewDevice(l deviceList) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pd, defaults, ok := s.startDevicePage(w, r, l.nav)
		if !ok {
			return
		}
		fillOverrides(pd.Form, store.ClientSettings{}, defaults)
		if l.admin { // a table of one owner's devices names them (deviceRows)
			pd.Form.Values["user_email"] = r.URL.Query().Get("user_email")
		}
		s.renderNewDevicePage(w, r, http.StatusOK, pd, l, defaults, nil)
	}
}

// addDevicePage is what the Add device form f needs, on its own page or as an htmx answer:
// the defaults in effect, what the owner means for the device (its owner field's on All
// Devices, the viewer on My Devices) and, on All Devices, the owners to choose from.
func (s *Server) addDevicePage(r *http.Request, l deviceList, defaults devices.Resolved, f *Form) (*deviceListPage, error) {
	list := &deviceListPage{Admin: l.admin, Path: l.path, CanCreate: true, Overrides: clientFields(defaults, deviceSourceWords)}
	owner := currentUser(r)
	if l.admin {
		users, err := s.store.UserEmails(r.Context())
		if err != nil {
			return nil, err
		}
		list.Users = users
		owner = nil
		if email, err := text.EmailAddress.Clean(f.Values["user_email"]); err == nil && email != "" {
			owner, err = s.store.UserByEmail(r.Context(), email)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
		}
	}
	if owner != nil {
		list.OwnerWarning = ownerWarning(r, owner)
	}
	return list, nil
}

// renderNewDevicePage writes the Add device page: the form, or the device just created.
func (s *Server) renderNewDevicePage(w http.ResponseWriter, r *http.Request, status int, pd *PageData, l deviceList,
	defaults devices.Resolved, created *createdView) {
	list, err := s.addDevicePage(r, l, defaults, pd.Form)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	list.Created = created
	pd.Data = list
	s.renderPage(w, r, status, "device-new", pd)
}

// renderDeviceForm answers an htmx request with the Add device form and its errors (422).
func (s *Server) renderDeviceForm(w http.ResponseWriter, r *http.Request, pd *PageData, l deviceList, defaults devices.Resolved) {
	list, err := s.addDevicePage(r, l, defaults, pd.Form)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = list
	s.renderFragment(w, r, http.StatusUnprocessableEntity, "device-list", "device-form", pd)
}
