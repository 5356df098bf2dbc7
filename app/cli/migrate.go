package cli

import (
	"context"
	"fmt"

	"wiregui/config"
	"wiregui/store"
)

// migrate applies the database's pending migrations (serve does too, at start).
func migrate(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "migrate")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		fmt.Fprintf(env.Stdout, "database is up to date (%s)\n", st.Driver())
		return nil
	})
}
