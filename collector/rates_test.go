package collector

import (
	"context"
	"testing"
	"time"
)

// clock is a settable time for a Poller.
type clock struct{ t time.Time }

func newClock() *clock                   { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// peerOf returns device A's peer in tick.
func peerOf(t *testing.T, tick *Tick) Peer {
	t.Helper()
	for _, p := range tick.Peers {
		if p.PublicKey == keyA.String() {
			return p
		}
	}
	t.Fatalf("tick %d has no peer A", tick.Seq)
	return Peer{}
}

func mustPoll(t *testing.T, p *Poller) *Tick {
	t.Helper()
	tick, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return tick
}

func TestRatesUseTheMeasuredTime(t *testing.T) {
	c := newClock()
	p, r, _ := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1000, TxBytes: 100})
	p.Now = c.now
	first := peerOf(t, mustPoll(t, p))
	if first.RxRate != 0 || first.TxRate != 0 || !first.Changed {
		t.Errorf("first poll: rates %v/%v changed %v; want no rate (nothing to measure from) and changed", first.RxRate, first.TxRate, first.Changed)
	}
	// The timer fired late: 7.5 s, not 5 s.
	c.advance(7500 * time.Millisecond)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 1000 + 15000, TxBytes: 100 + 750})
	got := peerOf(t, mustPoll(t, p))
	if got.RxRate != 2000 || got.TxRate != 100 {
		t.Errorf("rates %v/%v B/s, want 2000/100 (bytes over the measured 7.5 s)", got.RxRate, got.TxRate)
	}
	if got.RxTotal != 16000 || got.TxTotal != 850 || !got.Changed {
		t.Errorf("totals %d/%d changed %v, want 16000/850 and changed", got.RxTotal, got.TxTotal, got.Changed)
	}
	c.advance(5 * time.Second)
	idle := peerOf(t, mustPoll(t, p))
	if idle.RxRate != 0 || idle.TxRate != 0 || idle.Changed || idle.RxTotal != 16000 {
		t.Errorf("idle step: %+v, want rate 0, unchanged, same totals", idle)
	}
}

// The interface was re-created: WireGuard's counters start at 0 again.
func TestCounterResetKeepsTotalsGrowingAndRateZero(t *testing.T) {
	c := newClock()
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 5000, TxBytes: 7000})
	p.Now = c.now
	mustPoll(t, p)
	c.advance(5 * time.Second)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 300, TxBytes: 7100}) // rx reset, tx grew
	got := peerOf(t, mustPoll(t, p))
	if got.RxRate != 0 {
		t.Errorf("rx rate %v after a reset, want 0 (never negative, never a jump)", got.RxRate)
	}
	if got.TxRate != 20 {
		t.Errorf("tx rate %v, want 20", got.TxRate)
	}
	if got.RxTotal != 5300 || got.TxTotal != 7100 {
		t.Errorf("totals %d/%d, want 5300/7100: the new counter adds to the total", got.RxTotal, got.TxTotal)
	}
	if st := s.get(keyA); st.RxBytes != 300 || st.RxTotal != 5300 {
		t.Errorf("stored raw %d total %d, want 300 and 5300", st.RxBytes, st.RxTotal)
	}
	c.advance(5 * time.Second)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 800, TxBytes: 7100})
	if got := peerOf(t, mustPoll(t, p)); got.RxRate != 100 || got.RxTotal != 5800 {
		t.Errorf("after the reset: rate %v total %d, want 100 and 5800", got.RxRate, got.RxTotal)
	}
}

// A new collector process (restart after kill -9) starts from what the store holds: traffic
// while it was down is added once, and no rate is made up for its first poll.
func TestRestartNeitherDoublesNorInventsRates(t *testing.T) {
	c := newClock()
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1 << 20})
	p.Now = c.now
	mustPoll(t, p)
	c.advance(5 * time.Second)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 2 << 20})
	mustPoll(t, p)

	c.advance(40 * time.Second) // killed; restarted after backoff
	r.set(PeerStats{PublicKey: keyA, RxBytes: 3 << 20})
	again := &Poller{Reader: r, Store: s, Now: c.now}
	got := peerOf(t, mustPoll(t, again))
	if got.RxTotal != 3<<20 {
		t.Errorf("total after restart %d, want %d (no byte counted twice)", got.RxTotal, 3<<20)
	}
	if got.RxRate != 0 {
		t.Errorf("rate on the first poll after a restart %v, want 0", got.RxRate)
	}
	c.advance(5 * time.Second)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 3<<20 + 5000})
	if got := peerOf(t, mustPoll(t, again)); got.RxRate != 1000 || got.RxTotal != 3<<20+5000 {
		t.Errorf("second poll after restart: rate %v total %d, want 1000 and %d", got.RxRate, got.RxTotal, 3<<20+5000)
	}
}

// Counters past 2^31 and 2^32 (where 32-bit code wraps or goes negative) stay exact.
func TestCountersBeyond32Bits(t *testing.T) {
	c := newClock()
	start := int64(1)<<32 - 1000
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1<<31 - 10, TxBytes: start})
	p.Now = c.now
	mustPoll(t, p)
	c.advance(time.Second)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 1<<31 + 10, TxBytes: start + 5000})
	got := peerOf(t, mustPoll(t, p))
	if got.RxRate != 20 || got.TxRate != 5000 {
		t.Errorf("rates across 2^31/2^32: %v/%v, want 20/5000", got.RxRate, got.TxRate)
	}
	if got.TxTotal != start+5000 || s.get(keyA).TxTotal != start+5000 {
		t.Errorf("tx total %d (stored %d), want %d", got.TxTotal, s.get(keyA).TxTotal, start+5000)
	}
}

func TestTickCarriesLabelsSeqAndHealth(t *testing.T) {
	c := newClock()
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1, LastHandshake: handshake})
	p.Now = c.now
	var ticks []*Tick
	var healths []Health
	p.OnPoll = func(tick *Tick, h Health) { ticks, healths = append(ticks, tick), append(healths, h) }
	p.Interval = time.Millisecond

	tick := mustPoll(t, p)
	got := peerOf(t, tick)
	if tick.Seq != 1 || !tick.At.Equal(c.t) || got.DeviceID != "id-"+keyA.String() || got.DeviceName != "name-"+keyA.String() ||
		got.UserEmail != "u@example.com" || !got.LatestHandshake.Equal(handshake) {
		t.Errorf("tick %+v peer %+v", tick, got)
	}
	if h := p.Health(); !h.LastTick.Equal(c.t) || h.Errors != 0 || h.LastError != "" {
		t.Errorf("health after a good poll: %+v", h)
	}
	r.err = context.DeadlineExceeded
	if _, err := p.Poll(context.Background()); err == nil {
		t.Fatal("want an error")
	}
	if h := p.Health(); h.Errors != 1 || h.LastError == "" || !h.LastTick.Equal(c.t) {
		t.Errorf("health after a failed poll: %+v, want 1 error, its message, the last good tick kept", h)
	}
	r.err = nil
	if tick := mustPoll(t, p); tick.Seq != 2 {
		t.Errorf("seq after a failed poll %d, want 2 (failed polls make no tick)", tick.Seq)
	}
	if s.writeCount() != 1 {
		t.Errorf("%d writes, want 1", s.writeCount())
	}

	// Run reports every poll, good or failed, to OnPoll.
	r.err = context.Canceled
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.OnPoll = func(tick *Tick, h Health) {
		if tick == nil && h.Errors >= 2 {
			cancel()
			close(done)
		}
	}
	go p.Run(ctx)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not report the failed poll")
	}
}
