package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// userFlags names the flag each field of the user service's InputErrors comes from.
var userFlags = map[string]string{"email": "email", "password": "password"}

// userService is the user service on st, telling a running server of changes.
func userService(env Env, cfg *config.Config, st *store.Store) *users.Service {
	return &users.Service{Store: st, Changed: func(string) { notifyServer(env, cfg) }}
}

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

// userList prints every user, as a table or as JSON.
func userList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		list, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		devices, err := st.ListDevices(ctx)
		if err != nil {
			return err
		}
		count := map[string]int{}
		for _, d := range devices {
			count[d.UserID]++
		}
		out := make([]userJSON, len(list))
		for i, u := range list {
			out[i] = userJSON{Email: u.Email, Role: roleWord(u.IsAdmin()), Disabled: u.Disabled(), Devices: count[u.ID],
				LastSignedIn: timeText(u.LastSignedInAt), Created: u.CreatedAt.UTC().Format(time.RFC3339)}
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tSTATUS\tDEVICES\tLAST SIGN-IN\tCREATED")
		for _, u := range out {
			status := map[bool]string{false: "active", true: "disabled"}[u.Disabled]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", u.Email, u.Role, status, u.Devices, orWord(u.LastSignedIn, "never"), u.Created)
		}
		return tw.Flush()
	})
}

// userJSON is one user in `wiregui user list --json`.
type userJSON struct {
	Email        string  `json:"email"`
	Role         string  `json:"role"` // admin or user
	Disabled     bool    `json:"disabled"`
	Devices      int     `json:"devices"`
	LastSignedIn *string `json:"last_signed_in"` // RFC 3339; null when never
	Created      string  `json:"created"`
}

// userSet changes a user's role, email or password; what is already so is no change.
func userSet(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user set")
	email := fs.String("email", "", "the user to change (required)")
	role := fs.String("role", "", "admin or user")
	newEmail := fs.String("new-email", "", "a new email address")
	fromStdin := fs.Bool("password-stdin", false, "set the password read from the first line of standard input")
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
	if c == (users.Change{}) {
		return usagef("nothing to change: give --role, --new-email or --password-stdin")
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
		fmt.Fprintf(env.Stdout, "changed %s %s\n", roleWord(u.IsAdmin()), u.Email)
		return nil
	})
}

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

func roleWord(admin bool) string { return map[bool]string{true: "admin", false: "user"}[admin] }

func timeText(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func orWord(s *string, word string) string {
	if s == nil {
		return word
	}
	return *s
}
