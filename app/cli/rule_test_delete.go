package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wiregui/config"
	"wiregui/store"
)

// ruleTestDelete deletes a policy test by id; one that is not there is gone already.
func ruleTestDelete(ctx context.Context, env Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: wiregui rule test delete ID")
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		_, err := ruleService(env, cfg, st).DeleteTest(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stdout, "no policy test %s; nothing to delete\n", args[0])
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted the policy test %s\n", args[0])
		return nil
	})
}
