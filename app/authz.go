package app

import "wiregui/store"

// action is something a user may or may not do. Every authorization decision goes through can.
type action int

const (
	viewDevices action = iota
	createOwnDevice
	viewDevice
)

// can decides whether user u may perform act on obj (nil when the action has no object).
func can(u *store.User, act action, obj any) bool {
	if u == nil || u.Disabled() {
		return false
	}
	switch act {
	case viewDevices, createOwnDevice:
		return true
	case viewDevice:
		d, ok := obj.(*store.Device)
		return ok && (u.IsAdmin() || d.UserID == u.ID)
	}
	return false
}
