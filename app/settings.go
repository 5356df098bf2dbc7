package app

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
)

// settingsPage is the payload of the Settings page.
type settingsPage struct {
	Defaults      []clientField // the default client configuration in effect, with its source
	Durations     []durationOption
	Saved         bool              // the htmx answer to a save
	Notifications *notificationList // nil when there are none, or in the htmx answer
	// KeysUnavailable says why passkeys cannot be used on this server; "" when they can.
	KeysUnavailable string
	Cards           settingsCards // the sign-in and email cards (settings_signin.go)
}

// durationOption is one choice of the VPN session duration select; Value is in seconds.
type durationOption struct {
	Value string
	Label string
}

// sessionDuration is a VPN session duration an admin may choose.
type sessionDuration struct {
	d     time.Duration
	label string
}

var sessionDurations = []sessionDuration{
	{0, "Never expires"},
	{time.Hour, "1 hour"},
	{24 * time.Hour, "1 day"},
	{7 * 24 * time.Hour, "1 week"},
	{30 * 24 * time.Hour, "30 days"},
	{90 * 24 * time.Hour, "90 days"},
}

// durationOptions lists the choices; a current value set some other way (the CLI) is listed
// too, so that saving the page does not change it.
func durationOptions(current time.Duration) []durationOption {
	var opts []durationOption
	listed := false
	for _, sd := range sessionDurations {
		opts = append(opts, durationOption{Value: seconds(sd.d), Label: sd.label})
		listed = listed || sd.d == current
	}
	if !listed {
		opts = append(opts, durationOption{Value: seconds(current), Label: current.String() + " (current)"})
	}
	return opts
}

func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// settingsSourceWords says where a default client setting comes from.
func settingsSourceWords(source string) string {
	switch source {
	case "database":
		return "saved here"
	case "detected":
		return "the server's address on its default route, as WG_WG_ENDPOINT_HOST is not set"
	}
	return "the server environment's default"
}

func (s *Server) showSettings(w http.ResponseWriter, r *http.Request) {
	st := requestViewer(r).settings
	pd := s.page(r, "Settings", "settings")
	fillSettingsForm(pd.Form, st)
	s.renderSettingsPage(w, r, http.StatusOK, pd, st, false, nil)
}

func fillSettingsForm(f *Form, st store.Settings) {
	texts, set := settingTexts(st.ClientDefaults)
	for _, info := range clientFieldInfo {
		if set[info.name] {
			f.Values[info.name] = texts[info.name]
		}
	}
	f.Values["vpn_session_duration"] = seconds(st.VPNSessionDuration)
	if st.AllowUnprivilegedDeviceManagement {
		f.Values["allow_unprivileged_device_management"] = "on"
	}
	if st.AllowUnprivilegedDeviceConfiguration {
		f.Values["allow_unprivileged_device_configuration"] = "on"
	}
	if st.MFARequired {
		f.Values["mfa_required"] = "on"
	}
	if st.PasswordlessEnabled {
		f.Values["passwordless_enabled"] = "on"
	}
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	current := requestViewer(r).settings
	pd := s.page(r, "Settings", "settings")
	f := pd.Form
	defaults := parseDefaults(r, f)
	f.Values["vpn_session_duration"] = r.PostFormValue("vpn_session_duration")
	duration, ok := parseSessionDuration(r.PostFormValue("vpn_session_duration"), current.VPNSessionDuration)
	if !ok {
		f.Errors["vpn_session_duration"] = "Choose one of the listed durations."
	}
	management := r.PostFormValue("allow_unprivileged_device_management") != ""
	configuration := r.PostFormValue("allow_unprivileged_device_configuration") != ""
	if management {
		f.Values["allow_unprivileged_device_management"] = "on"
	}
	if configuration {
		f.Values["allow_unprivileged_device_configuration"] = "on"
	}
	mfaRequired := r.PostFormValue("mfa_required") != ""
	passwordless := r.PostFormValue("passwordless_enabled") != ""
	if mfaRequired {
		f.Values["mfa_required"] = "on"
	}
	if passwordless {
		f.Values["passwordless_enabled"] = "on"
	}
	if f.Valid() {
		// Checked again with the rules the CLI and the API meet.
		if err := devices.ValidateClientSettings(defaults); err != nil {
			fieldError(f, err)
		}
	}
	if !f.Valid() {
		s.renderSettingsPage(w, r, http.StatusUnprocessableEntity, pd, current, false, nil)
		return
	}
	saved, err := s.store.UpdateSettings(r.Context(), func(st *store.Settings) error {
		st.ClientDefaults = defaults
		st.VPNSessionDuration = duration
		st.AllowUnprivilegedDeviceManagement = management
		st.AllowUnprivilegedDeviceConfiguration = configuration
		st.MFARequired, st.PasswordlessEnabled = mfaRequired, passwordless
		return nil
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// New defaults change configurations, and a new session duration changes which peers
	// are live: the reconciler applies both at once.
	s.accessChanged("")
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, "Settings saved.")
		http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
		return
	}
	pd.Form = newForm()
	fillSettingsForm(pd.Form, saved)
	s.renderSettingsPage(w, r, http.StatusOK, pd, saved, true, nil)
}

// parseSessionDuration accepts the listed durations (in seconds) and the current one.
func parseSessionDuration(v string, current time.Duration) (time.Duration, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	d := time.Duration(n) * time.Second
	listed := slices.ContainsFunc(sessionDurations, func(sd sessionDuration) bool { return sd.d == d })
	return d, listed || d == current
}

// renderSettingsPage writes the Settings page, or only its settings-form fragment for htmx.
// st are the stored settings: the values in effect are shown from them, not from the form.
// cards are the sign-in and email cards as they are answered; nil shows them as saved.
func (s *Server) renderSettingsPage(w http.ResponseWriter, r *http.Request, status int, pd *PageData,
	st store.Settings, saved bool, cards *settingsCards) {
	res := devices.Effective(store.ClientSettings{}, st.ClientDefaults, s.devices.Client)
	fields := clientFields(res, settingsSourceWords)
	env := resolvedTexts(devices.Effective(store.ClientSettings{}, store.ClientSettings{}, s.devices.Client))
	if s.devices.Client.EndpointHost == "" {
		env["endpoint"] = ""
	}
	for i, f := range fields {
		fields[i].Placeholder = env[f.Name]
		if f.Name == "endpoint" {
			fields[i].Hint += " Without a port, " + strconv.Itoa(s.devices.Client.EndpointPort) + " is used."
		}
	}
	page := settingsPage{Defaults: fields, Durations: durationOptions(st.VPNSessionDuration), Saved: saved,
		KeysUnavailable: text.Sentence(s.mfa.WebAuthnUnavailable())}
	if isHTMX(r) {
		pd.Data = page
		s.renderFragment(w, r, status, "settings", "settings-form", pd)
		return
	}
	if cards == nil {
		c, err := s.settingsCards(r, st)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		cards = &c
	}
	page.Cards = *cards
	var err error
	if page.Notifications, err = s.openNotifications(r); err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = page
	s.renderPage(w, r, status, "settings", pd)
}
