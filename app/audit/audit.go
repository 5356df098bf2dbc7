// Package audit names what happens to accounts — sign-ins and their failures, lockouts,
// password and MFA changes, the links sent by email — and logs each as one line through Log,
// with the same attributes every time, so that the audit log to come reads the same events:
//
//	level=INFO msg=account event=sign_in user=ann@example.com user_id=… method=password addr=192.0.2.7
package audit

import (
	"context"
	"log/slog"
	"time"
)

// The events. Their names are what the lines' event attribute says; keep them stable.
const (
	SignIn          = "sign_in"           // someone signed in (Method: how)
	SignInFailed    = "sign_in_failed"    // a password, code or link was wrong (Reason: why)
	Lockout         = "lockout"           // failures made an account or address wait (Wait)
	PasswordChanged = "password_changed"  // a password was set or changed (Method: how)
	MFAChanged      = "mfa_changed"       // second factors changed (Method: which, Change: how)
	LinkSent        = "sign_in_link_sent" // a sign-in link was emailed
	LinkNotSent     = "sign_in_link_not_sent"
	Invited         = "invited" // an invitation was emailed
)

// Event is one thing that happened to an account.
type Event struct {
	Name   string
	User   string // the account's email, or the email typed when it is no account's
	UserID string // "" when the event concerns no account
	Method string // "password", "magic_link", "invitation", "totp", "webauthn" …
	Addr   string // the client's address; "" when there is no client (the CLI)
	Reason string // why it failed
	Change string // what changed: "added", "removed", "reset", "recovery codes made"
	Wait   time.Duration
}

// Log writes e to log as one line: failures and lockouts as warnings, the rest as info.
// The attributes event, user, method and addr are always there; user_id, reason, change and
// retry_after (seconds) when they have a value.
func Log(log *slog.Logger, e Event) {
	attrs := []slog.Attr{slog.String("event", e.Name), slog.String("user", e.User),
		slog.String("method", e.Method), slog.String("addr", e.Addr)}
	if e.UserID != "" {
		attrs = append(attrs, slog.String("user_id", e.UserID))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.Change != "" {
		attrs = append(attrs, slog.String("change", e.Change))
	}
	if e.Wait > 0 {
		attrs = append(attrs, slog.Int("retry_after", int((e.Wait+time.Second-1)/time.Second)))
	}
	level := slog.LevelInfo
	switch e.Name {
	case SignInFailed, Lockout, LinkNotSent:
		level = slog.LevelWarn
	}
	log.LogAttrs(context.Background(), level, "account", attrs...)
}
