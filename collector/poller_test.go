package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/store"
)

// fakeReader returns its peers, or err.
type fakeReader struct {
	mu    sync.Mutex
	peers []PeerStats
	err   error
	calls int
	at    []time.Time // when each call came
}

func (r *fakeReader) Peers(context.Context) ([]PeerStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.at = append(r.at, time.Now())
	return slices.Clone(r.peers), r.err
}

func (r *fakeReader) set(peers ...PeerStats) {
	r.mu.Lock()
	r.peers = peers
	r.mu.Unlock()
}

// fakeStore holds device stats by public key and records every write.
type fakeStore struct {
	mu       sync.Mutex
	stats    map[string]store.DeviceStats
	writes   [][]store.StatsUpdate
	reads    int
	writeErr error
}

func (s *fakeStore) TrackedDevices(context.Context) ([]store.TrackedDevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	out := make([]store.TrackedDevice, 0, len(s.stats))
	for k, v := range s.stats {
		out = append(out, store.TrackedDevice{ID: "id-" + k, PublicKey: k, Name: "name-" + k, UserEmail: "u@example.com", DeviceStats: v})
	}
	return out, nil
}

func (s *fakeStore) UpdateDeviceStats(_ context.Context, updates []store.StatsUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return s.writeErr
	}
	s.writes = append(s.writes, slices.Clone(updates))
	for _, u := range updates {
		s.stats[u.PublicKey] = u.DeviceStats
	}
	return nil
}

func (s *fakeStore) addDevice(key string) {
	s.mu.Lock()
	s.stats[key] = store.DeviceStats{}
	s.mu.Unlock()
}

func (s *fakeStore) get(key wgtypes.Key) store.DeviceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats[key.String()]
}

func (s *fakeStore) lastWrite() []store.StatsUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.writes) == 0 {
		return nil
	}
	return s.writes[len(s.writes)-1]
}

func (s *fakeStore) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

func key(b byte) wgtypes.Key { return wgtypes.Key{b} }

var (
	keyA, keyB, keyC, keyStranger = key(1), key(2), key(3), key(9)
	handshake                     = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	endpointA                     = netip.MustParseAddrPort("198.51.100.7:51820")
)

// newPoller returns a poller over a store that has devices A, B and C, all with zero stats.
func newPoller(peers ...PeerStats) (*Poller, *fakeReader, *fakeStore) {
	r := &fakeReader{peers: peers}
	s := &fakeStore{stats: map[string]store.DeviceStats{
		keyA.String(): {}, keyB.String(): {}, keyC.String(): {},
	}}
	return &Poller{Reader: r, Store: s, Logger: slog.New(slog.DiscardHandler)}, r, s
}

// poll polls once and returns how many devices it wrote.
func poll(t *testing.T, p *Poller) int {
	t.Helper()
	s := p.Store.(*fakeStore)
	before := s.writeCount()
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if s.writeCount() == before {
		return 0
	}
	return len(s.lastWrite())
}

func writtenKeys(updates []store.StatsUpdate) []string {
	var keys []string
	for _, u := range updates {
		keys = append(keys, u.PublicKey)
	}
	return keys
}

func TestPollWritesOnlyChangedDevices(t *testing.T) {
	p, r, s := newPoller(
		PeerStats{PublicKey: keyA, RxBytes: 10, TxBytes: 20, LastHandshake: handshake, Endpoint: endpointA},
		PeerStats{PublicKey: keyB}, // no traffic yet: same as the store
		PeerStats{PublicKey: keyC, RxBytes: 5},
	)
	if got := poll(t, p); got != 2 {
		t.Errorf("first poll: got %d changed, want 2", got)
	}
	if got, want := writtenKeys(s.lastWrite()), []string{keyA.String(), keyC.String()}; !slices.Equal(got, want) {
		t.Errorf("first poll wrote %q, want %q", got, want)
	}
	a := s.lastWrite()[0]
	if a.RxBytes != 10 || a.TxBytes != 20 || a.LatestHandshake == nil || !a.LatestHandshake.Equal(handshake) ||
		a.RemoteEndpoint != "198.51.100.7:51820" {
		t.Errorf("got update %+v, want rx 10 tx 20 handshake %v endpoint 198.51.100.7:51820", a, handshake)
	}

	// Each field alone is a change.
	later := handshake.Add(2 * time.Minute)
	tests := []struct {
		name string
		a    PeerStats
	}{
		{"rx", PeerStats{PublicKey: keyA, RxBytes: 11, TxBytes: 20, LastHandshake: handshake, Endpoint: endpointA}},
		{"tx", PeerStats{PublicKey: keyA, RxBytes: 11, TxBytes: 21, LastHandshake: handshake, Endpoint: endpointA}},
		{"handshake", PeerStats{PublicKey: keyA, RxBytes: 11, TxBytes: 21, LastHandshake: later, Endpoint: endpointA}},
		{"endpoint", PeerStats{PublicKey: keyA, RxBytes: 11, TxBytes: 21, LastHandshake: later,
			Endpoint: netip.MustParseAddrPort("198.51.100.8:51820")}},
	}
	for _, tt := range tests {
		r.set(tt.a, PeerStats{PublicKey: keyB}, PeerStats{PublicKey: keyC, RxBytes: 5})
		if got := poll(t, p); got != 1 {
			t.Errorf("%s changed: got %d changed, want 1", tt.name, got)
		}
		if got, want := writtenKeys(s.lastWrite()), []string{keyA.String()}; !slices.Equal(got, want) {
			t.Errorf("%s changed: wrote %q, want %q", tt.name, got, want)
		}
	}
}

