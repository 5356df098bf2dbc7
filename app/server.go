// Package app is WireGUI's web server: the route table (routes.go), middleware, sessions,
// CSRF, and the pages with their htmx fragments. Who may do what is decided by app/access.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"wiregui/app/auth"
	"wiregui/app/dataplane"
	"wiregui/app/devices"
	"wiregui/app/limits"
	"wiregui/app/mail"
	"wiregui/app/mfa"
	"wiregui/app/rules"
	"wiregui/app/users"
	"wiregui/assets"
	"wiregui/collector"
	"wiregui/store"
)

// Store is what the web server needs from storage.
type Store interface {
	Ping(ctx context.Context) error
	UserByID(ctx context.Context, id string) (*store.User, error)
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	RecordSignIn(ctx context.Context, id, method string, at time.Time) error
	UserEmails(ctx context.Context) ([]string, error)
	ListUsersPage(ctx context.Context, q store.UserQuery) ([]store.UserRow, int, error)
	UserBelongings(ctx context.Context, id string) (store.Belongings, error)
	InvitationExpiry(ctx context.Context, id string) (time.Time, error)
	DeviceByID(ctx context.Context, id string) (*store.Device, error)
	ListDevicesPage(ctx context.Context, q store.DeviceQuery) ([]store.Device, int, error)
	DevicesByID(ctx context.Context, ids []string) ([]store.Device, error)
	Settings(ctx context.Context) (store.Settings, error)
	UpdateSettings(ctx context.Context, fn func(*store.Settings) error) (store.Settings, error)
	OpenNotifications(ctx context.Context, limit int) ([]store.Notification, error)
	ClearNotifications(ctx context.Context, ids []string) (int, error)
	Notify(ctx context.Context, n *store.Notification, dedupeKey string) (bool, error)
	MailSettings(ctx context.Context) (store.MailSettings, error)
	UpdateMailSettings(ctx context.Context, fn func(*store.MailSettings) error) (store.MailSettings, error)
	CreateSignInToken(ctx context.Context, t *store.SignInToken) error
	SignInTokenUser(ctx context.Context, hash, purpose string, at time.Time) (*store.User, error)
	UseSignInToken(ctx context.Context, hash, purpose string, at time.Time, fn func(*store.User) error) (*store.User, error)
	limits.Store
	Sessions() *store.Sessions
	DiskFull() bool
}

// Options are the web server's dependencies and settings.
type Options struct {
	Store   Store
	Devices *devices.Service
	Rules   *rules.Service
	// Users is the user service: accounts are changed and invitations accepted through it.
	Users *users.Service
	// MFA checks and enrols second factors (required).
	MFA         *mfa.Service
	Logger      *slog.Logger
	ExternalURL string // e.g. https://vpn.example.com; https turns on Secure cookies
	// SecretKey signs what the server hands out without storing it, the sign-in form's CSRF
	// token, and keys the hashes of sign-in links' tokens (app/auth.Tokens). At least 32
	// bytes (WG_SECRET_KEY or <data dir>/secret.key).
	SecretKey []byte
	// Mail sends sign-in links and the Settings page's test email.
	Mail *mail.Mailer
	// Now is the clock of sign-in links and attempt limits; nil is time.Now.
	Now     func() time.Time
	Version string
	// WireGuard reports the data plane's state; nil when WireGuard is disabled.
	WireGuard func() dataplane.Status
	// AccessChanged, if set, is told when a user's access to the VPN may have changed other
	// than through the device service: a sign-in renews their VPN session (userID), new
	// settings may concern everyone (""). The data plane applies it at once.
	AccessChanged func(userID string)
	// Live is what the collector reports after each poll; nil when nothing collects.
	Live *collector.Hub
	// History reads devices' past traffic from VictoriaMetrics; nil when none is configured.
	History *collector.History
	// Metrics serves GET /metrics on the web UI's port; nil leaves it unrouted.
	Metrics http.Handler
	// MetricsListener reports the listener of its own that serves /metrics, for /healthz;
	// nil when there is none.
	MetricsListener func() collector.ListenerState
	// Firewall reads the rule set in the kernel for the Rules page; nil when the firewall is
	// not running.
	Firewall Firewall
}

