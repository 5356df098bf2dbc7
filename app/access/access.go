// Package access decides who may do what. Can is a pure function of the user, the action,
// the object and the runtime settings: no I/O, so the web UI, the CLI and the API ask the
// same question and get the same answer, and one table test covers every case.
//
// The web UI asks it twice: a route guard checks the action of a whole section (every
// /admin route) before its handler runs, and a handler checks the one object it acts on,
// answering 404 when Can says no, so that nobody learns what exists that is not theirs.
package access

import "wiregui/store"

// Action is something a user may or may not do.
type Action int

const (
	ViewDevices         Action = iota // list one's own devices (My Devices)
	CreateOwnDevice                   // add a device for oneself
	ViewDevice                        // open a device (obj: *store.Device)
	EditDevice                        // change a device's name, description, overrides (obj: *store.Device)
	DeleteDevice                      // delete a device (obj: *store.Device)
	ManageAllDevices                  // All Devices: every user's devices, and adding one for anyone
	EditRelaySubnets                  // set a device's relay (site-to-site) subnets
	EditSettings                      // the Settings page
	ManageNotifications               // read and clear the notifications raised for admins
	ManageRules                       // the Rules page: the firewall's rules, policies, policy tests, explain
	ManageUsers                       // the Users page: every user, adding, changing and deleting them
	ManageOwnAccount                  // the Account page: one's own password, theme, sessions, deletion

	numActions // not an action: how many there are
)

var actionNames = [numActions]string{"ViewDevices", "CreateOwnDevice", "ViewDevice", "EditDevice", "DeleteDevice",
	"ManageAllDevices", "EditRelaySubnets", "EditSettings", "ManageNotifications", "ManageRules", "ManageUsers",
	"ManageOwnAccount"}

func (a Action) String() string {
	if a < 0 || a >= numActions {
		return "Action(?)"
	}
	return actionNames[a]
}

// Can reports whether u may perform act on obj under the runtime settings st. Nobody who is
// not signed in (nil) or is disabled may do anything; admins may do everything; users may
// see their own devices, and add, delete or reconfigure them as far as the settings allow.
func Can(u *store.User, act Action, obj any, st store.Settings) bool {
	switch {
	case u == nil || u.Disabled():
		return false
	case u.IsAdmin():
		return true
	}
	switch act {
	case ViewDevices, ManageOwnAccount:
		return true
	case ViewDevice:
		return owns(u, obj)
	case CreateOwnDevice:
		return st.AllowUnprivilegedDeviceManagement
	case DeleteDevice:
		return owns(u, obj) && st.AllowUnprivilegedDeviceManagement
	case EditDevice:
		return owns(u, obj) && st.AllowUnprivilegedDeviceConfiguration
	}
	return false // ManageAllDevices, EditRelaySubnets, EditSettings, ManageNotifications, ManageRules, ManageUsers: admins only
}

// owns reports whether obj is a device of u's.
func owns(u *store.User, obj any) bool {
	d, ok := obj.(*store.Device)
	return ok && d != nil && d.UserID == u.ID
}
