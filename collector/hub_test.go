package collector

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

var hubStart = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// hubAt is the time of the hub's tick k (from 1), 5 s apart.
func hubAt(k int) time.Time { return hubStart.Add(time.Duration(k) * 5 * time.Second) }

// changed returns a changed peer whose rates are rx and rx/10.
func changed(id string, rx float64) Peer {
	return Peer{DeviceID: id, RxTotal: int64(rx) * 100, TxTotal: int64(rx) * 10, RxRate: rx, TxRate: rx / 10,
		LatestHandshake: hubStart, Changed: true}
}

func tickMessage(seq uint64, at time.Time, peers ...Peer) Message {
	return Message{Health: Health{LastTick: at}, Tick: &Tick{Seq: seq, At: at, Peers: peers}}
}

// points returns the expected series: the tick times of ticks first.., with rx (and rx/10)
// where rx is not 0.
func points(first int, rx ...float64) []Point {
	out := make([]Point, len(rx))
	for i, r := range rx {
		out[i] = Point{At: hubAt(first + i), RxRate: r, TxRate: r / 10}
	}
	return out
}

func TestHubSeriesFillsZeros(t *testing.T) {
	h := NewHub(DefaultPoints)
	if got := h.Series("a"); got != nil {
		t.Errorf("before any tick: got %v, want no points", got)
	}
	for k, peers := range [][]Peer{
		1: {changed("a", 100), changed("b", 7)},
		2: {changed("b", 7)},
		3: {},
		4: {changed("a", 300)},
		5: {changed("b", 7)},
	} {
		if k > 0 {
			h.Publish(tickMessage(uint64(k), hubAt(k), peers...))
		}
	}
	tests := []struct {
		device string
		want   []Point
	}{
		{"a", points(1, 100, 0, 0, 300, 0)},
		{"b", points(1, 7, 7, 0, 0, 7)},
		{"never reported", points(1, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			if got := h.Series(tt.device); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestHubWindowSlides(t *testing.T) {
	h := NewHub(3)
	rates := map[int]float64{1: 10, 2: 20, 4: 40, 5: 50} // device a's changes by tick
	wants := map[int][]Point{
		1: points(1, 10),
		2: points(1, 10, 20),
		3: points(1, 10, 20, 0),
		4: points(2, 20, 0, 40),
		5: points(3, 0, 40, 50),
		6: points(4, 40, 50, 0),
		7: points(5, 50, 0, 0),
		8: points(6, 0, 0, 0),
		9: points(7, 0, 0, 0),
	}
	for k := 1; k <= 9; k++ {
		var peers []Peer
		if r, ok := rates[k]; ok {
			peers = append(peers, changed("a", r))
		}
		h.Publish(tickMessage(uint64(k), hubAt(k), peers...))
		if got := h.Series("a"); !reflect.DeepEqual(got, wants[k]) {
			t.Errorf("after tick %d: got  %v\nwant %v", k, got, wants[k])
		}
	}
	// Unseen for a whole window: the device is forgotten (the database has its last state),
	// so the hub's memory does not grow with devices that come and go.
	h.mu.RLock()
	kept := len(h.devices)
	h.mu.RUnlock()
	if kept != 0 {
		t.Errorf("after a window without change: the hub keeps %d devices, want none", kept)
	}
	if p, ok := h.Latest("a"); ok {
		t.Errorf("Latest after a window without change = %+v, want none", p)
	}
	// Seen again, it starts afresh.
	h.Publish(tickMessage(10, hubAt(10), changed("a", 100)))
	if got, want := h.Series("a"), points(8, 0, 0, 100); !reflect.DeepEqual(got, want) {
		t.Errorf("after it came back: got %v, want %v", got, want)
	}
	if p, ok := h.Latest("a"); !ok || p.RxRate != 100 {
		t.Errorf("Latest after it came back = %+v, %v; want rate 100", p, ok)
	}
}

// A device that changes at every tick fills its ring, which then wraps.
func TestHubSeriesOfABusyDevice(t *testing.T) {
	h := NewHub(4)
	var want []float64
	for k := 1; k <= 11; k++ {
		h.Publish(tickMessage(uint64(k), hubAt(k), changed("a", float64(k))))
		want = append(want, float64(k))
		first := max(1, k-3)
		if got := h.Series("a"); !reflect.DeepEqual(got, points(first, want[first-1:]...)) {
			t.Errorf("after tick %d: got %v, want %v", k, got, points(first, want[first-1:]...))
		}
	}
}

func TestHubLatest(t *testing.T) {
	h := NewHub(DefaultPoints)
	if _, ok := h.Latest("a"); ok {
		t.Error("Latest before any tick: got a peer, want none")
	}
	h.Publish(tickMessage(1, hubAt(1), changed("a", 100), changed("b", 1)))
	want := changed("a", 100)
	if got, ok := h.Latest("a"); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("after its change: got %+v, %v; want %+v", got, ok, want)
	}
	// The in-process stats loop publishes unchanged peers too: they do not count.
	h.Publish(tickMessage(2, hubAt(2), Peer{DeviceID: "a", RxTotal: 1, RxRate: 99}, changed("b", 2)))
	want.RxRate, want.TxRate, want.Changed = 0, 0, false
	if got, ok := h.Latest("a"); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("a tick later: got %+v, %v; want %+v", got, ok, want)
	}
	if got := h.Series("a"); !reflect.DeepEqual(got, points(1, 100, 0)) {
		t.Errorf("series: got %v, want %v", got, points(1, 100, 0))
	}
	// A failed poll is not a tick: the rates of the last one stand.
	h.Publish(Message{Health: Health{LastError: "boom", Errors: 1}})
	if got, _ := h.Latest("b"); got.RxRate != 2 || !got.Changed {
		t.Errorf("after a failed poll: got %+v, want the rates of the last tick", got)
	}
}

func TestHubHealth(t *testing.T) {
	h := NewHub(DefaultPoints)
	if _, ok := h.Health(); ok {
		t.Error("before any message: got a health, want none")
	}
	failed := Health{LastError: "read peers: no such device", Errors: 1, Push: PushHealth{State: "off"}}
	h.Publish(Message{Health: failed})
	if got, ok := h.Health(); !ok || !reflect.DeepEqual(got, failed) {
		t.Errorf("got %+v, %v; want %+v", got, ok, failed)
	}
	if got := h.Series("a"); got != nil {
		t.Errorf("series after a failed poll only: got %v, want none", got)
	}
}

// A stall lasts from Stall to the next message, with a tick or without; subscribers are
// woken when it begins and when it ends, without an update of their own for either.
func TestHubStall(t *testing.T) {
	ready := func(sub *Subscription) bool {
		select {
		case <-sub.Ready():
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		name string
		end  Message
	}{
		{"ended by a tick", tickMessage(2, hubAt(2), changed("a", 1))},
		{"ended by a failed poll", Message{Health: Health{Errors: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(DefaultPoints)
			h.Publish(tickMessage(1, hubAt(1), changed("a", 1)))
			sub := h.Subscribe(4)
			defer sub.Close()
			if _, ok := h.Stalled(); ok {
				t.Fatal("stalled before Stall")
			}
			h.Stall(hubAt(1))
			if since, ok := h.Stalled(); !ok || !since.Equal(hubAt(1)) {
				t.Errorf("after Stall: got %v, %v; want since %v", since, ok, hubAt(1))
			}
			if !ready(sub) || len(sub.Take()) != 0 {
				t.Error("Stall: want the subscriber woken, with no update")
			}
			h.Publish(tc.end)
			if since, ok := h.Stalled(); ok {
				t.Errorf("after a message: got stalled since %v, want not stalled", since)
			}
			if !ready(sub) {
				t.Error("the end of the stall did not wake the subscriber")
			}
			if got, want := len(sub.Take()), map[bool]int{true: 1}[tc.end.Tick != nil]; got != want {
				t.Errorf("got %d updates after the stall ended, want %d", got, want)
			}
			h.Publish(Message{Health: Health{Errors: 2}})
			if ready(sub) {
				t.Error("a failed poll outside a stall woke the subscriber")
			}
		})
	}
}

// A collector restart sends seq 1 again; the hub keeps its own order of ticks.
func TestHubCollectorRestart(t *testing.T) {
	h := NewHub(DefaultPoints)
	sub := h.Subscribe(10)
	defer sub.Close()
	seqs := []uint64{1, 2, 3, 1, 2}
	for i, seq := range seqs {
		h.Publish(tickMessage(seq, hubAt(i+1), changed("a", float64(10*(i+1)))))
	}
	if got, want := h.Series("a"), points(1, 10, 20, 30, 40, 50); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if got, _ := h.Latest("a"); got.RxRate != 50 {
		t.Errorf("Latest: got rate %v, want 50 (of the last tick)", got.RxRate)
	}
	updates := sub.Take()
	if len(updates) != len(seqs) {
		t.Fatalf("got %d updates, want %d", len(updates), len(seqs))
	}
	for i, seq := range seqs {
		if u := updates[i]; u.Seq != seq || !u.At.Equal(hubAt(i+1)) {
			t.Errorf("update %d: got seq %d at %v, want %d at %v", i, u.Seq, u.At, seq, hubAt(i+1))
		}
	}
}

func TestHubSubscribe(t *testing.T) {
	h := NewHub(DefaultPoints)
	h.Publish(tickMessage(1, hubAt(1), changed("before", 1)))
	sub := h.Subscribe(4)
	select {
	case <-sub.Ready():
		t.Fatal("ready before any tick")
	default:
	}
	h.Publish(Message{Health: Health{Errors: 1}}) // no tick: no update
	h.Publish(tickMessage(2, hubAt(2), changed("a", 1), Peer{DeviceID: "idle"}, changed("b", 2)))
	h.Publish(tickMessage(3, hubAt(3)))
	want := []Update{
		{Seq: 2, At: hubAt(2), Peers: []Peer{changed("a", 1), changed("b", 2)}},
		{Seq: 3, At: hubAt(3), Peers: []Peer{}},
	}
	select {
	case <-sub.Ready():
	default:
		t.Fatal("not ready after two ticks")
	}
	got := sub.Take()
	if len(got) != len(want) {
		t.Fatalf("took %d updates, want %d", len(got), len(want))
	}
	for i, w := range want {
		u := got[i]
		if len(u.Peers) == 0 {
			u.Peers = []Peer{}
		}
		u.byID = nil // the lookup index; TestUpdatePeerFindsChangedDevicesOnly checks it
		if !reflect.DeepEqual(u, w) {
			t.Errorf("update %d: got %+v, want %+v", i, u, w)
		}
	}
	if more := sub.Take(); len(more) != 0 {
		t.Errorf("a second Take: %d updates, want none", len(more))
	}

	sub.Close()
	h.Publish(tickMessage(4, hubAt(4), changed("a", 1)))
	if got := sub.Take(); len(got) != 0 {
		t.Errorf("after Close: %d updates, want none", len(got))
	}
	sub.Close() // twice is harmless
	h.mu.RLock()
	subs := len(h.subs)
	h.mu.RUnlock()
	if subs != 0 {
		t.Errorf("after Close: hub has %d subscribers, want 0", subs)
	}
}

// A subscriber that does not take its updates never holds Publish up; when it takes them,
// it finds the newest ticks, and the first of them counts those it missed.
func TestHubSubscriberThatFallsBehindGetsTheNewest(t *testing.T) {
	h := NewHub(DefaultPoints)
	slow := h.Subscribe(2)
	defer slow.Close()
	keeping := h.Subscribe(1) // takes every update before the next is published
	defer keeping.Close()
	const ticks = 50
	for k := 1; k <= ticks; k++ {
		h.Publish(tickMessage(uint64(k), hubAt(k), changed("a", 1)))
		if got := keeping.Take(); len(got) != 1 || got[0].Seq != uint64(k) || got[0].Missed != 0 {
			t.Fatalf("tick %d: the subscriber that keeps up took %+v", k, got)
		}
	}
	got := slow.Take()
	if len(got) != 2 || got[0].Seq != ticks-1 || got[0].Missed != ticks-2 || got[1].Seq != ticks || got[1].Missed != 0 {
		t.Errorf("the slow subscriber took %+v; want ticks %d (missed %d) and %d", got, ticks-1, ticks-2, ticks)
	}
	if got := h.Missed(); got != ticks-2 {
		t.Errorf("Missed() = %d, want the slow subscriber's %d", got, ticks-2)
	}

	// With room for one update only, the newest carries the count.
	single := h.Subscribe(1)
	defer single.Close()
	for k := ticks + 1; k <= ticks+3; k++ {
		h.Publish(tickMessage(uint64(k), hubAt(k), changed("a", 1)))
	}
	if got := single.Take(); len(got) != 1 || got[0].Seq != ticks+3 || got[0].Missed != 2 {
		t.Errorf("a subscriber with room for one took %+v; want tick %d, missed 2", got, ticks+3)
	}
}

// Run with -race: publishing, reading and subscribing at once.
func TestHubConcurrentUse(t *testing.T) {
	h := NewHub(10)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for k := 1; k <= 300; k++ {
			peers := []Peer{changed(fmt.Sprint("d", k%7), float64(k)), changed(fmt.Sprint("d", k%3), 1)}
			h.Publish(tickMessage(uint64(k%50+1), hubAt(k), peers...))
		}
	})
	for r := range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				id := fmt.Sprint("d", r)
				for _, p := range h.Series(id) {
					if p.At.IsZero() {
						t.Error("series point without a time")
						return
					}
				}
				h.Latest(id)
				h.Health()
				h.Missed()
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for {
				sub := h.Subscribe(2)
				for range 5 {
					select {
					case <-sub.Ready():
						for _, u := range sub.Take() {
							for _, p := range u.Peers {
								_ = p.RxRate + p.TxRate
							}
						}
					case <-done:
						sub.Close()
						return
					}
				}
				sub.Close()
			}
		})
	}
	wg.Wait()
}

