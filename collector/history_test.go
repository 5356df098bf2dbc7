package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/collector/vmtest"
)

// Keys of the history tests: base64 like real ones, and one a label value must be escaped for.
const (
	historyKeyA     = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
	historyKeyB     = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
	historyKeyOdd   = `odd"key\with}quote`
	historyInterval = 5 * time.Second
)

// historyData is what the history tests import: a tick every 5 s for the two hours before
// now.
//
// Key A receives 1000 B/s and sends 250 B/s. Its counters are reset at tick reset; from tick
// renamed to tick renamedBack it is called "work laptop" and belongs to another user.
//
// Key B receives 1500, 3000 and 4500 bytes in turn at its ticks (600 B/s over three ticks)
// and sends 7000 B/s, except that it transfers nothing from tick idle to idle+99, and is not
// polled from tick gap to gap+119, while it transfers 10 MB.
//
// The odd key receives 10 B/s and sends 20 B/s.
type historyData struct {
	ticks                       []Tick
	reset, renamed, renamedBack int
	idle, gap                   int
	// counted are the bytes each key transferred up to each tick it is in.
	counted map[string][]countedBytes
}

type countedBytes struct {
	at     time.Time
	rx, tx float64
}

// newHistoryData makes ticks from about two hours before now up to now. The first tick is
// 1 s after a multiple of 15 s, the ticks 5 s apart with up to 50 ms of jitter: each step of
// "1h" has three ticks, 1, 6 and 11 s into it. The renames happen 6 s into a step, so that
// the step has samples of both names.
func newHistoryData(now time.Time) historyData {
	first := now.Add(-2 * time.Hour).Truncate(15 * time.Second).Add(time.Second)
	n := int(now.Sub(first)/historyInterval) + 1
	at3 := func(i, phase int) int { return i - i%3 + phase }
	d := historyData{
		reset: n / 3, renamed: at3(n/2, 1), renamedBack: at3(5*n/6, 1),
		idle: 7 * n / 12, gap: 9 * n / 12,
		counted: map[string][]countedBytes{},
	}
	var rxA, txA int64 = 3 << 30, 1 << 30
	var trueA, trueB countedBytes
	rxB, txB := int64(1<<40), int64(5<<30)
	for i := range n {
		at := first.Add(time.Duration(i)*historyInterval + time.Duration(i*7919%50)*time.Millisecond)
		tick := Tick{Seq: uint64(i + 1), At: at}

		if i == d.reset {
			rxA, txA = 0, 0
		}
		rxA, txA = rxA+5000, txA+1250
		trueA = countedBytes{at, trueA.rx + 5000, trueA.tx + 1250}
		a := Peer{DeviceID: "a", PublicKey: historyKeyA, UserEmail: "alice@example.com", DeviceName: "laptop", RxTotal: rxA, TxTotal: txA}
		if i >= d.renamed && i < d.renamedBack {
			a.UserEmail, a.DeviceName = "it@example.com", "work laptop"
		}
		tick.Peers = append(tick.Peers, a)
		d.counted[historyKeyA] = append(d.counted[historyKeyA], trueA)

		var drx, dtx int64 = 1500 * int64(1+i%3), 35000
		switch {
		case i >= d.idle && i < d.idle+100:
			drx, dtx = 0, 0
		case i >= d.gap && i < d.gap+120:
			drx, dtx = 10_000_000/120, 0
		}
		rxB, txB = rxB+drx, txB+dtx
		trueB = countedBytes{at, trueB.rx + float64(drx), trueB.tx + float64(dtx)}
		if i < d.gap || i >= d.gap+120 {
			tick.Peers = append(tick.Peers, Peer{DeviceID: "b", PublicKey: historyKeyB, UserEmail: "alice@example.com", DeviceName: "phone", RxTotal: rxB, TxTotal: txB})
			d.counted[historyKeyB] = append(d.counted[historyKeyB], trueB)
		}

		tick.Peers = append(tick.Peers, Peer{DeviceID: "c", PublicKey: historyKeyOdd, UserEmail: "bob@example.com", DeviceName: "odd", RxTotal: int64(i) * 50, TxTotal: int64(i) * 100})
		d.counted[historyKeyOdd] = append(d.counted[historyKeyOdd], countedBytes{at, float64(i) * 50, float64(i) * 100})
		d.ticks = append(d.ticks, tick)
	}
	return d
}

