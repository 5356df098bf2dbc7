package cli

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"wiregui/app/auth"
	"wiregui/app/mail/mailtest"
	"wiregui/store"
)

// `user invite` creates the user without a password and emails a link through a real SMTP
// server; again, it sends a new link that replaces the old; a refused email leaves no user.
func TestUserInviteEmailsALink(t *testing.T) {
	c := newCLI(t, "sqlite")
	if status, _, errOut := c.run("", "user", "invite", "--email", "new@example.com"); status != ExitError ||
		!strings.Contains(errOut, "Email is not set up") {
		t.Errorf("without email set up: exit %d, %q; want 1 saying email is not set up", status, errOut)
	}
	srv := mailtest.Start(t, mailtest.Options{})
	c.vars["WG_SMTP_HOST"], c.vars["WG_SMTP_PORT"] = srv.Host, strconv.Itoa(srv.Port)
	c.vars["WG_SMTP_TLS"], c.vars["WG_SMTP_FROM"] = "none", "WireGUI <vpn@example.com>"
	c.vars["WG_EXTERNAL_URL"] = "https://vpn.example.com"

	if status, _, errOut := c.run("", "user", "invite", "--email", "new@example.com", "--role", "owner"); status != ExitUsage ||
		!strings.Contains(errOut, "--role") {
		t.Errorf("a bad role: exit %d, %q; want a usage error about --role", status, errOut)
	}
	out := c.ok("", "user", "invite", "--email", "New@Example.com", "--role", "admin")
	if !strings.Contains(out, "invited admin new@example.com") || !strings.Contains(out, "72 hours") {
		t.Errorf("user invite printed %q", out)
	}
	first := srv.Next(t, 5*time.Second)
	link := mailtest.Link(first.Text, "https://vpn.example.com/login/invitation/")
	if first.To[0] != "new@example.com" || link == "" || !strings.Contains(first.HTML, link) {
		t.Fatalf("the invitation: to %v, text %q, html %q", first.To, first.Text, first.HTML)
	}
	st := c.store()
	u, err := st.UserByEmail(context.Background(), "new@example.com")
	if err != nil || u.PasswordHash != "" || !u.IsAdmin() {
		t.Fatalf("the invited user: %+v, %v; want an admin without a password", u, err)
	}

	c.ok("", "user", "invite", "--email", "new@example.com", "--role", "admin")
	second := mailtest.Link(srv.Next(t, 5*time.Second).Text, "https://vpn.example.com/login/invitation/")
	secret, err := store.ReadOrCreateKeyFile(c.vars["WG_DATA_DIR"] + "/secret.key")
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewTokens(secret)
	valid := func(link string) bool {
		token := link[strings.LastIndex(link, "/")+1:]
		_, err := st.SignInTokenUser(context.Background(), tokens.Hash(store.PurposeInvitation, token), store.PurposeInvitation, time.Now())
		return err == nil
	}
	if valid(link) || !valid(second) {
		t.Errorf("after inviting again: the first link valid %v, the second %v; want only the second", valid(link), valid(second))
	}
	if status, _, errOut := c.run("", "user", "invite", "--email", "new@example.com"); status != ExitError ||
		!strings.Contains(errOut, "was invited as admin") {
		t.Errorf("inviting again with another role: exit %d, %q", status, errOut)
	}

	refusing := mailtest.Start(t, mailtest.Options{Refuse: &smtp.SMTPError{Code: 550, Message: "relaying denied"}})
	c.vars["WG_SMTP_PORT"] = strconv.Itoa(refusing.Port)
	if status, _, errOut := c.run("", "user", "invite", "--email", "other@example.com"); status != ExitError ||
		!strings.Contains(errOut, "relaying denied") {
		t.Errorf("a server that refuses: exit %d, %q; want 1 with the server's answer", status, errOut)
	}
	if _, err := st.UserByEmail(context.Background(), "other@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user whose invitation was refused: got %v, want none", err)
	}
}

// The sign-in switches through `settings set`: nobody is left without a way to sign in, and
// links need email.
func TestSettingsSetKeepsAWayToSignIn(t *testing.T) {
	c := newCLI(t, "sqlite")
	for args, want := range map[string]string{
		"local_auth_enabled=false": "local_auth_enabled: Keep password sign-in on, or turn sign-in links on",
		"magic_link_enabled=true":  "magic_link_enabled: Set up email first",
	} {
		if status, _, errOut := c.run("", "settings", "set", args); status != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("settings set %s: exit %d, %q; want 1 with %q", args, status, errOut, want)
		}
	}
	c.vars["WG_SMTP_HOST"], c.vars["WG_SMTP_FROM"] = "smtp.example.com", "vpn@example.com"
	c.ok("", "settings", "set", "magic_link_enabled=true", "local_auth_enabled=false")
	st, err := c.store().Settings(context.Background())
	if err != nil || st.LocalAuthEnabled || !st.MagicLinkEnabled {
		t.Errorf("after the change: %+v, %v; want links only", st, err)
	}
	delete(c.vars, "WG_SMTP_HOST")
	c.ok("", "settings", "set", "local_auth_enabled=true") // the way back is always open
}
