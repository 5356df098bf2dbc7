package main

// Metrics end to end: the real binary's collector, three independent clients, and a real
// VictoriaMetrics, through a collector crash, an interface deleted by hand and a 30-second
// VictoriaMetrics outage.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/collector/vmtest"
	"wiregui/store"
)

const (
	quotedName  = `a "quoted" \ name ü`
	quotedOwner = "o'brien+vpn@example.com"
	// metricsToken is the bearer token /metrics requires in this test.
	metricsToken = "metrics-token-for-tests"
)

func TestMetricsEndToEnd(t *testing.T) {
	vm := vmtest.Start(t)
	began := time.Now()
	l := startLab(t, "sqlite", [3]string{quotedOwner}, [3]string{quotedName},
		"WG_VICTORIAMETRICS_URL=http://{root}:"+exposeToNamespaces(t, vm.URL()), "WG_METRICS_TOKEN="+metricsToken)
	serverPID := l.s.proc.Cmd.Process.Pid
	db := l.s.db(t)             // the server's database, read as the collector writes it
	keys := map[string]string{} // device name → public key
	for _, d := range l.s.devices(t) {
		keys[d.Name] = d.PublicKey
	}

	// Traffic all along: each client pings the server every 200 ms.
	ctx, stopTraffic := context.WithCancel(context.Background())
	var traffic sync.WaitGroup
	for i := range 3 {
		traffic.Go(func() {
			for ctx.Err() == nil {
				pingOnce(l.ns[i], tunnelServer)
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { stopTraffic(); traffic.Wait() })

	t.Run("the series arrive with their labels within three polls", func(t *testing.T) {
		deadline := time.Now().Add(3*time.Second + 4*time.Second) // three 1 s polls, then VictoriaMetrics' own delay
		var problem string
		for {
			problem = seriesProblem(t, vm, keys)
			if problem == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s\nserver log:\n%s", problem, tail(l.s.proc.Output(), 40))
			}
			time.Sleep(250 * time.Millisecond)
		}
	})

	t.Run("the device page's history is read from VictoriaMetrics by the server", func(t *testing.T) {
		owner := apptest.New(t, l.s.url)
		owner.SignIn(l.users[0], "password-1")
		m := regexp.MustCompile(`href="/devices/([0-9a-f-]{36})"`).FindStringSubmatch(owner.Get("/devices").Body)
		if m == nil {
			t.Fatal("no device on the owner's My Devices")
		}
		page := owner.Get("/devices/" + m[1])
		if !strings.Contains(page.Body, `data-history-url="/devices/`+m[1]+`/history"`) || !strings.Contains(page.Body, `data-chart-range="7d"`) {
			t.Errorf("the device page offers no history")
		}
		var history struct {
			At   []int64   `json:"at"`
			Rx   []float64 `json:"rx"`
			Step int       `json:"step"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := owner.Get("/devices/" + m[1] + "/history?range=1h")
			if r.Status != http.StatusOK {
				t.Fatalf("history: %d %s", r.Status, r.Body)
			}
			if err := json.Unmarshal([]byte(r.Body), &history); err != nil {
				t.Fatalf("history: %v: %s", err, r.Body)
			}
			if slices.ContainsFunc(history.Rx, func(v float64) bool { return v > 0 }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no received bytes in the 1h history after 20 s: %s", r.Body)
			}
			time.Sleep(time.Second)
		}
		if history.Step != 15 || len(history.At) != len(history.Rx) {
			t.Errorf("history: step %d, %d times for %d values", history.Step, len(history.At), len(history.Rx))
		}
		if r := owner.Get("/devices/" + m[1] + "/history?range=2h"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "range: ") {
			t.Errorf("an unknown range: %d %s, want 400 naming the range", r.Status, r.Body)
		}
		other := apptest.New(t, l.s.url)
		other.SignIn(l.users[1], "password-2")
		if r := other.Get("/devices/" + m[1] + "/history?range=1h"); r.Status != http.StatusNotFound {
			t.Errorf("another user's device history: %d, want 404", r.Status)
		}
	})

	t.Run("GET /metrics serves the same series behind its token", func(t *testing.T) {
		if code, _ := getMetrics(t, l.s.url, ""); code != http.StatusUnauthorized {
			t.Errorf("without the token: %d, want 401", code)
		}
		if code, _ := getMetrics(t, l.s.url, "wrong-token-wrong-token"); code != http.StatusUnauthorized {
			t.Errorf("with a wrong token: %d, want 401", code)
		}
		code, body := getMetrics(t, l.s.url, metricsToken)
		if code != http.StatusOK {
			t.Fatalf("with the token: %d\n%s", code, body)
		}
		escaped := `device_name="a \"quoted\" \\ name ü"`
		for _, want := range []string{"wiregui_peer_rx_bytes{", escaped, `user_email="o'brien+vpn@example.com"`,
			"wiregui_peers_total 3", "wiregui_collector_tick_duration_seconds", "wiregui_collector_push_up 1"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("the metrics listener serves them on the server's own loopback, behind the token", func(t *testing.T) {
		inside := l.s.ns.HTTPClient() // a scraper on the server's host
		if code, _ := getMetricsVia(t, inside, "http://127.0.0.1:13001", ""); code != http.StatusUnauthorized {
			t.Errorf("without the token: %d, want 401", code)
		}
		code, body := getMetricsVia(t, inside, "http://127.0.0.1:13001", metricsToken)
		if code != http.StatusOK || !strings.Contains(body, "wiregui_peers_total 3") {
			t.Errorf("with the token: %d, want 200 with the series:\n%s", code, body)
		}
		u, _ := url.Parse(l.s.url)
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(u.Hostname(), "13001"), 2*time.Second); err == nil {
			c.Close()
			t.Error("the metrics listener is reachable from outside the server's host; by default it listens on loopback")
		}
	})

	t.Run("the collector survives kill -9 without counting a byte twice", func(t *testing.T) {
		first := collectorPID(t, serverPID)
		if first == 0 {
			t.Fatal("no collector process")
		}
		syscall.Kill(first, syscall.SIGKILL)
		waitFor(t, 10*time.Second, "collector restarted", func() bool {
			pid := collectorPID(t, serverPID)
			return pid != 0 && pid != first
		})
		time.Sleep(3 * time.Second) // a few polls of the new process
		// The interface was never re-created, so every total equals WireGuard's own counter:
		// a byte counted twice would show as a larger total.
		for _, d := range trackedDevices(t, db) {
			if d.RxTotal != d.RxBytes || d.TxTotal != d.TxBytes || d.RxBytes == 0 {
				t.Errorf("%s: totals %d/%d, counters %d/%d: want equal and > 0", d.Name, d.RxTotal, d.TxTotal, d.RxBytes, d.TxBytes)
			}
		}
	})

	t.Run("totals keep growing when the interface is re-created", func(t *testing.T) {
		before := totalsByName(t, db)
		l.s.ns.Run(t, "ip", "link", "del", l.s.iface)
		// Recreated within the 2 s reconcile interval; the pings bring the tunnels back.
		waitFor(t, 20*time.Second, "traffic counted again after the interface came back", func() bool {
			for _, d := range trackedDevices(t, db) {
				if d.RxTotal <= before[d.Name] || d.RxBytes >= d.RxTotal {
					return false // not yet past the old total, or the counter has not restarted
				}
			}
			return true
		})
	})

	t.Run("a 30 s VictoriaMetrics outage leaves no gap", func(t *testing.T) {
		vm.Stop()
		down := time.Now()
		time.Sleep(30 * time.Second)
		var health struct {
			Collector struct {
				Push struct {
					State    string `json:"state"`
					Buffered int    `json:"buffered_samples"`
				} `json:"victoriametrics"`
			} `json:"collector"`
		}
		getJSON(t, l.s.url+"/healthz", &health)
		if p := health.Collector.Push; p.State != "failing" || p.Buffered == 0 {
			t.Errorf("/healthz during the outage: push %+v, want failing with buffered samples", p)
		}
		vm.Restart()
		up := time.Now()
		selector := fmt.Sprintf(`wiregui_peer_rx_bytes{public_key=%q}`, keys["client 2"])
		// Raw samples, not a query (which fills gaps): one per poll through the outage, and
		// never going down. VictoriaMetrics shows rows it received a second or two later, not
		// all at once, so this is polled.
		var problems []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			vm.ForceFlush()
			problems = sampleProblems(vm, selector, down, up)
			if len(problems) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		for _, p := range problems {
			t.Error(p)
		}
		// And as the issue asks: query_range with a step of the poll interval has every point.
		start, end := down.Truncate(time.Second), up.Truncate(time.Second)
		series, err := vm.QueryRange(selector, start, end, time.Second)
		if err != nil || len(series) != 1 {
			t.Fatalf("query_range: %v, %d series", err, len(series))
		}
		if want := int(end.Sub(start)/time.Second) + 1; len(series[0].Points) != want {
			t.Errorf("query_range over the outage: %d points, want %d", len(series[0].Points), want)
		}
	})

	t.Run("the series never went down and never had a negative rate", func(t *testing.T) {
		series, err := vm.Export(`{__name__=~"wiregui_peer_(rx|tx)_bytes"}`, began, time.Now())
		if err != nil || len(series) != 6 {
			t.Fatalf("export: %v, %d series, want 6", err, len(series))
		}
		for _, s := range series {
			for i := 1; i < len(s.Points); i++ {
				if s.Points[i].V < s.Points[i-1].V {
					t.Errorf("%s of %s went down at %s", s.Metric["__name__"], s.Metric["device_name"], s.Points[i].T.Format(time.TimeOnly))
				}
			}
		}
	})

	t.Run("SIGTERM stops the collector within 2 s", func(t *testing.T) {
		pid := collectorPID(t, serverPID)
		if pid == 0 {
			t.Fatal("no collector process")
		}
		start := time.Now()
		syscall.Kill(pid, syscall.SIGTERM)
		waitFor(t, 2*time.Second, "the collector exited", func() bool { return !alive(pid) })
		t.Logf("figure: collector SIGTERM to exit: %s", time.Since(start).Round(time.Millisecond))
	})
}

// sampleProblems says what is wrong with the raw samples of selector from down until after
// up: a gap longer than one 1 s poll (with slack), a value that went down, or none after up.
func sampleProblems(vm *vmtest.VM, selector string, down, up time.Time) []string {
	series, err := vm.Export(selector, down, up.Add(3*time.Second))
	if err != nil || len(series) != 1 {
		return []string{fmt.Sprintf("export %s: %v, %d series", selector, err, len(series))}
	}
	points := series[0].Points
	if len(points) == 0 || !points[len(points)-1].T.After(up) {
		return []string{"no sample after VictoriaMetrics came back"}
	}
	var problems []string
	prev := vmtest.Point{T: down, V: points[0].V}
	for _, p := range points {
		if gap := p.T.Sub(prev.T); gap > 1900*time.Millisecond {
			problems = append(problems, fmt.Sprintf("a %s gap in the stored samples after %s", gap, prev.T.Format(time.TimeOnly)))
		}
		if p.V < prev.V {
			problems = append(problems, fmt.Sprintf("the rx total went down at %s: %v → %v", p.T.Format(time.TimeOnly), prev.V, p.V))
		}
		prev = p
	}
	return problems
}

// seriesProblem says what is not yet right about the series in VictoriaMetrics, or "".
func seriesProblem(t *testing.T, vm *vmtest.VM, keys map[string]string) string {
	t.Helper()
	vm.ForceFlush()
	now := time.Now()
	for _, name := range []string{"wiregui_peer_rx_bytes", "wiregui_peer_tx_bytes", "wiregui_peer_connected", "wiregui_peer_latest_handshake_seconds"} {
		series, err := vm.Query(name)
		if err != nil {
			return err.Error()
		}
		if len(series) != 3 {
			return fmt.Sprintf("%s: %d series, want 3", name, len(series))
		}
		for _, s := range series {
			m, v := s.Metric, s.Points[0].V
			if keys[m["device_name"]] != m["public_key"] || m["user_email"] == "" {
				return fmt.Sprintf("%s: labels %v do not match a device %v", name, m, keys)
			}
			if m["device_name"] == quotedName && m["user_email"] != quotedOwner {
				return fmt.Sprintf("%s: owner label %q, want %q", name, m["user_email"], quotedOwner)
			}
			switch name {
			case "wiregui_peer_rx_bytes", "wiregui_peer_tx_bytes":
				if v <= 0 {
					return fmt.Sprintf("%s of %s is %v", name, m["device_name"], v)
				}
			case "wiregui_peer_connected":
				if v != 1 {
					return fmt.Sprintf("%s of %s is %v", name, m["device_name"], v)
				}
			case "wiregui_peer_latest_handshake_seconds":
				if age := now.Sub(time.Unix(int64(v), 0)); age >= 300*time.Second || age < -time.Second {
					return fmt.Sprintf("handshake of %s is %s old", m["device_name"], age)
				}
			}
		}
	}
	if _, ok := keys[quotedName]; !ok {
		return fmt.Sprintf("no device named %q: %v", quotedName, keys)
	}
	total, err := vm.Query("wiregui_peers_total")
	if err != nil || len(total) != 1 || total[0].Points[0].V != 3 {
		return fmt.Sprintf("wiregui_peers_total: %v %v, want 3", total, err)
	}
	return ""
}

// exposeToNamespaces makes the service at target (on the root namespace's loopback)
// reachable from the test's namespaces, across their links to the root namespace, and
// returns the port to use there.
func exposeToNamespaces(t testing.TB, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func getMetrics(t *testing.T, base, token string) (int, string) {
	t.Helper()
	return getMetricsVia(t, http.DefaultClient, base, token)
}

func getMetricsVia(t *testing.T, client *http.Client, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func trackedDevices(t *testing.T, db *store.Store) []store.TrackedDevice {
	t.Helper()
	list, err := db.TrackedDevices(context.Background())
	if err != nil || len(list) != 3 {
		t.Fatalf("tracked devices: %v, %d", err, len(list))
	}
	return list
}

func totalsByName(t *testing.T, db *store.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, d := range trackedDevices(t, db) {
		out[d.Name] = d.RxTotal
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
