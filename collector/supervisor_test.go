package collector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// logRecord is one record a captureHandler received, with attributes flattened to "group.key".
type logRecord struct {
	Time  time.Time
	Level slog.Level
	Msg   string
	Attrs map[string]slog.Value
}

// captureHandler keeps every record it handles.
type captureHandler struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

func newCapture() *captureHandler {
	return &captureHandler{mu: new(sync.Mutex), recs: new([]logRecord)}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{mu: h.mu, recs: h.recs, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { panic("not used") }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Time: r.Time, Level: r.Level, Msg: r.Message, Attrs: map[string]slog.Value{}}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		rec.Attrs[prefix+a.Key] = a.Value
	}
	for _, a := range h.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool { add("", a); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.recs)
}

// find returns the records with message msg.
func (h *captureHandler) find(msg string) []logRecord {
	var out []logRecord
	for _, r := range h.records() {
		if r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startSupervisor runs s.Run in the background. stop cancels it and returns Run's error and
// how long Run took to return after the cancel; the test's cleanup stops it too.
func startSupervisor(t *testing.T, s *Supervisor) (stop func() (error, time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	var err error
	var took time.Duration
	stop = func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err = <-errc:
				took = time.Since(start)
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return 30 s after its context was cancelled")
			}
		})
		return err, took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// processGone reports whether pid has exited: no such process, or a zombie nobody reaped yet
// (an orphan's new parent may not be a reaper inside a container).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}

func childSupervisor(mode string, log *captureHandler) *Supervisor {
	return &Supervisor{
		Env:        []string{childEnv + "=" + mode},
		Logger:     slog.New(log),
		MinBackoff: 10 * time.Millisecond,
	}
}

func TestSupervisorRelaysChildLogs(t *testing.T) {
	log := newCapture()
	s := childSupervisor("sleep", log)
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child's plain line", func() bool { return len(log.find("plain text line")) > 0 })

	tests := []struct {
		msg   string
		level slog.Level
		attrs map[string]string
	}{
		{"child ready", slog.LevelInfo, map[string]string{"n": "42", "g.k": "v"}},
		{"child warning", slog.LevelWarn, map[string]string{"big": strconv.FormatInt(1<<40, 10)}},
		{"child debug", slog.LevelDebug, nil},
		{"plain text line", slog.LevelInfo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			recs := log.find(tt.msg)
			if len(recs) != 1 {
				t.Fatalf("got %d records %q, want 1", len(recs), tt.msg)
			}
			r := recs[0]
			if r.Level != tt.level {
				t.Errorf("got level %v, want %v", r.Level, tt.level)
			}
			if got := r.Attrs["proc"].String(); got != "collector" {
				t.Errorf("got proc=%q, want collector", got)
			}
			for k, want := range tt.attrs {
				if got := r.Attrs[k].String(); got != want {
					t.Errorf("got %s=%q, want %q", k, got, want)
				}
			}
			if d := time.Since(r.Time); d < 0 || d > time.Minute {
				t.Errorf("got time %v, want about now", r.Time)
			}
		})
	}
	if got := log.find("child ready")[0].Attrs["n"].Kind(); got != slog.KindInt64 {
		t.Errorf("got n of kind %v, want Int64", got)
	}
}

