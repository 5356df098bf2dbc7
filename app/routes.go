package app

import (
	"fmt"
	"net/http"
	"strings"

	"wiregui/app/access"
	"wiregui/assets"
)

// route is one row of the route table: a pattern of http.ServeMux and what answers it.
type route struct {
	pattern string
	// session says the route reads the session: the signed-in user and the CSRF check. Every
	// page does; files and the answers for machines do without.
	session bool
	// guarded says a route guard (require) checks an action before the handler runs.
	guarded bool
	handler http.Handler
}

// routes is the route table: every route the server answers. A section that only some users
// may reach is registered through its route guard, and every /admin route must be (New
// refuses a table in which one is not). A handler that acts on one object checks that object
// itself (can) and answers 404 when the user may not.
func (s *Server) routes() []route {
	table := []route{
		// Files and answers for machines: no session.
		{pattern: "GET /static/", handler: assets.Static()},
		{pattern: "GET /healthz", handler: http.HandlerFunc(s.healthz)},

		// Anyone.
		visitor("GET /{$}", s.home),
		visitor("GET /login", s.showLogin),
		visitor("POST /login", s.login),
		visitor("POST /logout", s.logout),
		// A sign-in's second factor, and a passkey's sign-in alone (secondfactor.go).
		visitor("GET /mfa", s.whenPending(s.showSecondFactor)),
		visitor("POST /mfa", s.whenPending(s.verifySecondFactor)),
		visitor("POST /mfa/webauthn/begin", s.whenPending(s.beginSecondFactorKey)),
		visitor("POST /mfa/webauthn/finish", s.whenPending(s.finishSecondFactorKey)),
		visitor("POST /login/passkey/begin", s.beginPasskey),
		visitor("POST /login/passkey/finish", s.finishPasskey),

		// Two-factor authentication: the user's own methods; the handler finds {id} among
		// them (account_mfa.go).
		s.signedIn("GET /account/mfa", s.showAccountMFA),
		s.signedIn("GET /account/mfa/totp", s.showTOTPEnrolment),
		s.signedIn("POST /account/mfa/totp", s.confirmTOTP),
		s.signedIn("POST /account/mfa/webauthn/begin", s.beginKeyRegistration),
		s.signedIn("POST /account/mfa/webauthn/finish", s.finishKeyRegistration),
		s.signedIn("POST /account/mfa/recovery", s.newRecoveryCodes),
		s.signedIn("GET /account/mfa/{id}/delete", s.confirmRemoveMFA),
		s.signedIn("POST /account/mfa/{id}/delete", s.removeMFA),
		// Sign-in links and invitations, under /login where the sign-in form's CSRF cookie
		// is sent: the token is in the path, checked by the handler.
		visitor("POST /login/link", s.requestSignInLink),
		visitor("GET /login/link/{token}", s.showSignInLink),
		visitor("POST /login/link/{token}", s.useSignInLink),
		visitor("GET /login/invitation/{token}", s.showInvitation),
		visitor("POST /login/invitation/{token}", s.acceptInvitation),

		// My Devices.
		s.guard("GET /devices", access.ViewDevices, s.showDeviceList(myDevices)),
		s.guard("POST /devices", myDevices.create, s.createDevice(myDevices)),
		s.guard("GET /devices/new", myDevices.create, s.showNewDevice(myDevices)),

		// The Account page: the viewer's own account.
		s.guard("GET /account", access.ManageOwnAccount, s.showAccount),
		s.guard("POST /account/password", access.ManageOwnAccount, s.changePassword),
		s.guard("POST /account/theme", access.ManageOwnAccount, s.setTheme),
		s.guard("POST /account/sessions/end", access.ManageOwnAccount, s.endOtherSessions),
		s.guard("POST /account/delete", access.ManageOwnAccount, s.deleteAccount),

		// One device, or a page of them: the handler checks each (devices.go, live.go).
		s.signedIn("GET /devices/live", s.liveDevices),
		s.signedIn("GET /devices/{id}", s.showDevice),
		s.signedIn("POST /devices/{id}", s.updateDevice),
		s.signedIn("GET /devices/{id}/live", s.liveDevice),
		s.signedIn("GET /devices/{id}/history", s.deviceHistory),
		s.signedIn("GET /devices/{id}/delete", s.confirmDeleteDevice),
		s.signedIn("POST /devices/{id}/delete", s.deleteDevice),

		// Admins.
		s.guard("GET /admin/devices", access.ManageAllDevices, s.showDeviceList(allDevices)),
		s.guard("POST /admin/devices", allDevices.create, s.createDevice(allDevices)),
		s.guard("GET /admin/devices/new", allDevices.create, s.showNewDevice(allDevices)),
		s.guard("GET /admin/settings", access.EditSettings, s.showSettings),
		s.guard("POST /admin/settings/client", access.EditSettings, s.updateClientSettings),
		s.guard("POST /admin/settings/devices", access.EditSettings, s.updateDeviceSettings),
		s.guard("POST /admin/settings/session", access.EditSettings, s.updateSessionSettings),
		s.guard("POST /admin/settings/sign-in", access.EditSettings, s.updateSignInSettings),
		s.guard("POST /admin/settings/email", access.EditSettings, s.updateEmailSettings),
		s.guard("POST /admin/settings/email/test", access.EditSettings, s.testEmail),
		s.guard("POST /admin/notifications/clear", access.ManageNotifications, s.clearNotifications),

		// The Rules page: the table and its order, one rule, the policies, explain, policy tests.
		s.guard("GET /admin/rules", access.ManageRules, s.showRules),
		s.guard("POST /admin/rules", access.ManageRules, s.createRule),
		s.guard("GET /admin/rules/new", access.ManageRules, s.showNewRule),
		s.guard("GET /admin/rules/{id}", access.ManageRules, s.showRule),
		s.guard("POST /admin/rules/{id}", access.ManageRules, s.updateRule),
		s.guard("GET /admin/rules/{id}/delete", access.ManageRules, s.confirmDeleteRule),
		s.guard("POST /admin/rules/{id}/delete", access.ManageRules, s.deleteRule),
		s.guard("POST /admin/rules/{id}/move", access.ManageRules, s.moveRule),
		s.guard("POST /admin/rules/reorder", access.ManageRules, s.reorderRules),
		s.guard("POST /admin/rules/default", access.ManageRules, s.setUserDefault),
		s.guard("POST /admin/rules/policies", access.ManageRules, s.updatePolicies),
		s.guard("GET /admin/rules/explain", access.ManageRules, s.explainRule),
		s.guard("POST /admin/rules/tests", access.ManageRules, s.addPolicyTest),
		s.guard("POST /admin/rules/tests/{id}/delete", access.ManageRules, s.deletePolicyTest),

		// The Users page: the table, adding a user, one user's page with its edit form, delete,
		// and a new invitation for a user who has no password yet.
		s.guard("GET /admin/users", access.ManageUsers, s.showUsers),
		s.guard("POST /admin/users", access.ManageUsers, s.createUser),
		s.guard("GET /admin/users/new", access.ManageUsers, s.showNewUser),
		s.guard("GET /admin/users/{id}", access.ManageUsers, s.showUser),
		s.guard("POST /admin/users/{id}", access.ManageUsers, s.updateUser),
		s.guard("GET /admin/users/{id}/delete", access.ManageUsers, s.confirmDeleteUser),
		s.guard("POST /admin/users/{id}/delete", access.ManageUsers, s.deleteUser),
		s.guard("POST /admin/users/{id}/invitation", access.ManageUsers, s.sendInvitation),

		// Any other path.
		visitor("/", s.notFound),
	}
	if s.metrics != nil { // it checks its own token
		table = append(table, route{pattern: "GET /metrics", handler: s.metrics})
	}
	return table
}

