package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/auth"
	"wiregui/store"
)

// BenchmarkPasswordSignIn signs in with a password, one sign-in after the other, each by a
// fresh client (its own cookies and connection) that has fetched the sign-in form first: the
// whole POST /login with the form's CSRF token, to its redirect to /devices (attempt limits,
// the hash check, the sign-in recorded, the new session). It reports the process's CPU time
// per sign-in (server and client, which share this process) and, apart, the CPU time of the
// argon2id check alone; ns/op is the wall time of one sign-in. Issue 17 asks for ≤ 60 ms CPU.
// The CPU time of a hash swings with the machine's load (its 19 MiB do not fit in a cache that
// other processes share): run it a few times, -benchtime 40x -count 3.
func BenchmarkPasswordSignIn(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(200)) // as wiregui serve runs (serveGCPercent)
	e := newEnv(b)
	u := e.user(b, "alice@example.com", password, store.RoleUnprivileged)
	form := url.Values{"email": {"alice@example.com"}, "password": {password}}
	clients := make([]*apptest.Client, b.N)
	for i := range clients {
		clients[i] = clientFrom(b, e.url, "127.0.0.1")
		if r := clients[i].Get("/login"); r.Status != http.StatusOK {
			b.Fatalf("GET /login: %d", r.Status)
		}
	}
	// Each sign-in is followed by a check of the hash alone, outside the timer, so that both
	// are measured under the same load of the shared machine.
	var signInCPU, hashCPU time.Duration
	b.ResetTimer()
	for _, c := range clients {
		startCPU := cpuTime()
		if r := c.Answer(http.MethodPost, "/login", form); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/devices" {
			b.Fatalf("POST /login: %d to %q, want 303 to /devices", r.Status, r.Header.Get("Location"))
		}
		signInCPU += cpuTime() - startCPU
		b.StopTimer()
		startCPU = cpuTime()
		if ok, err := auth.CheckPassword(u.PasswordHash, password); !ok || err != nil {
			b.Fatalf("CheckPassword: %v, %v", ok, err)
		}
		hashCPU += cpuTime() - startCPU
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(ms(signInCPU)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(ms(hashCPU)/float64(b.N), "argon2-cpu-ms/op")
	reportLoad(b)
}

// BenchmarkParallelSignInsWithAllDevices has 50 people sign in with a password at once, each
// from an address of their own (so that no address limit holds them back), while an admin in
// 4 clients loads the All Devices page (50 rows of 10,000 devices) again and again. Each op is
// one round of 50 sign-ins; run a few (-benchtime 3x). It reports:
//   - the sign-ins' latency (p50, p95, max: from sending the POST to the answer), how many were
//     told the server was busy (ErrBusy, 503) and how many were then refused for those (429:
//     a busy answer counts as an attempt);
//   - the All Devices latency while the sign-ins ran and, for comparison, alone before them
//     (each from sending the request);
//   - the memory at its peak during the rounds, sampled every 2 ms: the live heap (and, for
//     comparison, during All Devices alone), the heap's objects with the garbage not yet
//     collected, and the process's maximum RSS;
//   - cores-used, the CPU time the process had during the rounds over their wall time: on a
//     shared machine, how much of it the benchmark got.
//
// Issue 17 asks that the 50 complete without exhausting memory while All Devices stays
// ≤ 50 ms p95.
func BenchmarkParallelSignInsWithAllDevices(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(200)) // as wiregui serve runs (serveGCPercent)
	// The env's record of access changes is not for 50 sign-ins at once.
	e := newEnv(b, func(o *app.Options) { o.AccessChanged = func(string) {} })
	e.seedDevices(b, 10_000, 100)
	e.user(b, "root@example.com", password, store.RoleAdmin)
	const signers, loaders = 50, 4
	hash, err := auth.HashPassword(password)
	if err != nil {
		b.Fatal(err)
	}
	for i := range signers { // one hash for all: what it costs to check is the same
		if err := e.store.CreateUser(context.Background(), &store.User{Email: signerEmail(i), PasswordHash: hash,
			Role: store.RoleUnprivileged}); err != nil {
			b.Fatal(err)
		}
	}
	const path = "/admin/devices"
	l := startLoad(b, e, "root@example.com", path, loaders)
	defer l.stop()

	b.Run("50 at once", func(b *testing.B) {
		begin, peakAlone := time.Now(), watchMemory()
		time.Sleep(2 * time.Second)
		alone := l.window(begin, time.Now())
		liveAlone, _ := peakAlone()
		var signIns, during []time.Duration
		busy, limited := 0, 0
		peak := watchMemory()
		var cpu, wall time.Duration
		b.ResetTimer()
		for round := range b.N {
			b.StopTimer()
			cs := make([]*apptest.Client, signers)
			for i := range cs {
				cs[i] = clientFrom(b, e.url, fmt.Sprintf("127.0.0.%d", i+2))
				if r := cs[i].Get("/login"); r.Status != http.StatusOK {
					b.Fatalf("GET /login from 127.0.0.%d: %d", i+2, r.Status)
				}
			}
			b.StartTimer()
			start, startCPU := time.Now(), cpuTime()
			took := make([]time.Duration, signers)
			statuses := make([]int, signers)
			var wg sync.WaitGroup
			for i, c := range cs {
				wg.Go(func() {
					form := url.Values{"email": {signerEmail(i)}, "password": {password}}
					sent := time.Now()
					r := c.Answer(http.MethodPost, "/login", form)
					took[i], statuses[i] = time.Since(sent), r.Status
				})
			}
			wg.Wait()
			cpu, wall = cpu+cpuTime()-startCPU, wall+time.Since(start)
			during = append(during, l.window(start, time.Now())...)
			for i, s := range statuses {
				switch s {
				case http.StatusSeeOther:
				case http.StatusServiceUnavailable:
					busy++
				case http.StatusTooManyRequests: // locked out by its busy answers before
					limited++
				default:
					b.Errorf("round %d, %s: status %d, want 303, 503 or 429", round, signerEmail(i), s)
				}
			}
			signIns = append(signIns, took...)
		}
		b.StopTimer()
		live, heap := peak()
		b.ReportMetric(percentile(signIns, 0.50), "signin-p50-ms")
		b.ReportMetric(percentile(signIns, 0.95), "signin-p95-ms")
		b.ReportMetric(percentile(signIns, 1), "signin-max-ms")
		b.ReportMetric(float64(busy)/float64(b.N), "busy/round")
		b.ReportMetric(float64(limited)/float64(b.N), "429/round")
		b.ReportMetric(percentile(during, 0.50), "devices-p50-ms")
		b.ReportMetric(percentile(during, 0.95), "devices-p95-ms")
		b.ReportMetric(float64(len(during)), "devices-reqs")
		b.ReportMetric(percentile(alone, 0.50), "alone-p50-ms")
		b.ReportMetric(percentile(alone, 0.95), "alone-p95-ms")
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores-used")
		b.ReportMetric(float64(liveAlone)/(1<<20), "alone-live-MiB")
		b.ReportMetric(float64(live)/(1<<20), "peak-live-MiB")
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(maxRSS())/(1<<20), "maxrss-MiB")
		reportLoad(b)
	})
}