// vmMaxPrevGap is how much older than the start of a rate()'s window VictoriaMetrics lets the
// sample before the window be, with samples 5 s apart: two intervals.
const vmMaxPrevGap = 10 * time.Second

// wantRates is what Rates should return for key over span up to end, from the bytes counted:
// for each step, the bytes counted from the last tick before the step to the last tick in
// it, by the time between the two. When the last tick before is more than vmMaxPrevGap older
// than the step, the first tick in the step stands for it (a step needs two ticks then); a
// step without a tick but with one shortly before has rate 0.
func (d historyData) wantRates(key string, span HistorySpan, end time.Time) []Point {
	counted := d.counted[key]
	end = end.Truncate(span.Step)
	var want []Point
	for at := end.Add(-span.Range + span.Step); !at.After(end); at = at.Add(span.Step) {
		from := at.Add(-span.Step)
		in := slices.DeleteFunc(slices.Clone(counted), func(c countedBytes) bool { return !c.at.After(from) || c.at.After(at) })
		prev := slices.IndexFunc(counted, func(c countedBytes) bool { return c.at.After(from) }) - 1
		if prev == -2 {
			prev = len(counted) - 1
		}
		var first countedBytes
		switch {
		case prev >= 0 && counted[prev].at.After(from.Add(-vmMaxPrevGap)):
			if len(in) == 0 {
				want = append(want, Point{At: at})
				continue
			}
			first = counted[prev]
		case len(in) >= 2:
			first = in[0]
		default:
			continue
		}
		last := in[len(in)-1]
		sec := last.at.Sub(first.at).Seconds()
		want = append(want, Point{At: at, RxRate: (last.rx - first.rx) / sec, TxRate: (last.tx - first.tx) / sec})
	}
	return want
}

// importHistory pushes d into vm and waits until every sample is visible.
func importHistory(t *testing.T, vm *vmtest.VM, d historyData) {
	t.Helper()
	p := &Pusher{URL: vm.URL(), Buffer: 3 * time.Hour}
	stop := startPusher(t, p)
	for _, tick := range d.ticks {
		p.Add(tick)
	}
	waitFor(t, 30*time.Second, "the push", func() bool { return p.Health().Buffered == 0 })
	stop()
	if err := vm.ForceFlush(); err != nil {
		t.Fatal(err)
	}
	first, last := d.ticks[0].At, d.ticks[len(d.ticks)-1].At
	want := 0
	for _, tick := range d.ticks {
		want += 2 * len(tick.Peers)
	}
	waitFor(t, 30*time.Second, "the samples in VictoriaMetrics", func() bool {
		series, err := vm.Export(`{__name__=~"wiregui_peer_(rx|tx)_bytes"}`, first, last)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range series {
			n += len(s.Points)
		}
		return n >= want
	})
}

// nearly reports whether got is within 2% of want: a tick's jitter of up to 50 ms moves the
// rate of a renamed device's part of a step by up to 1%.
func nearly(got, want float64) bool { return math.Abs(got-want) <= 0.02*math.Abs(want) }

