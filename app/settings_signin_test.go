package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiregui/app/mail"
	"wiregui/app/mail/mailtest"
	"wiregui/store"
)

// The test button sends with what is typed, saved or not, and shows the server's answer: a
// server that refuses the credentials says why; one that takes them says it queued the
// message, which arrives with both bodies. Nothing is saved by a test.
func TestTheTestEmailShowsTheServersAnswer(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	srv := mailtest.Start(t, mailtest.Options{Username: "mailer", Password: "right-smtp-pw"})
	form := func(pw string) url.Values {
		return url.Values{"host": {srv.Host}, "port": {strconv.Itoa(srv.Port)}, "tls": {"none"}, "username": {"mailer"},
			"password": {pw}, "from": {"WireGUI <vpn@example.com>"}}
	}
	page := c.Get("/admin/settings")
	if !strings.Contains(page.Body, `id="email-settings"`) || !strings.Contains(page.Body, "Send a test email") {
		t.Fatalf("the Settings page has no email card:\n%s", page.Body)
	}

	r := c.HTMX("/admin/settings/email/test", form("wrong-smtp-pw"))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The test email to root@example.com was not sent.") ||
		!strings.Contains(r.Body, "535") || !strings.Contains(r.Body, "Authentication failed") {
		t.Errorf("a server that refuses the credentials: got %d\n%s", r.Status, r.Body)
	}
	if strings.Contains(r.Body, "<html") || strings.Contains(r.Body, "wrong-smtp-pw") {
		t.Errorf("the answer is not the card alone, or shows the password:\n%s", r.Body)
	}
	srv.None(t, 100*time.Millisecond)

	r = c.HTMX("/admin/settings/email/test", form("right-smtp-pw"))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Test email sent to root@example.com. The server answered:") {
		t.Errorf("a server that takes it: got %d\n%s", r.Status, r.Body)
	}
	m := srv.Next(t, 5*time.Second)
	if m.Subject != "WireGUI test email" || m.To[0] != "root@example.com" || m.Text == "" || m.HTML == "" {
		t.Errorf("the test email: %q to %v, text %q, html %q", m.Subject, m.To, m.Text, m.HTML)
	}
	if saved, _ := e.store.MailSettings(context.Background()); saved != (store.MailSettings{}) {
		t.Errorf("a test saved the settings: %+v", saved)
	}
}

// Saving the email card: each bad field is named; the password is kept when left empty,
// removed when asked, never shown; a setting the environment gives is read-only.
func TestEmailSettingsAreSavedOnTheirOwn(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	ctx := context.Background()
	c.Get("/admin/settings")

	r := c.HTMX("/admin/settings/email", url.Values{"host": {"smtp example"}, "port": {"abc"}, "tls": {"ssl"}, "from": {"nobody"}})
	for _, want := range []string{"A port is a number from 1 to 65535.", "Choose STARTTLS, TLS or none.", "is not an email address",
		`id="smtp-host-error"`} {
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, want) {
			t.Errorf("bad settings: got %d, want 422 with %q", r.Status, want)
		}
	}

	save := url.Values{"host": {"smtp.example.com"}, "port": {""}, "tls": {"tls"}, "username": {"mailer"},
		"password": {"smtp secret pw"}, "from": {"vpn@example.com"}}
	if r := c.Post("/admin/settings/email", save); r.Status != http.StatusOK || !strings.Contains(r.Body, "Email settings saved.") {
		t.Fatalf("save: got %d", r.Status)
	}
	want := store.MailSettings{Host: "smtp.example.com", TLS: "tls", Username: "mailer", Password: "smtp secret pw", From: "vpn@example.com"}
	if got, _ := e.store.MailSettings(ctx); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	page := c.Get("/admin/settings")
	if strings.Contains(page.Body, "smtp secret pw") || !strings.Contains(page.Body, `placeholder="Saved: type to replace it"`) {
		t.Error("the page shows the saved password, or does not say one is saved")
	}
	save.Set("password", "")
	c.Post("/admin/settings/email", save)
	if got, _ := e.store.MailSettings(ctx); got.Password != "smtp secret pw" {
		t.Errorf("an empty password field: the password became %q, want it kept", got.Password)
	}
	save.Set("clear_password", "on")
	c.Post("/admin/settings/email", save)
	if got, _ := e.store.MailSettings(ctx); got.Password != "" {
		t.Errorf("remove the password: it is %q", got.Password)
	}

	// The environment pins the server: shown, read-only, and a posted value is ignored.
	e.mail.Env = mail.Env{Settings: store.MailSettings{Host: "env.example.com"}, Pinned: map[string]bool{"host": true}}
	page = c.Get("/admin/settings")
	if !strings.Contains(page.Body, `value="env.example.com"`) || !strings.Contains(page.Body, "Set by WG_SMTP_HOST in the server's environment.") {
		t.Errorf("a pinned host is not shown as the environment's")
	}
	save.Set("host", "other.example.com")
	c.Post("/admin/settings/email", save)
	if got, _ := e.store.MailSettings(ctx); got.Host != "smtp.example.com" {
		t.Errorf("a pinned host was saved as %q", got.Host)
	}
}

// The sign-in card leaves nobody without a way to sign in: links need email, and passwords
// go off only while links are on.
func TestSignInSettingsKeepAWayToSignIn(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "root@example.com", store.RoleAdmin)
	c.Get("/admin/settings")
	r := c.HTMX("/admin/settings/sign-in", url.Values{"local_auth_enabled": {"on"}, "magic_link_enabled": {"on"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Set up email first") {
		t.Errorf("links without email: got %d\n%s", r.Status, r.Body)
	}
	r = c.HTMX("/admin/settings/sign-in", switches(map[string]bool{"local_auth_enabled": false, "magic_link_enabled": false}))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "without either, nobody could sign in") {
		t.Errorf("both off: got %d\n%s", r.Status, r.Body)
	}
	if st, _ := e.store.Settings(context.Background()); !st.LocalAuthEnabled || st.MagicLinkEnabled {
		t.Errorf("refused changes were saved: %+v", st)
	}
	if _, err := e.store.UpdateMailSettings(context.Background(), func(m *store.MailSettings) error {
		m.Host, m.From = "smtp.example.com", "vpn@example.com"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r = c.HTMX("/admin/settings/sign-in", switches(map[string]bool{"local_auth_enabled": false, "magic_link_enabled": true}))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Sign-in settings saved.") {
		t.Errorf("links only, with email: got %d\n%s", r.Status, r.Body)
	}
	if st, _ := e.store.Settings(context.Background()); st.LocalAuthEnabled || !st.MagicLinkEnabled {
		t.Errorf("saved %+v, want links only", st)
	}
}
