package app

import (
	"cmp"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"wiregui/app/access"
	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/collector"
	"wiregui/store"
	"wiregui/wg"
)

// createdView is a device just created, with what its owner needs to set it up. It is shown
// once: the private key in Config is not stored.
type createdView struct {
	Device   *store.Device
	Config   string
	FileName string
	QR       template.URL // empty when the configuration does not fit in a QR code
	OwnKey   bool         // the user brought the key pair: Config has a placeholder line
	Back     string       // where "Done" leads
	// EndpointWarning says that devices on other networks cannot dial the configuration's
	// endpoint (devices.EndpointWarning); "" when they can.
	EndpointWarning string
	// OwnerWarning says that the owner keeps the device off WireGuard, and until when
	// (devices.OwnerWarning); "" when they do not.
	OwnerWarning string
}

// devicePage is the payload of a device's page and of its delete confirmation.
type devicePage struct {
	Device       *store.Device
	Settings     []clientField // the client settings in effect for the device
	CanEdit      bool
	CanDelete    bool
	CanEditRelay bool
	ShowOwner    bool
	Href         string // this page's URL, keeping where it was opened from
	Next         string // where it was opened from: /devices or /admin/devices
	Saved        bool   // the htmx answer to a saved edit
	Live         deviceLive
	Series       chartSeries   // the chart's points so far: the server's window
	LiveURL      string        // the device's Server-Sent Events
	Notice       template.HTML // what the page says about the collector (liveNotice)
	HistoryURL   string        // its traffic history; "" without VictoriaMetrics
	HistorySpans []collector.HistorySpan
	// State is why the device is not a live WireGuard peer, if it is not.
	State devices.State
	// FullTunnel: the device's Allowed IPs hold a default route, so all its traffic goes
	// through the server; otherwise only traffic to those networks does (split tunnel).
	FullTunnel bool
}

// createDevice answers POST /devices and POST /admin/devices: a device for oneself, or, on
// All Devices, for the owner chosen on the form and with relay subnets if given. An htmx
// request gets the form again (422) or the new device's configuration, to show in the dialog.
func (s *Server) createDevice(l deviceList) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pd, defaults, ok := s.startDevicePage(w, r, l.nav)
		if !ok {
			return
		}
		f := pd.Form
		owner := currentUser(r)
		if l.admin {
			typed := r.PostFormValue("user_email")
			f.Values["user_email"] = typed
			switch email, err := text.EmailAddress.Clean(typed); {
			case err != nil:
				f.Errors["user_email"] = text.Sentence(err.Error())
			case email == "":
				f.Errors["user_email"] = "Choose an owner."
			default:
				chosen, err := s.store.UserByEmail(r.Context(), email)
				switch {
				case isNotFound(err):
					f.Errors["user_email"] = "No user has this email. Choose an owner from the list."
				case err != nil:
					s.serverError(w, r, err)
					return
				default:
					owner = chosen
				}
			}
		}
		nd := readNewDevice(r, f, defaults)
		nd.UserID = owner.ID
		// Relay subnets are read only from All Devices, and only from those who may set them.
		if l.admin && s.can(r, access.EditRelaySubnets, nil) {
			nd.AllowedSubnets = parseRelaySubnets(r, f)
		}
		var created *devices.Created
		if f.Valid() {
			var err error
			created, err = s.devices.Create(r.Context(), nd)
			if err != nil && !fieldError(f, err) {
				s.serverError(w, r, err)
				return
			}
		}
		if !f.Valid() {
			if isHTMX(r) {
				s.renderDeviceForm(w, r, pd, l, defaults)
				return
			}
			s.renderNewDevicePage(w, r, http.StatusUnprocessableEntity, pd, l, defaults, nil)
			return
		}
		view := s.createdView(r, created, owner, nd.PublicKey != "", l.path)
		if isHTMX(r) {
			pd.Data = &deviceListPage{Admin: l.admin, Path: l.path, Created: view}
			w.Header().Set(hxTrigger, devicesChanged)
			s.renderFragment(w, r, http.StatusOK, "device-list", "device-created", pd)
			return
		}
		s.renderNewDevicePage(w, r, http.StatusOK, pd, l, defaults, view)
	}
}

// startDevicePage begins the page of an Add device form: it reads the client defaults the
// form shows. When it cannot, it has answered the request and returns ok false.
func (s *Server) startDevicePage(w http.ResponseWriter, r *http.Request, nav string) (
	pd *PageData, defaults devices.Resolved, ok bool) {
	defaults, err := s.devices.Defaults(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return nil, devices.Resolved{}, false
	}
	return s.page(r, "Add device", nav), defaults, true
}

// readNewDevice reads the fields every Add device form has into a devices.Spec and f: name,
// description, public key and the five overrides. The name is checked here too, so that its
// message shows together with those of the overrides.
func readNewDevice(r *http.Request, f *Form, defaults devices.Resolved) devices.Spec {
	nd := devices.Spec{Name: r.PostFormValue("name"), Description: r.PostFormValue("description"),
		PublicKey: strings.TrimSpace(r.PostFormValue("public_key"))}
	f.Values["name"], f.Values["description"], f.Values["public_key"] = nd.Name, nd.Description, r.PostFormValue("public_key")
	if _, err := devices.CheckName(nd.Name); err != nil {
		fieldError(f, err)
	}
	nd.Overrides = parseOverrides(r, f, resolvedTexts(defaults))
	return nd
}

