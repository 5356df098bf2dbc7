package app

import (
	"net/http"
	"strconv"
	"strings"

	"wiregui/app/mail"
	"wiregui/app/text"
	"wiregui/app/users"
	"wiregui/store"
)

// The Settings page's cards of how people sign in and of email.

// signInCard is the card of the ways of signing in and of the second factor.
type signInCard struct {
	settingsCard // local_auth_enabled, magic_link_enabled, passwordless_enabled, mfa_required ("on")
	// PasskeysNote says why passkeys cannot be used on this server now; "" when they can.
	PasskeysNote string
}

// emailCard is the card of the SMTP settings.
type emailCard struct {
	settingsCard // host, port, tls, username, password, clear_password, from
	// Pinned names, for each setting the server's environment gives, its variable.
	Pinned        map[string]string
	PasswordSaved bool // a password is saved (it is never shown)
	// The test email's outcome: where it went and the server's answer, or why not.
	TestTo, Sent, NotSent string
}

// signInCardFor is the sign-in card showing st.
func (s *Server) signInCardFor(st store.Settings) signInCard {
	f := newForm()
	f.Values["local_auth_enabled"] = checkbox(st.LocalAuthEnabled)
	f.Values["magic_link_enabled"] = checkbox(st.MagicLinkEnabled)
	f.Values["passwordless_enabled"] = checkbox(st.PasswordlessEnabled)
	f.Values["mfa_required"] = checkbox(st.MFARequired)
	c := signInCard{settingsCard: settingsCard{Form: f}}
	if why := s.mfa.WebAuthnUnavailable(); why != "" {
		c.PasskeysNote = "Passkeys cannot be used on this server now: " + text.Sentence(why)
	}
	return c
}

// emailCardFor is the email card showing saved, and the environment's settings where it
// gives them.
func (s *Server) emailCardFor(saved store.MailSettings) emailCard {
	c := emailCard{settingsCard: settingsCard{Form: newForm()}, Pinned: map[string]string{}, PasswordSaved: saved.Password != ""}
	env := s.mail.Env
	values := mailValues(saved)
	for _, f := range mail.Fields {
		if env.Pinned[f.Name] {
			c.Pinned[f.Name] = f.Var
			values[f.Name] = mailValues(env.Settings)[f.Name]
		}
	}
	values["password"] = "" // never shown
	c.Form.Values = values
	return c
}

// mailValues is s as the email card's input text.
func mailValues(s store.MailSettings) map[string]string {
	port := ""
	if s.Port != 0 {
		port = strconv.Itoa(s.Port)
	}
	return map[string]string{"host": s.Host, "port": port, "tls": s.TLS, "username": s.Username,
		"password": s.Password, "from": s.From}
}

// updateSignInSettings saves which ways of signing in are on, and what a second factor may
// and must do. Nobody must be left without a way to sign in: password sign-in goes off only
// while links are on, and links need email set up.
func (s *Server) updateSignInSettings(w http.ResponseWriter, r *http.Request) {
	mailReady := s.mail.Ready(r.Context())
	s.saveSettingsCard(w, r, settingsSave{fragment: "signin-settings", flash: "Sign-in settings saved.",
		card: func(c *settingsCards) *settingsCard { return &c.SignIn.settingsCard },
		edit: func(r *http.Request, f *Form, st *store.Settings) error {
			linksWere := st.MagicLinkEnabled
			readSwitch(r, f, "local_auth_enabled", &st.LocalAuthEnabled)
			readSwitch(r, f, "magic_link_enabled", &st.MagicLinkEnabled)
			readSwitch(r, f, "passwordless_enabled", &st.PasswordlessEnabled)
			readSwitch(r, f, "mfa_required", &st.MFARequired)
			return users.CheckSignIn(st.LocalAuthEnabled, st.MagicLinkEnabled, linksWere, mailReady)
		}})
}

