package wg

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Syncer is what the Reconciler needs from an Interface.
type Syncer interface {
	Sync(ctx context.Context, want Config) (Changes, error)
}

// DefaultReconcileInterval is used when Reconciler.Interval is zero.
const DefaultReconcileInterval = 30 * time.Second

// Reconciler keeps an interface equal to the desired state: once at start,
// after every Trigger, and every Interval to repair drift made by others.
// Triggers that arrive while a pass runs are merged into one more pass.
type Reconciler struct {
	Interface Syncer // usually an *Interface
	Desired   func(ctx context.Context) (Config, error)
	Interval  time.Duration
	Logger    *slog.Logger

	once    sync.Once
	trigger chan struct{}

	mu     sync.Mutex
	status ReconcileStatus
	passed chan struct{} // closed and replaced after every pass
}

// ReconcileStatus describes the last completed pass.
type ReconcileStatus struct {
	// At is when the pass started; zero before the first pass.
	At       time.Time
	Duration time.Duration
	// Err is the pass's error, empty on success.
	Err     string
	Changes Changes
	// Passes counts completed passes, Repairs those that changed something.
	Passes  int
	Repairs int
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		r.trigger = make(chan struct{}, 1)
		r.passed = make(chan struct{})
	})
}

// Trigger asks for a pass soon. It never blocks.
func (r *Reconciler) Trigger() {
	r.init()
	select {
	case r.trigger <- struct{}{}:
	default: // a pass is already pending
	}
}

// Status returns the result of the last completed pass.
func (r *Reconciler) Status() ReconcileStatus {
	r.init()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Wait blocks until a pass that started at or after after has completed, and
// returns its status. Tests call it as: t0 := time.Now(); change; Trigger();
// Wait(ctx, t0).
func (r *Reconciler) Wait(ctx context.Context, after time.Time) (ReconcileStatus, error) {
	r.init()
	for {
		r.mu.Lock()
		st, passed := r.status, r.passed
		r.mu.Unlock()
		if st.Passes > 0 && !st.At.Before(after) {
			return st, nil
		}
		select {
		case <-passed:
		case <-ctx.Done():
			return st, fmt.Errorf("wait for reconcile pass: %w", ctx.Err())
		}
	}
}

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	r.init()
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		r.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.trigger:
		case <-ticker.C:
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (r *Reconciler) pass(ctx context.Context) {
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	var ch Changes
	want, err := r.Desired(ctx)
	if err != nil {
		err = fmt.Errorf("compute desired state: %w", err)
	} else {
		ch, err = r.Interface.Sync(ctx, want)
	}
	elapsed := time.Since(start)

	// Log before publishing, so that whoever Waits for this pass sees it.
	if !ch.Empty() {
		logger.Info("reconcile repaired", slog.Any("changes", ch), slog.Duration("took", elapsed))
	}
	if err != nil && ctx.Err() == nil {
		logger.Error("reconcile failed", slog.Any("err", err), slog.Duration("took", elapsed))
	}

	r.mu.Lock()
	st := &r.status
	st.At, st.Duration, st.Changes, st.Err = start, elapsed, ch, ""
	if err != nil {
		st.Err = err.Error()
	}
	st.Passes++
	if !ch.Empty() {
		st.Repairs++
	}
	close(r.passed)
	r.passed = make(chan struct{})
	r.mu.Unlock()

}
