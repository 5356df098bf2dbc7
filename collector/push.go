package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ImportPath is VictoriaMetrics' endpoint for samples in the Prometheus text format.
const ImportPath = "/api/v1/import/prometheus"

// Defaults of a Pusher.
const (
	defaultPushTimeout = 10 * time.Second
	minPushBackoff     = time.Second
	maxPushBackoff     = 30 * time.Second
	// maxPushBody bounds a POST's body. A tick at 10,000 peers is about 6 MB of text, so it
	// goes out in a few parts; small ticks are batched.
	maxPushBody = 2 << 20
	// flushOnStop bounds the last attempt to send what is queued when Run's context ends.
	flushOnStop = time.Second
)

// Pusher sends ticks to VictoriaMetrics, every sample with its tick's millisecond timestamp.
// Add queues a tick and never waits for the network; Run sends the queue, oldest tick first,
// several ticks per request. While VictoriaMetrics is unreachable or refuses the samples, they
// stay queued and Run retries with backoff (1 s doubling to 30 s, and on every Add once the
// backoff has passed); when it is back, the queue arrives with its original timestamps, so
// the series have no gap.
//
// The queue holds at most Buffer of tick time: when the newest queued tick is more than
// Buffer younger than the oldest, the oldest ticks are dropped and their samples counted in
// PushHealth.Dropped. With Buffer 0 only the newest tick waits for the next attempt.
//
// A queued tick costs 32 bytes per peer plus about 100 bytes: the values, and a pointer to the
// device's escaped label set, which all ticks of the device share. At 10,000 peers that is
// 328 kB per tick (TestQueuedTickBytes): with a tick every 5 s, each minute of outage the
// Buffer covers takes about 4 MB, an hour about 236 MB. Besides the queue, a Pusher keeps
// each device's escaped labels (about 200 bytes) and a request body of up to 2 MiB: about
// 4.5 MB at 10,000 peers (TestPusherMemoryAt10kPeers).
//
// A Pusher has no "off" state: a caller without a URL runs none and reports "off" itself.
// Set the fields before the first Add or Run. Add and Health are safe from any goroutine; Run
// must not be called twice at the same time.
type Pusher struct {
	URL    string        // VictoriaMetrics base URL; Run posts to URL + ImportPath
	Buffer time.Duration // how much tick time of samples to keep while sends fail; 0 keeps none
	Client *http.Client  // default: a client with a 10 s timeout
	Logger *slog.Logger  // default slog.Default()

	// Zero means the defaults above; tests shorten them.
	minBackoff, maxBackoff time.Duration
	maxBody                int

	once   sync.Once
	client *http.Client
	wake   chan struct{} // an Add since Run last looked; capacity 1

	mu        sync.Mutex
	labels    labelCache
	queue     []*queuedTick // oldest first
	nextID    uint64
	headSent  int // peers of queue[0] already sent
	health    PushHealth
	downSince time.Time

	body []byte // Run's request body, reused
}

// queuedTick is a tick as the Pusher keeps it until it is sent.
type queuedTick struct {
	id        uint64 // increasing in queue order
	at        time.Time
	connected int // wiregui_peers_total
	peers     []peerSample
}

// samples is how many samples the tick holds from its peer `from` on.
func (q *queuedTick) samples(from int) int {
	n := len(peerSeries) * (len(q.peers) - from)
	if from == 0 {
		n++ // wiregui_peers_total goes with the first part
	}
	return n
}

func (p *Pusher) init() {
	p.once.Do(func() {
		p.wake = make(chan struct{}, 1)
		p.client = p.Client
		if p.client == nil {
			p.client = &http.Client{Timeout: defaultPushTimeout}
		}
	})
}

// Add queues t's samples and returns without waiting for the network. It keeps nothing of t.
func (p *Pusher) Add(t Tick) {
	p.init()
	p.mu.Lock()
	q := &queuedTick{at: t.At, peers: make([]peerSample, len(t.Peers))}
	for i := range t.Peers {
		peer := &t.Peers[i]
		q.peers[i] = newPeerSample(peer, p.labels.labels(peer), t.At)
		if q.peers[i].connected {
			q.connected++
		}
	}
	p.labels.forget(t.Peers)
	p.nextID++
	q.id = p.nextID
	p.queue = append(p.queue, q)
	p.health.Buffered += q.samples(0)
	p.trim()
	p.mu.Unlock()

	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// trim drops the oldest ticks until the queue spans no more than Buffer. Called with mu held.
func (p *Pusher) trim() {
	newest := p.queue[len(p.queue)-1].at
	n := 0
	for n < len(p.queue)-1 && newest.Sub(p.queue[n].at) > p.Buffer {
		from := 0
		if n == 0 {
			from = p.headSent
		}
		dropped := p.queue[n].samples(from)
		p.health.Dropped += int64(dropped)
		p.health.Buffered -= dropped
		n++
	}
	if n > 0 {
		p.pop(n)
	}
}

// pop removes the n oldest ticks. Called with mu held.
func (p *Pusher) pop(n int) {
	clear(p.queue[:n]) // let the ticks go before append reallocates
	p.queue = p.queue[n:]
	p.headSent = 0
	if len(p.queue) == 0 {
		p.queue = nil
	}
}

// Health reports the state of the push. State is "ok" until a send fails.
func (p *Pusher) Health() PushHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.health
	if h.State == "" {
		h.State = "ok"
	}
	return h
}

