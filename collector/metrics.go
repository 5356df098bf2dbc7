package collector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wiregui/store"
)

// MetricsContentType is the Content-Type of the Prometheus text exposition format.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// MetricsHandler serves GET /metrics in Prometheus text format: the peer series of every
// device from the store, as of the request, wiregui_peers_total, and the collector's own
// series once it has reported its health. The samples have no timestamps; the scraper adds
// them.
type MetricsHandler struct {
	Devices func(ctx context.Context) ([]store.TrackedDevice, error) // the store's TrackedDevices
	Health  func() (Health, bool)                                    // the collector's last health; false when none reported yet
	Token   string                                                   // when set, requests need "Authorization: Bearer <Token>"
	Now     func() time.Time                                         // default time.Now
	Logger  *slog.Logger                                             // for store errors; default slog.Default()

	enc Encoder
}

// ServeHTTP answers GET and HEAD; anything else gets 405, and a missing or wrong token 401.
func (h *MetricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.Token != "" && !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	devices, err := h.Devices(r.Context())
	if err != nil {
		h.logger().Error("metrics: read devices", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		http.Error(w, "cannot read devices", http.StatusInternalServerError)
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	tick := Tick{At: now(), Peers: make([]Peer, len(devices))}
	for i, d := range devices {
		tick.Peers[i] = Peer{
			DeviceID: d.ID, PublicKey: d.PublicKey, UserEmail: d.UserEmail, DeviceName: d.Name,
			RxTotal: d.RxTotal, TxTotal: d.TxTotal,
		}
		if d.LatestHandshake != nil {
			tick.Peers[i].LatestHandshake = *d.LatestHandshake
		}
	}
	body := h.enc.AppendTick(make([]byte, 0, 4096+600*len(devices)), tick, FormatScrape)
	if h.Health != nil {
		if health, ok := h.Health(); ok {
			body = AppendHealthSeries(body, health)
		}
	}
	w.Header().Set("Content-Type", MetricsContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// authorized reports whether r carries the bearer token. The tokens are compared as hashes,
// in constant time, so that neither their content nor their length shows in the timing.
func (h *MetricsHandler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got, want := sha256.Sum256([]byte(strings.TrimSpace(token))), sha256.Sum256([]byte(h.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (h *MetricsHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