// createdView adds the QR code to a created device of owner, and what the owner means for it.
// A configuration too long for a QR code is still shown, without one.
func (s *Server) createdView(r *http.Request, c *devices.Created, owner *store.User, ownKey bool, back string) *createdView {
	qr, err := qrDataURL(c.Config)
	if err != nil {
		s.log.Warn("no qr code for the configuration", slog.String("device", c.Device.ID),
			slog.String("request_id", requestID(r)), slog.Any("err", err))
	}
	var warning string
	if w := devices.EndpointWarning(c.Endpoint, currentUser(r).IsAdmin()); w != "" {
		warning = "This configuration dials " + w
	}
	return &createdView{Device: c.Device, Config: c.Config, FileName: c.FileName, QR: qr, OwnKey: ownKey, Back: back,
		EndpointWarning: warning, OwnerWarning: ownerWarning(r, owner)}
}

// deviceFor loads the device named in the path and checks that the user may perform act on
// it. When not, or when it does not exist, it answers 404 itself and returns nil.
func (s *Server) deviceFor(w http.ResponseWriter, r *http.Request, act access.Action) *store.Device {
	dev, err := s.store.DeviceByID(r.Context(), r.PathValue("id"))
	switch {
	case isNotFound(err) || err == nil && !s.can(r, act, dev):
		s.notFound(w, r)
		return nil
	case err != nil:
		s.serverError(w, r, err)
		return nil
	}
	return dev
}

// backPath is where a device page leads back to: All Devices when it was opened from there
// (next) and the user may see that page, else My Devices. Nothing else is ever accepted, so
// next cannot send anyone to another site.
func (s *Server) backPath(r *http.Request, next string) string {
	if next == "/admin/devices" && s.can(r, access.ManageAllDevices, nil) {
		return next
	}
	return "/devices"
}

// openedFrom is the list a device's page was opened from: the next query parameter, or else
// All Devices for someone else's device (it is listed nowhere else) and My Devices for one's own.
func openedFrom(r *http.Request, dev *store.Device) string {
	if next := r.URL.Query().Get("next"); next != "" {
		return next
	}
	if dev.UserID != currentUser(r).ID {
		return "/admin/devices"
	}
	return "/devices"
}

// devicePath is the URL of a device's page, remembering where it was opened from.
func devicePath(id, next string) string {
	if next == "/admin/devices" {
		return "/devices/" + id + "?next=/admin/devices"
	}
	return "/devices/" + id
}

func navFor(next string) string {
	if next == "/admin/devices" {
		return "admin-devices"
	}
	return "devices"
}

func (s *Server) showDevice(w http.ResponseWriter, r *http.Request) {
	dev := s.deviceFor(w, r, access.ViewDevice)
	if dev == nil {
		return
	}
	next := s.backPath(r, openedFrom(r, dev))
	pd := s.page(r, dev.Name, navFor(next))
	if err := s.fillDeviceForm(r, pd.Form, dev); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderDevicePage(w, r, http.StatusOK, pd, dev, next, false)
}

// fillDeviceForm puts a device's editable fields into f.
func (s *Server) fillDeviceForm(r *http.Request, f *Form, dev *store.Device) error {
	defaults, err := s.devices.Defaults(r.Context())
	if err != nil {
		return err
	}
	f.Values["name"], f.Values["description"] = dev.Name, dev.Description
	f.Values["allowed_subnets"] = wg.FormatPrefixes(dev.AllowedSubnets)
	fillOverrides(f, dev.Overrides, defaults)
	return nil
}

