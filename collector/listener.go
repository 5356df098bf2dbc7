package collector

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// MetricsListener serves GET /metrics on an address of its own (WG_METRICS_LISTEN), apart
// from the web UI: behind a reverse proxy on the same host every visitor of the UI comes from
// loopback, so the UI's port cannot tell a local scraper from anyone else.
//
// It is a part the server runs without: when the address cannot be taken, Run logs one line,
// State says so (for /healthz), and it tries again every Retry until it can.
type MetricsListener struct {
	Addr    string       // host:port
	Handler http.Handler // the MetricsHandler
	Logger  *slog.Logger
	Retry   time.Duration // default 30 s

	mu    sync.Mutex
	state ListenerState
}

// ListenerState is what /healthz shows of a MetricsListener.
type ListenerState struct {
	Address   string `json:"address"`
	Listening bool   `json:"listening"`
	// Error is a fixed reason, such as "address in use"; the details are in the log.
	Error string `json:"error,omitempty"`
}

// State returns the listener's state.
func (m *MetricsListener) State() ListenerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Address == "" {
		return ListenerState{Address: m.Addr, Error: "starting"}
	}
	return m.state
}

func (m *MetricsListener) setState(st ListenerState) {
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
}

// Run serves until ctx ends, then shuts the listener down, waiting up to 5 s for scrapes
// in flight.
func (m *MetricsListener) Run(ctx context.Context) {
	log := m.Logger
	if log == nil {
		log = slog.Default()
	}
	retry := m.Retry
	if retry <= 0 {
		retry = 30 * time.Second
	}
	failing := false
	for {
		ln, err := net.Listen("tcp", m.Addr)
		if err == nil {
			failing = false
			err = m.serve(ctx, ln, log)
			if ctx.Err() != nil {
				return
			}
		}
		m.setState(ListenerState{Address: m.Addr, Error: listenReason(err)})
		if !failing { // one line per outage, not one per try
			log.Warn("metrics listener unavailable; serving on without it, retrying", slog.String("listen", m.Addr),
				slog.Duration("retry", retry), slog.Any("err", err))
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// serve serves on ln until ctx ends (it returns nil) or the server fails.
func (m *MetricsListener) serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           m.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	m.setState(ListenerState{Address: ln.Addr().String(), Listening: true})
	log.Info("metrics listening", slog.String("listen", ln.Addr().String()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
		}
		<-served
		return nil
	}
}

// listenReason is the fixed reason /healthz gives for a listener that is down.
func listenReason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "address in use"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available"
	case errors.Is(err, syscall.EACCES):
		return "permission denied"
	default:
		return "cannot listen"
	}
}
