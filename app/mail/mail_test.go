package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"wiregui/app/mail"
	"wiregui/app/mail/mailtest"
	"wiregui/app/text"
	"wiregui/store"
)

// saved is a Store of admins' settings.
type saved store.MailSettings

func (s saved) MailSettings(context.Context) (store.MailSettings, error) {
	return store.MailSettings(s), nil
}

func message() mail.Message {
	return mail.Message{To: "ann@example.com", Subject: "Hello ✓", Text: "plain body https://vpn.example.com/x",
		HTML: "<p>html <a href=\"https://vpn.example.com/x\">body</a></p>"}
}

// Each encryption against a real server: the message arrives with both bodies, and a server
// that does not offer what is required is refused.
func TestSendOverEachEncryption(t *testing.T) {
	serverTLS, roots := mailtest.Cert(t)
	for _, c := range []struct {
		name   string
		server mailtest.Options
		tls    string
		err    string // "" when it is sent
	}{
		{name: "starttls", server: mailtest.Options{TLS: serverTLS, Username: "u", Password: "p"}, tls: mail.StartTLS},
		{name: "tls", server: mailtest.Options{TLS: serverTLS, ImplicitTLS: true, Username: "u", Password: "p"}, tls: mail.TLS},
		{name: "none", server: mailtest.Options{Username: "u", Password: "p"}, tls: mail.NoTLS},
		{name: "starttls required, not offered", server: mailtest.Options{}, tls: mail.StartTLS, err: "STARTTLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := mailtest.Start(t, c.server)
			m := &mail.Mailer{Store: saved{Host: srv.Host, Port: srv.Port, TLS: c.tls, Username: c.server.Username,
				Password: c.server.Password, From: "WireGUI <vpn@example.com>"}, RootCAs: roots, Timeout: 10 * time.Second}
			answer, err := m.Send(context.Background(), message())
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error about %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(answer, "2") {
				t.Errorf("the server's answer: got %q, want a 2xx", answer)
			}
			got := srv.Next(t, 5*time.Second)
			if got.Subject != "Hello ✓" || got.From != "vpn@example.com" || len(got.To) != 1 || got.To[0] != "ann@example.com" {
				t.Errorf("got subject %q from %q to %v", got.Subject, got.From, got.To)
			}
			if !strings.Contains(got.Text, "plain body https://vpn.example.com/x") || !strings.Contains(got.HTML, `<a href="https://vpn.example.com/x">`) {
				t.Errorf("bodies: text %q, html %q", got.Text, got.HTML)
			}
			if got.Header.Get("From") != `"WireGUI" <vpn@example.com>` && got.Header.Get("From") != "WireGUI <vpn@example.com>" {
				t.Errorf("From: got %q", got.Header.Get("From"))
			}
		})
	}
}

// What the server says when it refuses is in the error, for the admin to read.
func TestARefusalCarriesTheServersAnswer(t *testing.T) {
	for name, c := range map[string]struct {
		server   mailtest.Options
		password string
		want     string
	}{
		"wrong password":    {mailtest.Options{Username: "u", Password: "right"}, "wrong", "535"},
		"recipient refused": {mailtest.Options{Refuse: &smtp.SMTPError{Code: 550, Message: "no such mailbox here"}}, "", "no such mailbox here"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := mailtest.Start(t, c.server)
			user := ""
			if c.password != "" {
				user = "u"
			}
			m := &mail.Mailer{Store: saved{Host: srv.Host, Port: srv.Port, TLS: mail.NoTLS, Username: user, Password: c.password,
				From: "vpn@example.com"}}
			_, err := m.Send(context.Background(), message())
			if err == nil || !strings.Contains(mail.Answer(err), c.want) {
				t.Errorf("got %v (answer %q), want %q in it", err, mail.Answer(err), c.want)
			}
			srv.None(t, 100*time.Millisecond)
		})
	}
	_, err := (&mail.Mailer{Store: saved{}}).Send(context.Background(), message())
	if !errors.Is(err, mail.ErrNotSetUp) {
		t.Errorf("nothing set up: got %v, want ErrNotSetUp", err)
	}
}

// The environment's settings win over the saved ones, each on its own; the defaults fill in
// the rest.
func TestTheEnvironmentPinsEachSetting(t *testing.T) {
	m := &mail.Mailer{Store: saved{Host: "saved.example.com", Port: 2525, Username: "saved", Password: "saved-pw",
		From: "saved@example.com"},
		Env: mail.Env{Settings: store.MailSettings{Host: "env.example.com", Password: "env-pw", TLS: mail.TLS},
			Pinned: map[string]bool{"host": true, "password": true, "tls": true}}}
	got, err := m.Settings(context.Background())
	want := store.MailSettings{Host: "env.example.com", Port: 2525, Username: "saved", Password: "env-pw",
		From: "saved@example.com", TLS: mail.TLS}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	got, _ = (&mail.Mailer{Store: saved{TLS: mail.TLS}}).Settings(context.Background())
	if got.Port != 465 {
		t.Errorf("tls without a port: got port %d, want 465", got.Port)
	}
	got, _ = (&mail.Mailer{Store: saved{}}).Settings(context.Background())
	if got.Port != 587 || got.TLS != mail.StartTLS {
		t.Errorf("nothing set: got %+v, want STARTTLS on 587", got)
	}
}

func TestCheckNamesEachBadField(t *testing.T) {
	err := mail.Check(store.MailSettings{Host: "bad host", Port: 70000, TLS: "ssl", Username: "a\nb", From: "nobody"})
	fields := map[string]bool{}
	for _, bad := range text.InputErrors(err) {
		fields[bad.Field] = true
	}
	for _, f := range []string{"host", "port", "tls", "username", "from"} {
		if !fields[f] {
			t.Errorf("no error on %s (got %v)", f, err)
		}
	}
	if err := mail.Check(store.MailSettings{}); err != nil {
		t.Errorf("nothing set: got %v, want valid", err)
	}
}
