package app

// Routes served here; server.go registers them:
//
//	mux.Handle("GET /admin/devices", s.requireUser(s.listAllDevices))
//	mux.Handle("POST /admin/devices", s.requireUser(s.createDeviceForUser))

import (
	"net/http"
	"strings"

	"wiregui/store"
)

// adminDevicesPage is the payload of the All Devices page.
type adminDevicesPage struct {
	Devices   []store.Device
	Users     []store.User  // the Owner choices
	Overrides []clientField // the Add form's Advanced section: the defaults in effect
	Created   *createdView  // set once, right after a device was created
}

func (s *Server) listAllDevices(w http.ResponseWriter, r *http.Request) {
	pd, defaults, ok := s.startDevicePage(w, r, manageAllDevices, "All Devices", "admin-devices")
	if !ok {
		return
	}
	fillOverrides(pd.Form, store.ClientSettings{}, defaults)
	s.renderAdminDevicesPage(w, r, http.StatusOK, pd, defaults, nil)
}

// createDeviceForUser creates a device for the owner chosen on the form, with relay subnets
// if given.
func (s *Server) createDeviceForUser(w http.ResponseWriter, r *http.Request) {
	pd, defaults, ok := s.startDevicePage(w, r, manageAllDevices, "All Devices", "admin-devices")
	if !ok {
		return
	}
	f := pd.Form
	ownerID := strings.TrimSpace(r.PostFormValue("user_id"))
	f.Values["user_id"] = ownerID
	owner, err := s.store.UserByID(r.Context(), ownerID)
	switch {
	case ownerID == "" || isNotFound(err):
		f.Errors["user_id"] = "Choose an owner."
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	nd := readNewDevice(r, f, defaults)
	if s.can(r, editRelaySubnets, nil) {
		nd.AllowedSubnets = parseRelaySubnets(r, f)
	}
	var created *CreatedDevice
	if f.Valid() {
		nd.UserID = owner.ID
		created, err = s.devices.Create(r.Context(), nd)
		if err != nil && !fieldError(f, err) {
			s.serverError(w, r, err)
			return
		}
	}
	if !f.Valid() {
		if isHTMX(r) {
			users, err := s.store.ListUsers(r.Context())
			if err != nil {
				s.serverError(w, r, err)
				return
			}
			pd.Data = adminDevicesPage{Users: users, Overrides: clientFields(defaults, deviceSourceWords)}
			s.renderFragment(w, r, http.StatusUnprocessableEntity, "admin-devices", "admin-device-form", pd)
			return
		}
		s.renderAdminDevicesPage(w, r, http.StatusUnprocessableEntity, pd, defaults, nil)
		return
	}
	view := s.createdView(r, created, nd.PublicKey != "", "/admin/devices")
	if isHTMX(r) {
		pd.Data = adminDevicesPage{Created: view}
		w.Header().Set(hxTrigger, "devices-changed")
		s.renderFragment(w, r, http.StatusOK, "admin-devices", "device-created", pd)
		return
	}
	s.renderAdminDevicesPage(w, r, http.StatusOK, pd, defaults, view)
}

func (s *Server) renderAdminDevicesPage(w http.ResponseWriter, r *http.Request, status int, pd *PageData,
	defaults Resolved, created *createdView) {
	devices, err := s.store.ListDevices(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = adminDevicesPage{Devices: devices, Users: users,
		Overrides: clientFields(defaults, deviceSourceWords), Created: created}
	s.renderPage(w, r, status, "admin-devices", pd)
}
