// Package cli is the operator's command line: `wiregui init`, `migrate`, `user …`,
// `device …`, `rule …` and `settings …`. Each command works on the database the server uses,
// configured the same way (WG_* variables and the config file), through the same services as
// the web UI. A server running on the same data directory is asked over its control socket
// to apply a change at once; otherwise the change applies when a server starts, or at its
// next reconcile.
//
// For scripts: a command that finds its work already done (a user that exists with the same
// role, a device that is gone) succeeds and says so; the exit status is 0 on success, 1 on an
// error and 2 on a usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"

	"wiregui/app/instance"
	"wiregui/app/text"
	"wiregui/config"
	"wiregui/store"
)

// Env is where a command reads and writes, and how it reads the environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// OS is the process's own environment.
func OS() Env { return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// command is one operator command: args are those after its name.
type command func(ctx context.Context, env Env, args []string) error

var commands = map[string]map[string]command{
	"init":    {"": initialize},
	"migrate": {"": migrate},
	"user": {"add": userAdd, "list": userList, "set": userSet, "delete": userDelete,
		"disable": userDisable, "enable": userEnable, "invite": userInvite, "reset-mfa": userResetMFA},
	"device": {"add": deviceAdd, "delete": deviceDelete, "list": deviceList},
	"rule": {"add": ruleAdd, "list": ruleList, "delete": ruleDelete, "explain": ruleExplain, "default": ruleDefault,
		"test": func(ctx context.Context, env Env, args []string) error {
			return dispatch(ctx, env, "rule test", ruleTestCommands, args)
		}},
	"settings": {"get": settingsGet, "set": settingsSet},
}

// ruleTestCommands are the commands of `wiregui rule test …`, the policy tests.
var ruleTestCommands = map[string]command{"add": ruleTestAdd, "list": ruleTestList, "delete": ruleTestDelete}

// Commands reports whether role is one of the CLI's.
func Commands(role string) bool { _, ok := commands[role]; return ok }

// Run runs the command role with args, prints what it did or why it failed, and returns the
// exit status.
func Run(role string, args []string, env Env) int {
	err := run(context.Background(), role, args, env)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &usage):
		fmt.Fprintln(env.Stderr, "wiregui:", err)
		return ExitUsage
	default:
		fmt.Fprintln(env.Stderr, "wiregui:", err)
		return ExitError
	}
}

func run(ctx context.Context, role string, args []string, env Env) error {
	subs, ok := commands[role]
	if !ok {
		return usagef("unknown command %q", role)
	}
	if cmd, ok := subs[""]; ok {
		return cmd(ctx, env, args)
	}
	return dispatch(ctx, env, role, subs, args)
}

// dispatch runs the command of subs that args name first; name is the commands' group
// ("user", "rule test").
func dispatch(ctx context.Context, env Env, name string, subs map[string]command, args []string) error {
	names := slices.Sorted(maps.Keys(subs))
	if len(args) == 0 {
		return usagef("usage: wiregui %s %s …", name, strings.Join(names, "|"))
	}
	cmd, ok := subs[args[0]]
	if !ok {
		return usagef("unknown %s command %q (%s)", name, args[0], strings.Join(names, ", "))
	}
	return cmd(ctx, env, args[1:])
}

// usageError is a command used wrongly: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// flags is a command's flag set; a parse error is a usage error.
type flags struct{ *flag.FlagSet }

func newFlags(env Env, name string) flags {
	fs := flag.NewFlagSet("wiregui "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { usage(fs) }
	return flags{fs}
}

// usage prints a command's flags with two dashes, as serve's help prints the settings: the
// flag package, which takes either, would show one.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n\nFlags:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		kind, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		if f.DefValue != "" && f.DefValue != "false" {
			text += " (default: " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, text)
	})
}

func (f flags) parse(args []string) error {
	// The flag package would print the error and the usage itself: Run says the error once,
	// with the flag's two dashes, and -h prints the usage.
	out := f.Output()
	f.SetOutput(io.Discard)
	err := f.Parse(args)
	f.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.Usage()
		return err
	case err != nil:
		return usagef("%s (see %s --help)", twoDashes.Replace(err.Error()), f.Name())
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// twoDashes writes the flags in the flag package's errors as the help does.
var twoDashes = strings.NewReplacer(": -", ": --", "flag -", "flag --", "for -", "for --")

// required returns a usage error naming the flags of names that are empty.
func required(values map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if strings.TrimSpace(values[name]) == "" {
			return usagef("--%s is required", name)
		}
	}
	return nil
}

// withStore loads the configuration, opens the (migrated) database and runs fn.
func withStore(ctx context.Context, env Env, fn func(cfg *config.Config, st *store.Store) error) error {
	cfg, err := config.Load(nil, env.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := instance.OpenStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cfg, st)
}

// inputError turns a service's InputErrors (one, or several joined) into one error that
// names the flag each came from (fields maps a field to its flag); others pass unchanged.
func inputError(err error, fields map[string]string) error {
	bad := text.InputErrors(err)
	if len(bad) == 0 {
		return err
	}
	lines := make([]string, len(bad))
	for i, b := range bad {
		lines[i] = b.Message
		if name, ok := fields[b.Field]; ok {
			lines[i] = fmt.Sprintf("--%s: %s", name, b.Message)
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// notifyServer asks a server running on the data directory to apply a change now. Without
// one, the change applies when a server starts, or at the periodic reconcile of a server
// elsewhere (another machine on the same PostgreSQL database); the command still succeeds.
func notifyServer(env Env, cfg *config.Config) {
	err := instance.AskReconcile(instance.ControlSocket(cfg.DataDir))
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		fmt.Fprintf(env.Stderr, "no server is running on %s: the change applies when one starts, or at its next reconcile\n", cfg.DataDir)
	default:
		fmt.Fprintf(env.Stderr, "could not tell the server on %s (%v): the change applies at its next reconcile\n", cfg.DataDir, err)
	}
}
