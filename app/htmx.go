package app

import "net/http"

// The htmx headers this server reads and writes; every HX-* name lives here.
const (
	hxRequest  = "HX-Request"
	hxRedirect = "HX-Redirect"
	hxTrigger  = "HX-Trigger"
)

// isHTMX reports whether htmx sent the request, in which case a fragment is answered.
func isHTMX(r *http.Request) bool { return r.Header.Get(hxRequest) == "true" }
