package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/assets"
	"wiregui/collector"
	"wiregui/store"
)

// sseEvent is one Server-Sent Event as a browser sees it.
type sseEvent struct {
	Name, ID, Data string
}

// sseStream is an open event stream.
type sseStream struct {
	Status int
	events chan sseEvent
	cancel context.CancelFunc
}

// openStream opens path as EventSource does, with the client's session. It returns at once
// when the answer is not a stream.
func openStream(t testing.TB, c *apptest.Client, path string, header ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := *c.HTTP
	client.Timeout = 0
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	s := &sseStream{Status: resp.StatusCode, events: make(chan sseEvent, 1024), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		close(s.events)
		return s
	}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" || len(data) > 0 {
					ev.Data = strings.Join(data, "\n")
					s.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return s
}

func (s *sseStream) Close() { s.cancel() }

// until collects events until one named name arrives, or within passes; it returns all
// collected and whether name came.
func (s *sseStream) until(name string, within time.Duration) ([]sseEvent, bool) {
	var got []sseEvent
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return got, false
			}
			got = append(got, ev)
			if ev.Name == name {
				return got, true
			}
		case <-timeout:
			return got, false
		}
	}
}

// ended reports whether the server ended the stream within d.
func (s *sseStream) ended(d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// publish reports a tick in which the devices changed, each with rx bytes/s.
func (e *env) publish(seq uint64, at time.Time, rx map[*store.Device]float64) {
	var peers []collector.Peer
	for d, r := range rx {
		peers = append(peers, collector.Peer{DeviceID: d.ID, PublicKey: d.PublicKey, RxTotal: int64(r) * 10,
			TxTotal: int64(r), RxRate: r, TxRate: r / 10, LatestHandshake: at.Add(-time.Second), Changed: true})
	}
	e.live.Publish(collector.Message{Health: collector.Health{LastTick: at}, Tick: &collector.Tick{Seq: seq, At: at, Peers: peers}})
}

func names(events []sseEvent) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.Name)
	}
	return out
}

func TestLiveStreamSendsOnlyTheDevicesShownToThoseAllowed(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	_, admin := e.signedIn(t, "root@example.com", store.RoleAdmin)
	a1, a2 := e.device(t, alice, "alice laptop"), e.device(t, alice, "alice phone")
	b1 := e.device(t, bob, "bob laptop")

	// Alice's table page shows a1 only: its stream gets a1's events and nothing of a2 or b1.
	s := openStream(t, ac, "/devices/live?id="+a1.ID)
	if s.Status != http.StatusOK {
		t.Fatalf("alice's stream of her device: status %d", s.Status)
	}
	first, _ := s.until("handshake-"+a1.ID, 5*time.Second) // the state on connect
	wantEvents(t, "on connect", first, "status-"+a1.ID, "rx-"+a1.ID, "tx-"+a1.ID, "handshake-"+a1.ID)
	at := time.Now()
	e.publish(1, at, map[*store.Device]float64{a1: 2048, a2: 100, b1: 300})
	got, ok := s.until("tx-"+a1.ID, 5*time.Second)
	if !ok {
		t.Fatalf("no tx event for a1 after a tick: %v", names(got))
	}
	e.publish(2, at.Add(time.Second), map[*store.Device]float64{a2: 100, b1: 300})
	more, _ := s.until("never", 500*time.Millisecond)
	got = append(got, more...)
	for _, ev := range got {
		if !strings.HasSuffix(ev.Name, a1.ID) && ev.Name != "live-notice" { // the notice is about the collector
			t.Errorf("alice's stream of a1 carries %q", ev.Name)
		}
		if ev.Name == "rx-"+a1.ID && strings.Contains(ev.Data, "KiB/s") && !strings.Contains(ev.Data, "2 KiB/s") {
			t.Errorf("rx of a1: %q, want 2 KiB/s", ev.Data)
		}
	}
	wantEvents(t, "after the ticks", got, "status-"+a1.ID, "rx-"+a1.ID, "tx-"+a1.ID)
	if !containsData(got, "rx-"+a1.ID, `<span class="rate">2 KiB/s</span>`) {
		t.Errorf("no rx event of a1 with its rate: %v", got)
	}
	if !containsData(got, "rx-"+a1.ID, `<span class="rate">0 B/s</span>`) {
		t.Errorf("a1 did not change at the second tick, but no 0 B/s was sent: %v", got)
	}
	if !containsData(got, "status-"+a1.ID, `status-online`) {
		t.Errorf("no online status for a1: %v", got)
	}

	// Someone else's device, alone or among one's own, is a 404, as its page is.
	for _, path := range []string{"/devices/live?id=" + b1.ID, "/devices/live?id=" + a1.ID + "&id=" + b1.ID,
		"/devices/" + b1.ID + "/live", "/devices/live?id=no-such-device"} {
		if s := openStream(t, ac, path); s.Status != http.StatusNotFound {
			t.Errorf("alice: %s: status %d, want 404", path, s.Status)
		}
	}
	// An admin may follow anyone's devices.
	if s := openStream(t, admin, "/devices/live?id="+a1.ID+"&id="+b1.ID); s.Status != http.StatusOK {
		t.Errorf("admin: stream of alice's and bob's devices: status %d", s.Status)
	}
	// Signed out: no stream, the sign-in page.
	if s := openStream(t, apptest.New(t, e.url), "/devices/live?id="+a1.ID); s.Status != http.StatusSeeOther {
		t.Errorf("signed out: status %d, want a redirect to sign in", s.Status)
	}
	if s := openStream(t, ac, "/devices/live"); s.Status != http.StatusBadRequest {
		t.Errorf("no id: status %d, want 400", s.Status)
	}
	many := "/devices/live?id=" + a1.ID
	for i := range 100 {
		many += "&id=x" + string(rune('a'+i%26)) + strings.Repeat("y", i)
	}
	if s := openStream(t, ac, many); s.Status != http.StatusBadRequest {
		t.Errorf("101 ids: status %d, want 400", s.Status)
	}
}

