package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/app"
	"wiregui/app/auth"
	"wiregui/collector"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// shutdownTimeout bounds how long serve drains after SIGTERM; the whole stop stays under 10 s.
const shutdownTimeout = 5 * time.Second

// serve runs the web server, the reconciler and the collector until SIGINT or SIGTERM.
func serve(args []string) error {
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	if cfg.SecretKey == "" {
		if _, err := store.ReadOrCreateKeyFile(cfg.SecretKeyFile()); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := ensureFirstAdmin(ctx, cfg, st, log); err != nil {
		return err
	}
	keys, err := ensureServerKeys(ctx, st)
	if err != nil {
		return err
	}

	var bg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer func() { stopBackground(); bg.Wait() }()

	plane := &dataPlane{cfg: cfg, store: st, keys: keys, log: log}
	if cfg.WireGuard.Enabled {
		bg.Go(func() { plane.run(bgCtx) })
	}
	devices, err := deviceService(cfg, st, plane.trigger)
	if err != nil {
		return err
	}
	web, err := app.New(app.Options{
		Store:       st,
		Devices:     devices,
		Logger:      log,
		ExternalURL: cfg.ExternalURL,
		Version:     version,
		WireGuard:   plane.status,
	})
	if err != nil {
		return err
	}

	var sup *collector.Supervisor
	if cfg.WireGuard.Enabled {
		if cfg.Metrics.Enabled {
			sup = &collector.Supervisor{Args: []string{"--collector"}, Env: cfg.Env(), Logger: log}
			bg.Go(func() {
				if err := sup.Run(bgCtx); err != nil {
					log.Error("collector supervisor", slog.Any("err", err))
				}
			})
		} else {
			bg.Go(func() { statsLoop(bgCtx, cfg, st, log) })
		}
	}
	bg.Go(func() { expireSessions(bgCtx, st, log) })

	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	go func() {
		for range hups {
			plane.trigger()
			if sup != nil {
				sup.Signal(syscall.SIGHUP)
			}
		}
	}()

	addr := cfg.ListenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := os.WriteFile(pidFile(cfg), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(pidFile(cfg))
	srv := &http.Server{
		Handler:           web.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("wiregui ready", slog.String("version", version), slog.String("listen", ln.Addr().String()),
		slog.String("url", cfg.ExternalURL), slog.String("database", st.Driver()))

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// In order: stop taking requests and drain them, then the background work (collector,
	// reconciler), then the data plane; the store closes last (deferred above).
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http drain incomplete", slog.Any("err", err))
	}
	stopBackground()
	bg.Wait()
	plane.close()
	log.Info("stopped")
	return nil
}

// ensureFirstAdmin creates the first admin when there are no users, from WG_ADMIN_EMAIL and
// WG_ADMIN_PASSWORD, or with a generated password that is printed once to stderr.
func ensureFirstAdmin(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	password, generated := cfg.AdminPassword, false
	if password == "" {
		password, generated = generatePassword(), true
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("WG_ADMIN_PASSWORD: %w", err)
	}
	u := &store.User{Email: cfg.AdminEmail, PasswordHash: hash, Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	log.Info("created the first admin", slog.String("email", u.Email))
	if generated {
		fmt.Fprintf(os.Stderr, "\n  First run: created the admin %s with the password\n\n      %s\n\n"+
			"  It is shown only this once. Sign in at %s/login and keep it safe.\n\n", u.Email, password, cfg.ExternalURL)
	}
	return nil
}

func generatePassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// expireSessions deletes expired web sessions every few minutes.
func expireSessions(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := st.Sessions().DeleteExpired(ctx); err != nil && ctx.Err() == nil {
				log.Warn("expire sessions", slog.Any("err", err))
			}
		}
	}
}

// statsLoop updates device stats in-process when the collector process is disabled.
func statsLoop(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) {
	reader, err := wg.OpenReader(cfg.WireGuard.Interface)
	if err != nil {
		log.Error("stats: open wireguard", slog.Any("err", err))
		return
	}
	defer reader.Close()
	p := &collector.Poller{Reader: reader, Store: st, Interval: cfg.Metrics.StatsInterval, Logger: log.With("proc", "stats")}
	p.Run(ctx)
}

// dataPlane owns the WireGuard interface and its reconciler. When the interface cannot be
// opened (no TUN, no permission), the web UI keeps serving and shows the cause; opening is
// retried every reconcile interval.
type dataPlane struct {
	cfg   *config.Config
	store *store.Store
	keys  store.ServerKeys
	log   *slog.Logger

	mu    sync.Mutex
	iface *wg.Interface
	rec   *wg.Reconciler
	err   error
}

func (p *dataPlane) run(ctx context.Context) {
	_, serverAddrs, _ := pools(p.cfg)
	for {
		iface, err := wg.OpenInterface(p.cfg.WireGuard.Interface, wg.Mode(p.cfg.WireGuard.Userspace), p.log)
		if err == nil {
			rec := &wg.Reconciler{Interface: iface, Interval: p.cfg.ReconcileInterval, Logger: p.log,
				Desired: p.desired(serverAddrs)}
			p.mu.Lock()
			p.iface, p.rec, p.err = iface, rec, nil
			p.mu.Unlock()
			p.log.Info("wireguard interface up", slog.String("interface", iface.Name()), slog.String("kind", iface.Kind()))
			rec.Run(ctx)
			return
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		p.log.Error("wireguard unavailable", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.cfg.ReconcileInterval):
		}
	}
}

// desired computes the interface the database asks for: every device whose owner is enabled.
func (p *dataPlane) desired(serverAddrs []netip.Prefix) func(ctx context.Context) (wg.Config, error) {
	return func(ctx context.Context) (wg.Config, error) {
		priv, err := wgtypes.ParseKey(p.keys.PrivateKey)
		if err != nil {
			return wg.Config{}, fmt.Errorf("server private key: %w", err)
		}
		devices, _, err := p.store.ListLiveDevices(ctx, time.Now())
		if err != nil {
			return wg.Config{}, err
		}
		want := wg.Config{PrivateKey: priv, ListenPort: p.cfg.WireGuard.ListenPort, Addresses: serverAddrs,
			Peers: make([]wg.Peer, 0, len(devices))}
		for _, d := range devices {
			peer, err := devicePeer(d)
			if err != nil {
				p.log.Warn("device skipped", slog.String("device", d.ID), slog.Any("err", err))
				continue
			}
			want.Peers = append(want.Peers, peer)
		}
		return want, nil
	}
}

func devicePeer(d store.Device) (wg.Peer, error) {
	pub, err := wgtypes.ParseKey(d.PublicKey)
	if err != nil {
		return wg.Peer{}, fmt.Errorf("public key: %w", err)
	}
	peer := wg.Peer{PublicKey: pub}
	if d.PresharedKey != "" {
		if peer.PresharedKey, err = wgtypes.ParseKey(d.PresharedKey); err != nil {
			return wg.Peer{}, fmt.Errorf("preshared key: %w", err)
		}
	}
	for _, a := range []netip.Addr{d.IPv4, d.IPv6} {
		if a.IsValid() {
			peer.AllowedIPs = append(peer.AllowedIPs, wg.HostPrefix(a))
		}
	}
	return peer, nil
}

// trigger asks the reconciler to apply the database now.
func (p *dataPlane) trigger() {
	p.mu.Lock()
	rec := p.rec
	p.mu.Unlock()
	if rec != nil {
		rec.Trigger()
	}
}

func (p *dataPlane) status() app.WireGuardStatus {
	if !p.cfg.WireGuard.Enabled {
		return app.WireGuardStatus{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := app.WireGuardStatus{Enabled: true, Interface: p.cfg.WireGuard.Interface}
	switch {
	case p.err != nil:
		st.Error = p.err.Error()
	case p.iface == nil: // still opening
	default:
		st.Kind = p.iface.Kind()
		rs := p.rec.Status()
		if !rs.At.IsZero() {
			st.Reconcile = &app.ReconcileStatus{At: rs.At, Duration: rs.Duration.String(), Error: rs.Err, Repairs: rs.Repairs}
			if rs.Err != "" {
				st.Error = "reconcile failed: " + rs.Err
			}
		}
	}
	return st
}

func (p *dataPlane) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.iface != nil {
		if err := p.iface.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			p.log.Warn("close wireguard interface", slog.Any("err", err))
		}
	}
}