func TestSupervisorOnLine(t *testing.T) {
	lines := make(chan string, 10)
	s := childSupervisor("sleep", newCapture())
	s.OnLine = func(line []byte) { lines <- string(line) }
	startSupervisor(t, s)
	select {
	case line := <-lines:
		if want := fmt.Sprintf("tick %d", s.PID()); line != want {
			t.Errorf("got line %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stdout line from the child")
	}
}

// The child has its own process group, so a Ctrl-C on the terminal reaches only the parent.
func TestSupervisorChildHasOwnProcessGroup(t *testing.T) {
	log := newCapture()
	s := childSupervisor("sleep", log)
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	pid := s.PID()
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != pid || pgid == syscall.Getpgrp() {
		t.Errorf("got child %d in process group %d (ours %d), want its own group", pid, pgid, syscall.Getpgrp())
	}
}

func TestSupervisorSignal(t *testing.T) {
	log := newCapture()
	s := childSupervisor("sleep", log)
	if err := s.Signal(syscall.SIGHUP); !errors.Is(err, ErrNoChild) {
		t.Errorf("Signal before Run: got %v, want ErrNoChild", err)
	}
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	waitFor(t, 5*time.Second, "the child to log SIGHUP", func() bool { return len(log.find("child got SIGHUP")) > 0 })
}

func TestSupervisorRestartsKilledChild(t *testing.T) {
	log := newCapture()
	s := childSupervisor("sleep", log)
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	first := s.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a new child", func() bool { pid := s.PID(); return pid != 0 && pid != first })
	if got := s.Restarts(); got != 1 {
		t.Errorf("got Restarts() = %d, want 1", got)
	}
	if !processGone(first) {
		t.Errorf("killed child %d is still there", first)
	}
	waitFor(t, 10*time.Second, "the new child to be ready", func() bool { return len(log.find("child ready")) == 2 })
}

// A child that stops writing (here: kill -STOP) is found hung after Liveness, said so once,
// killed and replaced; the stall ends with the new child's first line.
func TestSupervisorKillsAndRestartsAHungChild(t *testing.T) {
	log := newCapture()
	s := childSupervisor("ticking", log)
	s.Liveness = 2 * time.Second // more than a child takes to start, even under -race
	var stalls []time.Time
	var mu sync.Mutex
	s.OnStall = func(since time.Time) { mu.Lock(); stalls = append(stalls, since); mu.Unlock() }
	var lastTick atomic.Int64
	s.OnLine = func([]byte) { lastTick.Store(time.Now().UnixNano()) }
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to tick", func() bool { return lastTick.Load() != 0 })
	first := s.PID()

	if err := syscall.Kill(first, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, 10*time.Second, "a new child", func() bool { pid := s.PID(); return pid != 0 && pid != first })
	replaced := time.Since(stopped)
	if replaced < s.Liveness || replaced > s.Liveness+3*time.Second {
		t.Errorf("the stopped child was replaced after %s, want Liveness %s plus the 10 ms backoff and a little", replaced, s.Liveness)
	}
	waitFor(t, 5*time.Second, "the hung child to be gone", func() bool { return processGone(first) })
	waitFor(t, 10*time.Second, "ticks to resume", func() bool { return time.Unix(0, lastTick.Load()).After(stopped.Add(s.Liveness)) })
	waitFor(t, 5*time.Second, "the recovery to be logged", func() bool { return len(log.find("collector reporting again")) > 0 })

	mu.Lock()
	defer mu.Unlock()
	if len(stalls) != 1 || stalls[0].After(stopped) || stopped.Sub(stalls[0]) > 200*time.Millisecond {
		t.Errorf("got OnStall calls %v, want one with the time of the last tick, just before %v", stalls, stopped)
	}
	for msg, level := range map[string]slog.Level{
		"collector not reporting; killing and restarting it": slog.LevelError,
		"collector reporting again":                          slog.LevelInfo,
	} {
		if recs := log.find(msg); len(recs) != 1 || recs[0].Level != level {
			t.Errorf("got %d records %q (%v), want one at %v", len(recs), msg, recs, level)
		}
	}
	if got := log.find("collector not reporting; killing and restarting it")[0].Attrs["pid"].Int64(); got != int64(first) {
		t.Errorf("the stall names pid %d, want the hung child %d", got, first)
	}
}

// A child that never writes is killed after Liveness each time it is started; the stall is
// said once, however often it is restarted.
func TestSupervisorStallIsLoggedOnce(t *testing.T) {
	log := newCapture()
	s := childSupervisor("mute", log)
	s.Liveness = 100 * time.Millisecond
	var stalls atomic.Int32
	s.OnStall = func(time.Time) { stalls.Add(1) }
	startSupervisor(t, s)
	waitFor(t, 20*time.Second, "three hung children killed", func() bool { return len(log.find("collector exited")) >= 3 })
	if got := len(log.find("collector not reporting; killing and restarting it")); got != 1 {
		t.Errorf("got %d stall records, want 1", got)
	}
	if got := stalls.Load(); got != 1 {
		t.Errorf("got %d OnStall calls, want 1", got)
	}
}

// A child that writes more often than Liveness is left alone.
func TestSupervisorKeepsAReportingChild(t *testing.T) {
	log := newCapture()
	s := childSupervisor("ticking", log) // a line every 20 ms
	s.Liveness = 2 * time.Second         // more than a child takes to start, even under -race
	s.OnStall = func(time.Time) { t.Error("OnStall called for a child that reports") }
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	first := s.PID()
	time.Sleep(s.Liveness + time.Second)
	if pid := s.PID(); pid != first || len(log.find("collector exited")) > 0 {
		t.Errorf("got child %d after %s (first %d), want the first one still", pid, s.Liveness+time.Second, first)
	}
}

func TestSupervisorCrashLoopBacksOff(t *testing.T) {
	log := newCapture()
	s := childSupervisor("crash", log)
	s.MinBackoff, s.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	startSupervisor(t, s)
	want := []time.Duration{20, 40, 80, 100, 100}
	for i := range want {
		want[i] *= time.Millisecond
	}
	waitFor(t, 10*time.Second, "crashes", func() bool { return len(log.find("collector exited")) >= len(want) })

	exits, starts := log.find("collector exited"), log.find("collector started")
	for i, w := range want {
		if got := exits[i].Attrs["retry_in"].Duration(); got != w {
			t.Errorf("exit %d: got retry_in %v, want %v", i, got, w)
		}
		if i+1 < len(starts) {
			if gap := starts[i+1].Time.Sub(exits[i].Time); gap < w {
				t.Errorf("restart %d came %v after the exit, want at least %v", i+1, gap, w)
			}
		}
	}
	if got := s.Restarts(); got < len(want)-1 {
		t.Errorf("got Restarts() = %d, want at least %d", got, len(want)-1)
	}
}

func TestSupervisorBackoffResetsAfterHealthyRun(t *testing.T) {
	log := newCapture()
	s := childSupervisor("crash-late", log) // runs 150 ms, then exits 1
	s.MinBackoff, s.HealthyAfter = 10*time.Millisecond, 100*time.Millisecond
	startSupervisor(t, s)
	waitFor(t, 10*time.Second, "crashes", func() bool { return len(log.find("collector exited")) >= 3 })
	for i, r := range log.find("collector exited")[:3] {
		if got := r.Attrs["retry_in"].Duration(); got != s.MinBackoff {
			t.Errorf("exit %d after a healthy run: got retry_in %v, want %v", i, got, s.MinBackoff)
		}
	}
}

func TestSupervisorStopsChildOnCancel(t *testing.T) {
	log := newCapture()
	s := childSupervisor("sleep", log)
	s.StopTimeout = 5 * time.Second
	stop := startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	pid := s.PID()

	err, took := stop()
	if err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	if took >= s.StopTimeout {
		t.Errorf("Run returned %v after the cancel, want less than StopTimeout %v", took, s.StopTimeout)
	}
	if len(log.find("child got SIGTERM")) != 1 {
		t.Error("the child did not log that it got SIGTERM")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after Run returned: got %v, want ESRCH", pid, err)
	}
	if got := s.PID(); got != 0 {
		t.Errorf("got PID() = %d after Run returned, want 0", got)
	}
}

func TestSupervisorKillsChildIgnoringTerm(t *testing.T) {
	log := newCapture()
	s := childSupervisor("ignore-term", log)
	s.StopTimeout = 300 * time.Millisecond
	stop := startSupervisor(t, s)
	waitFor(t, 10*time.Second, "the child to be ready", func() bool { return len(log.find("child ready")) > 0 })
	pid := s.PID()

	err, took := stop()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Run: got %v, want an error saying the child was killed", err)
	}
	if took < s.StopTimeout || took > s.StopTimeout+3*time.Second {
		t.Errorf("Run returned %v after the cancel, want StopTimeout %v plus a little", took, s.StopTimeout)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after Run returned: got %v, want ESRCH", pid, err)
	}
}

