package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"wiregui/app/devices"
	"wiregui/store"
	"wiregui/wg"
)

// PageData is what every page template receives. Fill it with s.page.
type PageData struct {
	Title     string
	User      *store.User // nil when signed out
	Theme     string      // the user's colour theme; the system's for visitors (store.Theme*)
	CSRFToken string
	Nav       string // the active navigation item
	// Enrolling hides the navigation from a user who must add a second factor first: every
	// other page sends them back to adding one.
	Enrolling bool
	Flash     string
	Banners   []string // warnings shown on every page, e.g. WireGuard is down
	Version   string
	Form      *Form
	Data      any // the page's own payload
}

// Form carries what the user typed and the message for each field that was wrong.
// The key "_form" holds a message about the form as a whole.
type Form struct {
	Values map[string]string
	Errors map[string]string
}

func newForm() *Form { return &Form{Values: map[string]string{}, Errors: map[string]string{}} }

// Valid reports whether no field has an error.
func (f *Form) Valid() bool { return len(f.Errors) == 0 }

// page fills the data every page needs. Only a signed-in user has a session, so only then
// does the page carry the session's CSRF token and flash; the sign-in form carries a token of
// its own (loginToken).
func (s *Server) page(r *http.Request, title, nav string) *PageData {
	u := currentUser(r)
	pd := &PageData{
		Title:   title,
		User:    u,
		Nav:     nav,
		Version: s.version,
		Form:    newForm(),
		Banners: s.banners(r),
		Theme:   store.ThemeSystem,
	}
	if u != nil {
		pd.Theme = u.Theme
		pd.Enrolling = s.enrolling(r)
		pd.CSRFToken = s.csrfToken(r)
		pd.Flash = s.sessions.PopString(r.Context(), sessionFlash)
	}
	return pd
}

// banners are the warnings every page shows to a signed-in user; visitors who are not signed
// in get none.
func (s *Server) banners(r *http.Request) []string {
	v := requestViewer(r)
	if v == nil {
		return nil
	}
	var banners []string
	if b := s.wireGuardBanner(v.user); b != "" {
		banners = append(banners, b)
	}
	if v.user.IsAdmin() {
		banners = append(banners, gatewayBanners(s.wg().Gateway)...)
		defaults := devices.Effective(store.ClientSettings{}, v.settings.ClientDefaults, s.devices.Client)
		if b := devices.EndpointWarning(defaults.Endpoint.Value, true); b != "" {
			banners = append(banners, "New devices get the endpoint "+b)
		}
	}
	return banners
}

// wireGuardBanner is the warning while WireGuard is unavailable. Its cause names interfaces
// and peer keys, so only admins, who can act on it, read it; other users get a plain line.
func (s *Server) wireGuardBanner(u *store.User) string {
	st := s.wg()
	switch {
	case st.Error != "" && u.IsAdmin():
		return "WireGuard is unavailable: " + st.Error
	case st.Error != "":
		return "The VPN is unavailable at the moment. An administrator can see why."
	case len(st.NotApplied) == 1 && u.IsAdmin():
		return "1 device is not applied to WireGuard; All Devices says why."
	case len(st.NotApplied) > 1 && u.IsAdmin():
		return fmt.Sprintf("%d devices are not applied to WireGuard; All Devices says why.", len(st.NotApplied))
	}
	return ""
}

// gatewayBanners are the warnings about the firewall and forwarding, for admins: why the
// firewall is not in the kernel (and so nothing is forwarded), forwarding switched off, and
// another table's forward chain that drops what WireGUI accepts.
func gatewayBanners(gw *wg.GatewayStatus) []string {
	if gw == nil {
		return nil
	}
	var banners []string
	switch {
	case gw.Err != "":
		banners = append(banners, "The firewall is not as it should be, and nothing new is forwarded while it is not in the kernel: "+gw.Err)
	case gw.InKernel && (gw.IPv4Forwarding == "off" || gw.IPv6Forwarding == "off"):
		banners = append(banners, "IP forwarding is off (WG_WG_FORWARD=false): full-tunnel clients reach the server, but nothing beyond it.")
	}
	for _, chain := range gw.ForeignForwardDrops {
		banners = append(banners, fmt.Sprintf("The forward chain %s drops what it does not accept itself (policy drop), "+
			"so it may drop traffic that WireGUI's rules accept; let the tunnel's traffic through it (the README's "+
			"full-tunnel section says how, for Docker too).", chain))
	}
	return banners
}

// renderPage writes a whole page, or a server error if the template fails.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, pd *PageData) {
	if err := s.render.Page(w, status, name, pd); err != nil {
		s.serverError(w, r, err)
	}
}

// renderFragment writes one htmx fragment of a page.
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, status int, page, fragment string, pd *PageData) {
	if err := s.render.Fragment(w, status, page, fragment, pd); err != nil {
		s.serverError(w, r, err)
	}
}

// serverError is the one path for unexpected errors: it logs the details and shows the user a
// generic page, never the error text. When the database cannot be reached, the page says so
// with a 503.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) { // said once by the parts that poll the database, not per request
		s.log.Debug("database unavailable", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("request_id", requestID(r)), slog.Any("err", err))
		s.databaseUnavailable(w, r)
		return
	}
	s.log.Error("server error", slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("request_id", requestID(r)), slog.Any("err", err))
	switch {
	case errors.Is(err, store.ErrDiskFull):
		s.clientError(w, r, http.StatusInsufficientStorage, diskFullMessage)
	default:
		s.clientError(w, r, http.StatusInternalServerError, "Something went wrong on our side. It has been logged; please try again.")
	}
}

// diskFullMessage is what the user reads when a change could not be saved for lack of space.
const diskFullMessage = "The server cannot write: disk full. Nothing was changed. Ask an administrator to free some space, then try again."

// notFound answers 404. It is also the answer for objects the user may not see.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.clientError(w, r, http.StatusNotFound, "This page does not exist, or you do not have access to it.")
}

// clientError shows the error page with a message meant for the user.
func (s *Server) clientError(w http.ResponseWriter, r *http.Request, status int, message string) {
	pd := s.page(r, http.StatusText(status), "")
	pd.Data = map[string]any{"Status": status, "Message": message}
	if err := s.render.Page(w, status, "error", pd); err != nil {
		s.log.Error("render error page", slog.Any("err", err))
		http.Error(w, message, status)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
