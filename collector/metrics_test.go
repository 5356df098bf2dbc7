package collector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wiregui/store"
)

var metricsNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// metricsDevices are what the store returns: a device seen 179 s ago, one 180 s ago, and one
// never, with labels that need escaping.
func metricsDevices(context.Context) ([]store.TrackedDevice, error) {
	return []store.TrackedDevice{
		{
			ID: "d1", PublicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", Name: "laptop", UserEmail: "alice@example.com",
			DeviceStats: store.DeviceStats{
				RxBytes: 10, TxBytes: 20, RxTotal: 1<<32 + 1, TxTotal: 1 << 31,
				LatestHandshake: ptr(metricsNow.Add(-179 * time.Second)), RemoteEndpoint: "192.0.2.1:51820",
			},
		},
		{
			ID: "d2", PublicKey: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", Name: "phone", UserEmail: "bob@example.com",
			DeviceStats: store.DeviceStats{RxTotal: 5, TxTotal: 6, LatestHandshake: ptr(metricsNow.Add(-180 * time.Second))},
		},
		{
			ID: "d3", PublicKey: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", Name: "a \"quoted\" \\ name ü\n📱",
			UserEmail: "o'brien+vpn@example.com",
		},
	}, nil
}

func newMetricsServer(t *testing.T, h *MetricsHandler) *httptest.Server {
	if h.Devices == nil {
		h.Devices = metricsDevices
	}
	if h.Now == nil {
		h.Now = func() time.Time { return metricsNow }
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func getMetrics(t *testing.T, srv *httptest.Server, method, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestMetricsHandlerToken(t *testing.T) {
	tests := []struct {
		name, token, auth string
		want              int
	}{
		{"no token configured", "", "", http.StatusOK},
		{"no token configured, one sent", "", "Bearer whatever", http.StatusOK},
		{"missing", "s3cret", "", http.StatusUnauthorized},
		{"wrong", "s3cret", "Bearer wrong", http.StatusUnauthorized},
		{"prefix of the token", "s3cret", "Bearer s3cre", http.StatusUnauthorized},
		{"token with more", "s3cret", "Bearer s3cret2", http.StatusUnauthorized},
		{"basic scheme", "s3cret", "Basic czNjcmV0", http.StatusUnauthorized},
		{"right token, basic scheme", "s3cret", "Basic s3cret", http.StatusUnauthorized},
		{"token without scheme", "s3cret", "s3cret", http.StatusUnauthorized},
		{"empty bearer", "s3cret", "Bearer ", http.StatusUnauthorized},
		{"right", "s3cret", "Bearer s3cret", http.StatusOK},
		{"scheme in lower case", "s3cret", "bearer s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMetricsServer(t, &MetricsHandler{Token: tt.token})
			resp, body := getMetrics(t, srv, http.MethodGet, tt.auth)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want Bearer", got)
				}
				if strings.Contains(body, "wiregui_") {
					t.Errorf("refused request got metrics:\n%s", body)
				}
			}
		})
	}
}

