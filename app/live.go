package app

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"wiregui/app/access"
	"wiregui/collector"
	"wiregui/store"
)

// Limits of a live stream.
const (
	maxLiveDevices = 100              // devices one stream may follow: a page of the largest table
	liveKeepAlive  = 25 * time.Second // the longest a stream stays silent
	liveRetry      = 2000             // ms the browser waits before it reconnects
)

// liveRecheck is how often a stream re-checks who is watching (a variable for the tests).
var liveRecheck = 15 * time.Second

// deviceLive is what the pages show of a device's connection: from the database when a page
// is rendered, then from the collector's ticks.
type deviceLive struct {
	Status           collector.Status
	Handshake        time.Time // zero: never
	RxTotal, TxTotal int64
	RxRate, TxRate   float64   // bytes/s at the last tick; 0 when the device did not change then
	Seen             time.Time // when Status was worked out
}

// liveNotice is what the live pages say about the collector at now: that live data is
// delayed while it is stalled.
func (s *Server) liveNotice(now time.Time) template.HTML {
	if s.live == nil {
		return liveCurrent
	}
	since, stalled := s.live.Stalled()
	if !stalled {
		return liveCurrent
	}
	return delayedHTML(collectorSilence(since, now))
}

// collectorSilence says how long the collector has not reported, for /healthz and the pages.
func collectorSilence(since, now time.Time) string {
	d := max(now.Sub(since), 0)
	if d < 2*time.Minute {
		return "the collector has not reported for " + strconv.Itoa(int(d/time.Second)) + " s"
	}
	return "the collector has not reported for " + strconv.Itoa(int(d/time.Minute)) + " min"
}

// liveOf is the device's state at now: the collector's last report when the hub has one (it
// is at least as fresh as the row), else the stored stats.
func (s *Server) liveOf(d *store.Device, now time.Time) deviceLive {
	l := deviceLive{RxTotal: d.RxTotal, TxTotal: d.TxTotal}
	if d.LatestHandshake != nil {
		l.Handshake = *d.LatestHandshake
	}
	if s.live != nil {
		if p, ok := s.live.Latest(d.ID); ok && p.RxTotal >= l.RxTotal && p.TxTotal >= l.TxTotal {
			l.apply(&p)
		}
	}
	l.Status, l.Seen = collector.StatusAt(l.Handshake, now), now
	return l
}

// apply takes a collector report of the device.
func (l *deviceLive) apply(p *collector.Peer) {
	l.RxTotal, l.TxTotal, l.RxRate, l.TxRate, l.Handshake = p.RxTotal, p.TxTotal, p.RxRate, p.TxRate, p.LatestHandshake
}

// chartSeries is the traffic chart's data: unix milliseconds and bytes/s, oldest first.
type chartSeries struct {
	At []int64   `json:"at"`
	Rx []float64 `json:"rx"`
	Tx []float64 `json:"tx"`
}

func seriesOf(points []collector.Point) chartSeries {
	c := chartSeries{At: make([]int64, len(points)), Rx: make([]float64, len(points)), Tx: make([]float64, len(points))}
	for i, p := range points {
		c.At[i], c.Rx[i], c.Tx[i] = p.At.UnixMilli(), p.RxRate, p.TxRate
	}
	return c
}

// liveDevices streams the devices of a table: GET /devices/live?id=A&id=B.
func (s *Server) liveDevices(w http.ResponseWriter, r *http.Request) {
	ids := r.URL.Query()["id"]
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case len(ids) == 0:
		s.clientError(w, r, http.StatusBadRequest, "id: name at least one device to follow.")
		return
	case len(ids) > maxLiveDevices:
		s.clientError(w, r, http.StatusBadRequest, "id: at most "+strconv.Itoa(maxLiveDevices)+" devices per stream.")
		return
	}
	s.stream(w, r, ids, false)
}

// liveDevice streams one device with its chart points: GET /devices/{id}/live. The query
// parameter since (unix ms) is the newest point the page has; later points of the server's
// window are sent first, so a page that reconnects has no gap in its chart.
func (s *Server) liveDevice(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, []string{r.PathValue("id")}, true)
}

// liveStream is one open page's view of its devices, and what it has been sent.
type liveStream struct {
	s       *Server
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     bytes.Buffer
	devices []*liveDevice
	chart   bool          // send chart points (the device page)
	lastAt  time.Time     // of the last chart point sent
	notice  template.HTML // the live notice last sent; "" before the first
	wrote   time.Time
}

type liveDevice struct {
	id   string
	now  deviceLive
	sent [len(liveFields)]template.HTML // the fragments last sent
}

