package app

import (
	"net/http"

	"wiregui/store"
)

// action is something a user may or may not do. Every authorization decision goes through
// can; handlers answer 404 when it says no, so nobody learns what exists that is not theirs.
type action int

const (
	viewDevices      action = iota // list one's own devices
	createOwnDevice                // add a device for oneself
	viewDevice                     // open a device (obj: *store.Device)
	editDevice                     // change a device's name, description, overrides (obj: *store.Device)
	deleteDevice                   // delete a device (obj: *store.Device)
	manageAllDevices               // the All Devices page: every user's devices
	editRelaySubnets               // set a device's relay (site-to-site) subnets
	editSettings                   // the Settings page
)

// can decides whether the request's user may perform act on obj, under the runtime settings.
func (s *Server) can(r *http.Request, act action, obj any) bool {
	u := currentUser(r)
	if u == nil || u.Disabled() {
		return false
	}
	if u.IsAdmin() {
		return true
	}
	switch act {
	case viewDevices:
		return true
	case viewDevice:
		return owns(u, obj)
	case createOwnDevice, deleteDevice, editDevice:
		if act != createOwnDevice && !owns(u, obj) {
			return false
		}
		st, err := s.store.Settings(r.Context())
		if err != nil {
			s.log.Warn("read settings for authorization", "err", err)
			return false
		}
		if act == editDevice {
			return st.AllowUnprivilegedDeviceConfiguration
		}
		return st.AllowUnprivilegedDeviceManagement
	}
	return false // manageAllDevices, editRelaySubnets, editSettings: admins only
}

func owns(u *store.User, obj any) bool {
	d, ok := obj.(*store.Device)
	return ok && d != nil && d.UserID == u.ID
}