func TestPollNothingChangedWritesNothing(t *testing.T) {
	p, _, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 10, LastHandshake: handshake, Endpoint: endpointA})
	poll(t, p)
	for range 3 {
		if got := poll(t, p); got != 0 {
			t.Errorf("got %d changed, want 0", got)
		}
	}
	if got := s.writeCount(); got != 1 {
		t.Errorf("got %d writes, want 1", got)
	}
}

func TestPollIgnoresUnknownPeers(t *testing.T) {
	p, r, s := newPoller(PeerStats{PublicKey: keyStranger, RxBytes: 99}, PeerStats{PublicKey: keyA, RxBytes: 1})
	if got := poll(t, p); got != 1 {
		t.Errorf("got %d changed, want 1", got)
	}
	if got, want := writtenKeys(s.lastWrite()), []string{keyA.String()}; !slices.Equal(got, want) {
		t.Errorf("wrote %q, want %q", got, want)
	}
	// A stranger that stays costs no further store reads.
	reads := s.reads
	r.set(PeerStats{PublicKey: keyStranger, RxBytes: 100}, PeerStats{PublicKey: keyA, RxBytes: 1})
	poll(t, p)
	poll(t, p)
	if s.reads != reads {
		t.Errorf("got %d more store reads for a known stranger, want 0", s.reads-reads)
	}
	if _, ok := s.stats[keyStranger.String()]; ok {
		t.Error("the unknown peer was written")
	}
}

func TestPollPicksUpNewDevice(t *testing.T) {
	newKey := key(7)
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1})
	poll(t, p)
	s.addDevice(newKey.String()) // created after the poller loaded the devices
	r.set(PeerStats{PublicKey: keyA, RxBytes: 1}, PeerStats{PublicKey: newKey, RxBytes: 3})
	if got := poll(t, p); got != 1 {
		t.Errorf("got %d changed, want 1", got)
	}
	if got, want := writtenKeys(s.lastWrite()), []string{newKey.String()}; !slices.Equal(got, want) {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestPollRereadsStorePeriodically(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, _, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1})
	p.Now = func() time.Time { return now }
	p.RefreshEvery = time.Minute
	poll(t, p)
	// Someone else reset the device's stats; the poller notices after RefreshEvery.
	s.mu.Lock()
	s.stats[keyA.String()] = store.DeviceStats{}
	s.mu.Unlock()
	now = now.Add(30 * time.Second)
	if got := poll(t, p); got != 0 {
		t.Errorf("before RefreshEvery: got %d changed, want 0", got)
	}
	now = now.Add(30 * time.Second)
	if got := poll(t, p); got != 1 {
		t.Errorf("after RefreshEvery: got %d changed, want 1", got)
	}
}

func TestPollRetriesFailedWrite(t *testing.T) {
	p, _, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 10})
	s.writeErr = errors.New("database is locked")
	if _, err := p.Poll(context.Background()); err == nil {
		t.Fatal("Poll: got nil error from a failed write")
	}
	s.writeErr = nil
	if got := poll(t, p); got != 1 {
		t.Errorf("after a failed write: got %d changed, want 1 (the same change again)", got)
	}
	if got := s.get(keyA).RxBytes; got != 10 {
		t.Errorf("got rx %d in the store, want 10", got)
	}
}

func TestPollReadError(t *testing.T) {
	p, r, s := newPoller()
	r.err = errors.New("netlink: no such device")
	if _, err := p.Poll(context.Background()); err == nil {
		t.Error("Poll: got nil error from a failed read")
	}
	if s.writeCount() != 0 {
		t.Error("wrote after a failed read")
	}
}

func TestPollLargeCounters(t *testing.T) {
	const rx, tx = int64(1)<<32 + 12345, int64(12_700_000_000)
	p, _, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: rx, TxBytes: tx})
	poll(t, p)
	if got := s.get(keyA); got.RxBytes != rx || got.TxBytes != tx || got.RxTotal != rx || got.TxTotal != tx {
		t.Errorf("got rx %d tx %d, want rx %d tx %d", got.RxBytes, got.TxBytes, rx, tx)
	}
}

