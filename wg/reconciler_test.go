package wg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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

func TestReconcilerWaitHonoursContext(t *testing.T) {
	r := &Reconciler{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(ctx, time.Time{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait without Run = %v, want deadline exceeded", err)
	}
}
