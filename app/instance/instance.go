// Package instance is what every role of the binary needs to run on this machine: the data
// directory (made private, locked by the one server that owns it, its control socket), the
// logger, the store opened and migrated (waiting while the database is unavailable), the
// server's keys, and the services built from the configuration.
package instance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"wiregui/app/devices"
	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// Logger builds the process logger from the configuration.
func Logger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// PrepareDataDir creates the data directory (mode 0700) and checks that it is writable.
func PrepareDataDir(dir string) error {
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

// SharedDataDir reports the data directory's permissions and whether its group or other users
// may enter or list it. WireGUI makes it 0700, but one made before (a package's
// /var/lib/wiregui at 0755) stays as it is: the files WireGUI writes there now are private
// (main sets the umask), but older versions' 0644 database is readable through it.
func SharedDataDir(dir string) (perm os.FileMode, shared bool) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, false // PrepareDataDir reported it
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o077 != 0
}

// OpenStore opens the configured database with the encryption key from the data dir.
// migrate applies pending migrations first.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool) (*store.Store, error) {
	if cfg.DatabaseDriver() == "sqlite" {
		if err := PrepareDataDir(filepath.Dir(cfg.DatabaseURL)); err != nil {
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

// UntilAvailable calls try until it returns anything but store.ErrUnavailable, or ctx ends.
// While the database is unavailable (the server is down, starting up, or refuses
// connections) it waits between attempts, firstStoreRetry doubling up to maxStoreRetry, and
// logs one line per attempt. Other errors (a malformed URL, a wrong password, a database that
// does not exist) are not worth retrying: it returns them at once.
func UntilAvailable(ctx context.Context, log *slog.Logger, try func() error) error {
	wait := firstStoreRetry
	for attempt := 1; ; attempt++ {
		err := try()
		if !Unavailable(err) {
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

// Unavailable reports whether err means the database is down for now.
func Unavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }

// Pools returns the address pools of the configured tunnel networks.
func Pools(cfg *config.Config) (store.AddressPools, error) {
	var p store.AddressPools
	for _, n := range Networks(cfg) {
		pool, err := wg.NewPool(n)
		if err != nil {
			return p, err
		}
		if n.Addr().Is4() {
			p.IPv4 = pool
		} else {
			p.IPv6 = pool
		}
	}
	return p, nil
}

// Networks returns the configured tunnel networks.
func Networks(cfg *config.Config) []netip.Prefix {
	var tunnels []netip.Prefix
	for _, n := range []netip.Prefix{cfg.WireGuard.IPv4Network, cfg.WireGuard.IPv6Network} {
		if n.IsValid() {
			tunnels = append(tunnels, n)
		}
	}
	return tunnels
}

// Devices builds the one device service that the web UI and the CLI share; changed is told
// whose devices changed.
func Devices(cfg *config.Config, st *store.Store, changed func(userID string)) (*devices.Service, error) {
	p, err := Pools(cfg)
	if err != nil {
		return nil, err
	}
	endpoint := ChooseEndpoint(cfg)
	return &devices.Service{
		Store:   st,
		Tunnels: Networks(cfg),
		Pools:   p,
		Client: devices.ClientDefaults{
			EndpointHost:        endpoint.Host,
			EndpointWhy:         endpoint.Why,
			EndpointDetected:    endpoint.Detected,
			EndpointPort:        cfg.WireGuard.EndpointPort,
			DNS:                 cfg.ClientDefaults.DNS,
			MTU:                 cfg.ClientDefaults.MTU,
			PersistentKeepalive: cfg.ClientDefaults.PersistentKeepalive,
			AllowedIPs:          cfg.ClientDefaults.AllowedIPs,
		},
		Changed: changed,
	}, nil
}

// Rules builds the one rule service that the web UI, the CLI and the data plane share;
// changed is told whose rules changed ("" for everyone's).
func Rules(cfg *config.Config, st *store.Store, changed func(userID string)) *rules.Service {
	return &rules.Service{Store: st, Interface: cfg.WireGuard.Interface, Networks: Networks(cfg),
		Masquerade: cfg.WireGuard.Masquerade, Changed: changed}
}

// ServerKeys returns the server's WireGuard key pair, generated the first time.
func ServerKeys(ctx context.Context, st *store.Store) (store.ServerKeys, error) {
	return st.EnsureServerKeys(ctx, func() (store.ServerKeys, error) {
		priv, pub, err := wg.GenerateKeyPair()
		return store.ServerKeys{PrivateKey: priv.String(), PublicKey: pub.String()}, err
	})
}

// IsLoopback reports whether the host of addr (host:port) is a loopback address or localhost.
func IsLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return host == "localhost"
}
