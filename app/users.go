package app

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"wiregui/app/mail"
	"wiregui/app/users"
	"wiregui/store"
)

// userPage is the payload of a user's page (pages/user.html), of its delete confirmation
// (pages/user-delete.html) and of the Add user form (pages/user-new.html).
type userPage struct {
	User       *store.User // nil on the Add user form
	Belongings store.Belongings
	Self       bool // the user is the viewer
	// Saved says what was saved: on the user's page after an edit, in the Add user dialog
	// after a create.
	Saved       string
	DeleteError string // why a delete was refused
	DevicesHref string // All Devices, showing theirs
	RulesHref   string // the Rules page, showing theirs
	SignedIn    string // when they last signed in, in words ("never")
	SignedInAt  string // the same as a machine-readable time
	Created     string
	// Devices is the first page of their devices, by name, as a table (no sorting, no
	// filters: All Devices, DevicesHref, has those), each saying why it is not live if it
	// is not; SessionExpired says that their VPN session has expired.
	Devices        *deviceListPage
	SessionExpired bool
	// Invitable says an invitation may be sent to the user: they have no password and are not
	// disabled (users.Service.Invite).
	Invitable bool
	// InvitedUntil is when the link of their invitation expires, in words, and InvitedUntilAt
	// the same as a machine-readable time; "" when they have no invitation that works.
	InvitedUntil, InvitedUntilAt string
	// InvitationsOff is why no invitation can be sent now ("" when one can): email is not set
	// up. On the Add user form and on the page of a user who is Invitable.
	InvitationsOff string
}

// InvitationValid is how long an invitation's link works, in words: "72 hours".
func (userPage) InvitationValid() string {
	return fmt.Sprintf("%d hours", users.InvitationValid/time.Hour)
}

// Href is the user's page.
func (p userPage) Href() string { return userPath(p.User.ID) }

// selfDelete is the answer to an admin who would delete themself on the Users page.
const selfDelete = "You cannot delete your own account here: use the Account page, which asks you to confirm it."

// roleOf is the role a form's role field names ("admin" or "user"), and whether it names one.
func roleOf(v string) (admin bool, ok bool) {
	switch v {
	case "admin":
		return true, true
	case "user":
		return false, true
	}
	return false, false
}

// roleField is a user's role as the forms write it.
func roleField(u *store.User) string {
	return map[bool]string{true: "admin", false: "user"}[u.IsAdmin()]
}

// storedRole is the role of an admin, or of a user, as the store keeps it.
func storedRole(admin bool) string {
	if admin {
		return store.RoleAdmin
	}
	return store.RoleUnprivileged
}

const badRole = "Choose a role: admin or user."

// The ways a new user gets a password: the Add user form's "setup" field.
const (
	setupPassword   = "password"   // the admin sets one
	setupInvitation = "invitation" // an email with a link to choose one (users.Service.Invite)
)

const badSetup = "Choose how they get a password: set one, or send an invitation by email."

