// Package vmtest runs a real VictoriaMetrics for tests: the Debian package's binary on a
// loopback port, with its data in the test's temporary directory.
//
// Samples become visible to queries a second or two after they were imported, even after
// ForceFlush, so tests poll. Timestamps older than the retention (100 years here) are
// rejected.
package vmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is where the Debian package victoria-metrics installs the single-node server.
const Binary = "/usr/bin/victoria-metrics"

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// VM is a running VictoriaMetrics. Its methods are safe from any goroutine.
type VM struct {
	t    testing.TB
	dir  string
	addr string // 127.0.0.1:port, kept across restarts
	log  *tail

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start runs VictoriaMetrics until the test ends. When the binary is missing, the test is
// skipped, unless CI=true, where it fails.
func Start(t testing.TB) *VM {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("victoriametrics is required in CI: %v (apt-get install victoria-metrics)", err)
		}
		t.Skipf("victoriametrics is not installed: %v (apt-get install victoria-metrics)", err)
	}
	vm := &VM{t: t, dir: t.TempDir(), log: &tail{max: 64 << 10}}
	var err error
	for range 3 { // another process may take the free port before VictoriaMetrics does
		if vm.addr, err = freeAddr(); err != nil {
			break
		}
		if err = vm.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start victoriametrics: %v", err)
	}
	t.Cleanup(func() {
		vm.Stop()
		if t.Failed() {
			t.Logf("victoriametrics log:\n%s", vm.log.String())
		}
	})
	return vm
}

// URL is VictoriaMetrics' base URL, the same across restarts.
func (vm *VM) URL() string { return "http://" + vm.addr }

// Stop stops VictoriaMetrics with SIGTERM and waits for it to exit (SIGKILL after 10 s).
// Stopping a stopped VM does nothing.
func (vm *VM) Stop() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.cmd == nil {
		return
	}
	vm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vm.exited:
	case <-time.After(stopTimeout):
		vm.cmd.Process.Kill()
		<-vm.exited
	}
	vm.cmd, vm.exited = nil, nil
}

// Restart stops VictoriaMetrics if it runs and starts it again on the same port and data.
func (vm *VM) Restart() {
	vm.t.Helper()
	vm.Stop()
	if err := vm.start(); err != nil {
		vm.t.Fatalf("restart victoriametrics: %v", err)
	}
}

func (vm *VM) start() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	cmd := exec.Command(Binary,
		"-storageDataPath="+vm.dir,
		"-httpListenAddr="+vm.addr,
		"-retentionPeriod=100y",
		"-search.latencyOffset=0s", // recent samples are visible at once
		"-search.disableCache",     // a poll must not see the result of an earlier one
	)
	cmd.Stdout, cmd.Stderr = vm.log, vm.log
	// VictoriaMetrics must not outlive a test binary that is killed. Pdeathsig follows the
	// thread that forks; Go ends a thread only when a goroutine exits locked to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		if err := vm.get(context.Background(), "/health", nil, nil); err == nil {
			vm.cmd, vm.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("victoriametrics exited: %s; log:\n%s", cmd.ProcessState, vm.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("victoriametrics not healthy after %s; log:\n%s", startTimeout, vm.log.String())
		}
	}
}

// ForceFlush asks VictoriaMetrics to make what it received searchable. It still takes a
// second or two.
func (vm *VM) ForceFlush() error {
	return vm.get(context.Background(), "/internal/force_flush", nil, nil)
}

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// Series is a series of a result: its labels, with __name__, and its points, oldest first.
type Series struct {
	Metric map[string]string
	Points []Point
}

// Query evaluates the instant query expr now. Each series has one point.
func (vm *VM) Query(expr string) ([]Series, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		} `json:"result"`
	}
	if err := vm.api("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	out := make([]Series, len(data.Result))
	for i, r := range data.Result {
		p, err := parsePoint(r.Value)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		out[i] = Series{Metric: r.Metric, Points: []Point{p}}
	}
	return out, nil
}

// QueryRange evaluates expr from start to end every step.
func (vm *VM) QueryRange(expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	}
	q := url.Values{
		"query": {expr},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64) + "s"},
	}
	if err := vm.api("/api/v1/query_range", q, &data); err != nil {
		return nil, err
	}
	out := make([]Series, len(data.Result))
	for i, r := range data.Result {
		out[i].Metric = r.Metric
		for _, v := range r.Values {
			p, err := parsePoint(v)
			if err != nil {
				return nil, fmt.Errorf("query_range %s: %w", expr, err)
			}
			out[i].Points = append(out[i].Points, p)
		}
	}
	return out, nil
}

// Labels returns the label sets (with __name__) of the series that match the selector and
// have samples between start and end.
func (vm *VM) Labels(match string, start, end time.Time) ([]map[string]string, error) {
	var data []map[string]string
	q := url.Values{"match[]": {match}, "start": {formatTime(start)}, "end": {formatTime(end)}}
	if err := vm.api("/api/v1/series", q, &data); err != nil {
		return nil, err
	}
	return data, nil
}

// Export returns the raw samples of the series that match the selector, between start and
// end: exactly what was stored, unlike a query, which fills gaps.
func (vm *VM) Export(match string, start, end time.Time) ([]Series, error) {
	q := url.Values{"match[]": {match}, "start": {formatTime(start)}, "end": {formatTime(end)}}
	var out []Series
	err := vm.get(context.Background(), "/api/v1/export", q, func(body io.Reader) error {
		dec := json.NewDecoder(body)
		for {
			var line struct {
				Metric     map[string]string `json:"metric"`
				Values     []float64         `json:"values"`
				Timestamps []int64           `json:"timestamps"`
			}
			if err := dec.Decode(&line); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if len(line.Values) != len(line.Timestamps) {
				return fmt.Errorf("export: %d values, %d timestamps", len(line.Values), len(line.Timestamps))
			}
			s := Series{Metric: line.Metric, Points: make([]Point, len(line.Values))}
			for i := range line.Values {
				s.Points[i] = Point{T: time.UnixMilli(line.Timestamps[i]), V: line.Values[i]}
			}
			out = append(out, s)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", match, err)
	}
	return out, nil
}

// api calls a Prometheus querying API endpoint and decodes its data into v.
func (vm *VM) api(path string, q url.Values, v any) error {
	return vm.get(context.Background(), path, q, func(body io.Reader) error {
		var resp struct {
			Status string          `json:"status"`
			Error  string          `json:"error"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(body).Decode(&resp); err != nil {
			return fmt.Errorf("%s: decode: %w", path, err)
		}
		if resp.Status != "success" {
			return fmt.Errorf("%s: %s: %s", path, resp.Status, resp.Error)
		}
		if err := json.Unmarshal(resp.Data, v); err != nil {
			return fmt.Errorf("%s: decode data: %w", path, err)
		}
		return nil
	})
}

// get requests path with the query q and hands a 200 answer's body to read.
func (vm *VM) get(ctx context.Context, path string, q url.Values, read func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := vm.URL() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, msg)
	}
	if read == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return read(resp.Body)
}

// parsePoint parses a [seconds, "value"] pair of the querying API.
func parsePoint(pair []any) (Point, error) {
	if len(pair) != 2 {
		return Point{}, fmt.Errorf("point %v: want [time, value]", pair)
	}
	sec, ok := pair[0].(float64)
	s, ok2 := pair[1].(string)
	if !ok || !ok2 {
		return Point{}, fmt.Errorf("point %v: want [number, string]", pair)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Point{}, fmt.Errorf("point %v: %w", pair, err)
	}
	return Point{T: time.UnixMilli(int64(math.Round(sec * 1e3))), V: v}, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
