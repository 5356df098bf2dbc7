package collector

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultPoints is how many ticks a [Hub] keeps: five minutes at the collector's 5 s interval.
const DefaultPoints = 60

// Point is one device's rates at one tick.
type Point struct {
	At             time.Time
	RxRate, TxRate float64
}

// Update is one tick as a [Hub] sends it to its subscribers.
type Update struct {
	Seq uint64 // the collector's; 1 again after the collector restarted
	At  time.Time
	// Peers are the devices that changed at the tick; the others have rates 0. The slice is
	// shared by every subscriber: read it, do not change it.
	Peers []Peer
	// Missed is how many updates this subscriber missed just before this one because its
	// queue was full.
	Missed int
	byID   map[string]int // index into Peers, built once per tick for every subscriber
}

// Peer returns the device's state at this tick, if it changed then.
func (u *Update) Peer(deviceID string) (*Peer, bool) {
	if u.byID == nil { // an Update made by hand
		for i := range u.Peers {
			if u.Peers[i].DeviceID == deviceID {
				return &u.Peers[i], true
			}
		}
		return nil, false
	}
	i, ok := u.byID[deviceID]
	if !ok {
		return nil, false
	}
	return &u.Peers[i], true
}

// Hub is the parent's live view of the collector: its last health, whether it is stalled,
// the last ticks with the rates of every device at each, and the last state of each device. Pages read it and
// subscribe to it for Server-Sent Events. A Hub is safe for concurrent use; make one with
// [NewHub].
//
// The hub counts ticks itself: Seq only passes through to subscribers, so a collector
// restart (Seq back to 1) changes nothing. Publishing a tick costs O(its changed peers):
// each device keeps only the points at which it changed, and Series fills the ticks in
// between with zeros. A device that has not changed for a whole window is forgotten: the
// database has its last state by then, and the hub's memory stays bounded by the devices
// active in the window, however many come and go.
type Hub struct {
	points int

	mu       sync.RWMutex
	health   Health
	reported bool
	stalled  time.Time // while the collector is stalled: since when it has not reported
	n        uint64    // ticks published; tick k (from 1) is in ticks[(k-1)%points]
	ticks    []hubTick // the last points ticks
	devices  map[string]*hubDevice
	subs     []*Subscription
	missed   int64
}

type hubTick struct {
	at time.Time
	// changed are the devices that changed at the tick: when it leaves the window, those
	// that did not change since are forgotten.
	changed []*hubDevice
}

type hubDevice struct {
	id        string
	last      Peer   // as last reported, with its rates of then
	changedAt uint64 // the tick of the last change
	// samples are the device's changes, a ring of at most points, oldest at head when full.
	// Samples of ticks that left the window are ignored until they are overwritten.
	samples []hubSample
	head    int
}

type hubSample struct {
	tick   uint64
	rx, tx float64
}

// NewHub returns a hub that keeps the last points ticks; points below 1 means DefaultPoints.
func NewHub(points int) *Hub {
	if points < 1 {
		points = DefaultPoints
	}
	return &Hub{points: points, ticks: make([]hubTick, points), devices: map[string]*hubDevice{}}
}

// Publish records what the collector reported after a poll. A message with a tick also goes
// to every subscriber, without waiting: a subscriber whose queue is full loses its oldest.
//
// Peers whose Changed is false are skipped, as if they were not in the tick: a tick decoded
// by [DecodeMessage] has only the changed ones, the in-process stats loop publishes all.
// The hub keeps m.Tick.Peers and shares it with the subscribers: the caller must not change
// it afterwards.
func (h *Hub) Publish(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.health, h.reported = m.Health, true
	wasStalled := !h.stalled.IsZero()
	h.stalled = time.Time{}
	t := m.Tick
	if t == nil {
		if wasStalled { // the pages learn that the stall ended; a tick would tell them anyway
			h.wakeLocked()
		}
		return
	}
	h.n++
	slot := &h.ticks[(h.n-1)%uint64(h.points)]
	if h.n > uint64(h.points) {
		leaving := h.n - uint64(h.points)
		for _, dev := range slot.changed {
			if dev.changedAt == leaving {
				delete(h.devices, dev.id)
			}
		}
	}
	slot.at = t.At
	slot.changed = slot.changed[:0]

	allChanged := true
	for i := range t.Peers {
		p := &t.Peers[i]
		if !p.Changed {
			allChanged = false
			continue
		}
		dev := h.devices[p.DeviceID]
		if dev == nil {
			// The id may share memory with every id of the tick it came in: keep only its own.
			dev = &hubDevice{id: strings.Clone(p.DeviceID)}
			h.devices[dev.id] = dev
		}
		dev.last = *p
		dev.last.DeviceID = dev.id
		s := hubSample{tick: h.n, rx: p.RxRate, tx: p.TxRate}
		if dev.changedAt == h.n { // twice in one tick: the later report wins
			dev.samples[(dev.head+len(dev.samples)-1)%len(dev.samples)] = s
			continue
		}
		dev.changedAt = h.n
		slot.changed = append(slot.changed, dev)
		if len(dev.samples) < h.points {
			dev.samples = append(dev.samples, s)
		} else {
			dev.samples[dev.head] = s
			dev.head = (dev.head + 1) % len(dev.samples)
		}
	}

	if len(h.subs) == 0 {
		return
	}
	changed := t.Peers
	if !allChanged {
		changed = make([]Peer, 0, len(slot.changed))
		for _, p := range t.Peers {
			if p.Changed {
				changed = append(changed, p)
			}
		}
	}
	byID := make(map[string]int, len(changed))
	for i := range changed {
		byID[changed[i].DeviceID] = i
	}
	u := Update{Seq: t.Seq, At: t.At, Peers: changed, byID: byID}
	for _, s := range h.subs {
		if s.put(u) {
			h.missed++
		}
	}
}

