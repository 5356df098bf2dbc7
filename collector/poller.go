package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/store"
	"wiregui/wg"
)

// Defaults of a Poller's zero fields.
const (
	DefaultInterval     = 5 * time.Second
	DefaultRefreshEvery = time.Minute
)

// maxUnavailableBackoff bounds the time between polls while the database is unavailable (or
// Interval, when that is longer): the collector notices within it that the database is back.
const maxUnavailableBackoff = 30 * time.Second

// PeerStats is what the WireGuard interface reports about one peer.
type PeerStats = wg.PeerStats

// PeerReader reads the statistics of every peer of the WireGuard interface in one call.
type PeerReader interface {
	Peers(ctx context.Context) ([]PeerStats, error)
}

// StatsStore is what the poller needs from the store.
type StatsStore interface {
	// TrackedDevices returns every device with its labels and last stored stats.
	TrackedDevices(ctx context.Context) ([]store.TrackedDevice, error)
	// UpdateDeviceStats writes all updates in one transaction.
	UpdateDeviceStats(ctx context.Context, updates []store.StatsUpdate) error
}

// Poller copies peer statistics from WireGuard to the store and turns them into rates and
// monotonic totals. Each poll is one read of all peers and, when any device changed, one
// write of the changed devices only, in one transaction. Peers whose public key belongs to
// no device are ignored.
//
// Rates come from the measured time between two reads of the same peer, never from the
// nominal interval. A counter that went down was reset (the interface or the peer was
// re-created): the totals then grow by the new counter, and the rate of that step is 0.
// The totals are stored next to the raw counters, so they also survive a collector restart:
// the first poll of a new process adds what was counted while it was down, and reports no
// rate, since it has no earlier read to measure from.
//
// The poller keeps the devices in memory and re-reads them from the store every
// RefreshEvery, and at once when a peer appears whose key it has not seen (a device was just
// created). A Poller is not safe for concurrent use.
type Poller struct {
	Reader   PeerReader
	Store    StatsStore
	Interval time.Duration    // between polls; default DefaultInterval
	Logger   *slog.Logger     // default slog.Default()
	Now      func() time.Time // default time.Now
	// RefreshEvery is how often the devices are re-read from the store; default DefaultRefreshEvery.
	RefreshEvery time.Duration
	// OnPoll, if set, is called after every poll with its tick, or nil when the poll failed,
	// and the collector's health; while the polls back off for the database, it is also
	// called every Interval with nil, so that whoever watches the collector hears from it.
	// The tick is the callee's.
	OnPoll func(tick *Tick, health Health)

	known    map[wgtypes.Key]*trackedPeer
	ignored  map[wgtypes.Key]bool // keys of peers that had no device at the last load
	loadedAt time.Time
	seq      uint64
	health   Health
}

// trackedPeer is a device with a peer: what the store holds, and this process's last read.
type trackedPeer struct {
	store.TrackedDevice
	readAt time.Time         // when this process last read the peer; zero before its first read
	next   store.DeviceStats // what the poll in progress will store
}