// Server serves the web UI. Create it with New.
type Server struct {
	store           Store
	devices         *devices.Service
	rules           *rules.Service
	users           *users.Service
	mfa             *mfa.Service
	mail            *mail.Mailer
	limits          *limits.Limiter
	tokens          *auth.Tokens
	now             func() time.Time
	outbox          chan func() // emails sent in the background (magic links)
	externalURL     string      // WG_EXTERNAL_URL, what links in emails start with
	firewall        Firewall
	log             *slog.Logger
	render          *assets.Renderer
	sessions        *scs.SessionManager
	loginKey        []byte // signs the sign-in form's CSRF token
	version         string
	origin          string
	wg              func() dataplane.Status
	accessChanged   func(userID string)
	live            *collector.Hub
	history         *collector.History
	metrics         http.Handler
	metricsListener func() collector.ListenerState
	done            chan struct{} // closed by Close: long-lived answers end
	closing         sync.Once
	root            http.Handler // every route with its middleware (routes.go)
}

// New builds the server and parses every template once.
func New(opts Options) (*Server, error) {
	render, err := assets.NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	ext, err := url.Parse(opts.ExternalURL)
	if err != nil || ext.Host == "" {
		return nil, fmt.Errorf("external url %q is not an absolute URL", opts.ExternalURL)
	}
	if opts.Users == nil || opts.Mail == nil {
		return nil, errors.New("the user service and the mailer are required")
	}
	if len(opts.SecretKey) < 32 {
		return nil, fmt.Errorf("secret key: got %d bytes, want at least 32", len(opts.SecretKey))
	}
	if opts.MFA == nil {
		return nil, errors.New("no mfa service")
	}
	s := &Server{
		store:       opts.Store,
		devices:     opts.Devices,
		rules:       opts.Rules,
		users:       opts.Users,
		mfa:         opts.MFA,
		mail:        opts.Mail,
		tokens:      auth.NewTokens(opts.SecretKey),
		now:         opts.Now,
		outbox:      make(chan func(), outboxSize),
		externalURL: strings.TrimRight(opts.ExternalURL, "/"),
		firewall:    opts.Firewall,
		log:         opts.Logger,
		render:      render,
		// A key of its own for each use of the secret key, so that one use's values are
		// never valid for another.
		loginKey:        subkey(opts.SecretKey, "wiregui sign-in csrf"),
		version:         opts.Version,
		origin:          ext.Scheme + "://" + ext.Host,
		wg:              opts.WireGuard,
		accessChanged:   opts.AccessChanged,
		live:            opts.Live,
		history:         opts.History,
		metrics:         opts.Metrics,
		metricsListener: opts.MetricsListener,
		done:            make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.wg == nil {
		s.wg = func() dataplane.Status { return dataplane.Status{} }
	}
	if s.accessChanged == nil {
		s.accessChanged = func(string) {}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.limits = limits.New(opts.Store, s.now)
	go s.sendMail()
	s.sessions = scs.New()
	s.sessions.Store = sessionStore{sessions: opts.Store.Sessions(), codec: s.sessions.Codec}
	s.sessions.Lifetime = 7 * 24 * time.Hour
	// No scs IdleTimeout: it writes the session on every request, which serializes every page
	// on SQLite's one writer. withUser enforces sessionIdle and records activity lazily.
	s.sessions.Cookie.Name = "wiregui_session"
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.sessions.Cookie.Secure = ext.Scheme == "https"
	s.sessions.ErrorFunc = s.sessionError
	if s.root, err = s.handler(); err != nil {
		return nil, err
	}
	return s, nil
}

// sessionError answers when the session cannot be loaded or saved. A page that only read
// still shows when the disk is full: all it changed in the session is the time of the last
// request, or a flash it showed, and those can wait for the next write. (Loading reads only,
// so it never fails with ErrDiskFull.)
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrDiskFull) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.log.Warn("session not saved", slog.String("path", r.URL.Path), slog.String("request_id", requestID(r)), slog.Any("err", err))
		return
	}
	s.serverError(w, r, err)
	if a, ok := w.(*sessionAnswer); ok {
		a.answered = true // the handler's own answer would follow the error page
	}
}

// subkey derives the key for one use of the secret key.
func subkey(secret []byte, use string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(use))
	return mac.Sum(nil)
}