func TestMetricsHandlerServesSeries(t *testing.T) {
	health := Health{
		LastTick: metricsNow.Add(-2 * time.Second), TickDuration: 30 * time.Millisecond, Errors: 2,
		Push: PushHealth{State: "failing", Buffered: 120, Dropped: 7},
	}
	srv := newMetricsServer(t, &MetricsHandler{Health: func() (Health, bool) { return health, true }})
	resp, body := getMetrics(t, srv, http.MethodGet, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	samples, types := parseExpo(t, body)

	devices, _ := metricsDevices(context.Background())
	type key struct{ name, device string }
	got := map[key]string{}
	for _, s := range samples {
		if s.TS != "" {
			t.Errorf("%s has a timestamp; /metrics must not", s.Name)
		}
		if strings.HasPrefix(s.Name, "wiregui_peer_") {
			d := devices[0]
			for _, d = range devices {
				if d.PublicKey == s.Labels["public_key"] {
					break
				}
			}
			want := map[string]string{"public_key": d.PublicKey, "user_email": d.UserEmail, "device_name": d.Name}
			if !maps.Equal(s.Labels, want) {
				t.Errorf("%s labels = %q, want %q", s.Name, s.Labels, want)
			}
			got[key{s.Name, d.ID}] = s.Value
		} else {
			if len(s.Labels) != 0 {
				t.Errorf("%s has labels %v", s.Name, s.Labels)
			}
			got[key{s.Name, ""}] = s.Value
		}
	}
	want := map[key]string{
		{"wiregui_peer_rx_bytes", "d1"}:                       "4294967297",
		{"wiregui_peer_tx_bytes", "d1"}:                       "2147483648",
		{"wiregui_peer_latest_handshake_seconds", "d1"}:       "1714564621",
		{"wiregui_peer_connected", "d1"}:                      "1",
		{"wiregui_peer_rx_bytes", "d2"}:                       "5",
		{"wiregui_peer_tx_bytes", "d2"}:                       "6",
		{"wiregui_peer_latest_handshake_seconds", "d2"}:       "1714564620",
		{"wiregui_peer_connected", "d2"}:                      "0",
		{"wiregui_peer_rx_bytes", "d3"}:                       "0",
		{"wiregui_peer_tx_bytes", "d3"}:                       "0",
		{"wiregui_peer_latest_handshake_seconds", "d3"}:       "0",
		{"wiregui_peer_connected", "d3"}:                      "0",
		{"wiregui_peers_total", ""}:                           "1",
		{"wiregui_collector_last_tick_timestamp_seconds", ""}: "1714564798",
		{"wiregui_collector_tick_duration_seconds", ""}:       "0.03",
		{"wiregui_collector_errors_total", ""}:                "2",
		{"wiregui_collector_buffered_samples", ""}:            "120",
		{"wiregui_collector_dropped_samples_total", ""}:       "7",
		{"wiregui_collector_push_up", ""}:                     "0",
	}
	if !maps.Equal(got, want) {
		t.Errorf("samples\n%v\nwant\n%v", got, want)
	}
	if len(samples) != len(want) {
		t.Errorf("%d samples, want %d", len(samples), len(want))
	}
	for k := range want {
		if types[k.name] == "" {
			t.Errorf("%s has no # TYPE", k.name)
		}
	}
}

func TestMetricsHandlerHealth(t *testing.T) {
	tests := []struct {
		name   string
		health func() (Health, bool)
		self   bool
	}{
		{"no health func", nil, false},
		{"no health yet", func() (Health, bool) { return Health{}, false }, false},
		{"push off", func() (Health, bool) { return Health{Push: PushHealth{State: "off"}}, true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMetricsServer(t, &MetricsHandler{Health: tt.health})
			_, body := getMetrics(t, srv, http.MethodGet, "")
			samples, _ := parseExpo(t, body)
			names := values(samples)
			if _, ok := names["wiregui_collector_errors_total"]; ok != tt.self {
				t.Errorf("collector series present = %v, want %v", ok, tt.self)
			}
			if _, ok := names["wiregui_collector_push_up"]; ok {
				t.Error("wiregui_collector_push_up present, want it left out")
			}
			if names["wiregui_peers_total"] != "1" {
				t.Errorf("wiregui_peers_total = %q, want 1", names["wiregui_peers_total"])
			}
		})
	}
}

func TestMetricsHandlerMethods(t *testing.T) {
	srv := newMetricsServer(t, &MetricsHandler{})
	_, getBody := getMetrics(t, srv, http.MethodGet, "")

	resp, body := getMetrics(t, srv, http.MethodHead, "")
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: status %d, body %q; want 200 and no body", resp.StatusCode, body)
	}
	if resp.ContentLength != int64(len(getBody)) {
		t.Errorf("HEAD Content-Length = %d, want the GET body's %d", resp.ContentLength, len(getBody))
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, _ := getMetrics(t, srv, method, "")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q; want 405 and GET, HEAD", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestMetricsHandlerStoreError(t *testing.T) {
	log := newCapture()
	srv := newMetricsServer(t, &MetricsHandler{
		Devices: func(context.Context) ([]store.TrackedDevice, error) {
			return nil, errors.New("database is locked at /var/lib/wiregui/db.sqlite")
		},
		Logger: slog.New(log),
	})
	resp, body := getMetrics(t, srv, http.MethodGet, "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if strings.Contains(body, "locked") || strings.Contains(body, "wiregui_") {
		t.Errorf("body %q shows the error or metrics", body)
	}
	if recs := log.find("metrics: read devices"); len(recs) != 1 || !strings.Contains(recs[0].Attrs["err"].String(), "locked") {
		t.Errorf("logged %v, want the error once", recs)
	}
}
