package instance

import (
	"log/slog"
	"net/url"

	"wiregui/app/auth"
	"wiregui/app/mail"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// SecretKey returns WG_SECRET_KEY, or the key generated into <data dir>/secret.key the first
// time when it is unset: the key of the sign-in form's CSRF token and of the hashes of the
// tokens sign-in links carry. serve and the CLI (which sends invitations) use the same.
func SecretKey(cfg *config.Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		return []byte(cfg.SecretKey), nil
	}
	return store.ReadOrCreateKeyFile(cfg.SecretKeyFile())
}

// Mailer builds the mailer: the WG_SMTP_* settings given over those saved on the Settings
// page.
func Mailer(cfg *config.Config, st *store.Store, log *slog.Logger) *mail.Mailer {
	env := mail.Env{
		Settings: store.MailSettings{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, From: cfg.SMTP.From, TLS: cfg.SMTP.TLS},
		Pinned: map[string]bool{},
	}
	for _, f := range mail.Fields {
		env.Pinned[f.Name] = cfg.Given(f.Var)
	}
	helo := ""
	if u, err := url.Parse(cfg.ExternalURL); err == nil {
		helo = u.Hostname()
	}
	return &mail.Mailer{Env: env, Store: st, HELO: helo, Log: log}
}

// Users builds the one user service that the web UI and the CLI share: changed is told of
// changes to who may connect; invitations are sent with mailer, their links keyed by secret.
func Users(cfg *config.Config, st *store.Store, mailer *mail.Mailer, secret []byte, log *slog.Logger,
	changed func(userID string)) *users.Service {
	return &users.Service{Store: st, Changed: changed, Mail: mailer, Tokens: auth.NewTokens(secret),
		URL: cfg.ExternalURL, Log: log}
}