// showNewUser answers GET /admin/users/new: the Add user form on a page of its own, for
// browsers without JavaScript; the Users page's dialog loads it from here.
func (s *Server) showNewUser(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Add user", "users")
	pd.Form.Values["role"], pd.Form.Values["setup"] = "user", setupPassword
	off, err := s.invitationsOff(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = userPage{InvitationsOff: off}
	s.renderPage(w, r, http.StatusOK, "user-new", pd)
}

// createUser answers POST /admin/users: a user with a password, or one invited by email
// (users.Service.Invite, which adds nobody when the email is not sent). Every invalid field is
// named at once. An htmx request gets the form again with its messages (422) or, once
// created, what was created, in the dialog, and the table behind it is told to refresh;
// without htmx, the new user's page.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Add user", "users")
	f := pd.Form
	f.Values["email"], f.Values["role"] = r.PostFormValue("email"), r.PostFormValue("role")
	f.Values["setup"] = cmp.Or(r.PostFormValue("setup"), setupPassword)
	off, err := s.invitationsOff(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	admin, ok := roleOf(f.Values["role"])
	if !ok {
		f.Errors["role"] = badRole
	}
	var created *store.User
	switch f.Values["setup"] {
	case setupPassword:
		created, err = s.createWithPassword(r, f, admin)
	case setupInvitation:
		if off != "" {
			f.Errors["setup"] = off
		}
		if f.Valid() {
			created, err = s.users.Invite(r.Context(), f.Values["email"], storedRole(admin))
		} else {
			_, err = users.Email(f.Values["email"]) // its message too
		}
	default:
		f.Errors["setup"] = badSetup
		_, err = users.Email(f.Values["email"])
	}
	if errors.Is(err, users.ErrNotSent) {
		// Logged by the mailer; Invite added nobody. The admin reads the server's words.
		f.Errors["_form"] = fmt.Sprintf("The invitation to %s was not sent, so they were not added. %s", store.NormalizeEmail(f.Values["email"]),
			mail.Answer(err))
	} else if err != nil && !fieldError(f, err) {
		s.serverError(w, r, err)
		return
	}
	if !f.Valid() {
		pd.Data = userPage{InvitationsOff: off}
		if off != "" && f.Values["setup"] == setupInvitation {
			f.Values["setup"] = setupPassword // the choice there is
		}
		s.renderUserForm(w, r, http.StatusUnprocessableEntity, "user-new", "user-add", pd)
		return
	}
	role := map[bool]string{true: "the admin", false: "the user"}[created.IsAdmin()]
	message := fmt.Sprintf("Created %s %s.", role, created.Email)
	if f.Values["setup"] == setupInvitation {
		until, err := s.store.InvitationExpiry(r.Context(), created.ID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		message = fmt.Sprintf("Invited %s %s: the email is sent, and its link works until %s.", role, created.Email, dateTimeWords(until))
	}
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, message)
		http.Redirect(w, r, userPath(created.ID), http.StatusSeeOther)
		return
	}
	w.Header().Set(hxTrigger, usersChanged)
	pd.Data = userPage{User: created, Saved: message}
	s.renderFragment(w, r, http.StatusOK, "user-new", "user-add", pd)
}

// createWithPassword creates the user of the Add user form f with the password the form has,
// or puts what is wrong into f: every field's message at once.
func (s *Server) createWithPassword(r *http.Request, f *Form, admin bool) (*store.User, error) {
	spec := users.Spec{Email: f.Values["email"], Password: r.PostFormValue("password"), Admin: admin}
	switch {
	case spec.Password == "":
		f.Errors["password"] = "Enter a password for the new user."
		_, err := users.Email(spec.Email) // its message too
		return nil, err
	case f.Valid():
		return s.users.Create(r.Context(), spec)
	}
	_, err := users.Email(spec.Email)
	return nil, errors.Join(err, users.CheckPassword(store.NormalizeEmail(spec.Email), spec.Password))
}

// userFor finds the user named in the path; when there is none, it answers 404 itself and
// returns nil.
func (s *Server) userFor(w http.ResponseWriter, r *http.Request) *store.User {
	u, err := s.store.UserByID(r.Context(), r.PathValue("id"))
	switch {
	case isNotFound(err):
		s.notFound(w, r)
		return nil
	case err != nil:
		s.serverError(w, r, err)
		return nil
	}
	return u
}