// While the collector is stalled, the live pages say that their data is delayed: in the page
// and over an open stream, which takes the notice back when the collector reports again.
// /healthz says so too.
func TestLiveNoticeWhileTheCollectorIsStalled(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	e.publish(1, time.Now(), map[*store.Device]float64{a1: 100})
	const delayed = "Live data is delayed: the collector has not reported for "

	s := openStream(t, ac, "/devices/"+a1.ID+"/live")
	got, _ := s.until("live-notice", 5*time.Second)
	if !containsData(got, "live-notice", "<!--") || containsData(got, "live-notice", delayed) {
		t.Fatalf("on connect: got %v, want a live-notice event without a notice", got)
	}

	e.live.Stall(time.Now().Add(-17 * time.Second))
	got, _ = s.until("live-notice", 5*time.Second)
	if !containsData(got, "live-notice", delayed+"17 s.") {
		t.Errorf("after the stall began: got %v, want the notice with 17 s", got)
	}
	for _, path := range []string{"/devices", "/devices/" + a1.ID} {
		if body := ac.Get(path).Body; !strings.Contains(body, `sse-swap="live-notice"><p class="live-notice" role="status">`+delayed) {
			t.Errorf("%s during the stall has no notice:\n%s", path, body)
		}
	}
	var health struct {
		Status    string
		Collector struct{ Error string }
	}
	if r := ac.Get("/healthz"); json.Unmarshal([]byte(r.Body), &health) != nil || r.Status != http.StatusOK ||
		health.Status != "degraded" || !strings.HasPrefix(health.Collector.Error, "the collector has not reported for ") {
		t.Errorf("healthz during the stall: %d %s, want 200, degraded, and the collector's silence", r.Status, r.Body)
	}

	e.publish(2, time.Now(), map[*store.Device]float64{a1: 200})
	got, _ = s.until("live-notice", 5*time.Second)
	if !containsData(got, "live-notice", "<!--") {
		t.Errorf("after the collector reported again: got %v, want the notice taken back", got)
	}
	if body := ac.Get("/devices/" + a1.ID).Body; strings.Contains(body, delayed) {
		t.Errorf("the device page after the stall still has the notice")
	}
	if r := ac.Get("/healthz"); !strings.Contains(r.Body, `"status":"ok"`) {
		t.Errorf("healthz after the stall: %s, want ok", r.Body)
	}
}

func wantEvents(t *testing.T, when string, got []sseEvent, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, ev := range got {
		have[ev.Name] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: no %q event among %v", when, w, names(got))
		}
	}
}

func containsData(events []sseEvent, name, data string) bool {
	for _, ev := range events {
		if ev.Name == name && strings.Contains(ev.Data, data) {
			return true
		}
	}
	return false
}

