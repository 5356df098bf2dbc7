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

	"wiregui/store"
	"wiregui/wg"
)

// Defaults of a Poller's zero fields.
const (
	DefaultInterval     = 5 * time.Second
	DefaultRefreshEvery = time.Minute
)

// PeerStats is what the WireGuard interface reports about one peer.
type PeerStats = wg.PeerStats

// PeerReader reads the statistics of every peer of the WireGuard interface in one call.
type PeerReader interface {
	Peers(ctx context.Context) ([]PeerStats, error)
}

// StatsStore is what the poller needs from the store.
type StatsStore interface {
	// DeviceStats returns the current stats of every device by public key (base64).
	DeviceStats(ctx context.Context) (map[string]store.DeviceStats, error)
	// UpdateDeviceStats writes all updates in one transaction.
	UpdateDeviceStats(ctx context.Context, updates []store.StatsUpdate) error
}

// Poller copies peer statistics from WireGuard to the store. Each poll is one read of all
// peers and, when any device changed, one write of the changed devices only. Peers whose
// public key belongs to no device are ignored.
//
// It keeps the last stats it wrote (or read from the store) in memory to find the changes, and
// re-reads them from the store every RefreshEvery, and at once when a peer appears whose key it
// has not seen (a device was just created). A Poller is not safe for concurrent use.
type Poller struct {
	Reader   PeerReader
	Store    StatsStore
	Interval time.Duration    // between polls; default DefaultInterval
	Logger   *slog.Logger     // default slog.Default()
	Now      func() time.Time // default time.Now
	// RefreshEvery is how often the devices are re-read from the store; default DefaultRefreshEvery.
	RefreshEvery time.Duration

	known    map[string]store.DeviceStats // by public key: the devices and what the store holds
	ignored  map[string]bool              // keys of peers that had no device at the last load
	loadedAt time.Time
}

// Run polls at once, then every Interval, until ctx ends; then it returns nil. A failed poll is
// logged and the next one runs on time. Polls never overlap: when one takes longer than the
// interval, the next starts right after it.
func (p *Poller) Run(ctx context.Context) error {
	if p.Reader == nil || p.Store == nil {
		return errors.New("collector poller needs a reader and a store")
	}
	log := p.logger()
	interval := orDefault(p.Interval, DefaultInterval)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last time.Time
	for {
		start := p.now()
		changed, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		took := p.now().Sub(start)
		switch {
		case err != nil:
			log.Error("poll peer stats", slog.Any("err", err))
		case last.IsZero():
			log.Debug("polled peer stats", slog.Int("changed", changed), slog.Duration("took", took))
		default:
			log.Debug("polled peer stats", slog.Int("changed", changed), slog.Duration("took", took),
				slog.Duration("since_last", start.Sub(last)))
		}
		if took > interval {
			log.Warn("poll took longer than the interval", slog.Duration("took", took), slog.Duration("interval", interval))
		}
		last = start
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Poll reads all peers once and writes the devices whose counters, handshake or endpoint
// changed in one call to the store. It returns how many devices it wrote. When the write fails,
// nothing is remembered, so the next poll tries the same changes again.
func (p *Poller) Poll(ctx context.Context) (changed int, err error) {
	now := p.now()
	peers, err := p.Reader.Peers(ctx)
	if err != nil {
		return 0, fmt.Errorf("read peers: %w", err)
	}
	if p.known == nil || now.Sub(p.loadedAt) >= orDefault(p.RefreshEvery, DefaultRefreshEvery) || p.newKey(peers) {
		if err := p.load(ctx, now, peers); err != nil {
			return 0, err
		}
	}

	var updates []store.StatsUpdate
	for _, peer := range peers {
		key := peer.PublicKey.String()
		prev, ok := p.known[key]
		if !ok {
			continue
		}
		next := observed(peer, prev)
		if !sameStats(prev, next) {
			updates = append(updates, store.StatsUpdate{PublicKey: key, DeviceStats: next})
		}
	}
	if len(updates) == 0 {
		return 0, nil
	}
	// One order for every writer keeps row locks from deadlocking on PostgreSQL.
	slices.SortFunc(updates, func(a, b store.StatsUpdate) int { return cmp.Compare(a.PublicKey, b.PublicKey) })
	if err := p.Store.UpdateDeviceStats(ctx, updates); err != nil {
		return 0, fmt.Errorf("update stats of %d devices: %w", len(updates), err)
	}
	for _, u := range updates {
		p.known[u.PublicKey] = u.DeviceStats
	}
	return len(updates), nil
}

// newKey reports whether a peer has a key that is neither a known device nor ignored.
func (p *Poller) newKey(peers []PeerStats) bool {
	for _, peer := range peers {
		key := peer.PublicKey.String()
		if !hasKey(p.known, key) && !p.ignored[key] {
			return true
		}
	}
	return false
}

// load re-reads the devices from the store and remembers which of the peers have none.
func (p *Poller) load(ctx context.Context, now time.Time, peers []PeerStats) error {
	known, err := p.Store.DeviceStats(ctx)
	if err != nil {
		return fmt.Errorf("read device stats: %w", err)
	}
	if known == nil {
		known = map[string]store.DeviceStats{}
	}
	ignored := map[string]bool{}
	for _, peer := range peers {
		if key := peer.PublicKey.String(); !hasKey(known, key) {
			ignored[key] = true
		}
	}
	p.known, p.ignored, p.loadedAt = known, ignored, now
	return nil
}

// observed is what the store should hold for a device after the kernel reported peer. The
// counters are taken as they are. A peer that has no handshake or endpoint (the interface was
// re-created, or the peer was removed and added again) keeps the last ones known: "last seen"
// stays true until the peer is heard from again.
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
	if a.RxBytes != b.RxBytes || a.TxBytes != b.TxBytes || a.RemoteEndpoint != b.RemoteEndpoint {
		return false
	}
	if a.LatestHandshake == nil || b.LatestHandshake == nil {
		return a.LatestHandshake == nil && b.LatestHandshake == nil
	}
	return a.LatestHandshake.Equal(*b.LatestHandshake)
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

func hasKey[V any](m map[string]V, key string) bool {
	_, ok := m[key]
	return ok
}