func TestPollEndpointFormat(t *testing.T) {
	tests := []struct {
		name     string
		endpoint netip.AddrPort
		want     string
	}{
		{"ipv4", netip.MustParseAddrPort("203.0.113.9:51820"), "203.0.113.9:51820"},
		{"ipv6", netip.MustParseAddrPort("[2001:db8::1]:51820"), "[2001:db8::1]:51820"},
		{"ipv6 with zone", netip.MustParseAddrPort("[fe80::1%eth0]:51820"), "[fe80::1%eth0]:51820"},
		{"ipv4 seen on a dual-stack socket", netip.MustParseAddrPort("[::ffff:203.0.113.9]:4500"), "203.0.113.9:4500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, s := newPoller(PeerStats{PublicKey: keyA, Endpoint: tt.endpoint})
			poll(t, p)
			if got := s.get(keyA).RemoteEndpoint; got != tt.want {
				t.Errorf("got endpoint %q, want %q", got, tt.want)
			}
		})
	}
}

// A peer the kernel has not heard from since the interface was re-created keeps its last
// handshake and endpoint; its counters start again.
func TestPollKeepsLastSeenWhenPeerReportsNone(t *testing.T) {
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 500, LastHandshake: handshake.Add(123456789), Endpoint: endpointA})
	poll(t, p)
	r.set(PeerStats{PublicKey: keyA, RxBytes: 0, LastHandshake: time.Unix(0, 0)})
	if got := poll(t, p); got != 1 {
		t.Fatalf("got %d changed, want 1", got)
	}
	got := s.get(keyA)
	if got.RxBytes != 0 {
		t.Errorf("got rx %d, want 0", got.RxBytes)
	}
	if got.LatestHandshake == nil || !got.LatestHandshake.Equal(handshake) {
		t.Errorf("got handshake %v, want %v (whole seconds)", got.LatestHandshake, handshake)
	}
	if got.RemoteEndpoint != endpointA.String() {
		t.Errorf("got endpoint %q, want %q", got.RemoteEndpoint, endpointA)
	}
}

func TestPollerRunKeepsPollingAfterErrors(t *testing.T) {
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1})
	p.Interval = 5 * time.Millisecond
	r.err = errors.New("temporary")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	waitFor(t, 5*time.Second, "polls that fail", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls >= 2 })
	r.mu.Lock()
	r.err = nil
	r.mu.Unlock()
	waitFor(t, 5*time.Second, "a write after the errors", func() bool { return s.writeCount() == 1 })
	r.set(PeerStats{PublicKey: keyA, RxBytes: 2})
	waitFor(t, 5*time.Second, "a second write", func() bool { return s.writeCount() == 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestPollerRunPollsAtOnce(t *testing.T) {
	p, _, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1})
	p.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, 5*time.Second, "the first poll", func() bool { return s.writeCount() == 1 })
}

// A database outage is logged when it starts and when it ends, not at every poll, and the
// polls back off meanwhile: each wait twice the one before.
func TestPollerRunLogsAnOutageOnceAndBacksOff(t *testing.T) {
	p, r, s := newPoller(PeerStats{PublicKey: keyA, RxBytes: 1})
	var logged lockedBuffer
	p.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	p.Interval = 20 * time.Millisecond
	s.mu.Lock()
	s.writeErr = fmt.Errorf("update device stats: %w", store.ErrUnavailable)
	s.mu.Unlock()
	var mu sync.Mutex
	var reports []time.Time // OnPoll calls: polls, and the waits' signs of life
	p.OnPoll = func(*Tick, Health) { mu.Lock(); reports = append(reports, time.Now()); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)

	const failing = 5
	waitFor(t, 10*time.Second, "polls while unavailable", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls >= failing })
	s.mu.Lock()
	s.writeErr = nil
	s.mu.Unlock()
	waitFor(t, 10*time.Second, "a write once the database is back", func() bool { return s.writeCount() == 1 })
	r.set(PeerStats{PublicKey: keyA, RxBytes: 2})
	waitFor(t, 10*time.Second, "polls on time again", func() bool { return s.writeCount() == 2 })

	r.mu.Lock()
	at := slices.Clone(r.at)
	r.mu.Unlock()
	for i := 1; i < failing; i++ {
		want := p.Interval << (i - 1)
		if got := at[i].Sub(at[i-1]); got < want {
			t.Errorf("wait before poll %d: got %s, want at least %s", i+1, got, want)
		}
	}
	// The waits are long, but the collector is heard from every interval: a parent that
	// watches for silence does not take the outage for a hang.
	mu.Lock()
	var longest time.Duration
	for i := 1; i < len(reports); i++ {
		longest = max(longest, reports[i].Sub(reports[i-1]))
	}
	mu.Unlock()
	if longest > 5*p.Interval { // the last wait is 8 intervals
		t.Errorf("nothing reported for %s during the outage, want a report every %s", longest, p.Interval)
	}
	out := logged.String()
	for _, msg := range []string{`msg="database unavailable`, `msg="database back"`} {
		if n := strings.Count(out, msg); n != 1 {
			t.Errorf("got %d lines with %s, want 1:\n%s", n, msg, out)
		}
	}
	if strings.Contains(out, "poll peer stats") {
		t.Errorf("an unavailable database is logged as a failed poll:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer that a logger may write to while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
