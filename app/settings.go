package app

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"wiregui/app/devices"
	"wiregui/store"
)

// The Settings page is a column of cards, each a form of its own that saves on its own: the
// client defaults, devices, the VPN session (this file), sign-in and email
// (settings_signin.go). htmx answers a card's form with the card alone; without htmx a save
// redirects back to the page, and a refusal shows the whole page with the card's messages.
//
// A card changes only the settings its form sends, read in the transaction that saves them:
// a field the form does not send (a page loaded before an upgrade, a script) keeps its saved
// value, and nothing another card holds is ever written from a form. A switch's form sends
// name=off from a hidden input before its box, and name=on from the box when it is ticked.

// settingsPage is the payload of the Settings page.
type settingsPage struct {
	Cards         settingsCards
	Notifications *notificationList // nil when there are none, or in the htmx answer
}

// settingsCards are the Settings page's cards.
type settingsCards struct {
	Client  clientCard
	Devices settingsCard // allow_unprivileged_device_management, allow_unprivileged_device_configuration
	Session sessionCard
	SignIn  signInCard
	Email   emailCard
}

// settingsCard is a card's form and whether the answer is to its save.
type settingsCard struct {
	Form  *Form
	Saved bool
}

// clientCard is the card of the default client configuration.
type clientCard struct {
	settingsCard // the five client settings: the saved text, "" when unset
	// Fields are the five client settings, each with the default an empty input uses.
	Fields []clientField
}

// sessionCard is the card of the VPN session's duration.
type sessionCard struct {
	settingsCard // vpn_session_duration, in seconds
	Durations    []durationOption
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
// too, so that saving the card does not change it.
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

// defaultSourceWords says where the default of a client setting comes from.
func defaultSourceWords(source string) string {
	if source == "detected" {
		return "the server's address on its default route, as WG_WG_ENDPOINT_HOST is not set"
	}
	return "from the server's environment"
}

// settingsCards returns the cards showing st and the saved email settings.
func (s *Server) settingsCards(r *http.Request, st store.Settings) (settingsCards, error) {
	mail, err := s.store.MailSettings(r.Context())
	if err != nil {
		return settingsCards{}, err
	}
	client := newForm()
	texts, set := settingTexts(st.ClientDefaults)
	for _, info := range clientFieldInfo {
		if set[info.name] {
			client.Values[info.name] = texts[info.name]
		}
	}
	devicesForm := newForm()
	devicesForm.Values["allow_unprivileged_device_management"] = checkbox(st.AllowUnprivilegedDeviceManagement)
	devicesForm.Values["allow_unprivileged_device_configuration"] = checkbox(st.AllowUnprivilegedDeviceConfiguration)
	session := newForm()
	session.Values["vpn_session_duration"] = seconds(st.VPNSessionDuration)
	return settingsCards{
		Client:  clientCard{settingsCard: settingsCard{Form: client}, Fields: s.defaultClientFields()},
		Devices: settingsCard{Form: devicesForm},
		Session: sessionCard{settingsCard: settingsCard{Form: session}, Durations: durationOptions(st.VPNSessionDuration)},
		SignIn:  s.signInCardFor(st),
		Email:   s.emailCardFor(mail),
	}, nil
}

// defaultClientFields are the five client settings with the default an empty input uses:
// the environment's, or the address the server detected for the endpoint.
func (s *Server) defaultClientFields() []clientField {
	env := devices.Effective(store.ClientSettings{}, store.ClientSettings{}, s.devices.Client)
	fields := clientFields(env, defaultSourceWords)
	placeholders := resolvedTexts(env)
	for i, f := range fields {
		fields[i].Default = true
		fields[i].Placeholder = placeholders[f.Name]
		if f.Name == "endpoint" {
			fields[i].Hint += " Without a port, " + strconv.Itoa(s.devices.Client.EndpointPort) + " is used."
		}
	}
	return fields
}

func (s *Server) showSettings(w http.ResponseWriter, r *http.Request) {
	st := requestViewer(r).settings
	cards, err := s.settingsCards(r, st)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderSettingsCard(w, r, http.StatusOK, "", cards)
}

// settingsSave is how one card's form changes the settings.
type settingsSave struct {
	fragment string // the card's template, e.g. "client-settings"
	flash    string // the confirmation after a save without htmx
	// card is the card in cards.
	card func(cards *settingsCards) *settingsCard
	// edit puts what the form sent over the saved settings st, in the transaction, and
	// records each bad field on f (or returns an InputError for one); the card shows f.
	edit func(r *http.Request, f *Form, st *store.Settings) error
	// reconcile: the change may change which peers are live or what their configurations
	// say, so the reconciler looks at everyone at once.
	reconcile bool
}

// errFormInvalid ends a settings transaction whose form has a bad field: nothing is saved.
var errFormInvalid = errors.New("the form has a bad field")

// saveSettingsCard saves one card's form, and answers with the card: saved, or with every bad
// field's message and what was typed.
func (s *Server) saveSettingsCard(w http.ResponseWriter, r *http.Request, save settingsSave) {
	cards, err := s.settingsCards(r, requestViewer(r).settings)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f := save.card(&cards).Form // the saved values; edit puts what the form sent over them
	st, err := s.store.UpdateSettings(r.Context(), func(st *store.Settings) error {
		if err := save.edit(r, f, st); err != nil {
			return err
		}
		if !f.Valid() {
			return errFormInvalid
		}
		return nil
	})
	if errors.Is(err, errFormInvalid) || fieldError(f, err) {
		s.renderSettingsCard(w, r, http.StatusUnprocessableEntity, save.fragment, cards)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if save.reconcile {
		s.accessChanged("")
	}
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, save.flash)
		http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
		return
	}
	if cards, err = s.settingsCards(r, st); err != nil {
		s.serverError(w, r, err)
		return
	}
	save.card(&cards).Saved = true
	s.renderSettingsCard(w, r, http.StatusOK, save.fragment, cards)
}

