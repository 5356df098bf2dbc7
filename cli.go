package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"wiregui/app/auth"
	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/text"
	"wiregui/config"
	"wiregui/store"
)

// The operator CLI works on the same database as the server, configured the same way
// (WG_* variables and the config file). A server running on the same data directory is asked
// over its control socket to apply a change at once (notifyServer); otherwise the change is
// applied when a server starts, or by its next reconcile.

func migrate(args []string) error {
	fs := newFlagSet("migrate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		fmt.Printf("database is up to date (%s)\n", st.Driver())
		return nil
	})
}

func userCommand(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: wiregui user add|disable|enable …")
	}
	switch args[0] {
	case "add":
		return userAdd(args[1:])
	case "disable", "enable":
		return userSetDisabled(args[0], args[1:])
	}
	return fmt.Errorf("unknown user command %q (add, disable, enable)", args[0])
}

// userSetDisabled disables or enables a user; a running server removes or restores the
// user's peers at once.
func userSetDisabled(verb string, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: wiregui user %s EMAIL", verb)
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		u, err := st.UserByEmail(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user with the email %s", store.NormalizeEmail(args[0]))
		}
		if err != nil {
			return err
		}
		var at *time.Time
		if verb == "disable" {
			now := time.Now()
			at = &now
		}
		if err := st.SetUserDisabled(ctx, u.ID, at); err != nil {
			return err
		}
		notifyServer(cfg)
		fmt.Printf("%sd %s\n", verb, u.Email)
		return nil
	})
}

func userAdd(args []string) error {
	fs := newFlagSet("user add")
	email := fs.String("email", "", "the user's email address (required)")
	password := fs.String("password", "", "the password; without it the user cannot sign in with a password")
	admin := fs.Bool("admin", false, "make the user an admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	address, err := text.Email(*email)
	if err != nil {
		return fmt.Errorf("--email: %w", err)
	}
	u := &store.User{Email: address, Role: store.RoleUnprivileged}
	if *admin {
		u.Role = store.RoleAdmin
	}
	if *password != "" {
		hash, err := auth.HashPassword(*password)
		if err != nil {
			return fmt.Errorf("--password: %w", err)
		}
		u.PasswordHash = hash
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		if err := st.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("--email: a user with the email %s already exists", u.Email)
			}
			return err
		}
		fmt.Printf("created %s %s\n", u.Role, u.Email)
		return nil
	})
}

func deviceCommand(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: wiregui device add|list …")
	}
	switch args[0] {
	case "add":
		return deviceAdd(args[1:])
	case "delete":
		return deviceDelete(args[1:])
	case "list":
		return deviceList(args[1:])
	}
	return fmt.Errorf("unknown device command %q (add, delete, list)", args[0])
}

func deviceAdd(args []string) error {
	fs := newFlagSet("device add")
	email := fs.String("user", "", "the owner's email address (required)")
	name := fs.String("name", "", "the device name (required)")
	publicKey := fs.String("public-key", "", "the device's public key; the private key then stays on the device")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--user: the owner's email is required")
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		owner, err := st.UserByEmail(ctx, *email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--user: no user with the email %s", store.NormalizeEmail(*email))
		}
		if err != nil {
			return err
		}
		if _, err := instance.ServerKeys(ctx, st); err != nil {
			return err
		}
		svc, err := instance.Devices(cfg, st, func(string) { notifyServer(cfg) })
		if err != nil {
			return err
		}
		created, err := svc.Create(ctx, devices.Spec{UserID: owner.ID, Name: *name, PublicKey: *publicKey})
		var bad *text.InputError
		if errors.As(err, &bad) {
			flagName := map[string]string{"name": "--name", "public_key": "--public-key"}[bad.Field]
			if flagName == "" {
				return errors.New(bad.Message)
			}
			return fmt.Errorf("%s: %s", flagName, bad.Message)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created device %q for %s (%s)\n", created.Device.Name, owner.Email, created.FileName)
		fmt.Print(created.Config)
		return nil
	})
}