// TestChildExitsWhenParentDies runs a middle process that supervises a grandchild, kills the
// middle process with SIGKILL, and checks that the grandchild goes too. Each case leaves the
// grandchild one way to notice.
func TestChildExitsWhenParentDies(t *testing.T) {
	tests := []struct {
		name, parent, grandchild string
	}{
		{"stdin EOF", "parent", "ignore-term"},
		{"pdeathsig", "parent", "ignore-stdin"},
		// Threads ending in the parent must not fire Pdeathsig early.
		{"pdeathsig after threads ended", "parent-churn", "ignore-stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("/proc/self/exe")
			cmd.Env = append(os.Environ(), childEnv+"="+tt.parent, grandchildEnv+"="+tt.grandchild)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				if t.Failed() {
					t.Logf("middle process stderr:\n%s", stderr.String())
				}
			})
			lines := make(chan string, 10)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func(what string) string {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("middle process ended before %s", what)
					}
					return line
				case <-time.After(10 * time.Second):
					t.Fatalf("no %s from the middle process", what)
				}
				return ""
			}
			line := next("grandchild tick")
			pid, err := strconv.Atoi(strings.TrimPrefix(line, "tick "))
			if err != nil {
				t.Fatalf("got line %q, want tick PID", line)
			}
			if tt.parent == "parent-churn" {
				if line := next("churned"); line != "churned" {
					t.Fatalf("got line %q, want churned", line)
				}
				// The grandchild must still be the first one, alive, after the threads ended.
				time.Sleep(200 * time.Millisecond) // a Pdeathsig sent by a thread exit is asynchronous
				if processGone(pid) {
					t.Fatalf("grandchild %d died when threads of its parent ended", pid)
				}
			}

			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for !processGone(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("grandchild %d still runs 2 s after its parent was killed", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestWatchParent(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		r, w := io.Pipe()
		ctx := WatchParent(context.Background(), r)
		w.Write([]byte("ignored"))
		select {
		case <-ctx.Done():
			t.Fatal("cancelled before EOF")
		default:
		}
		w.Close()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("not cancelled after EOF")
		}
		if got := context.Cause(ctx); !errors.Is(got, ErrParentGone) {
			t.Errorf("got cause %v, want ErrParentGone", got)
		}
	})
	t.Run("parent context", func(t *testing.T) {
		r, w := io.Pipe()
		defer w.Close()
		parent, cancel := context.WithCancel(context.Background())
		ctx := WatchParent(parent, r)
		cancel()
		<-ctx.Done()
		if got := context.Cause(ctx); !errors.Is(got, context.Canceled) {
			t.Errorf("got cause %v, want context.Canceled", got)
		}
	})
}