func signerEmail(i int) string { return fmt.Sprintf("signer%02d@example.com", i) }

// clientFrom returns a client of the server at base whose connections come from the local
// address ip: on Linux any of 127.0.0.0/8 reaches a server on 127.0.0.1, so that each client
// has an address of its own as the attempt limits count them.
func clientFrom(tb testing.TB, base, ip string) *apptest.Client {
	c := apptest.New(tb, base)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	t := &http.Transport{DialContext: dialer.DialContext}
	tb.Cleanup(t.CloseIdleConnections)
	c.HTTP.Transport = t
	return c
}

// load is clients asking for one page again and again, each as soon as it has its answer,
// signed in, until stop. Each request's latency is kept with the time it was sent.
type load struct {
	mu      sync.Mutex
	samples []sample
	last    []time.Time // when each client sent the request it was answered last
	done    chan struct{}
	wg      sync.WaitGroup
}

type sample struct {
	sent time.Time
	took time.Duration
}

// startLoad starts n clients signed in as email loading path on e's server.
func startLoad(tb testing.TB, e *env, email, path string, n int) *load {
	l := &load{done: make(chan struct{}), last: make([]time.Time, n)}
	for i := range n {
		c := apptest.New(tb, e.url)
		c.SignIn(email, password)
		l.wg.Go(func() {
			defer func() { // a client that stopped holds no window up
				l.mu.Lock()
				l.last[i] = time.Now().Add(time.Hour)
				l.mu.Unlock()
			}()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				// The plain client, as servePage does.
				sent := time.Now()
				resp, err := c.HTTP.Get(e.url + path)
				if err != nil {
					tb.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took := time.Since(sent)
				if err != nil || resp.StatusCode != http.StatusOK {
					tb.Errorf("GET %s: %d, %v", path, resp.StatusCode, err)
					return
				}
				l.mu.Lock()
				l.samples = append(l.samples, sample{sent, took})
				l.last[i] = sent
				l.mu.Unlock()
			}
		})
	}
	return l
}

// window waits until every request sent before to has its answer, and returns the latencies
// of those sent from from on. It forgets the samples of before to.
func (l *load) window(from, to time.Time) []time.Duration {
	for {
		l.mu.Lock()
		if !slices.ContainsFunc(l.last, func(t time.Time) bool { return t.Before(to) }) {
			break
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	defer l.mu.Unlock()
	var out []time.Duration
	keep := l.samples[:0]
	for _, s := range l.samples {
		switch {
		case !s.sent.Before(to):
			keep = append(keep, s)
		case !s.sent.Before(from):
			out = append(out, s.took)
		}
	}
	l.samples = keep
	return out
}

func (l *load) stop() {
	close(l.done)
	l.wg.Wait()
}

// watchMemory samples the runtime's memory every 2 ms until the function it returns is
// called, which returns the peaks: of the live heap (as the last garbage collection found
// it: what is in use, hashes running included) and of the heap's objects (live or garbage
// not yet collected, up to the GC's target: 3 times the live heap at serve's GOGC).
func watchMemory() (peaks func() (live, heap uint64)) {
	done := make(chan struct{})
	var live, heap uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			live, heap = max(live, s[0].Value.Uint64()), max(heap, s[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return live, heap
	}
}

// maxRSS is the largest resident set this process has had, in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024 // KiB on Linux
}

// reportLoad reports the machine's load average over the last minute (/proc/loadavg), which
// every figure of a benchmark on a shared machine needs beside it.
func reportLoad(b *testing.B) {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	if load1, err := strconv.ParseFloat(strings.Fields(string(raw))[0], 64); err == nil {
		b.ReportMetric(load1, "load1")
	}
}

// percentile returns the p-th percentile (0 to 1) of latencies in milliseconds; it sorts them.
func percentile(latencies []time.Duration, p float64) float64 {
	if len(latencies) == 0 {
		return 0
	}
	slices.Sort(latencies)
	return ms(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
