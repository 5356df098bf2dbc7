package app

import "net/http"

// The htmx headers this server reads and writes; every HX-* name lives here.
const (
	hxRequest        = "HX-Request"
	hxHistoryRestore = "HX-History-Restore-Request"
	hxRedirect       = "HX-Redirect"
	hxTrigger        = "HX-Trigger"
)

// The events this server sends in HX-Trigger, each with its listener: an answer that changes
// only what it swaps in sends none.
const (
	// devicesChanged reloads the device tables (partials/devices.html, device-list): a device
	// was added in the dialog over them.
	devicesChanged = "devices-changed"
	// rulesChanged reloads the Rules page's table and policy tests (pages/rules.html): a rule
	// was saved or deleted in a dialog over them, or the network policies changed.
	rulesChanged = "rules-changed"
	// usersChanged reloads the users table (pages/users.html, user-list): a user was added in
	// the dialog over it.
	usersChanged = "users-changed"
)

// isHTMX reports whether htmx sent the request for a fragment. When it restores a page of
// its history (the back button after a sorted or paged table), it wants the whole page.
func isHTMX(r *http.Request) bool {
	return r.Header.Get(hxRequest) == "true" && r.Header.Get(hxHistoryRestore) != "true"
}
