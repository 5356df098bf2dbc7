package collector

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Format selects how AppendTick writes samples, in the Prometheus text exposition format
// (version 0.0.4) either way.
type Format uint8

const (
	// FormatScrape is for GET /metrics: # HELP and # TYPE lines, and samples without
	// timestamps, which the scraper adds.
	FormatScrape Format = iota
	// FormatImport is for VictoriaMetrics' /api/v1/import/prometheus: every sample carries the
	// tick's millisecond timestamp, and there are no comment lines to keep the body lean.
	FormatImport
)

// The peer series, in the order they are written. A tick writes all samples of one series
// before the next one: the exposition format wants each metric's lines together.
var peerSeries = [...]struct{ name, comments string }{
	{"wiregui_peer_rx_bytes", "# HELP wiregui_peer_rx_bytes Bytes received from the peer, a monotonic total across counter resets and collector restarts.\n# TYPE wiregui_peer_rx_bytes counter\n"},
	{"wiregui_peer_tx_bytes", "# HELP wiregui_peer_tx_bytes Bytes sent to the peer, a monotonic total across counter resets and collector restarts.\n# TYPE wiregui_peer_tx_bytes counter\n"},
	{"wiregui_peer_latest_handshake_seconds", "# HELP wiregui_peer_latest_handshake_seconds Unix time of the peer's latest handshake, 0 if it never completed one.\n# TYPE wiregui_peer_latest_handshake_seconds gauge\n"},
	{"wiregui_peer_connected", "# HELP wiregui_peer_connected 1 if the peer's latest handshake is less than 180 s old, else 0.\n# TYPE wiregui_peer_connected gauge\n"},
}

const (
	peersTotalName     = "wiregui_peers_total"
	peersTotalComments = "# HELP wiregui_peers_total Peers whose latest handshake is less than 180 s old.\n# TYPE wiregui_peers_total gauge\n"
)

// peerSample is one peer's values at a tick: numbers, and the device's escaped label set,
// which every tick of the device shares. It is what a Pusher keeps per queued peer, so it is
// kept at 32 bytes.
type peerSample struct {
	labels    *deviceLabels
	rx, tx    int64
	handshake uint32 // unix seconds; 0 when the peer never completed a handshake
	connected bool
}

func newPeerSample(p *Peer, labels *deviceLabels, at time.Time) peerSample {
	s := peerSample{labels: labels, rx: p.RxTotal, tx: p.TxTotal, connected: p.Connected(at)}
	if !p.LatestHandshake.IsZero() {
		// Unix seconds fit 32 bits until 2106.
		s.handshake = uint32(min(max(p.LatestHandshake.Unix(), 0), math.MaxUint32))
	}
	return s
}

// maxPeerBytes is an upper bound of the bytes appendPeerSeries writes for s, when each line
// ends in a suffix of suffixLen bytes (the timestamp and the newline).
func (s *peerSample) maxPeerBytes(suffixLen int) int {
	const names = len("wiregui_peer_rx_bytes") + len("wiregui_peer_tx_bytes") +
		len("wiregui_peer_latest_handshake_seconds") + len("wiregui_peer_connected")
	const value = 1 + 20 // the space and an int64
	return names + len(peerSeries)*(len(s.labels.text)+value+suffixLen)
}

// deviceLabels is a device's label set, escaped once:
// {public_key="…",user_email="…",device_name="…"}. It never changes once made: a renamed
// device gets a new one, and ticks queued before the rename keep the old.
type deviceLabels struct {
	email, name string // the values text was made from
	text        string
}

func newDeviceLabels(p *Peer) *deviceLabels {
	b := make([]byte, 0, len(`{public_key="",user_email="",device_name=""}`)+len(p.PublicKey)+len(p.UserEmail)+len(p.DeviceName)+8)
	b = append(b, `{public_key="`...)
	b = appendLabelValue(b, p.PublicKey)
	b = append(b, `",user_email="`...)
	b = appendLabelValue(b, p.UserEmail)
	b = append(b, `",device_name="`...)
	b = appendLabelValue(b, p.DeviceName)
	b = append(b, `"}`...)
	return &deviceLabels{email: p.UserEmail, name: p.DeviceName, text: string(b)}
}

