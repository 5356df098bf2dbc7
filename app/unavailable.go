package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"wiregui/assets"
)

// While the database cannot be reached, pages answer 503 with this message, and /healthz with
// this fixed reason: never an error's text, which names hosts, users and sockets.
const (
	unavailableMessage = "The database is unavailable at the moment, so this page cannot be shown. " +
		"WireGUI keeps trying, and VPN connections keep working meanwhile. Please try again in a few seconds."
	unavailableReason = "database unavailable"
	// retryAfter is the Retry-After of those answers, in seconds.
	retryAfter = "5"
)

// databaseUnavailable answers 503 with a page that says the database is unavailable. A page
// that was asked for with GET reloads itself after Retry-After, so it comes back by itself.
func (s *Server) databaseUnavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", retryAfter)
	if r.Method == http.MethodGet && !isHTMX(r) {
		w.Header().Set("Refresh", retryAfter)
	}
	s.clientError(w, r, http.StatusServiceUnavailable, unavailableMessage)
}

// Gate is the web server's handler until the database is open and migrated, so that serve
// listens at once even when the database does not answer yet. Until Open, every page answers
// 503 "database unavailable" and /healthz says the same; static files are served, so the page
// looks right.
type Gate struct {
	closed http.Handler
	next   atomic.Pointer[http.Handler]
}

// NewGate returns a gate that is closed.
func NewGate(version string, log *slog.Logger) (*Gate, error) {
	render, err := assets.NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{render: render, log: log, version: version} // no store: only what pages without one need
	mux := http.NewServeMux()
	mux.Handle("GET /static/", assets.Static())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", Version: version,
			Database: healthPart{Error: unavailableReason}})
	})
	mux.Handle("/", noStore(http.HandlerFunc(s.databaseUnavailable)))
	return &Gate{closed: securityHeaders(mux)}, nil
}

// Open hands every request from now on to h.
func (g *Gate) Open(h http.Handler) { g.next.Store(&h) }

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.next.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	g.closed.ServeHTTP(w, r)
}