// userPageOf is the page of u as the request's viewer sees it.
func (s *Server) userPageOf(r *http.Request, u *store.User) (userPage, error) {
	b, err := s.store.UserBelongings(r.Context(), u.ID)
	if err != nil {
		return userPage{}, err
	}
	p := userPage{User: u, Belongings: b, Self: u.ID == currentUser(r).ID, DevicesHref: ownerDevicesURL(u.Email),
		RulesHref: rulesURL(u.Email), Created: dateTimeWords(u.CreatedAt)}
	now := time.Now()
	p.SignedIn, p.SignedInAt = signedInWords(u.LastSignedInAt, now)
	p.SessionExpired = u.Hold(now, requestViewer(r).settings.VPNSessionDuration) == store.HeldByExpiredSession
	if p.Invitable = u.PasswordHash == "" && !u.Disabled(); !p.Invitable {
		return p, nil
	}
	until, err := s.store.InvitationExpiry(r.Context(), u.ID)
	switch {
	case err == nil && until.After(s.now()):
		p.InvitedUntil, p.InvitedUntilAt = dateTimeWords(until), until.UTC().Format(time.RFC3339)
	case err != nil && !isNotFound(err):
		return userPage{}, err
	}
	p.InvitationsOff, err = s.invitationsOff(r)
	return p, err
}

// userDetailOf is userPageOf with their first devices, for the user's page itself.
func (s *Server) userDetailOf(r *http.Request, u *store.User) (userPage, error) {
	p, err := s.userPageOf(r, u)
	if err != nil {
		return userPage{}, err
	}
	sq := store.DeviceQuery{UserID: u.ID, Limit: listPageSize}
	list, total, err := s.store.ListDevicesPage(r.Context(), sq)
	if err != nil {
		return userPage{}, err
	}
	p.Devices = s.deviceRows(r, ownerDevices, listQuery{}, sq, list, total)
	return p, nil
}

// invitationsOff is why no invitation can be sent now, or "" when one can.
func (s *Server) invitationsOff(r *http.Request) (string, error) {
	err := s.users.InvitationsReady(r.Context())
	if why := refusal(err); why != "" {
		return why, nil
	}
	return "", err
}

// dateTimeWords is t as the pages write a moment: "6 May 2031 07:08 UTC".
func dateTimeWords(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// fillUserForm puts u into the edit form.
func fillUserForm(f *Form, u *store.User) {
	f.Values["email"], f.Values["role"] = u.Email, roleField(u)
	if u.Disabled() {
		f.Values["disabled"] = "on"
	}
}

// userPageFor finds the user named in the path and builds their page as the viewer sees it
// with build (userPageOf, or userDetailOf for the page itself); when it cannot, it answers
// itself (404 for nobody) and returns false.
func (s *Server) userPageFor(w http.ResponseWriter, r *http.Request,
	build func(*http.Request, *store.User) (userPage, error)) (userPage, bool) {
	u := s.userFor(w, r)
	if u == nil {
		return userPage{}, false
	}
	p, err := build(r, u)
	if err != nil {
		s.serverError(w, r, err)
		return userPage{}, false
	}
	return p, true
}

// showUser answers GET /admin/users/{id}: the user's details, their devices and rules, the
// edit form and the way to delete them.
func (s *Server) showUser(w http.ResponseWriter, r *http.Request) {
	p, ok := s.userPageFor(w, r, s.userDetailOf)
	if !ok {
		return
	}
	pd := s.page(r, p.User.Email, "users")
	fillUserForm(pd.Form, p.User)
	pd.Data = p
	s.renderPage(w, r, http.StatusOK, "user", pd)
}

// updateUser answers POST /admin/users/{id}: the edit form (email, role, a new password,
// disabled). Every invalid field is named at once; a change that would leave no enabled admin
// is refused with what to do. An admin who takes their own admin rights away goes to their
// devices, the page they may still open.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	u := s.userFor(w, r)
	if u == nil {
		return
	}
	pd := s.page(r, u.Email, "users")
	f := pd.Form
	f.Values["email"], f.Values["role"] = r.PostFormValue("email"), r.PostFormValue("role")
	disabled := r.PostFormValue("disabled") != ""
	if disabled {
		f.Values["disabled"] = "on"
	}
	c := users.Change{Email: new(f.Values["email"]), DisabledAt: users.DisabledAt(disabled)}
	if password := r.PostFormValue("password"); password != "" {
		c.Password = &password
	}
	admin, ok := roleOf(f.Values["role"])
	if !ok {
		f.Errors["role"] = badRole
	}
	c.Admin = &admin
	var err error
	updated, changed := u, false
	if ok {
		updated, changed, err = s.users.UpdateByID(r.Context(), u.ID, c)
	} else { // the other fields' messages too
		_, err = users.Email(f.Values["email"])
		if c.Password != nil {
			err = errors.Join(err, users.CheckPassword(store.NormalizeEmail(f.Values["email"]), *c.Password))
		}
	}
	switch {
	case isNotFound(err):
		s.notFound(w, r) // deleted meanwhile
		return
	case err != nil && !fieldError(f, err):
		s.serverError(w, r, err)
		return
	}
	if !f.Valid() {
		s.renderUserDetail(w, r, http.StatusUnprocessableEntity, u, pd, "")
		return
	}
	saved := "Nothing to change."
	if changed {
		saved = "Saved " + updated.Email + "."
		s.log.Info("user changed", slog.String("user", updated.ID), slog.String("email", updated.Email),
			slog.String("role", updated.Role), slog.Bool("disabled", updated.Disabled()), slog.Bool("password_changed", c.Password != nil),
			slog.String("by", currentUser(r).ID))
	}
	if updated.ID == currentUser(r).ID && (!updated.IsAdmin() || updated.Disabled()) {
		// No longer an admin (or signed out at their next request): the Users page is not theirs.
		s.sessions.Put(r.Context(), sessionFlash, saved+" You are no longer an admin.")
		s.redirect(w, r, myDevices.path)
		return
	}
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, saved)
		http.Redirect(w, r, userPath(u.ID), http.StatusSeeOther)
		return
	}
	fillUserForm(f, updated)
	pd.Title = updated.Email
	s.renderUserDetail(w, r, http.StatusOK, updated, pd, saved)
}

