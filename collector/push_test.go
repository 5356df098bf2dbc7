package collector

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// vmStub is a fake VictoriaMetrics import endpoint. It keeps the bodies it accepted.
type vmStub struct {
	*httptest.Server
	status   atomic.Int32 // answer; 0 means 204
	hang     atomic.Bool  // hold requests until the client gives up
	flaky    atomic.Bool  // answer 503 to every other request
	requests atomic.Int32

	mu       sync.Mutex
	accepted []string
	maxBody  int
}

func newVMStub(t *testing.T) *vmStub {
	s := &vmStub{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *vmStub) serve(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != ImportPath {
		http.Error(w, "wrong endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if s.hang.Load() {
		<-r.Context().Done()
		return
	}
	if status := int(s.status.Load()); status != 0 {
		http.Error(w, "cannot store samples", status)
		return
	}
	if s.flaky.Load() && n%2 == 0 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, string(body))
	s.maxBody = max(s.maxBody, len(body))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// lines returns the accepted sample lines, in the order they arrived.
func (s *vmStub) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.accepted {
		out = append(out, strings.Split(strings.TrimSuffix(b, "\n"), "\n")...)
	}
	return out
}

func (s *vmStub) samples() int { return len(s.lines()) }

// startPusher runs p.Run until the test ends; stop cancels it and returns how long Run took
// to return.
func startPusher(t *testing.T, p *Pusher) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case <-done:
				took = time.Since(start)
			case <-time.After(5 * time.Second):
				t.Error("Run did not return 5 s after its context ended")
				took = 5 * time.Second
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// fastRetries makes p retry after 10 ms, doubling to 50 ms.
func fastRetries(p *Pusher) *Pusher {
	p.minBackoff, p.maxBackoff = 10*time.Millisecond, 50*time.Millisecond
	return p
}

// importLines is what a tick should become in push bodies, one string per sample.
func importLines(t Tick) []string {
	var e Encoder
	return strings.Split(strings.TrimSuffix(string(e.AppendTick(nil, t, FormatImport)), "\n"), "\n")
}

// ticksEvery returns n ticks of peers peers each, every step from start, with growing counters.
func ticksEvery(n, peers int, start time.Time, step time.Duration) []Tick {
	ticks := make([]Tick, n)
	for i := range ticks {
		ticks[i] = syntheticTick(peers, start.Add(time.Duration(i)*step))
		ticks[i].Seq = uint64(i + 1)
		for j := range ticks[i].Peers {
			ticks[i].Peers[j].RxTotal += int64(i) * 1000
		}
	}
	return ticks
}

// checkBuffered fails when PushHealth.Buffered is not what the queue holds.
func checkBuffered(t *testing.T, p *Pusher) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i, q := range p.queue {
		from := 0
		if i == 0 {
			from = p.headSent
		}
		n += q.samples(from)
	}
	if n != p.health.Buffered {
		t.Errorf("Buffered = %d, but the queue holds %d samples", p.health.Buffered, n)
	}
}

func TestPusherSendsTicksWithTheirTimestamps(t *testing.T) {
	stub := newVMStub(t)
	p := &Pusher{URL: stub.URL + "/", Buffer: time.Minute}
	startPusher(t, p)

	ticks := ticksEvery(3, 2, time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC), 5*time.Second)
	var want []string
	for _, tick := range ticks {
		p.Add(tick)
		want = append(want, importLines(tick)...)
	}
	waitFor(t, 5*time.Second, "all samples", func() bool { return stub.samples() >= len(want) })
	if got := stub.lines(); !slices.Equal(got, want) {
		t.Errorf("VictoriaMetrics got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range stub.lines() {
		if !strings.HasSuffix(line, " 1714564800123") && !strings.HasSuffix(line, " 1714564805123") && !strings.HasSuffix(line, " 1714564810123") {
			t.Errorf("line %q does not end in its tick's millisecond timestamp", line)
		}
	}
	h := p.Health()
	if h.State != "ok" || h.Buffered != 0 || h.Dropped != 0 || h.LastSuccess.IsZero() || h.LastError != "" {
		t.Errorf("Health = %+v, want ok with nothing buffered and a last success", h)
	}
}