// Run polls at once, then every Interval, until ctx ends; then it returns nil. A failed poll is
// logged and the next one runs on time. Polls never overlap: when one takes longer than the
// interval, the next starts right after it.
//
// While the database is unavailable, the polls back off (Interval doubling up to
// maxUnavailableBackoff) and the outage is logged twice: when it starts and when the database
// is back, not at every poll.
func (p *Poller) Run(ctx context.Context) error {
	if p.Reader == nil || p.Store == nil {
		return errors.New("collector poller needs a reader and a store")
	}
	log := p.logger()
	interval := orDefault(p.Interval, DefaultInterval)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var down time.Time // when the database became unavailable; zero while it answers
	backoff := interval
	for {
		tick, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration // zero: the next tick
		switch {
		case errors.Is(err, store.ErrUnavailable):
			wait, backoff = backoff, min(2*backoff, max(interval, maxUnavailableBackoff))
			if down.IsZero() {
				down = p.now()
				log.Warn("database unavailable; polling less often until it is back", slog.Any("err", err))
			} else {
				log.Debug("database still unavailable", slog.Any("err", err), slog.Duration("next_poll", wait))
			}
		case err != nil:
			log.Error("poll peer stats", slog.Any("err", err))
		default:
			if !down.IsZero() {
				log.Info("database back", slog.Duration("unavailable_for", p.now().Sub(down).Round(time.Millisecond)))
				down, backoff = time.Time{}, interval
			}
			log.Debug("polled peer stats", slog.Int("peers", len(tick.Peers)), slog.Duration("took", tick.Took))
			if tick.Took > interval {
				log.Warn("poll took longer than the interval", slog.Duration("took", tick.Took), slog.Duration("interval", interval))
			}
		}
		if p.OnPoll != nil {
			p.OnPoll(tick, p.health)
		}
		if wait > 0 {
			for until := time.Now().Add(wait); ; {
				select {
				case <-ctx.Done():
					return nil
				case <-ticker.C:
				}
				if !time.Now().Before(until) {
					break
				}
				if p.OnPoll != nil {
					p.OnPoll(nil, p.health) // alive, and waiting
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Health returns the poller's part of the collector's health (Push is left zero).
func (p *Poller) Health() Health { return p.health }

// Poll reads all peers once, writes the devices whose counters, handshake or endpoint changed
// in one call to the store, and returns the tick. When the write fails, nothing is
// remembered, so the next poll computes the same changes again, over the longer time.
func (p *Poller) Poll(ctx context.Context) (*Tick, error) {
	start := p.now()
	tick, err := p.poll(ctx, start)
	if err != nil {
		p.health.Errors++
		p.health.LastError = err.Error()
		if errors.Is(err, store.ErrUnavailable) { // /healthz shows it to anyone: no hosts, users or sockets
			p.health.LastError = store.ErrUnavailable.Error()
		}
		return nil, err
	}
	tick.Took = p.now().Sub(start)
	p.health.LastTick, p.health.TickDuration, p.health.LastError = tick.At, tick.Took, ""
	return tick, nil
}

func (p *Poller) poll(ctx context.Context, now time.Time) (*Tick, error) {
	peers, err := p.Reader.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	if p.known == nil || now.Sub(p.loadedAt) >= orDefault(p.RefreshEvery, DefaultRefreshEvery) || p.newKey(peers) {
		if err := p.load(ctx, now, peers); err != nil {
			return nil, err
		}
	}

	tick := &Tick{Seq: p.seq + 1, At: now, Peers: make([]Peer, 0, len(peers))}
	var updates []store.StatsUpdate
	for _, ps := range peers {
		t, ok := p.known[ps.PublicKey]
		if !ok {
			continue
		}
		var peer Peer
		t.next, peer = step(t, ps, now)
		tick.Peers = append(tick.Peers, peer)
		if !sameStats(t.DeviceStats, t.next) {
			updates = append(updates, store.StatsUpdate{PublicKey: t.PublicKey, DeviceStats: t.next})
		}
	}
	if len(updates) > 0 {
		// One order for every writer keeps row locks from deadlocking on PostgreSQL.
		slices.SortFunc(updates, func(a, b store.StatsUpdate) int { return cmp.Compare(a.PublicKey, b.PublicKey) })
		if err := p.Store.UpdateDeviceStats(ctx, updates); err != nil {
			return nil, fmt.Errorf("update stats of %d devices: %w", len(updates), err)
		}
	}
	// Written: remember what the store now holds and when each peer was read.
	for _, ps := range peers {
		if t, ok := p.known[ps.PublicKey]; ok {
			t.DeviceStats, t.readAt = t.next, now
		}
	}
	p.seq = tick.Seq
	return tick, nil
}

// step is what the store should hold for t after the kernel reported ps at now, and the
// peer's state for the tick.
func step(t *trackedPeer, ps PeerStats, now time.Time) (store.DeviceStats, Peer) {
	prev := t.DeviceStats
	next := observed(ps, prev)
	rx, rxReset := grown(prev.RxBytes, ps.RxBytes)
	tx, txReset := grown(prev.TxBytes, ps.TxBytes)
	next.RxTotal, next.TxTotal = prev.RxTotal+rx, prev.TxTotal+tx

	peer := Peer{
		DeviceID: t.ID, PublicKey: t.PublicKey, UserEmail: t.UserEmail, DeviceName: t.Name,
		RxTotal: next.RxTotal, TxTotal: next.TxTotal,
		// The first read of this process announces every peer.
		Changed: t.readAt.IsZero() || rx != 0 || tx != 0 || !sameTime(prev.LatestHandshake, next.LatestHandshake),
	}
	if next.LatestHandshake != nil {
		peer.LatestHandshake = *next.LatestHandshake
	}
	if elapsed := now.Sub(t.readAt).Seconds(); !t.readAt.IsZero() && elapsed > 0 {
		if !rxReset {
			peer.RxRate = float64(rx) / elapsed
		}
		if !txReset {
			peer.TxRate = float64(tx) / elapsed
		}
	}
	return next, peer
}

// grown is how much a counter grew from prev to cur. A counter that went down was reset and
// has counted cur since.
func grown(prev, cur int64) (delta int64, reset bool) {
	if cur < prev {
		return cur, true
	}
	return cur - prev, false
}

// newKey reports whether a peer has a key that is neither a known device nor ignored.
func (p *Poller) newKey(peers []PeerStats) bool {
	for _, peer := range peers {
		if !hasKey(p.known, peer.PublicKey) && !p.ignored[peer.PublicKey] {
			return true
		}
	}
	return false
}

// load re-reads the devices from the store and remembers which of the peers have none. What
// this process read of a device that is still there (when, for its rate) is kept.
func (p *Poller) load(ctx context.Context, now time.Time, peers []PeerStats) error {
	devices, err := p.Store.TrackedDevices(ctx)
	if err != nil {
		return fmt.Errorf("read devices: %w", err)
	}
	known := make(map[wgtypes.Key]*trackedPeer, len(devices))
	for _, d := range devices {
		key, err := wgtypes.ParseKey(d.PublicKey)
		if err != nil {
			continue // no peer can have it
		}
		t := &trackedPeer{TrackedDevice: d}
		if old, ok := p.known[key]; ok {
			t.readAt = old.readAt
		}
		known[key] = t
	}
	ignored := map[wgtypes.Key]bool{}
	for _, peer := range peers {
		if !hasKey(known, peer.PublicKey) {
			ignored[peer.PublicKey] = true
		}
	}
	p.known, p.ignored, p.loadedAt = known, ignored, now
	return nil
}

// observed is what the store should hold for a device after the kernel reported peer, before
// the totals. A peer that has no handshake or endpoint (the interface was re-created, or the
// peer was removed and added again) keeps the last ones known: "last seen" stays true until
// the peer is heard from again.
func observed(peer PeerStats, prev store.DeviceStats) store.DeviceStats {
	next := store.DeviceStats{
		RxBytes:         peer.RxBytes,
		TxBytes:         peer.TxBytes,
		LatestHandshake: prev.LatestHandshake,
		RemoteEndpoint:  prev.RemoteEndpoint,
	}
	// Whole seconds, in UTC: what both databases store exactly, so a value read back compares
	// equal to the one written.
	if hs := peer.LastHandshake; hs.Unix() > 0 {
		t := hs.Truncate(time.Second).UTC()
		next.LatestHandshake = &t
	}
	if peer.Endpoint.IsValid() {
		next.RemoteEndpoint = formatEndpoint(peer.Endpoint)
	}
	return next
}

// formatEndpoint writes host:port, with brackets around an IPv6 address; an IPv4 address seen
// on a dual-stack socket is written as IPv4.
func formatEndpoint(ep netip.AddrPort) string {
	return netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port()).String()
}

func sameStats(a, b store.DeviceStats) bool {
	return a.RxBytes == b.RxBytes && a.TxBytes == b.TxBytes && a.RxTotal == b.RxTotal && a.TxTotal == b.TxTotal &&
		a.RemoteEndpoint == b.RemoteEndpoint && sameTime(a.LatestHandshake, b.LatestHandshake)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func hasKey[V any](m map[wgtypes.Key]V, key wgtypes.Key) bool {
	_, ok := m[key]
	return ok
}
