package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"wiregui/app/devices"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// newLogger builds the process logger from the configuration.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// prepareDataDir creates the data directory (mode 0700) and checks that it is writable.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, errors.Unwrap(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// sharedDataDir reports the data directory's permissions and whether its group or other users
// may enter or list it. WireGUI makes it 0700, but one made before (a package's
// /var/lib/wiregui at 0755) stays as it is: the files WireGUI writes there now are private
// (main sets the umask), but older versions' 0644 database is readable through it.
func sharedDataDir(dir string) (perm os.FileMode, shared bool) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, false // prepareDataDir reported it
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o077 != 0
}

// openStore opens the configured database with the encryption key from the data dir.
// migrate applies pending migrations first.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool) (*store.Store, error) {
	if cfg.DatabaseDriver() == "sqlite" {
		if err := prepareDataDir(filepath.Dir(cfg.DatabaseURL)); err != nil {
			return nil, err
		}
	}
	key, err := store.ReadOrCreateKeyFile(cfg.EncryptionKeyFile)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Options{Driver: cfg.DatabaseDriver(), DSN: cfg.DatabaseURL, Key: key, Logger: log})
	if err != nil {
		return nil, err
	}
	if migrate {
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// The waits between attempts to reach a database that is unavailable at start.
const (
	firstStoreRetry = time.Second
	maxStoreRetry   = 30 * time.Second
)

// untilAvailable calls try until it returns anything but store.ErrUnavailable, or ctx ends.
// While the database is unavailable (the server is down, starting up, or refuses
// connections) it waits between attempts, firstStoreRetry doubling up to maxStoreRetry, and
// logs one line per attempt. Other errors (a malformed URL, a wrong password, a database that
// does not exist) are not worth retrying: it returns them at once.
func untilAvailable(ctx context.Context, log *slog.Logger, try func() error) error {
	wait := firstStoreRetry
	for attempt := 1; ; attempt++ {
		err := try()
		if !isUnavailable(err) {
			if err == nil && attempt > 1 {
				log.Info("database available", slog.Int("attempts", attempt))
			}
			return err
		}
		log.Warn("database unavailable; retrying", slog.Int("attempt", attempt), slog.Duration("retry_in", wait),
			slog.Any("err", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxStoreRetry)
	}
}

// isUnavailable reports whether err means the database is down for now.
func isUnavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }

// pools returns the address pools of the configured tunnel networks.
func pools(cfg *config.Config) (store.AddressPools, []netip.Prefix, error) {
	var p store.AddressPools
	var serverAddrs []netip.Prefix
	for _, n := range []netip.Prefix{cfg.WireGuard.IPv4Network, cfg.WireGuard.IPv6Network} {
		if !n.IsValid() {
			continue
		}
		pool, err := wg.NewPool(n)
		if err != nil {
			return p, nil, err
		}
		serverAddrs = append(serverAddrs, pool.ServerPrefix())
		if n.Addr().Is4() {
			p.IPv4 = pool
		} else {
			p.IPv6 = pool
		}
	}
	return p, serverAddrs, nil
}

// tunnelNetworks returns the configured tunnel networks.
func tunnelNetworks(cfg *config.Config) []netip.Prefix {
	var tunnels []netip.Prefix
	for _, n := range []netip.Prefix{cfg.WireGuard.IPv4Network, cfg.WireGuard.IPv6Network} {
		if n.IsValid() {
			tunnels = append(tunnels, n)
		}
	}
	return tunnels
}

// deviceService builds the one device provisioning service that the web UI and the CLI share.
func deviceService(cfg *config.Config, st *store.Store, changed func(userID string)) (*devices.Service, error) {
	p, _, err := pools(cfg)
	if err != nil {
		return nil, err
	}
	return &devices.Service{
		Store:   st,
		Tunnels: tunnelNetworks(cfg),
		Pools:   p,
		Client: devices.ClientDefaults{
			EndpointHost:        cfg.WireGuard.EndpointHost,
			EndpointPort:        cfg.WireGuard.EndpointPort,
			DNS:                 cfg.ClientDefaults.DNS,
			MTU:                 cfg.ClientDefaults.MTU,
			PersistentKeepalive: cfg.ClientDefaults.PersistentKeepalive,
			AllowedIPs:          cfg.ClientDefaults.AllowedIPs,
		},
		Changed: changed,
	}, nil
}

// ensureServerKeys generates the server's WireGuard key pair the first time.
func ensureServerKeys(ctx context.Context, st *store.Store) (store.ServerKeys, error) {
	return st.EnsureServerKeys(ctx, func() (store.ServerKeys, error) {
		priv, pub, err := wg.GenerateKeyPair()
		return store.ServerKeys{PrivateKey: priv.String(), PublicKey: pub.String()}, err
	})
}
