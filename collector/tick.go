package collector

import "time"

// ConnectedWithin is how recent a handshake must be for a peer to count as connected
// (wiregui_peer_connected, wiregui_peers_total).
const ConnectedWithin = 180 * time.Second

// Peer is one device's state after a poll.
type Peer struct {
	DeviceID   string
	PublicKey  string // base64, the whole key
	UserEmail  string
	DeviceName string
	// RxTotal and TxTotal are monotonic byte totals: they keep growing across counter resets
	// (interface re-created, peer re-added) and collector restarts.
	RxTotal, TxTotal int64
	// RxRate and TxRate are bytes per second over the measured time since the previous poll;
	// 0 for the first poll of a collector and for a step in which the counter went down.
	RxRate, TxRate float64
	// LatestHandshake is the zero time when the peer never completed a handshake.
	LatestHandshake time.Time
	// Changed reports whether the totals or the handshake differ from the previous poll.
	Changed bool
}

// Connected reports whether the peer's last handshake is less than ConnectedWithin old at.
func (p Peer) Connected(at time.Time) bool {
	return !p.LatestHandshake.IsZero() && at.Sub(p.LatestHandshake) < ConnectedWithin
}

// Tick is the outcome of one successful poll: every device that has a peer on the interface,
// in the order WireGuard reported them.
type Tick struct {
	Seq   uint64    // 1 for the first poll of a collector process, then +1 per poll
	At    time.Time // when WireGuard was read
	Took  time.Duration
	Peers []Peer
}

// ConnectedPeers counts the peers connected at the tick (wiregui_peers_total).
func (t Tick) ConnectedPeers() int {
	n := 0
	for _, p := range t.Peers {
		if p.Connected(t.At) {
			n++
		}
	}
	return n
}

// Health is the collector's own state, for /healthz, /metrics and the diagnostics page.
type Health struct {
	LastTick     time.Time     `json:"last_tick,omitzero"`
	TickDuration time.Duration `json:"tick_duration_ns"`
	LastError    string        `json:"last_error,omitempty"` // of the last poll; empty when it succeeded
	Errors       int64         `json:"errors"`               // failed polls since the collector started
	Push         PushHealth    `json:"victoriametrics"`
}

// PushHealth is the state of the VictoriaMetrics push.
type PushHealth struct {
	State       string    `json:"state"` // "off" (no URL), "ok" or "failing"
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Buffered    int       `json:"buffered_samples"` // waiting to be sent
	Dropped     int64     `json:"dropped_samples"`  // discarded because the buffer was full
}
