package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// userInvite creates a user without a password and emails them a link to choose one. A user
// invited before who has not accepted gets a new link: running it again is the way to resend.
func userInvite(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user invite")
	email := fs.String("email", "", "the new user's email address (required)")
	role := fs.String("role", "user", "admin or user")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"email": *email}); err != nil {
		return err
	}
	roles := map[string]string{"admin": store.RoleAdmin, "user": store.RoleUnprivileged}
	if _, ok := roles[*role]; !ok {
		return usagef("--role: %q is neither admin nor user", *role)
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		secret, err := instance.SecretKey(cfg)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		svc := instance.Users(cfg, st, instance.Mailer(cfg, st, log), secret, log, func(string) { notifyServer(env, cfg) })
		u, err := svc.Invite(ctx, *email, roles[*role])
		if err != nil {
			return inputError(err, map[string]string{"email": "email", "role": "role"})
		}
		fmt.Fprintf(env.Stdout, "invited %s %s: the emailed link works once, within %d hours\n", users.RoleWord(u.Role),
			u.Email, users.InvitationValid/time.Hour)
		return nil
	})
}
