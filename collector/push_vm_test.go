package collector

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/collector/vmtest"
)

// These tests push to a real VictoriaMetrics (the Debian package victoria-metrics); without it
// they are skipped, unless CI=true.

func TestPushToVictoriaMetricsLabels(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t)
	p := &Pusher{URL: vm.URL(), Buffer: time.Minute}
	startPusher(t, p)

	at := time.Now().Truncate(time.Millisecond)
	tick := Tick{Seq: 1, At: at, Peers: []Peer{
		{
			DeviceID: "d1", PublicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
			UserEmail: "alice@example.com", DeviceName: "laptop",
			RxTotal: 1<<32 + 1, TxTotal: 1<<31 + 3, LatestHandshake: at.Add(-10 * time.Second).Truncate(time.Second),
		},
		{
			DeviceID: "d2", PublicKey: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
			UserEmail: "bob@example.com", DeviceName: "bob's\nphone 📱",
			RxTotal: 5, TxTotal: 6, LatestHandshake: at.Add(-time.Hour).Truncate(time.Second),
		},
		{
			DeviceID: "d3", PublicKey: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
			UserEmail: "o'brien+vpn@example.com", DeviceName: `a "quoted" \ name ü`,
		},
	}}
	p.Add(tick)
	waitFor(t, 10*time.Second, "the push", func() bool { return p.Health().Buffered == 0 })
	if err := vm.ForceFlush(); err != nil {
		t.Fatal(err)
	}

	// Every series, with exactly the labels pushed.
	want := []map[string]string{{"__name__": "wiregui_peers_total"}}
	for _, peer := range tick.Peers {
		for _, s := range peerSeries {
			want = append(want, map[string]string{
				"__name__": s.name, "public_key": peer.PublicKey, "user_email": peer.UserEmail, "device_name": peer.DeviceName,
			})
		}
	}
	var got []map[string]string
	waitFor(t, 15*time.Second, "the series in VictoriaMetrics", func() bool {
		var err error
		got, err = vm.Labels(`{__name__=~"wiregui_.*"}`, at.Add(-time.Minute), at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return len(got) >= len(want)
	})
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g map[string]string) bool { return maps.Equal(g, w) }) {
			t.Errorf("VictoriaMetrics has no series %q; it has %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("VictoriaMetrics has %d series, want %d: %q", len(got), len(want), got)
	}

	// The values and the timestamp, as stored.
	series, err := vm.Export(`{__name__=~"wiregui_.*"}`, at.Add(-time.Minute), at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, s := range series {
		if len(s.Points) != 1 || !s.Points[0].T.Equal(at) {
			t.Errorf("%v: points %v, want one at %s", s.Metric, s.Points, at)
			continue
		}
		values[s.Metric["__name__"]+" "+s.Metric["device_name"]] = s.Points[0].V
	}
	wantValues := map[string]float64{
		"wiregui_peers_total ":                                      1,
		"wiregui_peer_rx_bytes laptop":                              4294967297,
		"wiregui_peer_tx_bytes laptop":                              2147483651,
		"wiregui_peer_latest_handshake_seconds laptop":              float64(at.Add(-10 * time.Second).Unix()),
		"wiregui_peer_connected laptop":                             1,
		"wiregui_peer_rx_bytes bob's\nphone 📱":                      5,
		"wiregui_peer_tx_bytes bob's\nphone 📱":                      6,
		"wiregui_peer_latest_handshake_seconds bob's\nphone 📱":      float64(at.Add(-time.Hour).Unix()),
		"wiregui_peer_connected bob's\nphone 📱":                     0,
		`wiregui_peer_rx_bytes a "quoted" \ name ü`:                 0,
		`wiregui_peer_tx_bytes a "quoted" \ name ü`:                 0,
		`wiregui_peer_latest_handshake_seconds a "quoted" \ name ü`: 0,
		`wiregui_peer_connected a "quoted" \ name ü`:                0,
	}
	if !maps.Equal(values, wantValues) {
		t.Errorf("values in VictoriaMetrics\n%v\nwant\n%v", values, wantValues)
	}
}

// TestPushToVictoriaMetricsOutage pushes a tick every second, stops VictoriaMetrics for 30 s,
// starts it again, and wants every tick of the outage in it, at its own time.
func TestPushToVictoriaMetricsOutage(t *testing.T) {
	t.Parallel()
	const outage = 30 * time.Second
	vm := vmtest.Start(t)
	log := newCapture()
	p := &Pusher{URL: vm.URL(), Buffer: 5 * time.Minute, Logger: slog.New(log)}
	p.maxBackoff = 2 * time.Second // retry soon after VictoriaMetrics is back
	startPusher(t, p)

	// The ticks, on whole seconds, with a value of their own.
	start := time.Now().Truncate(time.Second).Add(time.Second)
	tickAt := func(i int) Tick {
		at := start.Add(time.Duration(i) * time.Second)
		return Tick{Seq: uint64(i + 1), At: at, Peers: []Peer{{
			DeviceID: "d1", PublicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
			UserEmail: "alice@example.com", DeviceName: "outage",
			RxTotal: 1<<32 + int64(i)*1000, TxTotal: int64(i), LatestHandshake: at.Add(-time.Second),
		}}}
	}
	ticks := 0
	addUntil := func(end time.Time) {
		for {
			at := start.Add(time.Duration(ticks) * time.Second)
			if at.After(end) {
				return
			}
			time.Sleep(time.Until(at))
			p.Add(tickAt(ticks))
			ticks++
		}
	}

	addUntil(start.Add(4 * time.Second))
	vm.Stop()
	down := time.Now()
	addUntil(down.Add(outage / 2))
	if h := p.Health(); h.State != "failing" || h.Buffered == 0 {
		t.Errorf("Health during the outage = %+v, want failing with samples buffered", h)
	}
	addUntil(down.Add(outage))
	vm.Restart()
	addUntil(time.Now().Add(3 * time.Second))
	last := start.Add(time.Duration(ticks-1) * time.Second)
	t.Logf("%d ticks, VictoriaMetrics down from %s to %s", ticks, down.Sub(start).Round(time.Second), time.Since(start).Round(time.Second))

	waitFor(t, 15*time.Second, "the backfill", func() bool { h := p.Health(); return h.State == "ok" && h.Buffered == 0 })
	if err := vm.ForceFlush(); err != nil {
		t.Fatal(err)
	}

	// A point for every second, each with its tick's value: a missing sample would show the
	// value of the one before. The last samples take a moment to become visible.
	var points []vmtest.Point
	complete := func() bool {
		if len(points) != ticks {
			return false
		}
		for i, pt := range points {
			if want := tickAt(i); !pt.T.Equal(want.At) || pt.V != float64(want.Peers[0].RxTotal) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(15 * time.Second); !complete() && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		series, err := vm.QueryRange(`wiregui_peer_rx_bytes{device_name="outage"}`, start, last, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(series) > 1 {
			t.Fatalf("query_range returned %d series, want 1: %v", len(series), series)
		}
		if len(series) == 1 {
			points = series[0].Points
		}
	}
	if len(points) != ticks {
		t.Errorf("query_range has %d points, want %d", len(points), ticks)
	}
	for i, pt := range points {
		want := tickAt(i)
		if !pt.T.Equal(want.At) || pt.V != float64(want.Peers[0].RxTotal) {
			t.Errorf("point %d = %.0f at %s, want %d at %s", i, pt.V, pt.T.Format(time.TimeOnly), want.Peers[0].RxTotal, want.At.Format(time.TimeOnly))
		}
	}

	// Stored once each, at the tick's time. A push that VictoriaMetrics stored while it was
	// stopping, but could not answer, is sent again: delivery over HTTP is at least once, and
	// such a repeat is the very same sample (same time, same value), which queries ignore.
	series, err := vm.Export(`wiregui_peer_rx_bytes{device_name="outage"}`, start, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 1 {
		series[0].Points = slices.Compact(series[0].Points)
	}
	if len(series) != 1 || len(series[0].Points) != ticks {
		t.Fatalf("export: %d series, want 1 with %d distinct samples: %v", len(series), ticks, series)
	}
	for i, pt := range series[0].Points {
		if !pt.T.Equal(tickAt(i).At) {
			t.Errorf("sample %d at %s, want %s", i, pt.T, tickAt(i).At)
		}
	}

	failing, recovered := log.find("push to victoriametrics failing; buffering samples"), log.find("push to victoriametrics recovered")
	if len(failing) != 1 || len(recovered) != 1 {
		t.Errorf("logged failing %d times and recovered %d times, want once each", len(failing), len(recovered))
	} else if n := recovered[0].Attrs["backfilled_samples"].Int64(); n < int64(5*(outage/time.Second)) {
		t.Errorf("recovered with backfilled_samples=%d, want at least the %d of the outage", n, 5*(outage/time.Second))
	}
	if t.Failed() {
		t.Log(strings.Join(logLines(log), "\n"))
	}
}

func logLines(h *captureHandler) []string {
	var out []string
	for _, r := range h.records() {
		out = append(out, fmt.Sprintf("%s %s %v", r.Level, r.Msg, r.Attrs))
	}
	return out
}