// hubFleet returns the messages of ticks over n devices; tick i changes every tenth device
// from the i-th (as the collector sends them: the changed peers only).
func hubFleet(n int) []Message {
	all := feedTick(n).Peers
	msgs := make([]Message, 10)
	for i := range msgs {
		var peers []Peer
		for j := i; j < n; j += 10 {
			peers = append(peers, all[j])
		}
		msgs[i] = Message{Health: feedHealth, Tick: &Tick{Seq: uint64(i + 1), At: hubAt(i), Peers: peers}}
	}
	return msgs
}

func BenchmarkHubPublish10k(b *testing.B) {
	msgs := hubFleet(10_000)
	h := NewHub(DefaultPoints)
	for i := range 2 * DefaultPoints { // a full window, with devices leaving it
		h.Publish(msgs[i%len(msgs)])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(msgs[i%len(msgs)])
		i++
	}
}

func BenchmarkHubSeries(b *testing.B) {
	msgs := hubFleet(10_000)
	h := NewHub(DefaultPoints)
	for i := range 2 * DefaultPoints {
		h.Publish(msgs[i%len(msgs)])
	}
	id := msgs[0].Tick.Peers[0].DeviceID // changes at every tenth tick
	b.ReportAllocs()
	for b.Loop() {
		if len(h.Series(id)) != DefaultPoints {
			b.Fatal("short series")
		}
	}
}