func TestHistoryRates(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t)
	now := time.Now()
	d := newHistoryData(now)
	importHistory(t, vm, d)
	h := &History{URL: vm.URL()}
	tickAt := func(i int) string { return d.ticks[i].At.Format(time.TimeOnly) }
	t.Logf("ticks from %s; key A reset at %s, renamed at %s, back at %s; key B idle from %s, gap from %s",
		tickAt(0), tickAt(d.reset), tickAt(d.renamed), tickAt(d.renamedBack), tickAt(d.idle), tickAt(d.gap))

	tests := []struct {
		name string
		key  string
		span string
	}{
		// The last hour holds the reset, both renames, the idle time and the gap.
		{"key A over 1h", historyKeyA, "1h"},
		{"key A over 24h", historyKeyA, "24h"},
		{"key A over 7d", historyKeyA, "7d"},
		{"key B over 1h", historyKeyB, "1h"},
		{"key B over 24h", historyKeyB, "24h"},
		{"key B over 7d", historyKeyB, "7d"},
		{"odd key over 1h", historyKeyOdd, "1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			span, err := SpanByName(tt.span)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := h.Rates(context.Background(), tt.key, span, now)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("Rates: %v", err)
			}
			want := d.wantRates(tt.key, span, now)
			t.Logf("%d points in %s", len(got), took.Round(time.Microsecond))

			var diff []string
			for i, j := 0, 0; i < len(got) || j < len(want); {
				switch {
				case j == len(want) || i < len(got) && got[i].At.Before(want[j].At):
					diff = append(diff, fmt.Sprintf("%s got rx %.1f tx %.1f, want no point", got[i].At.Format(time.TimeOnly), got[i].RxRate, got[i].TxRate))
					i++
				case i == len(got) || want[j].At.Before(got[i].At):
					diff = append(diff, fmt.Sprintf("%s got no point, want rx %.1f tx %.1f", want[j].At.Format(time.TimeOnly), want[j].RxRate, want[j].TxRate))
					j++
				default:
					if !nearly(got[i].RxRate, want[j].RxRate) || !nearly(got[i].TxRate, want[j].TxRate) {
						diff = append(diff, fmt.Sprintf("%s got rx %.1f tx %.1f, want rx %.1f tx %.1f", got[i].At.Format(time.TimeOnly), got[i].RxRate, got[i].TxRate, want[j].RxRate, want[j].TxRate))
					}
					i++
					j++
				}
			}
			if len(diff) > 0 {
				t.Errorf("%d points, want %d; %d differ (rates ±2%%):\n%s", len(got), len(want), len(diff), strings.Join(diff, "\n"))
			}
			if !slices.IsSortedFunc(got, func(a, b Point) int { return a.At.Compare(b.At) }) {
				t.Errorf("points are not oldest first")
			}
			for _, p := range got {
				if p.At.UnixMilli()%span.Step.Milliseconds() != 0 || p.At.After(now) {
					t.Errorf("point at %s: not a multiple of %s before now", p.At, span.Step)
					break
				}
			}
		})
	}

	// The reference itself: it must see what the data is made of, or the comparison is moot.
	t.Run("reference", func(t *testing.T) {
		points := d.wantRates(historyKeyB, HistorySpans[0], now)
		var zero, spike int
		for _, p := range points {
			if p.RxRate == 0 && p.TxRate == 0 {
				zero++
			}
			if p.RxRate > 1000 { // a step that counted the 10 MB of the gap would be far above
				spike++
			}
		}
		// The gap takes 40 steps, and the step after the last tick before it has rate 0.
		if n := len(points); n < 200 || n > 201 || zero < 32 || spike > 0 {
			t.Errorf("reference for key B over 1h: %d points (want 240 less the 10 min gap), %d of rate 0 (want the 8 min idle), %d above 1000 B/s (want none)", n, zero, spike)
		}
		if points := d.wantRates(historyKeyA, HistorySpans[0], now); len(points) != 240 {
			t.Errorf("reference for key A over 1h: %d points, want 240", len(points))
		}
	})

	t.Run("key without data", func(t *testing.T) {
		for _, key := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", historyKeyA + "x", `"} or vector(1) or {x="`} {
			points, err := h.Rates(context.Background(), key, HistorySpans[0], now)
			if err != nil || len(points) != 0 {
				t.Errorf("Rates(%q) = %d points, %v; want none and no error", key, len(points), err)
			}
		}
	})
}