func TestLiveDeviceStreamSendsChartPointsWithoutGaps(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for k := range 5 {
		e.publish(uint64(k+1), start.Add(time.Duration(k)*time.Second), map[*store.Device]float64{a1: float64(100 * (k + 1))})
	}

	// A new page has the points up to since; the stream sends the later ones, then each tick.
	since := start.Add(2 * time.Second).UnixMilli()
	s := openStream(t, ac, "/devices/"+a1.ID+"/live?since="+itoa(since))
	got, _ := s.until("never", 300*time.Millisecond)
	points := pointsOf(t, got, a1.ID)
	if len(points) != 2 || points[0].At != start.Add(3*time.Second).UnixMilli() || points[1].Rx != 500 {
		t.Fatalf("catch-up points after since: %+v, want the ticks 4 and 5", points)
	}
	e.publish(6, start.Add(5*time.Second), map[*store.Device]float64{})
	got, _ = s.until("point-"+a1.ID, 5*time.Second)
	points = pointsOf(t, got, a1.ID)
	if len(points) != 1 || points[0].Rx != 0 || points[0].At != start.Add(5*time.Second).UnixMilli() {
		t.Errorf("the point of a tick in which the device did not change: %+v, want one at 0", points)
	}

	// A browser that reconnects sends the id of the last point it has: nothing older comes again.
	s2 := openStream(t, ac, "/devices/"+a1.ID+"/live?since=0", "Last-Event-ID", itoa(start.Add(4*time.Second).UnixMilli()))
	got, _ = s2.until("never", 300*time.Millisecond)
	if points := pointsOf(t, got, a1.ID); len(points) != 1 || points[0].At != start.Add(5*time.Second).UnixMilli() {
		t.Errorf("after reconnecting with Last-Event-ID: %+v, want only the newest point", points)
	}
	for _, ev := range got {
		if strings.HasPrefix(ev.Name, "point-") && ev.ID == "" {
			t.Errorf("point %q has no id for Last-Event-ID", ev.Data)
		}
	}
}

type chartPoint struct {
	At int64   `json:"at"`
	Rx float64 `json:"rx"`
	Tx float64 `json:"tx"`
}