// Run sends the queued ticks until ctx ends. Then it tries once more, for about a second, to
// send what is left, and returns.
func (p *Pusher) Run(ctx context.Context) {
	p.init()
	minBackoff, maxBackoff := orDefault(p.minBackoff, minPushBackoff), orDefault(p.maxBackoff, maxPushBackoff)
	retry := time.NewTimer(0)
	defer retry.Stop()
	var backoff time.Duration
	var retryAt time.Time
	for {
		select {
		case <-ctx.Done():
			p.flush()
			return
		case <-p.wake:
			if time.Now().Before(retryAt) {
				continue // the timer retries
			}
		case <-retry.C:
		}
		if sent, err := p.send(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			if sent > 0 {
				backoff = 0 // it was up a moment ago
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			retryAt = time.Now().Add(backoff)
			retry.Reset(backoff)
			continue
		}
		backoff, retryAt = 0, time.Time{}
		retry.Stop()
	}
}

// flush is the last attempt to send the queue when Run ends.
func (p *Pusher) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), flushOnStop)
	defer cancel()
	_, err := p.send(ctx)
	if left := p.Health().Buffered; left > 0 {
		p.logger().Warn("samples not pushed to victoriametrics before exit", slog.Int("samples", left), slog.Any("err", err))
	}
}

// send posts the queue, one body at a time, until it is empty or a post fails. It returns the
// number of samples sent.
func (p *Pusher) send(ctx context.Context) (sent int, err error) {
	var recovered bool
	var downFor time.Duration
	defer func() {
		if recovered {
			p.logger().Info("push to victoriametrics recovered",
				slog.Int("backfilled_samples", sent), slog.Duration("down_for", downFor.Round(time.Millisecond)))
		}
	}()
	for {
		body, last, lastPeers, samples := p.nextBody()
		if samples == 0 {
			return sent, nil
		}
		if err := p.post(ctx, body); err != nil {
			if ctx.Err() == nil {
				p.failed(err)
			}
			return sent, err
		}
		sent += samples
		p.mu.Lock()
		p.health.LastSuccess = time.Now()
		if p.health.State == "failing" {
			recovered, downFor = true, time.Since(p.downSince)
			p.health.LastError = ""
		}
		p.health.State = "ok"
		p.done(last, lastPeers)
		p.mu.Unlock()
	}
}

// failed records a failed post, and logs when the push was ok until then.
func (p *Pusher) failed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.health.State != "failing" {
		p.downSince = time.Now()
		p.logger().Warn("push to victoriametrics failing; buffering samples",
			slog.Any("err", err), slog.Int("buffered_samples", p.health.Buffered), slog.Duration("buffer", p.Buffer))
	}
	p.health.State, p.health.LastError = "failing", err.Error()
}

// nextBody encodes the oldest queued samples into p.body: at most maxBody bytes, unless one
// peer alone is larger. It returns the body, the id of the last tick in it, how many of that
// tick's peers will have been sent once the body is, and the number of samples in the body.
// A tick's wiregui_peers_total goes with its first part.
func (p *Pusher) nextBody() (body []byte, last uint64, lastPeers, samples int) {
	limit := orDefault(p.maxBody, maxPushBody)
	// Queued ticks never change: encode them outside the lock, so that Add does not wait.
	p.mu.Lock()
	from := p.headSent
	var ticks []*queuedTick
	for size := 0; len(ticks) < len(p.queue) && size < limit; {
		q := p.queue[len(ticks)]
		ticks = append(ticks, q)
		size += 64 + 64*len(q.peers) // less than its encoded size
	}
	p.mu.Unlock()

	b := p.body[:0]
	for _, q := range ticks {
		suffix := timestampSuffix(q.at)
		size := len(b)
		if from == 0 {
			size += len(peersTotalName) + 21 + len(suffix)
		}
		to := from
		for ; to < len(q.peers); to++ {
			n := q.peers[to].maxPeerBytes(len(suffix))
			if size+n > limit && (to > from || len(b) > 0) {
				break
			}
			size += n
		}
		if (to == from && len(q.peers) > 0) || (size > limit && len(b) > 0) {
			break // nothing of this tick fits
		}
		b = appendPeerSeries(b, q.peers[from:to], suffix, false)
		if from == 0 {
			b = appendPeersTotal(b, q.connected, suffix, false)
		}
		samples += q.samples(from) - q.samples(to)
		if to == len(q.peers) && from == 0 && to == 0 {
			samples++ // a tick without peers: only wiregui_peers_total
		}
		last, lastPeers = q.id, to
		if to < len(q.peers) {
			break
		}
		from = 0
	}
	p.body = b
	return b, last, lastPeers, samples
}

// done removes from the queue what a successful post sent: the ticks up to last, of which
// last only up to its peer lastPeers. Ticks that were dropped meanwhile are gone already.
// Called with mu held.
func (p *Pusher) done(last uint64, lastPeers int) {
	n := 0
	for ; n < len(p.queue) && p.queue[n].id <= last; n++ {
		q, from := p.queue[n], 0
		if n == 0 {
			from = p.headSent
		}
		if q.id == last && lastPeers < len(q.peers) {
			p.health.Buffered -= q.samples(from) - q.samples(lastPeers)
			p.pop(n)
			p.headSent = lastPeers
			return
		}
		p.health.Buffered -= q.samples(from)
	}
	if n > 0 {
		p.pop(n)
	}
}

// post sends one body to VictoriaMetrics.
func (p *Pusher) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.URL, "/")+ImportPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("victoriametrics request: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("push to victoriametrics: %w", err)
	}
	defer func() {
		// Read a little of what is left, so that the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("push to victoriametrics: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

func (p *Pusher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}