// BenchmarkHubFanOut publishes a tick of 10,000 changed devices to 100 subscribers, and waits
// until each has handled it: "range" reads every peer, "lookup" picks the 25 devices of its
// page from the tick, as an SSE handler would. cpu-ms/tick is the CPU time of the whole
// process (publisher, subscribers, garbage collector) per tick.
func BenchmarkHubFanOut(b *testing.B) {
	all := feedTick(10_000).Peers
	for _, mode := range []string{"range", "lookup"} {
		b.Run(mode, func(b *testing.B) {
			h := NewHub(DefaultPoints)
			var handled sync.WaitGroup
			stop := make(chan struct{})
			var subs sync.WaitGroup
			b.Cleanup(func() { close(stop); subs.Wait() })
			for s := range 100 {
				sub := h.Subscribe(1)
				b.Cleanup(sub.Close)
				page := make([]string, 25)
				for j := range page {
					page[j] = all[(s*97+j*389)%len(all)].DeviceID
				}
				subs.Go(func() {
					var sum float64
					for {
						select {
						case <-sub.Ready():
						case <-stop:
							_ = sum
							return
						}
						for _, u := range sub.Take() {
							if mode == "range" {
								for _, p := range u.Peers {
									sum += p.RxRate
								}
							} else {
								for _, id := range page {
									if p, ok := u.Peer(id); ok {
										sum += p.RxRate
									}
								}
							}
							handled.Done()
						}
					}
				})
			}
			msg := Message{Tick: &Tick{At: hubStart, Peers: all}}
			cpu0 := cpuTime()
			for b.Loop() {
				handled.Add(100)
				msg.Tick.Seq++
				h.Publish(msg)
				handled.Wait()
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/tick")
			if h.Missed() != 0 {
				b.Errorf("subscribers missed %d updates", h.Missed())
			}
		})
	}
}

func TestUpdatePeerFindsChangedDevicesOnly(t *testing.T) {
	h := NewHub(DefaultPoints)
	sub := h.Subscribe(1)
	defer sub.Close()
	unchanged := changed("c", 5)
	unchanged.Changed = false
	h.Publish(tickMessage(1, hubAt(1), changed("a", 100), unchanged, changed("b", 7)))
	u := sub.Take()[0]
	for _, id := range []string{"a", "b"} {
		p, ok := u.Peer(id)
		if !ok || p.DeviceID != id {
			t.Errorf("Peer(%q) = %+v, %v; want the changed device", id, p, ok)
		}
	}
	for _, id := range []string{"c", "never reported"} {
		if p, ok := u.Peer(id); ok {
			t.Errorf("Peer(%q) = %+v; want none: it did not change", id, p)
		}
	}
	byHand := Update{Peers: []Peer{changed("x", 1)}}
	if p, ok := byHand.Peer("x"); !ok || p.RxRate != 1 {
		t.Errorf("an Update made by hand: Peer(x) = %+v, %v", p, ok)
	}
}
