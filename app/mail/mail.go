// Package mail sends WireGUI's emails: sign-in links, invitations, the Settings page's test.
// There is one way to send, Mailer.Send, over SMTP with github.com/wneessen/go-mail, with the
// settings of the server's environment (WG_SMTP_*), each of which overrides the one admins
// saved on the Settings page. Every message has a plain-text and an HTML body. A message
// that cannot be sent is an error that carries the server's answer; Send logs it, and the
// caller shows it (to an admin) or raises it to admins, never drops it.
package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg"
)

// The ways of encrypting the connection (WG_SMTP_TLS).
const (
	StartTLS = "starttls" // plain at first, then STARTTLS, which is required
	TLS      = "tls"      // TLS from the start (SMTPS)
	NoTLS    = "none"     // no encryption: for a relay on this host or a trusted network
)

// Field is one SMTP setting as the Settings page shows it.
type Field struct {
	Name  string // the form field and the key of Env.Pinned: "host", "port" …
	Var   string // the environment variable that pins it
	Label string
}

// Fields are the SMTP settings, in the order the Settings page shows them.
var Fields = []Field{
	{"host", "WG_SMTP_HOST", "SMTP server"},
	{"port", "WG_SMTP_PORT", "Port"},
	{"tls", "WG_SMTP_TLS", "Encryption"},
	{"username", "WG_SMTP_USERNAME", "User name"},
	{"password", "WG_SMTP_PASSWORD", "Password"},
	{"from", "WG_SMTP_FROM", "Sender"},
}

// Env are the SMTP settings the server's environment gives.
type Env struct {
	Settings store.MailSettings
	Pinned   map[string]bool // Field.Name → given by the environment
}

// Store is where admins' SMTP settings are saved.
type Store interface {
	MailSettings(ctx context.Context) (store.MailSettings, error)
}

// Message is one email to one person.
type Message struct {
	To      string
	Subject string
	Text    string // the plain-text body
	HTML    string // the HTML body, the same content
}

// Mailer sends email. Its zero value is not usable: set Store.
type Mailer struct {
	Env   Env
	Store Store
	// HELO is the name the server is greeted with: the host of WG_EXTERNAL_URL.
	HELO string
	Log  *slog.Logger
	// RootCAs are the certificates a server's is checked against; nil is the system's.
	RootCAs *x509.CertPool
	// Timeout bounds the whole conversation with the server; 0 is 15 seconds.
	Timeout time.Duration
}

// Settings returns the settings in effect: the environment's where it gives one, else the
// saved one, with the defaults filled in (STARTTLS, and the port of the encryption).
func (m *Mailer) Settings(ctx context.Context) (store.MailSettings, error) {
	s, err := m.Store.MailSettings(ctx)
	if err != nil {
		return store.MailSettings{}, err
	}
	return m.Env.Apply(s), nil
}

// Apply returns saved with the environment's settings over it and the defaults filled in:
// the settings in effect.
func (e Env) Apply(s store.MailSettings) store.MailSettings {
	env := e.Settings
	pick := func(name string, envValue, saved string) string {
		if e.Pinned[name] {
			return envValue
		}
		return saved
	}
	s.Host = pick("host", env.Host, s.Host)
	s.Username = pick("username", env.Username, s.Username)
	s.Password = pick("password", env.Password, s.Password)
	s.From = pick("from", env.From, s.From)
	s.TLS = pick("tls", env.TLS, s.TLS)
	if e.Pinned["port"] {
		s.Port = env.Port
	}
	if s.TLS == "" {
		s.TLS = StartTLS
	}
	if s.Port == 0 {
		s.Port = DefaultPort(s.TLS)
	}
	return s
}

// DefaultPort is the port of an encryption: 587 (submission) for STARTTLS, 465 for TLS, 25
// for none.
func DefaultPort(encryption string) int {
	switch encryption {
	case TLS:
		return 465
	case NoTLS:
		return 25
	}
	return 587
}

// ErrNotSetUp is the error of sending while no server or sender is set.
var ErrNotSetUp = errors.New("email is not set up: the SMTP server and the sender address are needed (Settings, or WG_SMTP_HOST and WG_SMTP_FROM)")

// Ready returns ErrNotSetUp unless a server and a sender are set.
func (m *Mailer) Ready(ctx context.Context) error {
	s, err := m.Settings(ctx)
	if err != nil {
		return err
	}
	if s.Host == "" || s.From == "" {
		return ErrNotSetUp
	}
	return nil
}

