package app

import (
	"net/http"
	"net/url"
	"time"

	"wiregui/assets"
	"wiregui/store"
)

// usersPath is the Users page: every user, for admins.
const usersPath = "/admin/users"

// userSorts are the users table's sortable columns.
var userSorts = tableSorts[store.UserSort]{def: store.SortUsersByEmail, first: map[store.UserSort]bool{
	store.SortUsersByEmail: false, store.SortUsersByRole: false, store.SortUsersBySignIn: true, store.SortUsersByCreated: true,
}}

// userListPage is the payload of the Users page (pages/users.html).
type userListPage struct {
	URL      string // this view of the table, with its parameters
	Query    tableQuery[store.UserSort]
	Columns  []listColumn
	Rows     []userRow
	Total    int // users that match, on every page
	First    int // the row numbers shown, from 1; 0 when none
	Last     int
	PrevURL  string // "" on the first page
	NextURL  string // "" on the last
	Filtered bool   // a search is applied
	NewURL   string // the Add user page; the dialog loads its form from there
}

// userPath is the page of user id.
func userPath(id string) string { return usersPath + "/" + url.PathEscape(id) }

// showUsers answers GET /admin/users; an htmx request (sorting, paging, searching,
// refreshing) gets the table alone.
func (s *Server) showUsers(w http.ResponseWriter, r *http.Request) {
	q, err := userSorts.parse(r.URL.Query())
	if err != nil {
		s.clientError(w, r, http.StatusBadRequest, "The table cannot show this: "+err.Error())
		return
	}
	list, err := s.userListPage(r, q)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd := s.page(r, "Users", "users")
	pd.Data = list
	if isHTMX(r) {
		s.renderFragment(w, r, http.StatusOK, "users", "user-list", pd)
		return
	}
	s.renderPage(w, r, http.StatusOK, "users", pd)
}

// userListPage reads the page of the users table that q asks for; past the end, the last.
func (s *Server) userListPage(r *http.Request, q tableQuery[store.UserSort]) (*userListPage, error) {
	sq := store.UserQuery{Search: q.Search, Sort: q.Sort, Desc: q.Desc, Offset: (q.Page - 1) * listPageSize, Limit: listPageSize}
	rows, total, err := s.store.ListUsersPage(r.Context(), sq)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && total > 0 && q.Page > 1 {
		q.Page = (total + listPageSize - 1) / listPageSize
		sq.Offset = (q.Page - 1) * listPageSize
		if rows, total, err = s.store.ListUsersPage(r.Context(), sq); err != nil {
			return nil, err
		}
	}
	p := &userListPage{URL: urlOf(usersPath, userSorts.values(q)), Query: q, Total: total, Filtered: q.Search != "",
		NewURL: usersPath + "/new"}
	now, viewer := s.now(), currentUser(r)
	p.Rows = make([]userRow, len(rows))
	for i, u := range rows {
		p.Rows[i] = userRow{UserRow: u, Href: userPath(u.ID), DevicesHref: ownerDevicesURL(u.Email), Self: u.ID == viewer.ID, Now: now}
	}
	if len(rows) > 0 {
		p.First, p.Last = sq.Offset+1, sq.Offset+len(rows)
	}
	if q.Page > 1 {
		prev := q
		prev.Page--
		p.PrevURL = urlOf(usersPath, userSorts.values(prev))
	}
	if p.Last < total {
		next := q
		next.Page++
		p.NextURL = urlOf(usersPath, userSorts.values(next))
	}
	for _, c := range userColumns {
		col := listColumn{Label: c.label}
		if c.sort != "" {
			var to tableQuery[store.UserSort]
			to, col.Aria = userSorts.sortedBy(q, c.sort)
			col.Href = urlOf(usersPath, userSorts.values(to))
		}
		p.Columns = append(p.Columns, col)
	}
	return p, nil
}

// signedInWords is when a user last signed in, in words ("never") and as a machine-readable
// time ("" when never).
func signedInWords(at *time.Time, now time.Time) (words, machine string) {
	if at == nil {
		return "never", ""
	}
	return assets.Ago(now, *at), at.UTC().Format(time.RFC3339)
}

// ownerDevicesURL is All Devices showing the devices of the user with email.
func ownerDevicesURL(email string) string {
	return allDevices.path + "?" + url.Values{"owner": {email}}.Encode()
}
