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

// Applier is implemented by a Syncer that can also apply a desired state
// without reading the device first, as Interface.Apply does. The Reconciler
// uses it for the passes that follow a Trigger or a RevisitAt, where only the
// desired state changed.
type Applier interface {
	Apply(ctx context.Context, want Config) (Changes, error)
}

// DefaultReconcileInterval is used when Reconciler.Interval is zero.
const DefaultReconcileInterval = 30 * time.Second

// Reconciler keeps an interface equal to the desired state: once at start,
// after every Trigger, at the RevisitAt of the last desired state, and every
// Interval to repair drift made by others. Triggers that arrive while a pass
// runs are merged into one more pass.
//
// One bad peer never stops a pass: the desired state goes through
// Config.Check, the peers it leaves out are listed in the status, and the
// interface gets everything else, its key, port and addresses included.
//
// The passes at start and every Interval call Sync. When the Interface is
// also an Applier, the passes after a Trigger or at a RevisitAt call Apply,
// which skips reading the device: the desired state changed, and drift made
// by others is left to the next Interval.
type Reconciler struct {
	Interface Syncer // usually an *Interface
	Desired   func(ctx context.Context) (Config, error)
	Interval  time.Duration
	Logger    *slog.Logger
	// Unavailable, if set, reports whether an error of Desired means that the desired state
	// cannot be read for now: the database is down. Such a pass, like any failed one, leaves
	// the interface as last applied. Only the first of them is logged, and the first pass that
	// reads the desired state again; meanwhile the passes on the timer back off (Interval
	// doubling up to maxUnavailableBackoff), while a Trigger still runs a pass at once.
	Unavailable func(error) bool

	once    sync.Once
	trigger chan struct{}
	// warnedRevisit is the last past RevisitAt logged; used by Run only.
	warnedRevisit time.Time
	// While the desired state is unavailable: since when, how many passes on the timer to
	// skip, and how many to skip after the next unavailable pass. Used by Run only.
	unavailableSince    time.Time
	skipTicks, nextSkip int

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
	// Skipped are the desired peers that the pass left out (Config.Check).
	Skipped []SkippedPeer
	// Passes counts completed passes, Repairs those that changed something.
	Passes  int
	Repairs int
	// RevisitAt is when the next pass is due because the desired state
	// changes by itself (Config.RevisitAt); zero when none is.
	RevisitAt time.Time
	// Unavailable is true when the pass failed because the desired state
	// could not be read for now (see Reconciler.Unavailable).
	Unavailable bool
	// Gateway is the firewall's and forwarding's state after the pass, when
	// the Interface is a GatewayReporter.
	Gateway GatewayStatus
}

// minRevisitDelay is how long the Reconciler waits before a pass asked for by
// a RevisitAt that is not after the start of the pass that returned it: the
// desired state would otherwise ask for pass after pass.
const minRevisitDelay = 250 * time.Millisecond

// maxUnavailableBackoff bounds the time between the passes on the timer while the desired
// state is unavailable (or Interval, when that is longer).
const maxUnavailableBackoff = 30 * time.Second

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

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	r.init()
	ticker := time.NewTicker(r.interval())
	defer ticker.Stop()
	revisit := time.NewTimer(time.Hour)
	revisit.Stop()
	defer revisit.Stop()
	var revisitC <-chan time.Time
	var pending time.Time // when revisit fires; zero when it is stopped
	full := true
	for {
		next := r.pass(ctx, full, pending)
		if !next.Equal(pending) {
			// Since Go 1.23 a stopped or reset timer delivers no stale tick.
			revisit.Stop()
			revisitC, pending = nil, next
			if !next.IsZero() {
				revisit.Reset(time.Until(next))
				revisitC = revisit.C
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.trigger:
			full = false
		case <-revisitC:
			full, revisitC, pending = false, nil, time.Time{}
		case <-ticker.C:
			full = true
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (r *Reconciler) interval() time.Duration {
	if r.Interval <= 0 {
		return DefaultReconcileInterval
	}
	return r.Interval
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// pass computes the desired state and applies it: with Sync when full or
// when the Interface is no Applier, with Apply otherwise. It returns when
// the next pass is due because of the desired state's RevisitAt: pending,
// the time already set, when the desired state could not be computed.
func (r *Reconciler) pass(ctx context.Context, full bool, pending time.Time) (next time.Time) {
	if full && r.skipTicks > 0 {
		r.skipTicks-- // backing off while the desired state is unavailable
		return pending
	}
	logger := r.logger()
	start := time.Now()
	next = pending
	var ch Changes
	var skipped []SkippedPeer
	want, err := r.Desired(ctx)
	read := err == nil
	unavailable := !read && r.Unavailable != nil && r.Unavailable(err)
	if err != nil {
		err = fmt.Errorf("compute desired state: %w", err)
	} else {
		want = want.Check()
		skipped = want.Skipped
		next = r.revisitTime(want.RevisitAt, start)
		if a, ok := r.Interface.(Applier); ok && !full {
			ch, err = a.Apply(ctx, want)
		} else {
			ch, err = r.Interface.Sync(ctx, want)
		}
	}
	elapsed := time.Since(start)
	var gateway GatewayStatus
	if g, ok := r.Interface.(GatewayReporter); ok {
		gateway = g.Gateway()
	}

	// Log before publishing, so that whoever Waits for this pass sees it.
	if !ch.Empty() {
		logger.Info("reconcile repaired", slog.Any("changes", ch), slog.Duration("took", elapsed))
	}
	switch {
	case unavailable:
		r.backOff(start, err)
	case err != nil && ctx.Err() == nil:
		logger.Error("reconcile failed", slog.Any("err", err), slog.Duration("took", elapsed))
	}
	if read && !r.unavailableSince.IsZero() {
		logger.Info("reconcile resumed: the desired state can be read again",
			slog.Duration("unavailable_for", start.Sub(r.unavailableSince).Round(time.Millisecond)))
		r.unavailableSince, r.skipTicks, r.nextSkip = time.Time{}, 0, 0
	}

	r.mu.Lock()
	st := &r.status
	st.At, st.Duration, st.Changes, st.Err, st.RevisitAt, st.Unavailable = start, elapsed, ch, "", next, unavailable
	st.Gateway = gateway
	if want.checked { // a pass that could not compute the state knows nothing new
		st.Skipped = skipped
	}
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
	return next
}

// backOff logs the first pass that finds the desired state unavailable, and has the passes on
// the timer skipped: 0, 1, 3, 7… of them, so that the waits double up to
// maxUnavailableBackoff.
func (r *Reconciler) backOff(start time.Time, err error) {
	if r.unavailableSince.IsZero() {
		r.unavailableSince = start
		r.logger().Warn("reconcile paused: the desired state is unavailable; the interface keeps its last state",
			slog.Any("err", err))
	}
	r.skipTicks = r.nextSkip
	r.nextSkip = min(2*r.nextSkip+1, max(int(maxUnavailableBackoff/r.interval())-1, 0))
}

// revisitTime returns when to run the pass that at, a desired state's
// RevisitAt, asks for. A time that is not after start, the start of the
// pass that computed the state, would ask for pass after pass: it is put
// off by minRevisitDelay, with a warning the first time.
func (r *Reconciler) revisitTime(at, start time.Time) time.Time {
	if at.IsZero() || at.After(start) {
		return at
	}
	if !at.Equal(r.warnedRevisit) {
		r.warnedRevisit = at
		r.logger().Warn("desired state asks for a pass at a time already past; delaying it",
			slog.Time("revisit_at", at), slog.Duration("delay", minRevisitDelay))
	}
	return start.Add(minRevisitDelay)
}