func TestPusherBuffersWhileFailing(t *testing.T) {
	stub := newVMStub(t)
	stub.status.Store(http.StatusInternalServerError)
	log := newCapture()
	p := fastRetries(&Pusher{URL: stub.URL, Buffer: time.Hour, Logger: slog.New(log)})
	startPusher(t, p)

	ticks := ticksEvery(5, 2, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), time.Second)
	var want []string
	for _, tick := range ticks {
		p.Add(tick)
		want = append(want, importLines(tick)...)
	}
	waitFor(t, 5*time.Second, "several failed sends", func() bool { return stub.requests.Load() >= 4 })
	h := p.Health()
	if h.State != "failing" || h.Buffered != len(want) || !strings.Contains(h.LastError, "500") {
		t.Errorf("Health while failing = %+v, want failing, %d buffered, a 500 error", h, len(want))
	}
	if len(stub.lines()) != 0 {
		t.Fatalf("samples accepted while failing")
	}

	stub.status.Store(0)
	waitFor(t, 5*time.Second, "the backfill", func() bool { return p.Health().Buffered == 0 })
	// Everything, in order, with the original timestamps.
	if got := stub.lines(); !slices.Equal(got, want) {
		t.Errorf("after recovery VictoriaMetrics got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h := p.Health(); h.State != "ok" || h.LastError != "" || h.Dropped != 0 {
		t.Errorf("Health after recovery = %+v, want ok, no error, nothing dropped", h)
	}

	// One log record per state change, not per failure.
	failing, recovered := log.find("push to victoriametrics failing; buffering samples"), log.find("push to victoriametrics recovered")
	if len(failing) != 1 || !strings.Contains(failing[0].Attrs["err"].String(), "500") {
		t.Errorf("failing logged %d times (%v), want once with the error", len(failing), failing)
	}
	waitFor(t, time.Second, "the recovery log", func() bool { return len(log.find("push to victoriametrics recovered")) == 1 })
	recovered = log.find("push to victoriametrics recovered")
	if got := recovered[0].Attrs["backfilled_samples"].Int64(); got != int64(len(want)) {
		t.Errorf("recovered with backfilled_samples=%d, want %d", got, len(want))
	}
}

func TestPusherBuffersWhileUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connections are refused

	p := fastRetries(&Pusher{URL: "http://" + addr, Buffer: time.Hour})
	startPusher(t, p)
	ticks := ticksEvery(3, 1, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), time.Second)
	var want []string
	for _, tick := range ticks {
		p.Add(tick)
		want = append(want, importLines(tick)...)
	}
	waitFor(t, 5*time.Second, "failing", func() bool { return p.Health().State == "failing" })
	if h := p.Health(); h.Buffered != len(want) || !strings.Contains(h.LastError, "connection refused") {
		t.Errorf("Health = %+v, want %d buffered and connection refused", h, len(want))
	}

	// VictoriaMetrics comes up on the same address.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	stub := &vmStub{}
	stub.Server = httptest.NewUnstartedServer(http.HandlerFunc(stub.serve))
	stub.Listener.Close()
	stub.Listener = l
	stub.Start()
	t.Cleanup(stub.Close)
	waitFor(t, 5*time.Second, "the backfill", func() bool { return p.Health().Buffered == 0 })
	if got := stub.lines(); !slices.Equal(got, want) {
		t.Errorf("after recovery VictoriaMetrics got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPusherBufferDropsOldestFirst(t *testing.T) {
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ticks := ticksEvery(21, 1, start, time.Second) // 20 s of ticks, 5 samples each
	tests := []struct {
		buffer time.Duration
		kept   int // newest ticks that stay queued
	}{
		{0, 1},
		{-time.Second, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 2},
		{10 * time.Second, 11},
		{20 * time.Second, 21},
		{time.Hour, 21},
	}
	for _, tt := range tests {
		t.Run(tt.buffer.String(), func(t *testing.T) {
			// No Run yet: VictoriaMetrics is out of reach all along.
			stub := newVMStub(t)
			p := &Pusher{URL: stub.URL, Buffer: tt.buffer}
			for _, tick := range ticks {
				p.Add(tick)
				checkBuffered(t, p)
			}
			h := p.Health()
			if want := 5 * tt.kept; h.Buffered != want {
				t.Errorf("Buffered = %d, want %d", h.Buffered, want)
			}
			if want := int64(5 * (len(ticks) - tt.kept)); h.Dropped != want {
				t.Errorf("Dropped = %d, want %d", h.Dropped, want)
			}

			startPusher(t, p)
			waitFor(t, 5*time.Second, "the backfill", func() bool { return p.Health().Buffered == 0 })
			var want []string
			for _, tick := range ticks[len(ticks)-tt.kept:] {
				want = append(want, importLines(tick)...)
			}
			if got := stub.lines(); !slices.Equal(got, want) {
				t.Errorf("VictoriaMetrics got\n%s\nwant the newest %d ticks\n%s", strings.Join(got, "\n"), tt.kept, strings.Join(want, "\n"))
			}
		})
	}
}

// A tick larger than a body goes out in parts; a part that fails is sent again, and nothing
// is sent twice.
func TestPusherSplitsLargeTicks(t *testing.T) {
	for _, flaky := range []bool{false, true} {
		t.Run("flaky="+strconv.FormatBool(flaky), func(t *testing.T) {
			stub := newVMStub(t)
			stub.flaky.Store(flaky)
			p := fastRetries(&Pusher{URL: stub.URL, Buffer: time.Hour})
			p.maxBody = 2000
			start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			ticks := []Tick{
				syntheticTick(3, start),
				syntheticTick(50, start.Add(time.Second)), // about 35 kB
				{At: start.Add(2 * time.Second)},          // no peers: only wiregui_peers_total
				syntheticTick(1, start.Add(3*time.Second)),
				syntheticTick(20, start.Add(4*time.Second)),
			}
			var want []string
			for _, tick := range ticks {
				p.Add(tick)
				want = append(want, importLines(tick)...)
			}
			startPusher(t, p)
			waitFor(t, 10*time.Second, "all samples", func() bool { return p.Health().Buffered == 0 })

			got := stub.lines()
			if len(got) != len(want) {
				t.Errorf("got %d samples, want %d", len(got), len(want))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("samples differ from the ticks':\ngot\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			stub.mu.Lock()
			defer stub.mu.Unlock()
			if stub.maxBody > p.maxBody {
				t.Errorf("largest body %d bytes, want at most %d", stub.maxBody, p.maxBody)
			}
			if len(stub.accepted) < 10 {
				t.Errorf("%d bodies, want the 50-peer tick split", len(stub.accepted))
			}
		})
	}
}

// A partly sent tick that is dropped counts only its unsent samples.
func TestPusherDropsPartlySentTick(t *testing.T) {
	p := &Pusher{URL: "http://127.0.0.1:1", Buffer: 5 * time.Second}
	p.maxBody = 2000
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	p.Add(syntheticTick(50, start))
	body, last, lastPeers, samples := p.nextBody()
	if lastPeers == 0 || lastPeers >= 50 || samples != 4*lastPeers+1 || len(body) > 2000 {
		t.Fatalf("nextBody: last peer %d, %d samples, %d bytes; want part of the tick, with its peers_total", lastPeers, samples, len(body))
	}
	p.mu.Lock()
	p.done(last, lastPeers)
	p.mu.Unlock()
	checkBuffered(t, p)
	if got, want := p.Health().Buffered, 4*50+1-samples; got != want {
		t.Errorf("Buffered after sending a part = %d, want %d", got, want)
	}

	p.Add(syntheticTick(2, start.Add(6*time.Second)))
	checkBuffered(t, p)
	h := p.Health()
	if want := int64(4 * (50 - lastPeers)); h.Dropped != want {
		t.Errorf("Dropped = %d, want the %d unsent samples", h.Dropped, want)
	}
	if h.Buffered != 4*2+1 {
		t.Errorf("Buffered = %d, want the new tick's 9", h.Buffered)
	}
	// The body was sent after the drop: the queue is left as it is.
	p.mu.Lock()
	p.done(last, lastPeers)
	p.mu.Unlock()
	checkBuffered(t, p)
	if got := p.Health().Buffered; got != 9 {
		t.Errorf("Buffered = %d after a late done, want 9", got)
	}
}

func TestPusherAddNeverBlocks(t *testing.T) {
	stub := newVMStub(t)
	stub.hang.Store(true)
	p := &Pusher{URL: stub.URL, Buffer: time.Hour}
	stop := startPusher(t, p)
	tick := syntheticTick(1000, time.Now())
	p.Add(tick)
	waitFor(t, 5*time.Second, "a send in flight", func() bool { return stub.requests.Load() == 1 })

	var slowest time.Duration
	added := make(chan struct{})
	go func() {
		defer close(added)
		for range 200 {
			start := time.Now()
			p.Add(tick)
			p.Health()
			slowest = max(slowest, time.Since(start))
		}
	}()
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("Add blocked while a send hangs")
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest Add took %s while a send hangs, want well under 100 ms", slowest)
	}
	if h := p.Health(); h.Buffered != 201*(4*1000+1) {
		t.Errorf("Buffered = %d, want %d", h.Buffered, 201*(4*1000+1))
	}
	// Run's last attempt to send is cut short.
	if took := stop(); took > 1500*time.Millisecond {
		t.Errorf("Run took %s to return after its context ended, want about 1 s", took)
	}
}

func TestPusherStopsWithinASecond(t *testing.T) {
	tests := []struct {
		name     string
		hang     bool
		status   int
		maxTaken time.Duration
	}{
		{"server hangs", true, 0, 1500 * time.Millisecond},
		{"server fails", false, http.StatusServiceUnavailable, 500 * time.Millisecond},
		{"idle", false, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newVMStub(t)
			stub.hang.Store(tt.hang)
			stub.status.Store(int32(tt.status))
			p := &Pusher{URL: stub.URL, Buffer: time.Hour}
			stop := startPusher(t, p)
			if tt.name != "idle" {
				p.Add(syntheticTick(10, time.Now()))
				waitFor(t, 5*time.Second, "a send", func() bool { return stub.requests.Load() > 0 })
			}
			if took := stop(); took > tt.maxTaken {
				t.Errorf("Run took %s to return, want at most %s", took, tt.maxTaken)
			}
		})
	}
}

// When Run ends while it waits to retry, it sends what is queued once more.
func TestPusherFlushesOnStop(t *testing.T) {
	stub := newVMStub(t)
	stub.status.Store(http.StatusServiceUnavailable)
	p := &Pusher{URL: stub.URL, Buffer: time.Hour}
	p.minBackoff = time.Hour
	stop := startPusher(t, p)
	ticks := ticksEvery(3, 2, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), time.Second)
	p.Add(ticks[0])
	waitFor(t, 5*time.Second, "failing", func() bool { return p.Health().State == "failing" })
	stub.status.Store(0)
	p.Add(ticks[1])
	p.Add(ticks[2])
	time.Sleep(50 * time.Millisecond)
	if n := stub.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: an Add during the backoff must not send", n)
	}
	if took := stop(); took > 500*time.Millisecond {
		t.Errorf("Run took %s to return", took)
	}
	var want []string
	for _, tick := range ticks {
		want = append(want, importLines(tick)...)
	}
	if got := stub.lines(); !slices.Equal(got, want) {
		t.Errorf("flushed on stop\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPusherRetriesWithoutAdd(t *testing.T) {
	stub := newVMStub(t)
	stub.status.Store(http.StatusInternalServerError)
	p := fastRetries(&Pusher{URL: stub.URL, Buffer: time.Hour})
	startPusher(t, p)
	p.Add(syntheticTick(1, time.Now()))
	waitFor(t, 5*time.Second, "retries", func() bool { return stub.requests.Load() >= 4 })
	stub.status.Store(0)
	waitFor(t, 5*time.Second, "the send", func() bool { return p.Health().Buffered == 0 })
}

// TestQueuedTickBytes measures what a queued tick of 10,000 peers costs, and holds it to the
// Pusher's doc comment: 32 bytes per peer. Once the devices' labels are made, all that Add
// allocates stays queued.
func TestQueuedTickBytes(t *testing.T) {
	const peers, ticks = 10000, 20
	tick := syntheticTick(peers, time.Now())
	p := &Pusher{URL: "http://127.0.0.1:1", Buffer: time.Hour}
	p.Add(tick) // the label sets, made once
	before := totalAlloc()
	for i := range ticks {
		tick.At = tick.At.Add(5 * time.Second)
		tick.Peers[0].RxTotal = int64(i)
		p.Add(tick)
	}
	perTick := (totalAlloc() - before) / ticks
	t.Logf("a queued tick of %d peers takes %d bytes, %.1f per peer", peers, perTick, float64(perTick)/peers)
	if perTick > 33*peers {
		t.Errorf("a queued tick takes %d bytes, want at most %d", perTick, 33*peers)
	}
	if got := p.Health().Buffered; got != (ticks+1)*(4*peers+1) {
		t.Errorf("Buffered = %d, want %d", got, (ticks+1)*(4*peers+1))
	}
}

// TestPusherMemoryAt10kPeers measures what a Pusher keeps at 10,000 peers while
// VictoriaMetrics is up: the label sets and the request body, no queue.
func TestPusherMemoryAt10kPeers(t *testing.T) {
	stub := newVMStub(t)
	tick := syntheticTick(10000, time.Now())
	p := &Pusher{URL: stub.URL, Buffer: time.Hour}
	stop := startPusher(t, p)
	for range 5 {
		tick.At = tick.At.Add(5 * time.Second)
		p.Add(tick)
		waitFor(t, 10*time.Second, "the send", func() bool { return p.Health().Buffered == 0 })
		stub.mu.Lock()
		stub.accepted = nil // keep the stub's memory out of the count
		stub.mu.Unlock()
	}
	with := heapAlloc()
	stop()
	p = nil // Run has returned: nothing else refers to the Pusher
	kept := with - heapAlloc()
	runtime.KeepAlive(tick)
	t.Logf("a Pusher at 10,000 peers keeps %.1f MB between ticks", float64(kept)/1e6)
	if kept > 6<<20 {
		t.Errorf("a Pusher at 10,000 peers keeps %d bytes, want at most 6 MiB", kept)
	}
}

// BenchmarkPusherAdd10k queues ticks of 10,000 peers, as during an outage: B/op is what a
// queued tick takes.
func BenchmarkPusherAdd10k(b *testing.B) {
	tick := syntheticTick(10000, time.Now())
	p := &Pusher{URL: "http://127.0.0.1:1", Buffer: time.Hour}
	p.Add(tick)
	b.ReportAllocs()
	for b.Loop() {
		tick.At = tick.At.Add(time.Millisecond)
		p.Add(tick)
	}
}

// BenchmarkPushBody10k encodes a queued tick of 10,000 peers into request bodies.
func BenchmarkPushBody10k(b *testing.B) {
	tick := syntheticTick(10000, time.Now())
	p := &Pusher{URL: "http://127.0.0.1:1", Buffer: time.Hour}
	p.Add(tick)
	b.ReportAllocs()
	for b.Loop() {
		p.mu.Lock()
		p.headSent = 0
		p.mu.Unlock()
		for {
			_, last, lastPeers, _ := p.nextBody()
			if lastPeers == len(tick.Peers) {
				break
			}
			p.mu.Lock()
			p.done(last, lastPeers)
			p.mu.Unlock()
		}
	}
}

// totalAlloc is how many bytes the process allocated so far.
func totalAlloc() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.TotalAlloc)
}

// heapAlloc is how many bytes the heap holds after a collection.
func heapAlloc() int {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
