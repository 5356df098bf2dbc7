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

	"wiregui/app"
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

// deviceService builds the one device provisioning service that the web UI and the CLI share.
func deviceService(cfg *config.Config, st *store.Store, changed func(userID string)) (*app.Devices, error) {
	p, _, err := pools(cfg)
	if err != nil {
		return nil, err
	}
	var tunnels []netip.Prefix
	for _, n := range []netip.Prefix{cfg.WireGuard.IPv4Network, cfg.WireGuard.IPv6Network} {
		if n.IsValid() {
			tunnels = append(tunnels, n)
		}
	}
	return &app.Devices{
		Store:   st,
		Tunnels: tunnels,
		Pools:   p,
		Client: app.ClientDefaults{
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
