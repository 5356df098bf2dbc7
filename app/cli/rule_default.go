package cli

import (
	"context"
	"fmt"

	"wiregui/config"
	"wiregui/store"
)

// ruleDefault sets one user's own default action: what their devices' connections that no
// rule decides get.
func ruleDefault(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule default")
	email := fs.String("user", "", "the user (required)")
	action := fs.String("action", "", "accept, drop, or global for the default action of everyone (required)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"user": *email, "action": *action}); err != nil {
		return err
	}
	set := *action
	if set == "global" {
		set = ""
	} else if set != store.ActionAccept && set != store.ActionDrop {
		return usagef("--action: %q is none of accept, drop and global", *action)
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		id, err := userID(ctx, st, *email)
		if err != nil {
			return err
		}
		if err := ruleService(env, cfg, st).SetUserDefault(ctx, id, set); err != nil {
			return inputError(err, map[string]string{"default_action": "action"})
		}
		fmt.Fprintf(env.Stdout, "the default action of %s is now %s\n", store.NormalizeEmail(*email), *action)
		return nil
	})
}
