package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"wiregui/app"
	"wiregui/app/dataplane"
	"wiregui/app/instance"
	"wiregui/app/mfa"
	"wiregui/app/text"
	"wiregui/app/users"
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
	log := instance.Logger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP (apply the database now) is caught from here on, so that one sent while the
	// database is awaited does not end the process; it is applied once the data plane runs.
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}

	if err := instance.PrepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	lock, err := instance.Lock(cfg.DataDir, cfg.ListenAddr())
	if err != nil {
		return err
	}
	defer lock.Close()
	secretKey, err := instance.SecretKey(cfg)
	if err != nil {
		return err
	}
	// The web server listens at once: until the database is open, its gate answers that the
	// database is unavailable.
	gate, err := app.NewGate(version, log)
	if err != nil {
		return err
	}
	addr := cfg.ListenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           gate,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer srv.Close() // on a return before the orderly shutdown below

	var st *store.Store
	var keys store.ServerKeys
	err = instance.UntilAvailable(ctx, log, func() (err error) {
		if st, err = instance.OpenStore(ctx, cfg, log, true); err != nil {
			return err
		}
		if err = ensureFirstAdmin(ctx, cfg, st, log); err == nil {
			keys, err = instance.ServerKeys(ctx, st)
		}
		if err != nil {
			st.Close()
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before the database was available")
			return nil
		}
		return err
	}
	defer st.Close()

	var bg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var plane *dataplane.Plane
	// However serve returns, the data plane closes after the background work: a userspace
	// interface goes with the process, and closing it undoes its gateway (forwarding off, the
	// firewall's table removed). Closing twice is harmless.
	defer func() {
		stopBackground()
		bg.Wait()
		if plane != nil {
			plane.Close()
		}
	}()

	// The data plane learns of every change to who may connect: devices, sign-ins, settings,
	// users disabled by the CLI (over the control socket).
	// The firewall's policy changes apart: the devices need no new read for it.
	accessChanged, policyChanged := func(string) {}, func(string) {}
	rulesSvc := instance.Rules(cfg, st, func(userID string) { policyChanged(userID) })
	if cfg.WireGuard.Enabled {
		plane, err = dataplane.New(dataplane.Options{Store: st, Logger: log, Keys: keys,
			Interface: cfg.WireGuard.Interface, Mode: wg.Mode(cfg.WireGuard.Userspace), ListenPort: cfg.WireGuard.ListenPort,
			Networks: instance.Networks(cfg), Interval: cfg.ReconcileInterval, Unavailable: instance.Unavailable,
			Firewall: rulesSvc, Forward: cfg.WireGuard.Forward})
		if err != nil {
			return err
		}
		bg.Go(func() { plane.Run(bgCtx) })
		accessChanged, policyChanged = plane.Trigger, func(string) { plane.PolicyChanged() }
	}
	devices, err := instance.Devices(cfg, st, accessChanged)
	if err != nil {
		return err
	}
	// A change of a user (disabled, demoted, deleted with their devices and rules) changes
	// who may connect and the firewall's rules alike.
	mailer := instance.Mailer(cfg, st, log)
	usersSvc := instance.Users(cfg, st, mailer, secretKey, log,
		func(userID string) { accessChanged(userID); policyChanged(userID) })
	instance.LogEndpoint(ctx, log, devices)
	// What the collector (or the stats loop) reports after each poll: the live UI, /healthz
	// and /metrics read it.
	live := collector.NewHub(collector.DefaultPoints)
	var history *collector.History
	if cfg.Metrics.VictoriaMetricsURL != "" {
		history = &collector.History{URL: cfg.Metrics.VictoriaMetricsURL}
	}
	// Second factors. The attempt limiter of sign-in bounds their guesses too (wired with it).
	mfaSvc, err := mfa.New(mfa.Options{Store: st, ExternalURL: cfg.ExternalURL, Key: secretKey, Logger: log})
	if err != nil {
		return err
	}
	if why := mfaSvc.WebAuthnUnavailable(); why != "" {
		log.Warn("security keys and passkeys are off: "+why, slog.String("external_url", cfg.ExternalURL))
	}
	opts := app.Options{
		Store:         st,
		Devices:       devices,
		Rules:         rulesSvc,
		Users:         usersSvc,
		MFA:           mfaSvc,
		Mail:          mailer,
		Logger:        log,
		ExternalURL:   cfg.ExternalURL,
		SecretKey:     secretKey,
		Version:       version,
		AccessChanged: accessChanged,
		Live:          live,
		History:       history,
	}
	// /metrics lists every user's email, device names and keys. The web UI's port serves it
	// only behind the token: behind a reverse proxy every visitor comes from loopback, so the
	// address says nothing. Its own listener, on loopback by default, serves it to a local
	// scraper, with the token when one is set.
	metrics := &collector.MetricsHandler{Devices: st.TrackedDevices, Health: live.Health, Token: cfg.Metrics.Token, Logger: log}
	if cfg.Metrics.Token != "" {
		opts.Metrics = metrics
	}
	if cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		ml := &collector.MetricsListener{Addr: cfg.Metrics.Listen, Handler: mux, Logger: log}
		opts.MetricsListener = ml.State
		// It stops with the background work, right after the web UI has drained.
		bg.Go(func() { ml.Run(bgCtx) })
		if cfg.Metrics.Token == "" && !instance.IsLoopback(cfg.Metrics.Listen) {
			log.Warn("metrics are served without a token on a non-loopback address; set WG_METRICS_TOKEN",
				slog.String("listen", cfg.Metrics.Listen))
		}
	}
	if plane != nil {
		opts.WireGuard, opts.Firewall = plane.Status, plane
	}
	web, err := app.New(opts)
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
		accessChanged("")
		if sup != nil {
			sup.Signal(syscall.SIGHUP)
		}
	}
	go func() {
		for range hups {
			reconcileNow()
		}
	}()

	if control, err := instance.ListenControl(instance.ControlSocket(cfg.DataDir), log, reconcileNow); err != nil {
		log.Warn("no control socket: CLI changes apply at the next reconcile", slog.Any("err", err))
	} else {
		defer control.Close()
	}
	srv.RegisterOnShutdown(web.Close) // the live streams end, so that the drain does not wait on them
	gate.Open(web.Handler())
	// Said once the server runs, so that a start that fails says only why.
	if perm, shared := instance.SharedDataDir(cfg.DataDir); shared {
		log.Warn("the data directory is open to other users; it holds the keys and the database",
			slog.String("dir", cfg.DataDir), slog.String("mode", fmt.Sprintf("%04o", perm)),
			slog.String("fix", "chmod 700 "+cfg.DataDir))
	}
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
	if plane != nil {
		plane.Close()
	}
	log.Info("stopped")
	return nil
}

