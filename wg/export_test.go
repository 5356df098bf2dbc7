package wg

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// CheckAddr reports whether a may be given to a client: inside the network
// and not the network, server or broadcast address. The tests hold what
// Allocate hands out to it.
func (p Pool) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !p.network.Contains(a):
		return fmt.Errorf("%s is outside the tunnel network %s", a, p.network)
	case a == p.network.Addr():
		return fmt.Errorf("%s is the network address of %s", a, p.network)
	case a == p.ServerAddr():
		return fmt.Errorf("%s is the server's address", a)
	}
	if b, ok := p.broadcast(); ok && a == b {
		return fmt.Errorf("%s is the broadcast address of %s", a, p.network)
	}
	return nil
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