// Stall records that the collector has not reported since since (its supervisor found it
// hung), until the next Publish. Subscribers are woken, so that open pages can say so.
func (h *Hub) Stall(since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stalled = since
	h.wakeLocked()
}

// Stalled returns since when the collector has not reported, while it is stalled.
func (h *Hub) Stalled() (since time.Time, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.stalled, !h.stalled.IsZero()
}

// wakeLocked signals every subscriber without queueing an update; h.mu is held.
func (h *Hub) wakeLocked() {
	for _, s := range h.subs {
		s.wake()
	}
}

// Health returns the collector's last reported health; false before the first report.
func (h *Hub) Health() (Health, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.health, h.reported
}

// Series returns the device's rates at each of the last ticks, oldest first: 0 at a tick
// where it did not change, and 0 at every tick for a device the hub has not heard of. It
// has fewer points than the hub keeps until that many ticks were published, none before.
func (h *Hub) Series(deviceID string) []Point {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := min(h.n, uint64(h.points))
	if n == 0 {
		return nil
	}
	first := h.n - n + 1 // the oldest tick in the window
	out := make([]Point, n)
	for k := range out {
		out[k].At = h.ticks[(first+uint64(k)-1)%uint64(h.points)].at
	}
	if dev := h.devices[deviceID]; dev != nil {
		for _, s := range dev.samples {
			if s.tick >= first {
				out[s.tick-first].RxRate, out[s.tick-first].TxRate = s.rx, s.tx
			}
		}
	}
	return out
}

// Latest returns the last state reported for the device: its totals and handshake, and its
// rates at the last tick, which are 0 (and Changed false) when it did not change then.
// False when the device did not change within the window: read its state from the database.
func (h *Hub) Latest(deviceID string) (Peer, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	dev := h.devices[deviceID]
	if dev == nil {
		return Peer{}, false
	}
	p := dev.last
	if dev.changedAt != h.n {
		p.RxRate, p.TxRate, p.Changed = 0, 0, false
	}
	return p, true
}

// Subscribe returns a subscription to every tick published from now on. It queues at most
// buffer updates (at least 1); Publish never waits for it. It is also woken, with no update,
// when the collector's stall begins or ends without a tick ([Hub.Stalled]).
func (h *Hub) Subscribe(buffer int) *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1), limit: max(buffer, 1)}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

// Subscription is a subscriber's queue of a [Hub]'s updates: wait for Ready, then Take them.
// When the queue is full, its oldest update makes room for the new one and the next counts
// it in Missed: a subscriber that falls behind still gets the newest tick at once, and knows
// that it missed some.
type Subscription struct {
	hub   *Hub
	ready chan struct{} // holds a signal while updates may be waiting

	mu    sync.Mutex
	queue []Update
	spare []Update // the slice the last Take returned
	limit int
}

// Ready receives a signal when updates are waiting. Take may still find none: an earlier
// Take can have taken them after the signal was sent.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the waiting updates, oldest first, and empties the queue. The slice is valid
// until the next Take.
func (s *Subscription) Take() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.spare) // the updates handled since the last Take: let their peers go
	out := s.queue
	s.queue, s.spare = s.spare[:0], out
	return out
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := slices.Index(h.subs, s); i >= 0 {
		last := len(h.subs) - 1
		h.subs[i], h.subs[last] = h.subs[last], nil
		h.subs = h.subs[:last]
	}
	s.mu.Lock()
	s.queue, s.spare = nil, nil
	s.mu.Unlock()
}

// put queues u, dropping the oldest update when the queue is full; it reports whether it
// dropped one. Publish calls it under the hub's lock, which Close takes too: a closed
// subscription gets nothing more.
func (s *Subscription) put(u Update) (dropped bool) {
	s.mu.Lock()
	if len(s.queue) == s.limit {
		missed := s.queue[0].Missed + 1
		s.queue = s.queue[:copy(s.queue, s.queue[1:])]
		if len(s.queue) > 0 {
			s.queue[0].Missed += missed
		} else {
			u.Missed += missed
		}
		dropped = true
	}
	s.queue = append(s.queue, u)
	s.mu.Unlock()
	s.wake()
	return dropped
}

// wake signals Ready.
func (s *Subscription) wake() {
	select {
	case s.ready <- struct{}{}:
	default: // a signal is waiting already
	}
}