// liveFields are the fragments a stream sends (fragments.go), in the order it sends them.
var liveFields = [...]liveCell{statusCell, receivedCell, sentCell, handshakeCell}

// stream answers with Server-Sent Events about ids until the client leaves, the server
// stops, or the user may no longer see them. Every id must name a device the user may see;
// otherwise the answer is 404, as for the device's page.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, ids []string, chart bool) {
	devices, ok := s.visibleDevices(w, r, ids)
	if !ok {
		return
	}
	if s.live == nil { // nothing collects: nothing will change; 204 tells EventSource to stop
		w.WriteHeader(http.StatusNoContent)
		return
	}
	updates := s.live.Subscribe(4)
	defer updates.Close()

	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream: this request has no body left to read.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("live stream: clear the read deadline", slog.Any("err", err))
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)

	ls := &liveStream{s: s, w: w, rc: rc, chart: chart}
	now := time.Now()
	for i := range devices {
		d := &liveDevice{id: devices[i].ID, now: s.liveOf(&devices[i], now)}
		ls.devices = append(ls.devices, d)
	}
	ls.buf.WriteString("retry: " + strconv.Itoa(liveRetry) + "\n\n")
	ls.sendChanged() // the page may be older than this stream: bring it up to date
	ls.sendNotice()
	if chart {
		ls.lastAt = time.UnixMilli(sinceParam(r))
		ls.catchUp()
	}
	if ls.flush() != nil {
		return
	}

	recheck := time.NewTicker(liveRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-updates.Ready():
			for _, u := range updates.Take() {
				ls.tick(&u)
			}
		case <-recheck.C:
			if !s.stillVisible(r, ids) {
				return
			}
			if time.Since(ls.wrote) >= liveKeepAlive {
				ls.buf.WriteString(": keep-alive\n\n")
			}
		}
		ls.sendNotice() // the hub wakes the stream when a stall begins or ends
		if ls.buf.Len() > 0 && ls.flush() != nil {
			return
		}
	}
}

// tick brings every device of the stream to the collector's tick u.
func (ls *liveStream) tick(u *collector.Update) {
	for _, d := range ls.devices {
		switch p, ok := u.Peer(d.id); {
		case ok:
			d.now.apply(p)
		case u.Missed > 0: // it may have changed in a tick this stream missed: the hub knows
			if p, ok := ls.s.live.Latest(d.id); ok {
				d.now.apply(&p)
			}
		default:
			d.now.RxRate, d.now.TxRate = 0, 0
		}
		d.now.Status = collector.StatusAt(d.now.Handshake, u.At)
	}
	ls.sendChanged()
	if !ls.chart {
		return
	}
	if u.Missed > 0 { // the points of the ticks this stream missed are in the hub's window
		ls.catchUp()
	}
	if u.At.After(ls.lastAt) {
		d := ls.devices[0]
		ls.point(u.At, d.now.RxRate, d.now.TxRate)
	}
}

// sendChanged sends the fragments of each device that read differently from those last sent.
func (ls *liveStream) sendChanged() {
	now := time.Now()
	for _, d := range ls.devices {
		d.now.Seen = now
		for f, field := range liveFields {
			if frag := field.fragment(d.now); frag != d.sent[f] {
				d.sent[f] = frag
				ls.event(field.event+d.id, "", string(frag))
			}
		}
	}
}

// sendNotice sends the live notice when it reads differently from the one last sent.
func (ls *liveStream) sendNotice() {
	if n := ls.s.liveNotice(time.Now()); n != ls.notice {
		ls.notice = n
		ls.event("live-notice", "", string(n))
	}
}

// catchUp sends the chart points of the hub's window that are newer than the last one sent.
func (ls *liveStream) catchUp() {
	for _, p := range ls.s.live.Series(ls.devices[0].id) {
		if p.At.After(ls.lastAt) {
			ls.point(p.At, p.RxRate, p.TxRate)
		}
	}
}

// point sends one chart point as JSON: {"at":ms,"rx":bytes/s,"tx":bytes/s}. Its id is the
// time, which the browser sends back as Last-Event-ID when it reconnects.
func (ls *liveStream) point(at time.Time, rx, tx float64) {
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	b := make([]byte, 0, 64)
	b = append(b, `{"at":`...)
	b = append(b, ms...)
	b = append(b, `,"rx":`...)
	b = strconv.AppendFloat(b, rx, 'f', -1, 64)
	b = append(b, `,"tx":`...)
	b = strconv.AppendFloat(b, tx, 'f', -1, 64)
	b = append(b, '}')
	ls.event("point-"+ls.devices[0].id, ms, string(b))
	ls.lastAt = at
}

