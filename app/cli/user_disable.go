package cli

import (
	"context"
	"fmt"
	"strings"

	"wiregui/config"
	"wiregui/store"
)

func userDisable(ctx context.Context, env Env, args []string) error {
	return setDisabled(ctx, env, "disable", args)
}

func userEnable(ctx context.Context, env Env, args []string) error {
	return setDisabled(ctx, env, "enable", args)
}

// setDisabled disables or enables a user; a running server removes or restores the user's
// peers at once.
func setDisabled(ctx context.Context, env Env, verb string, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: wiregui user %s EMAIL", verb)
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		u, changed, err := userService(env, cfg, st).SetDisabled(ctx, args[0], verb == "disable")
		if err != nil {
			return inputError(err, nil)
		}
		if !changed {
			fmt.Fprintf(env.Stdout, "%s is %sd already\n", u.Email, verb)
			return nil
		}
		fmt.Fprintf(env.Stdout, "%sd %s\n", verb, u.Email)
		return nil
	})
}
