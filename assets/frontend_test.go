package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
)

// The front-end test drives Debian's Chromium against a fixture page (testdata/live-device.html)
// that carries the markup app.js and app.css are written for, served with the app's
// Content-Security-Policy, the real embedded static files, and a test server's SSE and history
// endpoints.

// fixtureCSP is the policy app/middleware.go sets on every response.
const fixtureCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// Device 7 streams from the start; device 8's stream answers 503 until the test brings it up.
const (
	streamingID = "7"
	failingID   = "8"
)

type sseMessage struct{ event, data string }

// liveServer serves the fixture page, the static files, an SSE stream and a history endpoint
// per device, and records what the browser asked for.
type liveServer struct {
	*httptest.Server
	page       *template.Template
	seriesFrom int64 // unix ms of the first point of device 7's data-series
	done       chan struct{}

	mu          sync.Mutex
	renders     map[string]int
	refreshes   map[string][]time.Time // htmx re-fetches of the page (HX-Request)
	streamDown  map[string]bool
	subscribers map[string][]chan sseMessage
	historyAsks []string // "id range accept"
}

func newLiveServer(t *testing.T) *liveServer {
	t.Helper()
	tmpl, err := template.New("live-device.html").Funcs(template.FuncMap{"static": StaticURL}).
		ParseFiles(filepath.Join("testdata", "live-device.html"))
	if err != nil {
		t.Fatal(err)
	}
	s := &liveServer{
		page:        tmpl,
		seriesFrom:  time.Now().Add(-2 * time.Minute).Truncate(time.Second).UnixMilli(),
		done:        make(chan struct{}),
		renders:     map[string]int{},
		refreshes:   map[string][]time.Time{},
		streamDown:  map[string]bool{failingID: true},
		subscribers: map[string][]chan sseMessage{},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", Static())
	mux.HandleFunc("GET /devices/{id}", s.showDevice)
	mux.HandleFunc("GET /devices/{id}/live", s.streamDevice)
	mux.HandleFunc("GET /devices/{id}/history", s.deviceHistory)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(s.done)
		s.Close()
	})
	return s
}

type fixtureDevice struct {
	ID     int
	Name   string
	Status string
}