func TestSpanByName(t *testing.T) {
	tests := []struct {
		name      string
		wantRange time.Duration
		wantStep  time.Duration
		wantErr   string
	}{
		{name: "1h", wantRange: time.Hour, wantStep: 15 * time.Second},
		{name: "24h", wantRange: 24 * time.Hour, wantStep: 5 * time.Minute},
		{name: "7d", wantRange: 7 * 24 * time.Hour, wantStep: 30 * time.Minute},
		{name: "2h", wantErr: `unknown span "2h", want one of 1h, 24h, 7d`},
		{name: "", wantErr: `unknown span "", want one of 1h, 24h, 7d`},
		{name: "1H", wantErr: `unknown span "1H", want one of 1h, 24h, 7d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			span, err := SpanByName(tt.name)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("SpanByName(%q) = %+v, %v; want error %q", tt.name, span, err, tt.wantErr)
				}
				return
			}
			if err != nil || span.Name != tt.name || span.Range != tt.wantRange || span.Step != tt.wantStep {
				t.Fatalf("SpanByName(%q) = %+v, %v; want range %s step %s", tt.name, span, err, tt.wantRange, tt.wantStep)
			}
		})
	}
	for i, s := range HistorySpans {
		if n := s.Range / s.Step; n < 240 || n > 340 || s.Range%s.Step != 0 || (24*time.Hour)%s.Step != 0 {
			t.Errorf("span %s: %d points of %s; want 240 to 340, a step that divides the range and a day", s.Name, n, s.Step)
		}
		if i > 0 && s.Range <= HistorySpans[i-1].Range {
			t.Errorf("span %s is not longer than %s", s.Name, HistorySpans[i-1].Name)
		}
	}
}

// TestHistoryRequest checks what Rates asks and how it reads the answer, against a stub.
func TestHistoryRequest(t *testing.T) {
	var got url.Values
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, got = r.URL.Path, r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		// Out of order, gaps, NaN and Inf, a step with only tx, fractional seconds.
		io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"__name__":"wiregui_peer_tx_bytes"},"values":[[1700000985,"25"],[1700000970,"NaN"],[1700000955,"2.5e1"],[1700000940,"+Inf"],[1700001000.0,"0"]]},
			{"metric":{"__name__":"wiregui_peer_rx_bytes"},"values":[[1700000955,"100"],[1700000970,"-Inf"],[1700000985,"100.5"]]}
		]}}`)
	}))
	defer srv.Close()

	h := &History{URL: srv.URL + "/"}
	end := time.Unix(1700001000, 0).Add(14*time.Second + 999*time.Millisecond)
	points, err := h.Rates(context.Background(), `k+/="\ey`, HistorySpans[0], end)
	if err != nil {
		t.Fatal(err)
	}
	wantQuery := url.Values{
		"query": {`max by (__name__) (rate({__name__=~"wiregui_peer_rx_bytes|wiregui_peer_tx_bytes",public_key="k+/=\"\\ey"}[15s]) keep_metric_names)`},
		"start": {"1699997415"}, // end - 1 h + 15 s: 240 points
		"end":   {"1700001000"},
		"step":  {"15s"},
	}
	if path != QueryRangePath || !maps.EqualFunc(got, wantQuery, slices.Equal) {
		t.Errorf("request %s %v\nwant %s %v", path, got, QueryRangePath, wantQuery)
	}
	want := []Point{
		{At: time.Unix(1700000955, 0), RxRate: 100, TxRate: 25},
		{At: time.Unix(1700000985, 0), RxRate: 100.5, TxRate: 25},
		{At: time.Unix(1700001000, 0), RxRate: 0, TxRate: 0},
	}
	if !slices.EqualFunc(points, want, func(a, b Point) bool { return a.At.Equal(b.At) && a.RxRate == b.RxRate && a.TxRate == b.TxRate }) {
		t.Errorf("points %v\nwant %v", points, want)
	}
}