func (s *Server) updateDevice(w http.ResponseWriter, r *http.Request) {
	dev := s.deviceFor(w, r, access.EditDevice)
	if dev == nil {
		return
	}
	defaults, err := s.devices.Defaults(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	next := s.backPath(r, r.PostFormValue("next"))
	pd := s.page(r, dev.Name, navFor(next))
	f := pd.Form
	name, description := r.PostFormValue("name"), r.PostFormValue("description")
	f.Values["name"], f.Values["description"] = name, description
	if _, err := devices.CheckName(name); err != nil {
		fieldError(f, err)
	}
	overrides := parseOverrides(r, f, resolvedTexts(defaults))
	// Only those who may set relay subnets have the field; from anyone else it is ignored.
	relay := s.can(r, access.EditRelaySubnets, dev)
	var subnets []netip.Prefix
	if relay {
		subnets = parseRelaySubnets(r, f)
	}
	if f.Valid() {
		updated, err := s.devices.Update(r.Context(), dev.ID, func(d *store.Device) error {
			d.Name, d.Description, d.Overrides = name, description, overrides
			if relay {
				d.AllowedSubnets = subnets
			}
			return nil
		})
		switch {
		case isNotFound(err):
			s.notFound(w, r)
			return
		case err != nil && !fieldError(f, err):
			s.serverError(w, r, err)
			return
		case err == nil && !isHTMX(r):
			s.sessions.Put(r.Context(), sessionFlash, "Device saved.")
			http.Redirect(w, r, devicePath(dev.ID, next), http.StatusSeeOther)
			return
		case err == nil:
			pd.Title, pd.Form = updated.Name, newForm()
			if err := s.fillDeviceForm(r, pd.Form, updated); err != nil {
				s.serverError(w, r, err)
				return
			}
			s.renderDevicePage(w, r, http.StatusOK, pd, updated, next, true)
			return
		}
	}
	s.renderDevicePage(w, r, http.StatusUnprocessableEntity, pd, dev, next, false)
}

// ownerWarning is what the Add device form says of owner, to the request's viewer: that
// they keep a new device off WireGuard, and until when (devices.OwnerWarning); "" when not.
func ownerWarning(r *http.Request, owner *store.User) string {
	v := requestViewer(r)
	return devices.OwnerWarning(owner, owner.ID == v.user.ID, time.Now(), v.settings.VPNSessionDuration)
}

// deviceStates returns why a device is not a live WireGuard peer at a time, as the request's
// viewer may be told (devices.StateOf): its owner keeps it off, or, to admins only, the data
// plane left it out or its row does not read. It reads what it needs once, for a page of
// devices.
func (s *Server) deviceStates(r *http.Request) func(dev *store.Device, now time.Time) devices.State {
	admin := s.can(r, access.ManageAllDevices, nil)
	var notApplied map[string]string
	if admin {
		notApplied = s.wg().NotApplied
	}
	session := requestViewer(r).settings.VPNSessionDuration
	return func(dev *store.Device, now time.Time) devices.State {
		var why string
		if admin {
			why = cmp.Or(notApplied[dev.ID], dev.Problem)
		}
		return devices.StateOf(dev, now, session, why)
	}
}

// AddressesHTML is the device's tunnel addresses, as the tables show them.
func (p devicePage) AddressesHTML() template.HTML { return addressesHTML(p.Device) }

// renderDevicePage writes a device's page, or only its device-detail fragment for htmx.
func (s *Server) renderDevicePage(w http.ResponseWriter, r *http.Request, status int, pd *PageData,
	dev *store.Device, next string, saved bool) {
	res, err := s.devices.Resolve(r.Context(), dev)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	now := time.Now()
	var series chartSeries
	if s.live != nil {
		series = seriesOf(s.live.Series(dev.ID))
	}
	since := int64(0)
	if n := len(series.At); n > 0 {
		since = series.At[n-1]
	}
	p := devicePage{
		Live:         s.liveOf(dev, now),
		Series:       series,
		LiveURL:      "/devices/" + dev.ID + "/live?since=" + strconv.FormatInt(since, 10),
		Notice:       s.liveNotice(now),
		Device:       dev,
		Settings:     clientFields(res, deviceSourceWords),
		CanEdit:      s.can(r, access.EditDevice, dev),
		CanDelete:    s.can(r, access.DeleteDevice, dev),
		CanEditRelay: s.can(r, access.EditRelaySubnets, dev),
		ShowOwner:    s.can(r, access.ManageAllDevices, nil),
		Href:         devicePath(dev.ID, next),
		Next:         next,
		Saved:        saved,
		FullTunnel:   slices.ContainsFunc(res.AllowedIPs.Value, func(p netip.Prefix) bool { return p.Bits() == 0 }),
	}
	p.State = s.deviceStates(r)(dev, now)
	if s.history != nil {
		p.HistoryURL, p.HistorySpans = "/devices/"+dev.ID+"/history", collector.HistorySpans
	}
	pd.Data = p
	if isHTMX(r) {
		s.renderFragment(w, r, status, "device", "device-detail", pd)
		return
	}
	s.renderPage(w, r, status, "device", pd)
}

// confirmDeleteDevice is the delete confirmation for browsers without JavaScript; with it, a
// dialog on the device's page asks instead.
func (s *Server) confirmDeleteDevice(w http.ResponseWriter, r *http.Request) {
	dev := s.deviceFor(w, r, access.DeleteDevice)
	if dev == nil {
		return
	}
	next := s.backPath(r, openedFrom(r, dev))
	pd := s.page(r, "Delete "+dev.Name, navFor(next))
	pd.Data = devicePage{Device: dev, Href: devicePath(dev.ID, next), Next: next}
	s.renderPage(w, r, http.StatusOK, "device-delete", pd)
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	dev := s.deviceFor(w, r, access.DeleteDevice)
	if dev == nil {
		return
	}
	err := s.devices.Delete(r.Context(), dev)
	if isNotFound(err) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	next := s.backPath(r, r.PostFormValue("next"))
	s.sessions.Put(r.Context(), sessionFlash, "Device "+dev.Name+" deleted.")
	if isHTMX(r) {
		w.Header().Set(hxRedirect, next)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