// readSwitch sets *to from the form's switch name when the form sends it, and shows *to in f.
func readSwitch(r *http.Request, f *Form, name string, to *bool) {
	if values, sent := r.PostForm[name]; sent {
		*to = slices.Contains(values, "on")
	}
	f.Values[name] = checkbox(*to)
}

func checkbox(on bool) string {
	if on {
		return "on"
	}
	return ""
}

// updateClientSettings saves the default client configuration: an empty field unsets its
// setting, so that the environment's default applies. New defaults change configurations.
func (s *Server) updateClientSettings(w http.ResponseWriter, r *http.Request) {
	s.saveSettingsCard(w, r, settingsSave{fragment: "client-settings", flash: "Client defaults saved.", reconcile: true,
		card: func(c *settingsCards) *settingsCard { return &c.Client.settingsCard },
		edit: func(r *http.Request, f *Form, st *store.Settings) error {
			defaults := parseDefaults(r, f, st.ClientDefaults)
			if !f.Valid() {
				return nil
			}
			st.ClientDefaults = defaults
			// Checked again with the rules the CLI and the API meet.
			return devices.ValidateClientSettings(defaults)
		}})
}

// updateDeviceSettings saves what users may do with their own devices.
func (s *Server) updateDeviceSettings(w http.ResponseWriter, r *http.Request) {
	s.saveSettingsCard(w, r, settingsSave{fragment: "device-settings", flash: "Device settings saved.",
		card: func(c *settingsCards) *settingsCard { return &c.Devices },
		edit: func(r *http.Request, f *Form, st *store.Settings) error {
			readSwitch(r, f, "allow_unprivileged_device_management", &st.AllowUnprivilegedDeviceManagement)
			readSwitch(r, f, "allow_unprivileged_device_configuration", &st.AllowUnprivilegedDeviceConfiguration)
			return nil
		}})
}

// updateSessionSettings saves how long a sign-in keeps a user's devices connected: a new
// duration changes which peers are live.
func (s *Server) updateSessionSettings(w http.ResponseWriter, r *http.Request) {
	s.saveSettingsCard(w, r, settingsSave{fragment: "session-settings", flash: "VPN session duration saved.", reconcile: true,
		card: func(c *settingsCards) *settingsCard { return &c.Session.settingsCard },
		edit: func(r *http.Request, f *Form, st *store.Settings) error {
			if _, sent := r.PostForm["vpn_session_duration"]; !sent {
				return nil
			}
			v := r.PostFormValue("vpn_session_duration")
			f.Values["vpn_session_duration"] = v
			d, ok := parseSessionDuration(v, st.VPNSessionDuration)
			if !ok {
				f.Errors["vpn_session_duration"] = "Choose one of the listed durations."
				return nil
			}
			st.VPNSessionDuration = d
			return nil
		}})
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

// renderSettingsCard answers a card's form (fragment, e.g. "client-settings"): for htmx the
// card alone, otherwise the whole Settings page with it. An empty fragment is the page.
func (s *Server) renderSettingsCard(w http.ResponseWriter, r *http.Request, status int, fragment string, cards settingsCards) {
	pd := s.page(r, "Settings", "settings")
	page := settingsPage{Cards: cards}
	if fragment != "" && isHTMX(r) {
		pd.Data = page
		s.renderFragment(w, r, status, "settings", fragment, pd)
		return
	}
	var err error
	if page.Notifications, err = s.openNotifications(r); err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = page
	s.renderPage(w, r, status, "settings", pd)
}