// sendInvitation answers POST /admin/users/{id}/invitation: a new invitation by email to a
// user who has no password (users.Service.Invite), whose link replaces the one sent before.
// A refusal or a failure to send is shown on the user's page with the reason (422).
func (s *Server) sendInvitation(w http.ResponseWriter, r *http.Request) {
	u := s.userFor(w, r)
	if u == nil {
		return
	}
	pd := s.page(r, u.Email, "users")
	fillUserForm(pd.Form, u)
	_, err := s.users.Invite(r.Context(), u.Email, u.Role)
	switch {
	case errors.Is(err, users.ErrNotSent):
		// Logged by the mailer; Invite removed the new link, and the old one was replaced.
		pd.Form.Errors["invitation"] = "The invitation was not sent. " + mail.Answer(err) +
			" Their earlier link no longer works either: send a new one once email works."
	case refusal(err) != "":
		pd.Form.Errors["invitation"] = refusal(err)
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if !pd.Form.Valid() {
		s.renderUserDetail(w, r, http.StatusUnprocessableEntity, u, pd, "")
		return
	}
	until, err := s.store.InvitationExpiry(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	saved := fmt.Sprintf("Sent a new invitation to %s: its link works until %s, and the earlier link no longer works.", u.Email,
		dateTimeWords(until))
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, saved)
		http.Redirect(w, r, userPath(u.ID), http.StatusSeeOther)
		return
	}
	s.renderUserDetail(w, r, http.StatusOK, u, pd, saved)
}

