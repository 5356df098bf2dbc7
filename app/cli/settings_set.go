package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/text"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// settingsSet changes runtime settings, all in one change or none: a value that does not
// parse, or a change of the firewall's settings that breaks a policy test, changes nothing.
func settingsSet(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: wiregui settings set KEY=VALUE … (wiregui settings get lists the keys)")
	}
	type change struct {
		setting runtimeSetting
		value   string
	}
	var changes []change
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		i := slices.IndexFunc(runtimeSettings, func(s runtimeSetting) bool { return s.name == key })
		switch {
		case !ok:
			return usagef("%q is not KEY=VALUE", arg)
		case i < 0:
			return usagef("unknown setting %q (wiregui settings get lists them)", key)
		}
		changes = append(changes, change{runtimeSettings[i], value})
	}
	// Parsed on a copy first, so that a bad value is named before the database is opened.
	var probe store.Settings
	for _, c := range changes {
		if err := c.setting.set(&probe, c.value); err != nil {
			return fmt.Errorf("%s: %s", c.setting.name, text.Sentence(err.Error()))
		}
	}
	signIn := slices.ContainsFunc(changes, func(c change) bool {
		return c.setting.name == "local_auth_enabled" || c.setting.name == "magic_link_enabled"
	})
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		var mailReady error
		if signIn {
			mailReady = instance.Mailer(cfg, st, nil).Ready(ctx)
		}
		_, err := ruleService(env, cfg, st).UpdateSettings(ctx, func(s *store.Settings) error {
			linksWere := s.MagicLinkEnabled
			for _, c := range changes {
				c.setting.set(s, c.value) // parsed above
			}
			if signIn { // nobody may be left without a way to sign in
				if err := users.CheckSignIn(s.LocalAuthEnabled, s.MagicLinkEnabled, linksWere, mailReady); err != nil {
					return err
				}
			}
			// Checked again with the rules the web forms meet.
			return devices.ValidateClientSettings(s.ClientDefaults)
		})
		if bad := text.InputErrors(err); len(bad) > 0 {
			switch field := bad[0].Field; field {
			case "_form": // a policy test
				return errors.New(bad[0].Message)
			case "default_action", "local_auth_enabled", "magic_link_enabled":
				return fmt.Errorf("%s: %s", field, bad[0].Message)
			default: // a client setting
				return fmt.Errorf("default_client_%s: %s", field, bad[0].Message)
			}
		}
		if err != nil {
			return err
		}
		for _, c := range changes {
			fmt.Fprintf(env.Stdout, "%s=%s\n", c.setting.name, c.value)
		}
		return nil
	})
}
