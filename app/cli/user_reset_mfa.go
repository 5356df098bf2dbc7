package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"wiregui/app/mfa"
	"wiregui/config"
	"wiregui/store"
)

// userResetMFA removes a user's second factors and recovery codes: the way back in for someone
// who lost them. They then sign in with their password alone, or add a second factor first
// where an admin requires one. The reset is logged; a user with nothing to remove is told so.
func userResetMFA(ctx context.Context, env Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: wiregui user reset-mfa EMAIL")
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		u, err := userService(env, cfg, st).ByEmail(ctx, args[0])
		if err != nil {
			return inputError(err, nil)
		}
		svc, err := mfa.New(mfa.Options{Store: st, ExternalURL: cfg.ExternalURL,
			Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))})
		if err != nil {
			return err
		}
		methods, codes, err := svc.Reset(ctx, u)
		if err != nil {
			return err
		}
		if methods == 0 && codes == 0 {
			fmt.Fprintf(env.Stdout, "%s has no second factor and no recovery code; nothing to remove\n", u.Email)
			return nil
		}
		fmt.Fprintf(env.Stdout, "removed %s and %s of %s\n", plural(methods, "second factor"), plural(codes, "unused recovery code"), u.Email)
		return nil
	})
}

// plural writes a count with its noun: "1 second factor", "2 second factors".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
