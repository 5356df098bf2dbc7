package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"wiregui/config"
	"wiregui/store"
)

// settingsGet prints the runtime settings, one KEY=VALUE a line (what settings set reads), or
// as one JSON object. An unset client default is empty (null in JSON): the server's
// environment's default applies.
func settingsGet(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "settings get")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		settings, err := st.Settings(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := map[string]any{}
			for _, s := range runtimeSettings {
				out[s.name] = jsonValue(s.value(settings))
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		for _, s := range runtimeSettings {
			fmt.Fprintf(env.Stdout, "%s=%s\n", s.name, settingText(s.value(settings)))
		}
		return nil
	})
}