// series is a chart's data-series: device 7 has 58 points (two short of the 60 kept), device 8
// five, the last one's rx telling which rendering of the page it came from.
func (s *liveServer) series(id string, render int) string {
	var v struct {
		At []int64   `json:"at"`
		RX []float64 `json:"rx"`
		TX []float64 `json:"tx"`
	}
	n := 58
	if id == failingID {
		n = 5
	}
	for i := range n {
		v.At = append(v.At, s.seriesFrom+int64(i)*1000)
		v.RX = append(v.RX, float64(i*100))
		v.TX = append(v.TX, float64(i*50))
	}
	if id == failingID {
		v.RX[n-1] = float64(render)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *liveServer) showDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.renders[id]++
	render := s.renders[id]
	if r.Header.Get("HX-Request") == "true" {
		s.refreshes[id] = append(s.refreshes[id], time.Now())
	}
	s.mu.Unlock()
	fields := make([]int, 14) // a form long enough to scroll in its dialog on a phone
	for i := range fields {
		fields[i] = i + 1
	}
	data := map[string]any{
		"ID": id, "Name": "laptop-" + id, "Render": render, "Series": s.series(id, render), "Fields": fields,
		"Devices": []fixtureDevice{{1, "a-device-with-a-rather-long-name-for-a-phone", "online"}, {2, "phone", "idle"}, {3, "router", "offline"}},
	}
	w.Header().Set("Content-Security-Policy", fixtureCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.page.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *liveServer) streamDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	down := s.streamDown[id]
	var ch chan sseMessage
	if !down {
		ch = make(chan sseMessage, 64)
		s.subscribers[id] = append(s.subscribers[id], ch)
	}
	s.mu.Unlock()
	if down {
		http.Error(w, "live updates are not available", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		subs := s.subscribers[id]
		for i, c := range subs {
			if c == ch {
				s.subscribers[id] = append(subs[:i:i], subs[i+1:]...)
				break
			}
		}
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	for {
		select {
		case m := <-ch:
			fmt.Fprintf(w, "event: %s\n", m.event)
			for line := range strings.SplitSeq(m.data, "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// History answers: 1h has points, 24h is refused, 7d comes late (so that a later choice
// supersedes it).
func (s *liveServer) deviceHistory(w http.ResponseWriter, r *http.Request) {
	id, rng := r.PathValue("id"), r.URL.Query().Get("range")
	s.mu.Lock()
	s.historyAsks = append(s.historyAsks, id+" "+rng+" "+r.Header.Get("Accept"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch rng {
	case "1h":
		json.NewEncoder(w).Encode(historyAnswer(id, 30, 120))
	case "7d":
		select {
		case <-time.After(800 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		json.NewEncoder(w).Encode(historyAnswer(id, 2, 3600))
	default:
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "No history for " + rng + " yet."})
	}
}

type history struct {
	At   []int64   `json:"at"`
	RX   []float64 `json:"rx"`
	TX   []float64 `json:"tx"`
	Step int       `json:"step"`
}

// historyAnswer has n points (3 for device 8), step seconds apart, ending an hour ago; rx is
// 1000+i and tx 500+i.
func historyAnswer(id string, n, step int) history {
	if id == failingID {
		n = 3
	}
	h := history{Step: step}
	from := time.Now().Add(-time.Hour).Truncate(time.Minute).UnixMilli() - int64(n*step)*1000
	for i := range n {
		h.At = append(h.At, from+int64(i*step)*1000)
		h.RX = append(h.RX, float64(1000+i))
		h.TX = append(h.TX, float64(500+i))
	}
	return h
}

func (s *liveServer) send(id, event, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subscribers[id] {
		ch <- sseMessage{event, data}
	}
}

func (s *liveServer) subscribed(id string) bool { return s.streams(id) > 0 }

// streams is how many streams of the device are open.
func (s *liveServer) streams(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subscribers[id])
}

func (s *liveServer) refreshTimes(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.refreshes[id]...)
}

func (s *liveServer) bringUp(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamDown[id] = false
}

func (s *liveServer) asked(entry string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.historyAsks {
		if a == entry {
			return true
		}
	}
	return false
}

// chartJS reads the traffic chart as the tests of the pages do: [time ms, bytes/s] pairs.
const chartJS = `(() => {
  const chart = echarts.getInstanceByDom(document.getElementById("traffic-chart"));
  if (!chart) return null;
  const o = chart.getOption();
  return {rx: o.series[0].data, tx: o.series[1].data, color: o.color};
})()`

type chartSeries struct {
	RX, TX [][2]float64
	Color  []string
}

func readChart(t *testing.T, tb *apptest.Browser) chartSeries {
	t.Helper()
	c := apptest.Eval[*chartSeries](t, tb, chartJS)
	if c == nil {
		tb.Screenshot(t)
		t.Fatalf("%s: no chart on #traffic-chart", tb.Name())
	}
	return *c
}

// waitChart waits until the chart satisfies ok.
func waitChart(t *testing.T, tb *apptest.Browser, what string, ok func(chartSeries) bool) chartSeries {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := apptest.Eval[*chartSeries](t, tb, chartJS)
		if c != nil && ok(*c) {
			return *c
		}
		if time.Now().After(deadline) {
			tb.Screenshot(t)
			t.Fatalf("%s: %s: the chart is %+v", tb.Name(), what, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitServer(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func point(at int64, rx, tx float64) string {
	return fmt.Sprintf(`{"at":%d,"rx":%g,"tx":%g}`, at, rx, tx)
}

func TestFrontendLiveUpdatesAndChart(t *testing.T) {
	srv := newLiveServer(t)
	down := apptest.NewBrowser(t, apptest.TabOptions{Name: "tab with the stream down", ReportCSP: true,
		// htmx logs every failed connection of the SSE extension as an error: expected while
		// the stream answers 503.
		AllowErrors: []string{`console.error: "[object Event]"`}})

	// The stream of device 8 answers 503: its page falls back to re-fetching its live parts.
	// That takes seconds, so it runs in its own tab while the other checks run in a second one.
	opened := time.Now()
	down.Run(t, "open device 8", chromedp.Navigate(srv.URL+"/devices/"+failingID),
		chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	down.WaitJS(t, "the chart of device 8 shows its data-series",
		`(() => { const c = echarts.getInstanceByDom(document.getElementById("traffic-chart")); return c && c.getOption().series[0].data.length === 5; })()`,
		chartJS, 5*time.Second)
	apptest.Eval[bool](t, down, `(window.firstChart = echarts.getInstanceByDom(document.getElementById("traffic-chart")), true)`)
	down.Run(t, "show an hour of device 8", chromedp.Click(chromedp.CSS(`[data-chart-range="1h"]`)))
	waitChart(t, down, "the hour of device 8 is shown", func(c chartSeries) bool { return len(c.RX) == 3 })

	up := down.Tab(t, apptest.TabOptions{Name: "tab with the stream up", ReportCSP: true})
	up.Run(t, "open device 7", chromedp.Navigate(srv.URL+"/devices/"+streamingID),
		chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	testChart(t, srv, up)
	testNarrowScreen(t, up)
	testBackgroundTabs(t, srv, up)
	up.NoErrors(t, "device 7")

	testFallback(t, srv, down, opened)
	down.NoErrors(t, "device 8")
}

// testBackgroundTabs opens device 7 in more background tabs than Chromium opens connections
// to one host (six, over HTTP/1.1), besides the tab in front, which holds a stream. A hidden
// page holds none, so every tab loads; the one the user turns to streams again.
func testBackgroundTabs(t *testing.T, srv *liveServer, front *apptest.Browser) {
	const tabs = 7
	if got := srv.streams(streamingID); got != 1 {
		t.Fatalf("before the background tabs: %d streams of device 7, want the front tab's", got)
	}
	var background []*apptest.Browser
	for i := range tabs {
		tab := front.Tab(t, apptest.TabOptions{Name: fmt.Sprintf("background tab %d", i+1), ReportCSP: true, Hidden: true})
		ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/devices/"+streamingID), chromedp.WaitVisible(chromedp.ID("traffic-chart")))
		cancel()
		if err != nil {
			tab.Screenshot(t)
			t.Fatalf("%s: device 7 did not load (%v) with %d streams of it open", tab.Name(), err, srv.streams(streamingID))
		}
		background = append(background, tab)
	}
	waitServer(t, "the background tabs hold no stream", time.Second, func() bool { return srv.streams(streamingID) == 1 })

	shown := background[0]
	shown.SetVisible(t, true)
	waitServer(t, "the tab turned to streams again", 5*time.Second, func() bool { return srv.streams(streamingID) == 2 })
	srv.send(streamingID, "status-7", `<span class="status status-offline"><span class="dot" aria-hidden="true"></span>offline</span>`)
	shown.WaitJS(t, "the swap lands in the tab turned to", `document.querySelector("#device-status .status-offline")?.textContent === "offline"`,
		`document.getElementById("device-status").innerHTML`, 5*time.Second)
	shown.SetVisible(t, false)
	waitServer(t, "the tab hidden again closes its stream", 5*time.Second, func() bool { return srv.streams(streamingID) == 1 })
	for _, tab := range background {
		tab.NoErrors(t, "device 7 in the background")
	}
}

func testChart(t *testing.T, srv *liveServer, up *apptest.Browser) {
	from := srv.seriesFrom
	c := waitChart(t, up, "the chart shows its data-series", func(c chartSeries) bool { return len(c.RX) == 58 })
	if got, want := c.RX[0], [2]float64{float64(from), 0}; got != want {
		t.Errorf("first received point = %v, want %v", got, want)
	}
	if got, want := c.TX[57], [2]float64{float64(from + 57000), 57 * 50}; got != want {
		t.Errorf("last sent point = %v, want %v", got, want)
	}
	if got := apptest.Eval[string](t, up, `document.getElementById("traffic-chart").getAttribute("aria-label")`); got != "Receive and send rate of laptop-7" {
		t.Errorf("the chart's aria-label became %q", got)
	}
	waitServer(t, "the page subscribes to device 7's stream", 5*time.Second, func() bool { return srv.subscribed(streamingID) })

	// Swaps of the status and the traffic cells land in the page.
	srv.send(streamingID, "status-7", `<span class="status status-idle"><span class="dot" aria-hidden="true"></span>idle</span>`)
	srv.send(streamingID, "rx-7", `<span class="total">9.9 GiB</span> <span class="rate">1.5 KiB/s</span>`)
	up.WaitJS(t, "the status and rx swaps land",
		`document.querySelector("#device-status .status-idle")?.textContent === "idle" && document.getElementById("device-rx").textContent === "9.9 GiB 1.5 KiB/s"`,
		`document.getElementById("device-status").innerHTML + document.getElementById("device-rx").innerHTML`, 5*time.Second)

	// A point for the time of the last one replaces it.
	last := from + 57000
	srv.send(streamingID, "point-7", point(last, 99999, 11))
	c = waitChart(t, up, "the point with the last time replaces the last point", func(c chartSeries) bool {
		return len(c.RX) == 58 && c.RX[57][1] == 99999
	})
	if got, want := c.TX[57], [2]float64{float64(last), 11}; got != want {
		t.Errorf("replaced sent point = %v, want %v", got, want)
	}

	// Malformed messages change nothing; new points roll the window on at 60.
	for _, bad := range []string{"not json", `{"at":"soon","rx":1,"tx":2}`, "null", `{"at":1}`, "[]"} {
		srv.send(streamingID, "point-7", bad)
	}
	for i := int64(1); i <= 5; i++ {
		srv.send(streamingID, "point-7", point(last+i*1000, float64(7000+i), float64(3000+i)))
	}
	c = waitChart(t, up, "five more points", func(c chartSeries) bool {
		return len(c.RX) > 0 && c.RX[len(c.RX)-1][0] == float64(last+5000)
	})
	if len(c.RX) != 60 || len(c.TX) != 60 {
		t.Fatalf("after 63 points the chart has %d received and %d sent, want 60 each", len(c.RX), len(c.TX))
	}
	if got, want := c.RX[0], [2]float64{float64(from + 3000), 300}; got != want {
		t.Errorf("after the window rolled, the first point = %v, want %v", got, want)
	}
	if got, want := c.TX[59], [2]float64{float64(last + 5000), 3005}; got != want {
		t.Errorf("newest sent point = %v, want %v", got, want)
	}

	// An hour of history replaces the live view; live points keep coming in behind it.
	pressed := `[...document.querySelectorAll("[data-chart-range]")].filter(b => b.getAttribute("aria-pressed") === "true").map(b => b.dataset.chartRange).join()`
	status := `document.querySelector("[data-chart-status]")`
	up.Run(t, "show an hour", chromedp.Click(chromedp.CSS(`[data-chart-range="1h"]`)))
	hour := historyAnswer(streamingID, 30, 120)
	c = waitChart(t, up, "the hour is shown", func(c chartSeries) bool { return len(c.RX) == 30 })
	if got, want := c.RX[29], [2]float64{float64(hour.At[29]), 1029}; got != want {
		t.Errorf("last point of the hour = %v, want %v", got, want)
	}
	if !srv.asked("7 1h application/json") {
		t.Errorf("history requests %q, want one for 1h accepting application/json", srv.historyAsks)
	}
	if got := apptest.Eval[string](t, up, pressed); got != "1h" {
		t.Errorf("pressed buttons %q, want 1h", got)
	}
	if apptest.Eval[bool](t, up, status+".hidden") == false {
		t.Errorf("the status shows %q after the hour loaded", apptest.Eval[string](t, up, status+".textContent"))
	}
	srv.send(streamingID, "point-7", point(last+6000, 8000, 4000))
	up.Run(t, "let the point arrive", chromedp.Sleep(300*time.Millisecond))
	if c := readChart(t, up); len(c.RX) != 30 {
		t.Errorf("a live point changed the hour: %d points", len(c.RX))
	}
	up.Run(t, "go back to live", chromedp.Click(chromedp.CSS(`[data-chart-range="live"]`)))
	c = waitChart(t, up, "live again, with the point that came meanwhile", func(c chartSeries) bool {
		return len(c.RX) == 60 && c.RX[59] == [2]float64{float64(last + 6000), 8000}
	})

	// A refused range keeps the data shown and says why.
	up.Run(t, "ask for 24 hours", chromedp.Click(chromedp.CSS(`[data-chart-range="24h"]`)))
	up.WaitJS(t, "the refusal is shown", status+`.textContent === "No history for 24h yet." && !`+status+`.hidden`,
		status+".outerHTML", 5*time.Second)
	if c := readChart(t, up); len(c.RX) != 60 || c.RX[59][1] != 8000 {
		t.Errorf("after a refused range the chart has %d points ending %v, want the live 60", len(c.RX), c.RX[len(c.RX)-1])
	}
	if got := apptest.Eval[string](t, up, pressed); got != "live" {
		t.Errorf("after a refused range the pressed buttons are %q, want live", got)
	}

	// A late answer to a superseded request is dropped.
	up.Run(t, "ask for a week, then an hour",
		chromedp.Click(chromedp.CSS(`[data-chart-range="7d"]`)), chromedp.Click(chromedp.CSS(`[data-chart-range="1h"]`)))
	waitServer(t, "the week was asked for", 5*time.Second, func() bool { return srv.asked("7 7d application/json") })
	up.Run(t, "wait for the week's late answer", chromedp.Sleep(1200*time.Millisecond))
	if c := readChart(t, up); len(c.RX) != 30 {
		t.Errorf("after the week's late answer the chart has %d points, want the hour's 30", len(c.RX))
	}
	if got := apptest.Eval[string](t, up, pressed); got != "1h" {
		t.Errorf("pressed buttons %q, want 1h", got)
	}

	// The tooltip (markup of app.js's own, no style attributes) shows both rates and the time.
	box := apptest.Eval[[]float64](t, up, `(r => [r.x, r.y, r.width, r.height])(document.getElementById("traffic-chart").getBoundingClientRect())`)
	x, y := box[0]+box[2]/2, box[1]+box[3]/2
	up.Run(t, "hover the chart", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x-5, y), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
	up.WaitJS(t, "the tooltip shows both rates",
		`(t => t && /Received\s*10\d\d B\/s/.test(t.textContent) && /Sent\s*5\d\d B\/s/.test(t.textContent) && t.querySelector(".chart-tip-time")?.textContent)(document.querySelector(".chart-tooltip"))`,
		`document.querySelector(".chart-tooltip")?.innerHTML`, 5*time.Second)

	// The colours follow the colour scheme, and the data stays.
	light := readChart(t, up)
	up.Run(t, "switch to the dark scheme", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	want := apptest.Eval[string](t, up, `getComputedStyle(document.documentElement).getPropertyValue("--chart-rx").trim()`)
	if len(light.Color) == 0 || want == light.Color[0] {
		t.Fatalf("the dark --chart-rx %q equals the light chart colour %v", want, light.Color)
	}
	dark := waitChart(t, up, "the chart takes the dark colours", func(c chartSeries) bool { return len(c.Color) > 0 && c.Color[0] == want })
	if len(dark.RX) != 30 {
		t.Errorf("after the scheme changed the chart has %d points, want 30", len(dark.RX))
	}
	up.Run(t, "back to the light scheme", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	}))
}

// tooWideJS lists the elements that reach past the right edge of the screen.
const tooWideJS = `JSON.stringify([...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).slice(0, 10)
  .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : "") +
    " right=" + Math.round(e.getBoundingClientRect().right)))`

// testNarrowScreen checks the page at the width of a small phone: nothing wider than the
// screen, the device table as cards, the long dialog full width.
func testNarrowScreen(t *testing.T, up *apptest.Browser) {
	up.Run(t, "narrow the screen", chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
	up.WaitJS(t, "the chart follows its narrower container",
		`(el => Math.abs(el.querySelector("canvas").getBoundingClientRect().width - el.getBoundingClientRect().width) < 1 && el.getBoundingClientRect().height === 220)(document.getElementById("traffic-chart"))`,
		`(el => [el.getBoundingClientRect().width, el.querySelector("canvas").getBoundingClientRect().width, el.getBoundingClientRect().height])(document.getElementById("traffic-chart"))`,
		5*time.Second)
	if w := apptest.Eval[int](t, up, `document.documentElement.scrollWidth`); w > 375 {
		up.Screenshot(t)
		t.Errorf("at 375 px the document is %d px wide; too wide: %s", w, apptest.Eval[string](t, up, tooWideJS))
	}
	if got := apptest.Eval[int](t, up, `document.querySelectorAll("table.devices tbody tr").length`); got != 3 {
		t.Errorf("the table has %d rows, want 3", got)
	}
	cards := apptest.Eval[string](t, up, `(td => getComputedStyle(td.parentElement).display + " " + getComputedStyle(td, "::before").content)(document.querySelector('table.devices td[data-label="Status"]'))`)
	if cards != `block "Status"` {
		t.Errorf("at 375 px a row's display and its status cell's label are %q, want a block and \"Status\"", cards)
	}
	up.Run(t, "open the add-device dialog", chromedp.Click(chromedp.CSS(`[data-dialog="#add-device-dialog"]`)),
		chromedp.WaitVisible(chromedp.ID("add-device-dialog")))
	dialog := apptest.Eval[[]float64](t, up, `(d => [d.getBoundingClientRect().width, d.scrollHeight, d.clientHeight])(document.getElementById("add-device-dialog"))`)
	if dialog[0] != 375 || dialog[1] <= dialog[2] {
		t.Errorf("the dialog at 375 px: width %v, scroll height %v, client height %v; want 375 wide and scrolling", dialog[0], dialog[1], dialog[2])
	}
	if w := apptest.Eval[int](t, up, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("with the dialog open at 375 px the document is %d px wide", w)
	}
	up.Run(t, "close the dialog", chromedp.Click(chromedp.CSS(`#add-device-dialog [data-close]`)),
		chromedp.WaitNotVisible(chromedp.ID("add-device-dialog")))
}

// testFallback checks the page whose stream answered 503 from the start: it re-fetched its
// [data-live-refresh] parts every 5 s; once the stream comes up, the re-fetching stops.
func testFallback(t *testing.T, srv *liveServer, down *apptest.Browser, opened time.Time) {
	waitServer(t, "two re-fetches of device 8's live parts", time.Until(opened.Add(12*time.Second)), func() bool {
		return len(srv.refreshTimes(failingID)) >= 4 // two parts, twice
	})
	// A round re-fetches both parts at once; the rounds come every 5 s. (The test may look
	// late on a loaded machine and find more rounds than two.)
	times := srv.refreshTimes(failingID)
	var rounds []time.Time
	for _, at := range times {
		if len(rounds) == 0 || at.Sub(rounds[len(rounds)-1]) > time.Second {
			rounds = append(rounds, at)
		}
	}
	for i := 1; i < len(rounds); i++ {
		if gap := rounds[i].Sub(rounds[i-1]); gap < 4*time.Second || gap > 7*time.Second {
			t.Errorf("re-fetch rounds %d and %d came %v apart, want about 5 s (at %v)", i, i+1, gap, times)
		}
	}
	if len(rounds) < 2 {
		t.Errorf("%d round of re-fetches, want at least 2 (at %v)", len(rounds), times)
	}
	if first := times[0].Sub(opened); first < 3*time.Second {
		t.Errorf("the first re-fetch came %v after opening, want about 5 s", first)
	}

	// The re-fetched chart is a new one: the old instance is disposed, and the new one shows
	// the range that was chosen before. (Waits: a re-fetch may be settling right now.)
	down.WaitJS(t, "the re-fetched chart replaced the first and shows the hour",
		`window.firstChart.isDisposed() && echarts.getInstanceByDom(document.getElementById("traffic-chart"))?.getOption().series[0].data.length === 3 &&
		  document.querySelector('[data-chart-range="1h"]').getAttribute("aria-pressed") === "true"`,
		`[window.firstChart.isDisposed(), document.querySelector('[data-chart-range="1h"]').outerHTML, `+chartJS+`]`, 3*time.Second)
	if n := apptest.Eval[int](t, down, `document.querySelectorAll("#traffic-chart canvas").length`); n != 1 {
		t.Errorf("the re-fetched chart has %d canvases", n)
	}
	down.Run(t, "go live on device 8", chromedp.Click(chromedp.CSS(`[data-chart-range="live"]`)))
	c := waitChart(t, down, "live shows the re-fetched data-series", func(c chartSeries) bool { return len(c.RX) == 5 })
	if c.RX[4][1] < 2 {
		t.Errorf("the live view shows the data-series of rendering %v, want a re-fetched one (2 or later)", c.RX[4][1])
	}

	// The extension retries with a delay that doubles (0.5 s, 1 s, 2 s … 64 s): the next
	// attempt after the stream comes up connects, and it is due within as long again as the
	// stream has been down.
	srv.bringUp(failingID)
	waitServer(t, "device 8's page reconnects", max(15*time.Second, time.Since(opened)+2*time.Second),
		func() bool { return srv.subscribed(failingID) })
	srv.send(failingID, "status-8", `<span class="status status-offline"><span class="dot" aria-hidden="true"></span>offline</span>`)
	down.WaitJS(t, "the stream's swaps land again", `document.querySelector("#device-status .status-offline") !== null`,
		`document.getElementById("device-status").innerHTML`, 5*time.Second)
	before := len(srv.refreshTimes(failingID))
	down.Run(t, "wait longer than a re-fetch period", chromedp.Sleep(6*time.Second))
	if after := srv.refreshTimes(failingID); len(after) != before {
		t.Errorf("with the stream up the page still re-fetched: %d requests, then %d (%v)", before, len(after), after)
	}
}