// ensureFirstAdmin creates the first admin when there are no users, from WG_ADMIN_EMAIL and
// WG_ADMIN_PASSWORD, or with a generated password that is printed once to stderr.
func ensureFirstAdmin(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	admin, generated, err := (&users.Service{Store: st}).FirstAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if bad := text.InputErrors(err); len(bad) > 0 { // the settings it was made from are named
		setting := map[string]string{"email": "WG_ADMIN_EMAIL", "password": "WG_ADMIN_PASSWORD"}
		lines := make([]string, len(bad))
		for i, b := range bad {
			lines[i] = cmp.Or(setting[b.Field], b.Field) + ": " + b.Message
		}
		return fmt.Errorf("create the first admin: %s", strings.Join(lines, "; "))
	}
	if err != nil || admin == nil {
		return err
	}
	log.Info("created the first admin", slog.String("email", admin.Email))
	if generated != "" {
		fmt.Fprintf(os.Stderr, "\n  First run: created the admin %s with the password\n\n      %s\n\n"+
			"  It is shown only this once. Sign in at %s/login and keep it safe.\n\n", admin.Email, generated, cfg.ExternalURL)
	}
	return nil
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
			if _, err := st.DeleteExpiredSignInTokens(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("expire sign-in links", slog.Any("err", err))
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
