package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wiregui/config"
	"wiregui/store"
)

// userDelete deletes a user and their devices; a user who is not there is gone already.
func userDelete(ctx context.Context, env Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: wiregui user delete EMAIL")
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		u, err := userService(env, cfg, st).Delete(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stdout, "no user %s; nothing to delete\n", store.NormalizeEmail(args[0]))
			return nil
		}
		if err != nil {
			return inputError(err, nil)
		}
		fmt.Fprintf(env.Stdout, "deleted %s and their devices\n", u.Email)
		return nil
	})
}
