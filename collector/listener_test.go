package collector

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An address that is taken: one log line, the state says why, and the listener comes up by
// itself once the address is free; it stops with its context.
func TestMetricsListenerWaitsForItsAddress(t *testing.T) {
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := squatter.Addr().String()
	var logs lockedBuffer
	m := &MetricsListener{Addr: addr, Retry: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Handler: &MetricsHandler{Devices: metricsDevices}}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { m.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	waitUntil(t, "the state says the address is taken", func() bool { return m.State().Error == "address in use" })
	time.Sleep(200 * time.Millisecond) // ten more tries
	if n := strings.Count(logs.String(), "metrics listener unavailable"); n != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", n, logs.String())
	}
	if st := m.State(); st.Listening || st.Address != addr {
		t.Errorf("state %+v, want not listening on %s", st, addr)
	}

	squatter.Close()
	waitUntil(t, "listening once the address is free", func() bool { return m.State().Listening })
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics: %d, want 200", resp.StatusCode)
	}

	cancel()
	select {
	case <-stopped:
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the listener still accepts connections after its context ended")
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
