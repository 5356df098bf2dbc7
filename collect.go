package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"wiregui/app/instance"
	"wiregui/collector"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// collect is the collector child process: it polls WireGuard, writes device stats, pushes
// metrics to VictoriaMetrics and tells its parent each tick on stdout. It has no web,
// template or session code in its path. It logs JSON to stderr, which the parent relays, and
// exits when the parent goes away (stdin closes) or on SIGTERM/SIGINT; a poll cut short
// rolls its transaction back.
func collect(args []string) error {
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := collector.ChildLogger(os.Stderr, cfg.LogLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGHUP) // new devices are picked up by the poller itself
	ctx = collector.WatchParent(ctx, os.Stdin)

	var st *store.Store
	if err := instance.UntilAvailable(ctx, log, func() (err error) { st, err = instance.OpenStore(ctx, cfg, log, false); return err }); err != nil {
		return err
	}
	defer st.Close()
	reader, err := wg.OpenReader(cfg.WireGuard.Interface)
	if err != nil {
		return err
	}
	defer reader.Close()

	var push *collector.Pusher
	var pushing sync.WaitGroup
	if cfg.Metrics.VictoriaMetricsURL != "" {
		push = &collector.Pusher{URL: cfg.Metrics.VictoriaMetricsURL, Buffer: cfg.Metrics.Buffer, Logger: log}
		pushing.Go(func() { push.Run(ctx) }) // its last flush is bounded: see Pusher.Run
	}
	limitMemory := os.Getenv("GOMEMLIMIT") == ""
	var line []byte
	p := &collector.Poller{Reader: reader, Store: st, Interval: cfg.Metrics.PollInterval, Logger: log,
		OnPoll: func(tick *collector.Tick, h collector.Health) {
			h.Push = collector.PushHealth{State: "off"}
			if push != nil {
				if tick != nil {
					push.Add(*tick)
				}
				h.Push = push.Health()
			}
			if limitMemory {
				debug.SetMemoryLimit(collector.MemoryLimit(h.Push.Buffered))
			}
			line = collector.AppendMessage(line[:0], collector.Message{Health: h, Tick: tick})
			if _, err := os.Stdout.Write(line); err != nil {
				log.Warn("tell the parent", slog.Any("err", err))
			}
		}}
	log.Info("collector started", slog.String("interface", cfg.WireGuard.Interface),
		slog.Duration("interval", cfg.Metrics.PollInterval), slog.Bool("victoriametrics", push != nil))
	p.Run(ctx)
	pushing.Wait()
	log.Info("collector stopped")
	return nil
}
