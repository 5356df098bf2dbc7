package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// userAdd adds a user. Without a password (--password-stdin) it makes one up and prints it
// once. A user who exists with the same role is left as they are: success.
func userAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user add")
	email := fs.String("email", "", "the user's email address (required)")
	admin := fs.Bool("admin", false, "make the user an admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	password := fs.String("password", "", "the password (visible to other local users: prefer --password-stdin); without either, one is made up and printed once")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"email": *email}); err != nil {
		return err
	}
	pw, generated, err := passwordFrom(env, *password, *fromStdin, true)
	if err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		svc := userService(env, cfg, st)
		u, err := svc.Create(ctx, users.Spec{Email: *email, Password: pw, Admin: *admin})
		if errors.Is(err, store.ErrConflict) {
			existing, err := svc.ByEmail(ctx, *email)
			if err != nil {
				return err
			}
			if existing.IsAdmin() != *admin {
				return fmt.Errorf("--email: %s exists as %s; change the role with: wiregui user set --email %s --role %s",
					existing.Email, roleWord(existing.IsAdmin()), existing.Email, roleWord(*admin))
			}
			fmt.Fprintf(env.Stdout, "%s exists as %s; left unchanged\n", existing.Email, roleWord(existing.IsAdmin()))
			return nil
		}
		if err != nil {
			return inputError(err, userFlags)
		}
		fmt.Fprintf(env.Stdout, "created %s %s\n", roleWord(u.IsAdmin()), u.Email)
		if generated {
			fmt.Fprintf(env.Stdout, "password (shown only now): %s\n", pw)
		}
		return nil
	})
}

// passwordFrom returns the password a command was given: typed as a flag, or read from the
// first line of standard input. Without either it makes one up when generate is set.
func passwordFrom(env Env, flagValue string, fromStdin, generate bool) (password string, generated bool, err error) {
	switch {
	case fromStdin && flagValue != "":
		return "", false, usagef("give --password or --password-stdin, not both")
	case fromStdin:
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", false, fmt.Errorf("--password-stdin: no password on standard input")
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	case flagValue != "":
		return flagValue, false, nil
	case generate:
		return users.GeneratePassword(), true, nil
	}
	return "", false, nil
}