func TestHistoryBadAnswers(t *testing.T) {
	longError := strings.Repeat("too long ", 100)
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string // the whole error
	}{
		{"proxy error page", 502, "text/html", "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
			"victoriametrics query_range: 502 Bad Gateway"},
		{"html without content type", 503, "", "  <!DOCTYPE html><html>down</html>",
			"victoriametrics query_range: 503 Service Unavailable"},
		{"text error", 503, "text/plain", "storage is read-only\ngoroutine 1 [running]:\n",
			"victoriametrics query_range: 503 Service Unavailable: storage is read-only"},
		{"empty error", 500, "text/plain", "",
			"victoriametrics query_range: 500 Internal Server Error"},
		{"json error status", 422, "application/json", `{"status":"error","errorType":"422","error":"cannot parse query"}`,
			"victoriametrics query_range: 422 Unprocessable Entity: cannot parse query"},
		{"status error", 200, "application/json", `{"status":"error","errorType":"bad_data","error":"query timed out"}`,
			`victoriametrics query_range: status "error": query timed out`},
		{"long error", 200, "application/json", `{"status":"error","error":"` + longError + `"}`,
			`victoriametrics query_range: status "error": ` + longError[:200] + "…"},
		{"login page with 200", 200, "text/html", "<html>sign in</html>",
			"victoriametrics query_range: answer is not JSON"},
		{"not json", 200, "text/plain", "hello",
			"victoriametrics query_range: answer is not JSON: hello"},
		{"too large", 200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":[],"x":"` + strings.Repeat("x", 8<<20) + `"}}`,
			"victoriametrics query_range: 200 OK: answer larger than 8 MiB"},
		{"vector", 200, "application/json", `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			`victoriametrics query_range: result type "vector", want matrix`},
		{"bad value", 200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"wiregui_peer_rx_bytes"},"values":[[1700000000,"many"]]}]}}`,
			`victoriametrics query_range: decode data: point [1700000000,"many"]: value: strconv.ParseFloat: parsing "many": invalid syntax`},
		{"series per name", 200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"__name__":"wiregui_peer_rx_bytes","device_name":"a"},"values":[[1700000000,"1"]]},
			{"metric":{"__name__":"wiregui_peer_rx_bytes","device_name":"b"},"values":[[1700000000,"1"]]}]}}`,
			`victoriametrics query_range: unexpected series map[__name__:wiregui_peer_rx_bytes device_name:a], want one per direction with only __name__`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			h := &History{URL: srv.URL}
			points, err := h.Rates(context.Background(), historyKeyA, HistorySpans[0], time.Now())
			if err == nil || err.Error() != tt.want {
				t.Errorf("Rates = %d points, %v\nwant error %q", len(points), err, tt.want)
			}
		})
	}
}

func TestHistoryUnreachable(t *testing.T) {
	t.Parallel()
	vm := vmtest.Start(t)
	vm.Stop()
	// An address that accepts connections and never answers.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	defer hang.CloseClientConnections()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	const timeout = 500 * time.Millisecond
	tests := []struct {
		name    string
		url     string
		ctx     func() (context.Context, context.CancelFunc)
		within  time.Duration
		wantErr error // errors.Is, if set
	}{
		{"victoriametrics stopped", vm.URL(), nil, timeout, nil},
		{"no answer", hang.URL, nil, timeout + time.Second, nil},
		{"context cancelled before", hang.URL, func() (context.Context, context.CancelFunc) { return cancelled, func() {} }, 100 * time.Millisecond, context.Canceled},
		{"context ends while waiting", hang.URL, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, timeout, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx()
				defer cancel()
			}
			h := &History{URL: tt.url, Client: &http.Client{Timeout: timeout}}
			start := time.Now()
			_, err := h.Rates(ctx, historyKeyA, HistorySpans[0], time.Now())
			took := time.Since(start)
			t.Logf("%v after %s", err, took.Round(time.Millisecond))
			if err == nil || !strings.HasPrefix(err.Error(), "victoriametrics query_range: ") || strings.Contains(err.Error(), "query=") {
				t.Errorf("Rates error %v, want one that starts with victoriametrics query_range and has no URL", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Rates error %v, want %v", err, tt.wantErr)
			}
			if took > tt.within {
				t.Errorf("Rates returned after %s, want within %s", took, tt.within)
			}
		})
	}
}