func deviceDelete(args []string) error {
	fs := newFlagSet("device delete")
	email := fs.String("user", "", "the owner's email address (required)")
	name := fs.String("name", "", "the device name (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		owner, err := st.UserByEmail(ctx, *email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--user: no user with the email %s", store.NormalizeEmail(*email))
		}
		if err != nil {
			return err
		}
		devices, err := st.ListDevicesByUser(ctx, owner.ID)
		if err != nil {
			return err
		}
		var match []store.Device
		for _, d := range devices {
			if d.Name == strings.TrimSpace(*name) {
				match = append(match, d)
			}
		}
		switch len(match) {
		case 0:
			return fmt.Errorf("--name: %s has no device named %q", owner.Email, *name)
		case 1:
		default:
			return fmt.Errorf("--name: %s has %d devices named %q; delete them in the web UI", owner.Email, len(match), *name)
		}
		svc, err := instance.Devices(cfg, st, func(string) { notifyServer(cfg) })
		if err != nil {
			return err
		}
		if err := svc.Delete(ctx, &match[0]); err != nil {
			return err
		}
		fmt.Printf("deleted device %q of %s\n", match[0].Name, owner.Email)
		return nil
	})
}

// deviceJSON is one device in `wiregui device list --json`. rx_bytes and tx_bytes are the
// monotonic totals, as the web UI and /metrics show them; rx_counter and tx_counter are
// WireGuard's own counters, which restart at 0 when the interface or the peer is re-created.
type deviceJSON struct {
	Name            string  `json:"name"`
	UserEmail       string  `json:"user_email"`
	IPv4            string  `json:"ipv4"`
	IPv6            string  `json:"ipv6"`
	PublicKey       string  `json:"public_key"`
	RxBytes         int64   `json:"rx_bytes"`
	TxBytes         int64   `json:"tx_bytes"`
	RxCounter       int64   `json:"rx_counter"`
	TxCounter       int64   `json:"tx_counter"`
	LatestHandshake *string `json:"latest_handshake"`
}

func deviceList(args []string) error {
	fs := newFlagSet("device list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withStore(func(ctx context.Context, cfg *config.Config, st *store.Store) error {
		devices, err := st.ListDevices(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeDeviceJSON(os.Stdout, devices)
		}
		return writeDeviceTable(os.Stdout, devices)
	})
}

// writeDeviceTable prints devices as a table with their traffic totals.
func writeDeviceTable(w io.Writer, devices []store.Device) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUSER\tIPV4\tIPV6\tRX\tTX\tHANDSHAKE")
	for _, d := range devices {
		hs := "never"
		if d.LatestHandshake != nil {
			hs = d.LatestHandshake.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Name, d.UserEmail, addrString(d.IPv4), addrString(d.IPv6), d.RxTotal, d.TxTotal, hs)
	}
	return tw.Flush()
}

// writeDeviceJSON prints devices as one JSON array of deviceJSON.
func writeDeviceJSON(w io.Writer, devices []store.Device) error {
	out := make([]deviceJSON, 0, len(devices))
	for _, d := range devices {
		j := deviceJSON{Name: d.Name, UserEmail: d.UserEmail, IPv4: addrString(d.IPv4), IPv6: addrString(d.IPv6),
			PublicKey: d.PublicKey, RxBytes: d.RxTotal, TxBytes: d.TxTotal, RxCounter: d.RxBytes, TxCounter: d.TxBytes}
		if d.LatestHandshake != nil {
			s := d.LatestHandshake.UTC().Format(time.RFC3339)
			j.LatestHandshake = &s
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func addrString(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// withStore loads the configuration from the environment and the config file, opens the
// (migrated) database and runs fn.
func withStore(fn func(ctx context.Context, cfg *config.Config, st *store.Store) error) error {
	cfg, err := config.Load(nil, os.Getenv)
	if err != nil {
		return err
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := instance.OpenStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, cfg, st)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("wiregui "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// notifyServer asks a server running on this data directory to apply a change the CLI made
// now. Without one, the change is applied when a server starts, or by the periodic reconcile
// of a server elsewhere (on another machine sharing a PostgreSQL database); the CLI says so
// and its command still succeeds.
func notifyServer(cfg *config.Config) {
	path := instance.ControlSocket(cfg.DataDir)
	err := instance.AskReconcile(path)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		fmt.Fprintf(os.Stderr, "no server is running on %s: the change applies when one starts, or at its next reconcile\n", cfg.DataDir)
	default:
		fmt.Fprintf(os.Stderr, "could not tell the server on %s (%v): the change applies at its next reconcile\n", cfg.DataDir, err)
	}
}