// visitor is a page that anyone may open, signed in or not.
func visitor(pattern string, h http.HandlerFunc) route {
	return route{pattern: pattern, session: true, handler: h}
}

// signedIn is a page for signed-in users; visitors are sent to sign in.
func (s *Server) signedIn(pattern string, h http.HandlerFunc) route {
	return route{pattern: pattern, session: true, handler: s.requireUser(h)}
}

// guard is a page for the users who may perform act (require).
func (s *Server) guard(pattern string, act access.Action, h http.HandlerFunc) route {
	return route{pattern: pattern, session: true, guarded: true, handler: s.require(act, h)}
}

// handler builds the root handler from the route table, with every middleware: the pages'
// (session, user, CSRF) around the routes that read the session, and around everything the
// cross-origin check, the security headers, the form reader, the access log and recovery.
func (s *Server) handler() (http.Handler, error) {
	mux, pages := http.NewServeMux(), http.NewServeMux()
	for _, rt := range s.routes() {
		if path := routePath(rt.pattern); (path == "/admin" || strings.HasPrefix(path, "/admin/")) && !rt.guarded {
			return nil, fmt.Errorf("route %s: an /admin route needs a route guard", rt.pattern)
		}
		if rt.session {
			pages.Handle(rt.pattern, rt.handler)
		} else {
			mux.Handle(rt.pattern, rt.handler)
		}
	}
	mux.Handle("/", noStore(keepSessionErrors(s.sessions.LoadAndSave(s.withUser(s.checkCSRF(pages))))))

	cop := http.NewCrossOriginProtection()
	cop.AddTrustedOrigin(s.origin)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.clientError(w, r, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	return s.recoverPanics(s.logRequests(securityHeaders(cop.Handler(s.readForm(mux))))), nil
}

// routePath is the path of a ServeMux pattern: "GET /devices/{id}" → "/devices/{id}".
func routePath(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}