// emailForm reads the email card's form over saved: what the admin typed where the
// environment does not pin it; a field the form does not send keeps its saved value. An empty password keeps the saved one unless clear_password
// is ticked.
func (s *Server) emailForm(r *http.Request, c *emailCard, saved store.MailSettings) (store.MailSettings, bool) {
	f := c.Form
	for _, field := range mail.Fields {
		_, pinned := c.Pinned[field.Name]
		if _, sent := r.PostForm[field.Name]; sent && !pinned {
			f.Values[field.Name] = strings.TrimSpace(r.PostFormValue(field.Name))
		}
	}
	m := saved
	set := func(name string, to *string) {
		if _, pinned := c.Pinned[name]; !pinned {
			*to = f.Values[name]
		}
	}
	set("host", &m.Host)
	set("tls", &m.TLS)
	set("username", &m.Username)
	set("from", &m.From)
	if _, pinned := c.Pinned["port"]; !pinned {
		m.Port = 0
		if p := f.Values["port"]; p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				f.Errors["port"] = "A port is a number from 1 to 65535."
			}
			m.Port = n
		}
	}
	if _, pinned := c.Pinned["password"]; !pinned {
		switch {
		case r.PostFormValue("clear_password") != "":
			m.Password = ""
			f.Values["clear_password"] = "on"
		case r.PostFormValue("password") != "":
			m.Password = r.PostFormValue("password") // as typed: spaces may be part of it
		}
	}
	f.Values["password"] = ""
	if f.Errors["port"] != "" {
		m.Port = saved.Port
	}
	fieldError(f, mail.Check(m))
	return m, f.Valid()
}

// postedEmailCard reads the settings page's cards and the Email card's form as posted over
// the saved mail settings: the settings m it asks for, and whether they are valid (ok). When
// it cannot read them it answers the request itself, and done is true.
func (s *Server) postedEmailCard(w http.ResponseWriter, r *http.Request, st store.Settings) (cards settingsCards, m store.MailSettings, ok, done bool) {
	cards, err := s.settingsCards(r, st)
	if err != nil {
		s.serverError(w, r, err)
		return cards, m, false, true
	}
	saved, err := s.store.MailSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return cards, m, false, true
	}
	m, ok = s.emailForm(r, &cards.Email, saved)
	return cards, m, ok, false
}

// updateEmailSettings saves the SMTP settings the environment does not pin.
func (s *Server) updateEmailSettings(w http.ResponseWriter, r *http.Request) {
	st := requestViewer(r).settings
	cards, m, ok, done := s.postedEmailCard(w, r, st)
	if done {
		return
	}
	if effective := s.mail.Env.Apply(m); ok && st.MagicLinkEnabled && (effective.Host == "" || effective.From == "") {
		cards.Email.Form.Errors["_form"] = "Sign-in links are on, and they need an SMTP server and a sender. Turn them off first."
		ok = false
	}
	if !ok {
		s.renderSettingsCard(w, r, http.StatusUnprocessableEntity, "email-settings", cards)
		return
	}
	saved, err := s.store.UpdateMailSettings(r.Context(), func(ms *store.MailSettings) error { *ms = m; return nil })
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, "Email settings saved.")
		http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
		return
	}
	cards.Email = s.emailCardFor(saved)
	cards.Email.Saved = true
	s.renderSettingsCard(w, r, http.StatusOK, "email-settings", cards)
}

// testEmail sends a test email to the admin with the settings in the form, saved or not,
// and shows the server's answer. Nothing is saved.
func (s *Server) testEmail(w http.ResponseWriter, r *http.Request) {
	cards, m, ok, done := s.postedEmailCard(w, r, requestViewer(r).settings)
	if done {
		return
	}
	if !ok {
		s.renderSettingsCard(w, r, http.StatusUnprocessableEntity, "email-settings", cards)
		return
	}
	to := currentUser(r).Email
	cards.Email.TestTo = to
	answer, err := s.mail.SendWith(r.Context(), m, mail.Test(to))
	status := http.StatusOK
	if err != nil {
		// Logged by the mailer; the admin reads the server's words here.
		cards.Email.NotSent, status = mail.Answer(err), http.StatusUnprocessableEntity
	} else {
		cards.Email.Sent = answer
	}
	s.renderSettingsCard(w, r, status, "email-settings", cards)
}
