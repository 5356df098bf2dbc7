package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"wiregui/collector"
	"wiregui/config"
	"wiregui/wg"
)

// collect is the collector child process: it polls WireGuard and writes device stats. It has
// no web, template or session code in its path. It logs JSON to stderr, which the parent
// relays, and exits when the parent goes away (stdin closes) or on SIGTERM/SIGINT.
func collect(args []string) error {
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGHUP) // nothing to reload yet
	ctx = collector.WatchParent(ctx, os.Stdin)

	st, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer st.Close()
	reader, err := wg.OpenReader(cfg.WireGuard.Interface)
	if err != nil {
		return err
	}
	defer reader.Close()
	log.Info("collector started", slog.String("interface", cfg.WireGuard.Interface), slog.Duration("interval", cfg.Metrics.PollInterval))
	p := &collector.Poller{Reader: reader, Store: st, Interval: cfg.Metrics.PollInterval, Logger: log}
	p.Run(ctx)
	log.Info("collector stopped")
	return nil
}