func pointsOf(t *testing.T, events []sseEvent, id string) []chartPoint {
	t.Helper()
	var out []chartPoint
	for _, ev := range events {
		if ev.Name != "point-"+id {
			continue
		}
		var p chartPoint
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			t.Fatalf("point %q: %v", ev.Data, err)
		}
		out = append(out, p)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestLiveStatusTurnsIdleWithoutAChange(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	at := time.Now()
	e.live.Publish(collector.Message{Tick: &collector.Tick{Seq: 1, At: at, Peers: []collector.Peer{{DeviceID: a1.ID,
		RxTotal: 10, LatestHandshake: at.Add(-collector.OnlineWithin + time.Second), Changed: true}}}})
	s := openStream(t, ac, "/devices/live?id="+a1.ID)
	got, _ := s.until("handshake-"+a1.ID, 5*time.Second)
	if !containsData(got, "status-"+a1.ID, "status-online") {
		t.Fatalf("on connect: %v, want online", got)
	}
	// Two seconds later nothing changed, but the handshake is over 2 minutes old.
	e.live.Publish(collector.Message{Tick: &collector.Tick{Seq: 2, At: at.Add(2 * time.Second)}})
	got, ok := s.until("status-"+a1.ID, 5*time.Second)
	if !ok || !containsData(got, "status-"+a1.ID, "status-idle") {
		t.Errorf("after the handshake aged past 2 minutes: %v, want idle", got)
	}
}

func TestLiveStreamEndsWhenTheUserMayNoLongerSee(t *testing.T) {
	defer app.SetLiveRecheck(100 * time.Millisecond)()
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	s := openStream(t, ac, "/devices/live?id="+a1.ID)
	if s.Status != http.StatusOK || s.ended(500*time.Millisecond) {
		t.Fatalf("stream of an allowed device: status %d, or it ended", s.Status)
	}
	now := time.Now()
	if err := e.store.SetUserDisabled(context.Background(), alice.ID, &now); err != nil {
		t.Fatal(err)
	}
	if !s.ended(5 * time.Second) {
		t.Error("the stream goes on after its user was disabled")
	}

	_, bc := e.signedIn(t, "bob@example.com", store.RoleUnprivileged)
	bob, _ := e.store.UserByEmail(context.Background(), "bob@example.com")
	b1 := e.device(t, bob, "bob laptop")
	s = openStream(t, bc, "/devices/live?id="+b1.ID)
	if s.Status != http.StatusOK {
		t.Fatalf("bob's stream: %d", s.Status)
	}
	bc.Get("/devices")
	if r := bc.Post("/logout", nil); !strings.HasSuffix(r.URL, "/login") {
		t.Fatalf("sign out: %d at %s", r.Status, r.URL)
	}
	if !s.ended(5 * time.Second) {
		t.Error("the stream goes on after its session signed out")
	}
}

func TestHistoryWithoutVictoriaMetricsSaysWhy(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	r := ac.Get("/devices/" + a1.ID + "/history?range=1h")
	if r.Status != http.StatusNotFound || r.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(r.Body, "WG_VICTORIAMETRICS_URL") {
		t.Errorf("history without VictoriaMetrics: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	page := ac.Get("/devices/" + a1.ID)
	if strings.Contains(page.Body, "data-chart-range") || !strings.Contains(page.Body, `id="traffic-chart"`) {
		t.Error("without VictoriaMetrics the page has the live chart and no history buttons")
	}
}

func TestLiveStreamsEndWhenTheServerCloses(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	s := openStream(t, ac, "/devices/"+a1.ID+"/live")
	if s.Status != http.StatusOK || s.ended(200*time.Millisecond) {
		t.Fatalf("stream: %d, or it ended", s.Status)
	}
	e.web.Close() // what http.Server.Shutdown calls, so that it need not wait for the streams
	if !s.ended(2 * time.Second) {
		t.Error("the stream goes on after the server closed")
	}
}

// A stream that falls behind the collector misses ticks. It must still end where the
// collector is: each device's state from the hub, the chart's missed points from the hub's
// window, in order and without gaps.
func TestLiveStreamThatFellBehindCatchesUp(t *testing.T) {
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	busy := e.device(t, alice, "busy")
	quiet := make([]*store.Device, 40)
	path := "/devices/live?"
	for i := range quiet {
		quiet[i] = e.device(t, alice, "quiet "+strconv.Itoa(i))
		path += "id=" + quiet[i].ID + "&"
	}
	table := openStream(t, ac, path)
	if _, ok := table.until("handshake-"+quiet[len(quiet)-1].ID, 5*time.Second); !ok {
		t.Fatal("the table's stream sent no state on connect")
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	chart := openStream(t, ac, "/devices/"+busy.ID+"/live?since="+itoa(start.UnixMilli()))
	if _, ok := chart.until("handshake-"+busy.ID, 5*time.Second); !ok {
		t.Fatal("the chart's stream sent no state on connect")
	}

	// Ticks in a burst, far faster than the streams can write them: busy changes at every
	// tick, each quiet device at one tick of the last 50 only, so the streams miss most of
	// the ticks at which the quiet devices changed.
	const ticks = 2000
	at := func(k int) time.Time { return start.Add(time.Duration(k) * time.Second) }
	for k := 1; k <= ticks; k++ {
		changed := map[*store.Device]float64{busy: float64(k)}
		if i := k - (ticks - 50); i >= 0 && i < len(quiet) {
			changed[quiet[i]] = float64(1000 + i)
		}
		e.publish(uint64(k), at(k), changed)
	}

	// Within a second of the last tick, as of any tick, both pages show it.
	var points []chartPoint
	for deadline := time.Now().Add(time.Second); len(points) == 0 || points[len(points)-1].At != at(ticks).UnixMilli(); {
		events, ok := chart.until("point-"+busy.ID, time.Until(deadline))
		points = append(points, pointsOf(t, events, busy.ID)...)
		if !ok {
			t.Fatalf("the chart's stream did not reach the last tick: its last points are %v", points[max(0, len(points)-3):])
		}
	}
	// A stream that kept up would have sent a point for every tick.
	if len(points) >= ticks {
		t.Fatalf("the chart's stream sent all %d points: it kept up with the burst, so this test tests nothing; make it faster", len(points))
	}
	for i := 1; i < len(points); i++ {
		if points[i].At <= points[i-1].At {
			t.Fatalf("points out of order: %v after %v", points[i], points[i-1])
		}
	}
	window := map[int64]float64{}
	for _, p := range points {
		window[p.At] = p.Rx
	}
	for k := ticks - collector.DefaultPoints + 1; k <= ticks; k++ {
		if rx, ok := window[at(k).UnixMilli()]; !ok || rx != float64(k) {
			t.Errorf("the chart's point of tick %d: %v (sent: %v), want %d B/s", k, rx, ok, k)
		}
	}

	events, _ := table.until("never", time.Second)
	lastRx := map[string]string{}
	for _, ev := range events {
		lastRx[ev.Name] = ev.Data
	}
	for i, d := range quiet {
		want := `<span class="total">` + assets.FormatBytes(float64(10*(1000+i))) + `</span> <span class="rate">0 B/s</span>`
		if got := lastRx["rx-"+d.ID]; got != want {
			t.Errorf("quiet %d, changed at tick %d: the table shows %q, want %q", i, ticks-50+i, got, want)
		}
	}
}

// An open page is not activity: its stream ends when the session has been idle too long,
// as the next request would.
func TestLiveStreamEndsWhenItsSessionGoesIdle(t *testing.T) {
	defer app.SetLiveRecheck(100 * time.Millisecond)()
	defer app.SetSessionIdle(time.Second, 0)()
	e := newEnv(t)
	alice, ac := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	a1 := e.device(t, alice, "alice laptop")
	s := openStream(t, ac, "/devices/live?id="+a1.ID)
	if s.Status != http.StatusOK || s.ended(500*time.Millisecond) {
		t.Fatalf("stream: status %d, or it ended before the session was idle", s.Status)
	}
	if !s.ended(3 * time.Second) {
		t.Error("the stream goes on after its session was idle for longer than allowed")
	}
}
