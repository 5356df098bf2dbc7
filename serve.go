package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"wiregui/app"
	"wiregui/app/auth"
	"wiregui/collector"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// shutdownTimeout bounds how long serve drains after SIGTERM; the whole stop stays under 10 s.
const shutdownTimeout = 5 * time.Second

// serveGCPercent is the web server's GOGC unless the environment sets one. Its live heap is
// small and pages allocate a lot, so the default 100 collects often; at 200 the All Devices
// page at 10,000 devices with 32 clients went from p95 32 ms to 29 ms
// (BenchmarkAllDevicesPage10k), for a heap up to three times the live data instead of two.
const serveGCPercent = 200

// serve runs the web server, the reconciler and the collector until SIGINT or SIGTERM.
func serve(args []string) error {
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	lock, err := lockDataDir(cfg.DataDir, cfg.ListenAddr())
	if err != nil {
		return err
	}
	defer lock.Close()
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
	// What the collector (or the stats loop) reports after each poll: the live UI, /healthz
	// and /metrics read it.
	live := collector.NewHub(collector.DefaultPoints)
	var history *collector.History
	if cfg.Metrics.VictoriaMetricsURL != "" {
		history = &collector.History{URL: cfg.Metrics.VictoriaMetricsURL}
	}
	web, err := app.New(app.Options{
		Store:       st,
		Devices:     devices,
		Logger:      log,
		ExternalURL: cfg.ExternalURL,
		Version:     version,
		WireGuard:   plane.status,
		Live:        live,
		History:     history,
		Metrics:     &collector.MetricsHandler{Devices: st.TrackedDevices, Health: live.Health, Token: cfg.Metrics.Token},
	})
	if err != nil {
		return err
	}

	var sup *collector.Supervisor
	if cfg.WireGuard.Enabled {
		if cfg.Metrics.Enabled {
			sup = &collector.Supervisor{Args: []string{"--collector"}, Env: cfg.Env(), Logger: log,
				Liveness: collector.LivenessFor(cfg.Metrics.PollInterval), OnStall: live.Stall,
				OnLine: func(line []byte) {
					m, err := collector.DecodeMessage(line)
					if err != nil {
						log.Warn("collector message", slog.Any("err", err))
						return
					}
					live.Publish(m)
				}}
			bg.Go(func() {
				if err := sup.Run(bgCtx); err != nil {
					log.Error("collector supervisor", slog.Any("err", err))
				}
			})
		} else {
			bg.Go(func() { statsLoop(bgCtx, cfg, st, live, log) })
		}
	}
	bg.Go(func() { expireSessions(bgCtx, st, log) })

	// SIGHUP (for operators) and the control socket (for the CLI) ask for the same thing.
	reconcileNow := func() {
		plane.trigger("")
		if sup != nil {
			sup.Signal(syscall.SIGHUP)
		}
	}
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	go func() {
		for range hups {
			reconcileNow()
		}
	}()

	addr := cfg.ListenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if control, err := listenControl(controlSocket(cfg), log, reconcileNow); err != nil {
		log.Warn("no control socket: CLI changes apply at the next reconcile", slog.Any("err", err))
	} else {
		defer control.Close()
	}
	srv := &http.Server{
		Handler:           web.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(web.Close) // the live streams end, so that the drain does not wait on them
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
func statsLoop(ctx context.Context, cfg *config.Config, st *store.Store, live *collector.Hub, log *slog.Logger) {
	reader, err := wg.OpenReader(cfg.WireGuard.Interface)
	if err != nil {
		log.Error("stats: open wireguard", slog.Any("err", err))
		return
	}
	defer reader.Close()
	p := &collector.Poller{Reader: reader, Store: st, Interval: cfg.Metrics.StatsInterval, Logger: log.With("proc", "stats"),
		OnPoll: func(tick *collector.Tick, h collector.Health) {
			h.Push.State = "off"
			live.Publish(collector.Message{Health: h, Tick: tick})
		}}
	p.Run(ctx)
}
