package cli

import (
	"context"
	"fmt"

	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// userSet changes a user's role, email, password or status; what is already so is no change.
func userSet(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user set")
	email := fs.String("email", "", "the user to change (required)")
	role := fs.String("role", "", "admin or user")
	newEmail := fs.String("new-email", "", "a new email address")
	fromStdin := fs.Bool("password-stdin", false, "set the password read from the first line of standard input")
	disabled := fs.String("disabled", "", "true disables the user (their devices are cut off at once), false enables them")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"email": *email}); err != nil {
		return err
	}
	var c users.Change
	switch *role {
	case "":
	case "admin", "user":
		admin := *role == "admin"
		c.Admin = &admin
	default:
		return usagef("--role: %q is neither admin nor user", *role)
	}
	if *newEmail != "" {
		c.Email = newEmail
	}
	if *fromStdin {
		pw, _, err := passwordFrom(env, "", true, false)
		if err != nil {
			return err
		}
		c.Password = &pw
	}
	switch *disabled {
	case "":
	case "true", "false":
		c.DisabledAt = users.DisabledAt(*disabled == "true")
	default:
		return usagef("--disabled: %q is neither true nor false", *disabled)
	}
	if c == (users.Change{}) {
		return usagef("nothing to change: give --role, --new-email, --password-stdin or --disabled")
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		u, changed, err := userService(env, cfg, st).Update(ctx, *email, c)
		if err != nil {
			return inputError(err, map[string]string{"email": map[bool]string{true: "new-email", false: "email"}[*newEmail != ""],
				"password": "password-stdin"})
		}
		if !changed {
			fmt.Fprintf(env.Stdout, "%s: nothing to change\n", u.Email)
			return nil
		}
		fmt.Fprintf(env.Stdout, "changed %s %s%s\n", roleWord(u.IsAdmin()), u.Email, map[bool]string{true: " (disabled)"}[u.Disabled()])
		return nil
	})
}