// event writes one event; data may span lines.
func (ls *liveStream) event(name, id, data string) {
	ls.buf.WriteString("event: " + name + "\n")
	if id != "" {
		ls.buf.WriteString("id: " + id + "\n")
	}
	for line := range strings.SplitSeq(data, "\n") {
		ls.buf.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	ls.buf.WriteByte('\n')
}

func (ls *liveStream) flush() error {
	_, err := ls.w.Write(ls.buf.Bytes())
	ls.buf.Reset()
	if err == nil {
		err = ls.rc.Flush()
	}
	ls.wrote = time.Now()
	return err
}

// sinceParam is the newest chart point the page has: the larger of the since parameter and
// the Last-Event-ID a reconnecting browser sends; 0 when neither is a number.
func sinceParam(r *http.Request) int64 {
	var since int64
	for _, v := range []string{r.URL.Query().Get("since"), r.Header.Get("Last-Event-ID")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > since {
			since = n
		}
	}
	return since
}

// visibleDevices loads the devices ids names and checks that the user may see each. When one
// does not exist or is not theirs it answers 404 and returns false.
func (s *Server) visibleDevices(w http.ResponseWriter, r *http.Request, ids []string) ([]store.Device, bool) {
	devices, ok, err := s.devicesVisible(r, ids)
	switch {
	case err != nil:
		s.serverError(w, r, err)
	case !ok:
		s.notFound(w, r)
	}
	return devices, err == nil && ok
}

// devicesVisible loads the devices ids names; ok is false when one does not exist or the
// user of r may not see it.
func (s *Server) devicesVisible(r *http.Request, ids []string) (devices []store.Device, ok bool, err error) {
	devices, err = s.store.DevicesByID(r.Context(), ids)
	if err != nil || len(devices) != len(ids) {
		return nil, false, err
	}
	for i := range devices {
		if !s.can(r, access.ViewDevice, &devices[i]) {
			return nil, false, nil
		}
	}
	return devices, true, nil
}

// stillVisible re-checks a stream the way every request is checked: the session still
// exists, is not idle and names the same user, who is still enabled and may still see every
// device.
func (s *Server) stillVisible(r *http.Request, ids []string) bool {
	cookie, err := r.Cookie(s.sessions.Cookie.Name)
	if err != nil {
		return false
	}
	// A fresh context: scs.Load keeps the session already in a request's context.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ctx, err = s.sessions.Load(ctx, cookie.Value); err != nil {
		s.log.Warn("live stream: reload the session", slog.Any("err", err))
		return false
	}
	u, _, err := s.sessionUser(ctx, time.Now())
	if err != nil {
		s.log.Warn("live stream: reload the user", slog.Any("err", err))
	}
	if u == nil || u.ID != currentUser(r).ID {
		return false
	}
	if ctx, err = s.viewing(ctx, u); err != nil {
		s.log.Warn("live stream: reload the settings", slog.Any("err", err))
		return false
	}
	_, ok, err := s.devicesVisible(r.WithContext(ctx), ids)
	return err == nil && ok
}

// deviceHistory answers GET /devices/{id}/history?range=1h with the device's traffic rates
// from VictoriaMetrics, as JSON for the chart. Errors are JSON too: {"error": "..."}.
func (s *Server) deviceHistory(w http.ResponseWriter, r *http.Request) {
	dev, err := s.store.DeviceByID(r.Context(), r.PathValue("id"))
	switch {
	case isNotFound(err) || err == nil && !s.can(r, access.ViewDevice, dev):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "No such device."})
		return
	case err != nil:
		s.log.Error("device history", slog.String("request_id", requestID(r)), slog.Any("err", err))
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Something went wrong on our side."})
		return
	case s.history == nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Traffic history needs VictoriaMetrics (WG_VICTORIAMETRICS_URL)."})
		return
	}
	span, err := collector.SpanByName(r.URL.Query().Get("range"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "range: " + err.Error()})
		return
	}
	points, err := s.history.Rates(r.Context(), dev.PublicKey, span, time.Now())
	if err != nil {
		s.log.Warn("device history", slog.String("device", dev.ID), slog.String("request_id", requestID(r)), slog.Any("err", err))
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "The traffic history could not be read from VictoriaMetrics. Try again later."})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		chartSeries
		Step int64 `json:"step"`
	}{seriesOf(points), int64(span.Step / time.Second)})
}