// Close ends the answers that would otherwise last as long as their clients stay: the live
// streams. Call it when the HTTP server shuts down (http.Server.RegisterOnShutdown).
func (s *Server) Close() { s.closing.Do(func() { close(s.done) }) }

// Handler returns the root handler with every route and middleware.
func (s *Server) Handler() http.Handler { return s.root }

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

// health is the answer of /healthz.
type health struct {
	Status    string                   `json:"status"`
	Version   string                   `json:"version"`
	Database  healthPart               `json:"database"`
	WireGuard *dataplane.Status        `json:"wireguard,omitempty"` // absent until the database is open
	Collector *collectorPart           `json:"collector,omitempty"` // absent until it reports or stalls
	Metrics   *collector.ListenerState `json:"metrics_listener,omitempty"`
}

// collectorPart is the collector's health as it last reported, and why it is stalled.
type collectorPart struct {
	collector.Health
	Error string `json:"error,omitempty"` // while it is stalled
}

type healthPart struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// healthz answers 200 when the database answers, 503 otherwise, with the state of every part.
// A part that is down while the database answers (WireGuard, a stalled collector) makes the
// status "degraded".
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := health{Status: "ok", Version: s.version, Database: healthPart{OK: true}}
	status := http.StatusOK
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		reason := "database error"
		if errors.Is(err, store.ErrUnavailable) {
			reason = unavailableReason
			w.Header().Set("Retry-After", retryAfter)
		}
		body.Status, body.Database = "unavailable", healthPart{Error: reason}
		status = http.StatusServiceUnavailable
	} else if s.store.DiskFull() {
		// Reads still work, so the server stays up; the reason is fixed text, the driver's
		// error went to the log with the write that failed.
		body.Database = healthPart{Error: "disk full"}
	}
	wgStatus := publicStatus(s.wg())
	body.WireGuard = &wgStatus
	if s.live != nil {
		h, reported := s.live.Health()
		since, stalled := s.live.Stalled()
		if reported || stalled {
			body.Collector = &collectorPart{Health: publicCollector(h)}
		}
		if stalled {
			body.Collector.Error = collectorSilence(since, time.Now())
		}
	}
	if s.metricsListener != nil {
		st := s.metricsListener()
		body.Metrics = &st
	}
	gatewayDown := wgStatus.Gateway != nil && (wgStatus.Gateway.Err != "" || len(wgStatus.Gateway.ForeignForwardDrops) > 0)
	degraded := wgStatus.Error != "" || wgStatus.DevicesNotApplied > 0 || gatewayDown || !body.Database.OK ||
		body.Collector != nil && body.Collector.Error != "" || body.Metrics != nil && !body.Metrics.Listening
	if degraded && status == http.StatusOK {
		body.Status = "degraded"
	}
	writeJSON(w, status, body)
}

// publicStatus is the status as /healthz shows it to anyone who asks: the causes of errors name
// interfaces and peer keys, so they are replaced by fixed reasons; the details are in the log
// and, for admins, in the banner.
func publicStatus(st dataplane.Status) dataplane.Status {
	st.DevicesNotApplied = len(st.NotApplied)
	if st.Gateway != nil {
		gw := *st.Gateway
		switch {
		case gw.Unavailable:
			gw.Err = "nftables unavailable"
		case gw.Err != "":
			gw.Err = "firewall not applied"
		}
		gw.Drift = nil // rule texts
		st.Gateway = &gw
	}
	if st.Error != "" {
		st.Error = "unavailable"
	}
	if st.Reconcile != nil && st.Reconcile.Error != "" {
		rs := *st.Reconcile
		rs.Error = "failed"
		st.Reconcile = &rs
		st.Error = "reconcile failed"
	}
	return st
}

// publicCollector is the collector's health as /healthz shows it to anyone who asks: the
// errors of its last poll and push name files, hosts and queries, so they are replaced by
// fixed reasons; the details are in the log. A database that is unavailable is one already.
func publicCollector(h collector.Health) collector.Health {
	if h.LastError != "" && h.LastError != store.ErrUnavailable.Error() {
		h.LastError = "poll failed"
	}
	if h.Push.LastError != "" {
		h.Push.LastError = "push failed"
	}
	return h
}

// isNotFound reports whether err means the object does not exist (for a 404).
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
