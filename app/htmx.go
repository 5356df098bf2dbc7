package app

import "net/http"

// The htmx headers this server reads and writes; every HX-* name lives here.
const (
	hxRequest        = "HX-Request"
	hxHistoryRestore = "HX-History-Restore-Request"
	hxRedirect       = "HX-Redirect"
	hxTrigger        = "HX-Trigger"
)

// isHTMX reports whether htmx sent the request for a fragment. When it restores a page of
// its history (the back button after a sorted or paged table), it wants the whole page.
func isHTMX(r *http.Request) bool {
	return r.Header.Get(hxRequest) == "true" && r.Header.Get(hxHistoryRestore) != "true"
}