// appendLabelValue appends v escaped as a label value of the exposition format: backslash,
// double quote and newline are escaped, other bytes pass through. Invalid UTF-8, which the
// format does not allow, becomes U+FFFD.
func appendLabelValue(dst []byte, v string) []byte {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// labelCache keeps each device's escaped labels between ticks, by public key.
type labelCache struct {
	byKey map[string]*deviceLabels
}

// labels returns p's label set, escaping it only when the device is new or its labels changed.
func (c *labelCache) labels(p *Peer) *deviceLabels {
	l := c.byKey[p.PublicKey]
	if l == nil || l.email != p.UserEmail || l.name != p.DeviceName {
		l = newDeviceLabels(p)
		if c.byKey == nil {
			c.byKey = make(map[string]*deviceLabels, 64)
		}
		c.byKey[p.PublicKey] = l
	}
	return l
}

// forget drops the devices that are not among peers, the whole of a tick. It costs nothing
// until a device has gone.
func (c *labelCache) forget(peers []Peer) {
	if len(c.byKey) <= len(peers) {
		return
	}
	live := make(map[string]struct{}, len(peers))
	for i := range peers {
		live[peers[i].PublicKey] = struct{}{}
	}
	for key := range c.byKey {
		if _, ok := live[key]; !ok {
			delete(c.byKey, key)
		}
	}
}

// Encoder writes ticks in the Prometheus text exposition format. It keeps each device's
// escaped label set between calls, so that encoding a tick of devices it has seen escapes
// nothing. The zero value is ready to use; an Encoder is safe for concurrent use (calls take
// turns).
type Encoder struct {
	mu      sync.Mutex
	labels  labelCache
	samples []peerSample // scratch, reused
}

// AppendTick appends t's series to dst and returns the extended buffer: wiregui_peer_rx_bytes,
// wiregui_peer_tx_bytes, wiregui_peer_latest_handshake_seconds and wiregui_peer_connected
// (connected at t.At) for every peer, each series' lines together and in the order of
// t.Peers, then wiregui_peers_total.
func (e *Encoder) AppendTick(dst []byte, t Tick, f Format) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	samples := e.samples[:0]
	for i := range t.Peers {
		p := &t.Peers[i]
		samples = append(samples, newPeerSample(p, e.labels.labels(p), t.At))
	}
	e.labels.forget(t.Peers)

	var suffix []byte
	if f == FormatImport {
		suffix = timestampSuffix(t.At)
	} else {
		suffix = []byte{'\n'}
	}
	dst = appendPeerSeries(dst, samples, suffix, f == FormatScrape)
	dst = appendPeersTotal(dst, t.ConnectedPeers(), suffix, f == FormatScrape)
	clear(samples) // drop the label references until the next call
	e.samples = samples[:0]
	return dst
}

// timestampSuffix is what ends each line of a tick at `at` in FormatImport: a space, the
// millisecond timestamp and a newline.
func timestampSuffix(at time.Time) []byte {
	b := make([]byte, 0, 16)
	b = append(b, ' ')
	b = strconv.AppendInt(b, at.UnixMilli(), 10)
	return append(b, '\n')
}

// appendPeerSeries appends the four peer series of samples, each line ended by suffix.
func appendPeerSeries(dst []byte, samples []peerSample, suffix []byte, comments bool) []byte {
	for series, ps := range peerSeries {
		if comments {
			dst = append(dst, ps.comments...)
		}
		for i := range samples {
			s := &samples[i]
			dst = append(dst, ps.name...)
			dst = append(dst, s.labels.text...)
			dst = append(dst, ' ')
			switch series {
			case 0:
				dst = strconv.AppendInt(dst, s.rx, 10)
			case 1:
				dst = strconv.AppendInt(dst, s.tx, 10)
			case 2:
				dst = strconv.AppendUint(dst, uint64(s.handshake), 10)
			case 3:
				if s.connected {
					dst = append(dst, '1')
				} else {
					dst = append(dst, '0')
				}
			}
			dst = append(dst, suffix...)
		}
	}
	return dst
}

func appendPeersTotal(dst []byte, connected int, suffix []byte, comments bool) []byte {
	if comments {
		dst = append(dst, peersTotalComments...)
	}
	dst = append(dst, peersTotalName+" "...)
	dst = strconv.AppendInt(dst, int64(connected), 10)
	return append(dst, suffix...)
}

// AppendHealthSeries appends the collector's own series from h, with # HELP and # TYPE lines, for
// GET /metrics. wiregui_collector_push_up is left out when the push is off.
func AppendHealthSeries(dst []byte, h Health) []byte {
	var lastTick float64
	if !h.LastTick.IsZero() {
		lastTick = float64(h.LastTick.UnixMilli()) / 1e3
	}
	dst = appendSelf(dst, "wiregui_collector_last_tick_timestamp_seconds", "gauge",
		"Unix time of the collector's last successful poll, 0 before the first.", lastTick)
	dst = appendSelf(dst, "wiregui_collector_tick_duration_seconds", "gauge",
		"How long the last successful poll took.", h.TickDuration.Seconds())
	dst = appendSelf(dst, "wiregui_collector_errors_total", "counter",
		"Failed polls since the collector started.", float64(h.Errors))
	dst = appendSelf(dst, "wiregui_collector_buffered_samples", "gauge",
		"Samples waiting to be pushed to VictoriaMetrics.", float64(h.Push.Buffered))
	dst = appendSelf(dst, "wiregui_collector_dropped_samples_total", "counter",
		"Samples discarded because the push buffer was full.", float64(h.Push.Dropped))
	switch h.Push.State {
	case "ok":
		dst = appendSelf(dst, "wiregui_collector_push_up", "gauge",
			"1 if the last push to VictoriaMetrics succeeded, 0 if it is failing.", 1)
	case "failing":
		dst = appendSelf(dst, "wiregui_collector_push_up", "gauge",
			"1 if the last push to VictoriaMetrics succeeded, 0 if it is failing.", 0)
	}
	return dst
}

func appendSelf(dst []byte, name, typ, help string, v float64) []byte {
	dst = append(dst, "# HELP "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, help...)
	dst = append(dst, "\n# TYPE "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, typ...)
	dst = append(dst, '\n')
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	return append(dst, '\n')
}