// Check returns an InputError for each setting of s that is not valid, joined, or nil. Empty
// values are unset, and valid.
func Check(s store.MailSettings) error {
	var errs []error
	bad := func(field, message string) {
		errs = append(errs, &text.InputError{Field: field, Message: message})
	}
	if s.Host != "" {
		if _, err := wg.ParseHost(s.Host); err != nil {
			bad("host", text.Sentence(err.Error()))
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		bad("port", "A port is a number from 1 to 65535.")
	}
	switch s.TLS {
	case "", StartTLS, TLS, NoTLS:
	default:
		bad("tls", "Choose STARTTLS, TLS or none.")
	}
	if _, err := (text.Field{Name: "a user name", Max: 254}).Clean(s.Username); err != nil {
		bad("username", text.Sentence(err.Error()))
	}
	if len(s.Password) > 1024 {
		bad("password", "A password has at most 1024 bytes.")
	}
	if s.From != "" {
		if _, err := text.Mailbox(s.From); err != nil {
			bad("from", text.Sentence(err.Error()))
		}
	}
	return errors.Join(errs...)
}

// Send sends msg and returns the server's answer to it ("250 2.0.0 Ok: queued as …"). A
// message that is not sent is an error that says why, with the server's answer when there
// was one; it is logged here, once.
func (m *Mailer) Send(ctx context.Context, msg Message) (answer string, err error) {
	s, err := m.Settings(ctx)
	if err != nil {
		return "", err
	}
	return m.send(ctx, s, msg)
}

// SendWith is Send with saved as the saved settings instead of the Store's (the environment
// still overrides them): the Settings page tests what an admin typed before saving it.
func (m *Mailer) SendWith(ctx context.Context, saved store.MailSettings, msg Message) (answer string, err error) {
	return m.send(ctx, m.Env.Apply(saved), msg)
}

// send sends msg with the settings s in effect.
func (m *Mailer) send(ctx context.Context, s store.MailSettings, msg Message) (answer string, err error) {
	defer func() {
		if err != nil {
			m.log().Warn("email not sent", slog.String("to", msg.To), slog.String("subject", msg.Subject), slog.Any("err", err))
		}
	}()
	if s.Host == "" || s.From == "" {
		return "", ErrNotSetUp
	}
	gm := gomail.NewMsg()
	if err := gm.From(s.From); err != nil {
		return "", fmt.Errorf("sender %q: %w", s.From, err)
	}
	if err := gm.To(msg.To); err != nil {
		return "", fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	gm.Subject(msg.Subject)
	gm.SetDate()
	gm.SetMessageID()
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)

	client, err := gomail.NewClient(s.Host, m.options(s)...)
	if err != nil {
		return "", fmt.Errorf("smtp client: %w", err)
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, gm); err != nil {
		if errors.Is(err, gomail.ErrNoSupportedAuthDiscovered) && s.TLS == NoTLS {
			err = fmt.Errorf("%w: without encryption the password is not sent as it is; use starttls or tls", err)
		}
		return "", fmt.Errorf("send to %s via %s: %w", msg.To, serverName(s), err)
	}
	m.log().Info("email sent", slog.String("to", msg.To), slog.String("subject", msg.Subject),
		slog.String("answer", gm.ServerResponse()))
	return gm.ServerResponse(), nil
}

// options are the go-mail client's options for s.
func (m *Mailer) options(s store.MailSettings) []gomail.Option {
	tlsConfig := &tls.Config{ServerName: s.Host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{gomail.WithPort(s.Port), gomail.WithTLSConfig(tlsConfig),
		gomail.WithTimeout(10 * time.Second)}
	switch s.TLS {
	case TLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.Username != "" {
		// The strongest mechanism the server offers. Over a connection without encryption,
		// none that sends the password as it is (PLAIN, LOGIN), except to a relay on this host.
		auth := gomail.SMTPAuthAutoDiscover
		if s.TLS == NoTLS && localRelay(s.Host) {
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	if m.HELO != "" {
		opts = append(opts, gomail.WithHELO(m.HELO))
	}
	return opts
}

// localRelay reports whether host names this machine, the names go-mail sends a plain
// password to over an unencrypted connection.
func localRelay(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func serverName(s store.MailSettings) string {
	return s.Host + ":" + strconv.Itoa(s.Port)
}

func (m *Mailer) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// Answer is an error of Send as a person reads it: the server's words, without go-mail's
// wrapping where it can be told apart.
func Answer(err error) string {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return strings.TrimSpace(text.Sentence(se.Error()))
	}
	return text.Sentence(err.Error())
}
