package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
)

// ruleDelete deletes a rule by id; one that is not there is gone already.
func ruleDelete(ctx context.Context, env Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: wiregui rule delete ID")
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		r, err := ruleService(env, cfg, st).Delete(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stdout, "no rule %s; nothing to delete\n", args[0])
			return nil
		}
		if err != nil {
			return inputError(err, nil)
		}
		fmt.Fprintf(env.Stdout, "deleted %s rule %q\n", scopeWords(r), rules.RuleWords(*r))
		return nil
	})
}
