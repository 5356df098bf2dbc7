package wg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSyncer records calls; a test may hold a pass open with gate.
type fakeSyncer struct {
	calls   atomic.Int32
	gate    chan struct{} // when non-nil, Sync waits for a value
	entered chan struct{}
	mu      sync.Mutex
	changes Changes
	err     error
}

func (f *fakeSyncer) set(ch Changes, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes, f.err = ch, err
}

func (f *fakeSyncer) Sync(ctx context.Context, want Config) (Changes, error) {
	f.calls.Add(1)
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes, f.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startReconciler(t *testing.T, r *Reconciler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReconcilerPassesAndStatus(t *testing.T) {
	var logs syncBuffer
	f := &fakeSyncer{}
	f.set(Changes{PeersAdded: 2, KeySet: true}, nil)
	r := &Reconciler{
		Interface: f,
		Desired:   func(context.Context) (Config, error) { return Config{}, nil },
		Interval:  time.Hour,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	}
	r.Trigger() // before Run: must not block, and is merged into the start
	startReconciler(t, r)
	ctx := waitCtx(t)

	st, err := r.Wait(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Err != "" || st.Changes != (Changes{PeersAdded: 2, KeySet: true}) || st.Repairs < 1 {
		t.Errorf("status after first pass = %+v", st)
	}
	if !strings.Contains(logs.String(), `msg="reconcile repaired" changes.peers_added=2 changes.key_set=true`) {
		t.Errorf("log lacks the repair line with counts:\n%s", logs.String())
	}

	f.set(Changes{}, nil)
	t0 := time.Now()
	r.Trigger()
	st, err = r.Wait(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Changes.Empty() || st.At.Before(t0) {
		t.Errorf("status after quiet pass = %+v", st)
	}
	repairs := st.Repairs
	t0 = time.Now()
	r.Trigger()
	if st, _ = r.Wait(ctx, t0); st.Repairs != repairs {
		t.Errorf("Repairs went from %d to %d on an empty pass", repairs, st.Repairs)
	}
}

func TestReconcilerCoalescesTriggers(t *testing.T) {
	f := &fakeSyncer{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	r := &Reconciler{
		Interface: f,
		Desired:   func(context.Context) (Config, error) { return Config{}, nil },
		Interval:  time.Hour,
	}
	startReconciler(t, r)
	ctx := waitCtx(t)
	step := func(what string, ch any) {
		t.Helper()
		var ok bool
		switch c := ch.(type) {
		case chan struct{}: // send on gate
			select {
			case c <- struct{}{}:
				ok = true
			case <-ctx.Done():
			}
		case <-chan struct{}: // receive on entered
			select {
			case <-c:
				ok = true
			case <-ctx.Done():
			}
		}
		if !ok {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	entered := (<-chan struct{})(f.entered)

	step("the start pass", entered)
	for range 50 {
		r.Trigger()
	}
	step("the end of the start pass", f.gate)
	step("one more pass for the 50 triggers", entered)
	step("the end of that pass", f.gate)
	select {
	case <-f.entered:
		t.Errorf("a third pass ran after 50 triggers during one pass")
		f.gate <- struct{}{}
	case <-time.After(100 * time.Millisecond):
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("Sync ran %d times, want 2", n)
	}
}

func TestReconcilerInterval(t *testing.T) {
	f := &fakeSyncer{}
	r := &Reconciler{
		Interface: f,
		Desired:   func(context.Context) (Config, error) { return Config{}, nil },
		Interval:  10 * time.Millisecond,
	}
	startReconciler(t, r)
	ctx := waitCtx(t)
	for {
		st, err := r.Wait(ctx, time.Time{})
		if err != nil {
			t.Fatalf("only %d passes: %v", st.Passes, err)
		}
		if st.Passes >= 3 {
			break
		}
		r.Wait(ctx, time.Now())
	}
}

func TestReconcilerErrors(t *testing.T) {
	var logs syncBuffer
	desiredErr := errors.New("database is locked")
	fail := atomic.Bool{}
	fail.Store(true)
	f := &fakeSyncer{}
	r := &Reconciler{
		Interface: f,
		Desired: func(context.Context) (Config, error) {
			if fail.Load() {
				return Config{}, desiredErr
			}
			return Config{}, nil
		},
		Interval: time.Hour,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	}
	startReconciler(t, r)
	ctx := waitCtx(t)
	st, err := r.Wait(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Err != "compute desired state: database is locked" {
		t.Errorf("Err = %q", st.Err)
	}
	if f.calls.Load() != 0 {
		t.Error("Sync ran although the desired state failed")
	}
	if !strings.Contains(logs.String(), "reconcile failed") {
		t.Errorf("error not logged:\n%s", logs.String())
	}

	fail.Store(false)
	syncErr := errors.New("sync wg0: configure device: boom")
	f.set(Changes{}, syncErr)
	t0 := time.Now()
	r.Trigger()
	if st, _ = r.Wait(ctx, t0); st.Err != syncErr.Error() {
		t.Errorf("Err = %q, want %q", st.Err, syncErr)
	}
}

// While the desired state is unavailable (the database is down) the interface is left alone,
// the passes on the timer back off, and the outage is logged once when it starts and once
// when it ends.
func TestReconcilerUnavailableLogsOnceAndBacksOff(t *testing.T) {
	var logs syncBuffer
	errDown := errors.New("database unavailable")
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var reads []time.Time
	f := &fakeSyncer{}
	r := &Reconciler{
		Interface: f,
		Desired: func(context.Context) (Config, error) {
			mu.Lock()
			reads = append(reads, time.Now())
			mu.Unlock()
			if down.Load() {
				return Config{}, fmt.Errorf("access mark: %w", errDown)
			}
			return Config{}, nil
		},
		Unavailable: func(err error) bool { return errors.Is(err, errDown) },
		Interval:    20 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	}
	startReconciler(t, r)
	ctx := waitCtx(t)
	time.Sleep(600 * time.Millisecond) // 30 intervals
	st, err := r.Wait(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Unavailable {
		t.Errorf("status %+v, want Unavailable", st)
	}
	mu.Lock()
	at := slices.Clone(reads)
	mu.Unlock()
	// Passes on ticks 0, 1, 3, 7, 15: five in 30 intervals, where 31 passes would run without
	// the backoff.
	if len(at) < 4 || len(at) > 6 {
		t.Errorf("got %d reads of the desired state in 30 intervals, want 5", len(at))
	}
	for i := 1; i < min(len(at), 5); i++ {
		want := r.Interval<<(i-1) - r.Interval // a tick may come late, the next on time
		if got := at[i].Sub(at[i-1]); got < want {
			t.Errorf("wait before read %d: got %s, want about %s", i+1, got, r.Interval<<(i-1))
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the interface was synced %d times without a desired state", n)
	}

	down.Store(false)
	t0 := time.Now()
	r.Trigger() // a change made once the database is back runs at once
	if st, err = r.Wait(ctx, t0); err != nil || st.Err != "" || st.Unavailable {
		t.Fatalf("after the outage: %+v, %v", st, err)
	}
	for range 3 { // and the timer passes run on every tick again
		if _, err := r.Wait(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	for _, msg := range []string{`msg="reconcile paused`, `msg="reconcile resumed`} {
		if n := strings.Count(out, msg); n != 1 {
			t.Errorf("got %d lines with %s, want 1:\n%s", n, msg, out)
		}
	}
	if strings.Contains(out, "reconcile failed") {
		t.Errorf("an unavailable desired state is logged as a failure:\n%s", out)
	}
}

func TestReconcilerWaitHonoursContext(t *testing.T) {
	r := &Reconciler{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(ctx, time.Time{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait without Run = %v, want deadline exceeded", err)
	}
}

// fakeApplier is a fakeSyncer that also has Apply, and records which of
// the two each pass called.
type fakeApplier struct {
	fakeSyncer
	mu    sync.Mutex
	calls []string
}

func (f *fakeApplier) record(kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, kind)
}

func (f *fakeApplier) Sync(ctx context.Context, want Config) (Changes, error) {
	f.record("sync")
	return f.fakeSyncer.Sync(ctx, want)
}

func (f *fakeApplier) Apply(ctx context.Context, want Config) (Changes, error) {
	f.record("apply")
	return f.fakeSyncer.Sync(ctx, want)
}

func (f *fakeApplier) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// TestReconcilerRevisit: a pass runs at the RevisitAt of the desired state,
// not before, without a Trigger and long before the Interval; a later
// desired state moves or cancels it.
func TestReconcilerRevisit(t *testing.T) {
	var mu sync.Mutex
	var revisits []time.Time // RevisitAt of successive desired states; zero after
	var passTimes []time.Time
	f := &fakeApplier{}
	r := &Reconciler{
		Interface: f,
		Desired: func(context.Context) (Config, error) {
			mu.Lock()
			defer mu.Unlock()
			passTimes = append(passTimes, time.Now())
			var at time.Time
			if len(revisits) > 0 {
				at, revisits = revisits[0], revisits[1:]
			}
			return Config{RevisitAt: at}, nil
		},
		Interval: time.Hour,
	}
	const step = 300 * time.Millisecond
	t0 := time.Now()
	first := t0.Add(step)
	mu.Lock()
	revisits = []time.Time{
		t0.Add(time.Hour), // start pass: far away ...
		first,             // ... moved earlier by the triggered pass
		{},                // the revisit pass: nothing more
	}
	mu.Unlock()
	startReconciler(t, r)
	ctx := waitCtx(t)
	st, err := r.Wait(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.RevisitAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Status().RevisitAt = %v, want the desired state's", st.RevisitAt)
	}
	r.Trigger()
	st, err = r.Wait(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !st.RevisitAt.Equal(first) {
		t.Errorf("Status().RevisitAt = %v, want %v", st.RevisitAt, first)
	}
	st, err = r.Wait(ctx, first)
	if err != nil {
		t.Fatalf("no pass at RevisitAt: %v", err)
	}
	mu.Lock()
	at := passTimes[len(passTimes)-1]
	mu.Unlock()
	if at.Before(first) || at.After(first.Add(200*time.Millisecond)) {
		t.Errorf("revisit pass ran at %v, want at %v", at.Sub(t0), first.Sub(t0))
	}
	if !st.RevisitAt.IsZero() {
		t.Errorf("Status().RevisitAt = %v after a desired state without one", st.RevisitAt)
	}
	time.Sleep(step)
	if st := r.Status(); st.Passes != 3 {
		t.Errorf("%d passes, want 3: start, trigger, revisit", st.Passes)
	}
	if got := strings.Join(f.log(), ","); got != "sync,apply,apply" {
		t.Errorf("passes called %s, want sync,apply,apply: only the start and interval passes read the device", got)
	}
}

// TestReconcilerRevisitInThePast: a desired state whose RevisitAt is
// already past (say, a session that the store still counts as live at its
// expiry) gets a pass after minRevisitDelay, not pass after pass.
func TestReconcilerRevisitInThePast(t *testing.T) {
	var logs syncBuffer
	past := time.Now().Add(-time.Minute)
	f := &fakeSyncer{}
	r := &Reconciler{
		Interface: f,
		Desired:   func(context.Context) (Config, error) { return Config{RevisitAt: past}, nil },
		Interval:  time.Hour,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	}
	startReconciler(t, r)
	time.Sleep(3*minRevisitDelay + minRevisitDelay/2)
	n := f.calls.Load()
	if n < 3 || n > 4 {
		t.Errorf("%d passes in 3.5 × minRevisitDelay, want the start and one per delay (3 or 4 with late timers)", n)
	}
	if c := strings.Count(logs.String(), "already past"); c != 1 {
		t.Errorf("warned %d times, want once:\n%s", c, logs.String())
	}
}

// TestReconcilerIntervalReadsDevice: the periodic pass is a full Sync even
// after triggers, and a failed desired state keeps the pending revisit.
func TestReconcilerIntervalReadsDevice(t *testing.T) {
	var fail atomic.Bool
	revisit := time.Now().Add(400 * time.Millisecond)
	f := &fakeApplier{}
	r := &Reconciler{
		Interface: f,
		Desired: func(context.Context) (Config, error) {
			if fail.Load() {
				return Config{}, errors.New("database is locked")
			}
			return Config{RevisitAt: revisit}, nil
		},
		Interval: 250 * time.Millisecond,
	}
	startReconciler(t, r)
	ctx := waitCtx(t)
	if _, err := r.Wait(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	r.Trigger()
	st, err := r.Wait(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Err == "" || !st.RevisitAt.Equal(revisit) {
		t.Errorf("after a failed pass: %+v, want the error and the pending RevisitAt kept", st)
	}
	fail.Store(false)
	if _, err := r.Wait(ctx, revisit); err != nil {
		t.Fatal(err)
	}
	// The start pass (sync), the tick at 250 ms (sync) and the revisit at
	// 400 ms (apply); the failed pass called neither.
	log := f.log()
	if len(log) < 3 || log[0] != "sync" || !slices.Contains(log[1:], "sync") || !slices.Contains(log[1:], "apply") {
		t.Errorf("calls = %v, want the interval to Sync and the revisit to Apply", log)
	}
}