// renderUserDetail writes the user's page with the edit form as pd has it, and saved (what
// was saved, or ""): the whole page, or for htmx the user-detail fragment.
func (s *Server) renderUserDetail(w http.ResponseWriter, r *http.Request, status int, u *store.User, pd *PageData, saved string) {
	p, err := s.userDetailOf(r, u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p.Saved = saved
	pd.Data = p
	s.renderUserForm(w, r, status, "user", "user-detail", pd)
}

// renderUserForm writes the page name, or for htmx its fragment.
func (s *Server) renderUserForm(w http.ResponseWriter, r *http.Request, status int, name, fragment string, pd *PageData) {
	if isHTMX(r) {
		s.renderFragment(w, r, status, name, fragment, pd)
		return
	}
	s.renderPage(w, r, status, name, pd)
}

// redirect sends the browser to path: with HX-Redirect for htmx, which would swap a
// redirect's page into the element it targets.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, path string) {
	if isHTMX(r) {
		w.Header().Set(hxRedirect, path)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// confirmDeleteUser answers GET /admin/users/{id}/delete: the confirmation, which names what
// goes with the user, on a page of its own for browsers without JavaScript (the user's page
// asks in a dialog).
func (s *Server) confirmDeleteUser(w http.ResponseWriter, r *http.Request) {
	p, ok := s.userPageFor(w, r, s.userPageOf)
	if !ok {
		return
	}
	pd := s.page(r, "Delete "+p.User.Email, "users")
	pd.Data = p
	s.renderPage(w, r, http.StatusOK, "user-delete", pd)
}

// deleteUser answers POST /admin/users/{id}/delete. The last enabled admin, and the viewer
// themself, are refused with the reason (422); otherwise the user goes with their devices and
// rules, whose peers and firewall entries go at once, and the browser goes to the Users page.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	p, ok := s.userPageFor(w, r, s.userPageOf)
	if !ok {
		return
	}
	u := p.User
	if p.Self {
		s.renderDeleteRefusal(w, r, p, selfDelete)
		return
	}
	if _, err := s.users.DeleteByID(r.Context(), u.ID); err != nil {
		switch {
		case isNotFound(err):
			s.notFound(w, r)
		case refusal(err) != "":
			s.renderDeleteRefusal(w, r, p, refusal(err))
		default:
			s.serverError(w, r, err)
		}
		return
	}
	s.log.Info("user deleted", slog.String("user", u.ID), slog.String("email", u.Email), slog.Int("devices", p.Belongings.Devices),
		slog.Int("rules", p.Belongings.Rules), slog.String("by", currentUser(r).ID))
	s.sessions.Put(r.Context(), sessionFlash, "Deleted "+u.Email+belongingsWords(p.Belongings, ", with ")+".")
	s.redirect(w, r, usersPath)
}

// renderDeleteRefusal answers a refused delete with the confirmation and why (422).
func (s *Server) renderDeleteRefusal(w http.ResponseWriter, r *http.Request, p userPage, why string) {
	p.DeleteError = why
	pd := s.page(r, "Delete "+p.User.Email, "users")
	pd.Data = p
	s.renderUserForm(w, r, http.StatusUnprocessableEntity, "user-delete", "user-delete", pd)
}

// Goes lists what goes with the user when they are deleted, in words: "2 devices (and their
// 1 policy test) and 3 firewall rules"; "" for nothing.
func (p userPage) Goes() string { return belongingsWords(p.Belongings, "") }

// belongingsWords is b in words after prefix, or "" when b is nothing.
func belongingsWords(b store.Belongings, prefix string) string {
	count := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	var parts []string
	if b.Devices > 0 {
		d := count(b.Devices, "device", "devices")
		if b.PolicyTests > 0 {
			d += " (and " + map[bool]string{true: "its", false: "their"}[b.Devices == 1] + " " +
				count(b.PolicyTests, "policy test", "policy tests") + ")"
		}
		parts = append(parts, d)
	}
	if b.Rules > 0 {
		parts = append(parts, count(b.Rules, "firewall rule", "firewall rules"))
	}
	if b.SecondFactors > 0 {
		parts = append(parts, count(b.SecondFactors, "second factor", "second factors"))
	}
	if len(parts) == 0 {
		return ""
	}
	if len(parts) > 1 {
		parts = append(parts[:len(parts)-2], parts[len(parts)-2]+" and "+parts[len(parts)-1])
	}
	return prefix + strings.Join(parts, ", ")
}
