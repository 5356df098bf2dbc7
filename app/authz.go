package app

import (
	"net/http"

	"wiregui/app/access"
)

// can reports whether the request's user may perform act on obj: access.Can with the user
// and the settings read for this request. Handlers answer 404 when it says no, so nobody
// learns what exists that is not theirs.
func (s *Server) can(r *http.Request, act access.Action, obj any) bool {
	v := requestViewer(r)
	if v == nil {
		return false
	}
	return access.Can(v.user, act, obj, v.settings)
}

// require is the route guard of a section (routes.go): visitors who are not signed in are sent
// to sign in, as by requireUser, and users who may not perform act at all get 404, all before
// the handler runs. A new handler registered through it cannot forget the check.
func (s *Server) require(act access.Action, h http.HandlerFunc) http.Handler {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if !s.can(r, act, nil) {
			s.notFound(w, r)
			return
		}
		h(w, r)
	})
}
