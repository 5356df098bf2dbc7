package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HistorySpan is a time range the device page offers, with the step between its points.
type HistorySpan struct {
	Name  string // "1h", "24h", "7d"
	Range time.Duration
	Step  time.Duration
}

// HistorySpans are the spans offered, shortest first: 1h at a 15 s step, 24h at 5 min, 7d at
// 30 min (240, 288 and 336 points). Each step divides a day, so that points fall on the same
// times whenever the page asks.
var HistorySpans = []HistorySpan{
	{Name: "1h", Range: time.Hour, Step: 15 * time.Second},
	{Name: "24h", Range: 24 * time.Hour, Step: 5 * time.Minute},
	{Name: "7d", Range: 7 * 24 * time.Hour, Step: 30 * time.Minute},
}

// SpanByName returns the span called name; the error names the accepted values.
func SpanByName(name string) (HistorySpan, error) {
	names := make([]string, len(HistorySpans))
	for i, s := range HistorySpans {
		if s.Name == name {
			return s, nil
		}
		names[i] = s.Name
	}
	return HistorySpan{}, fmt.Errorf("unknown span %q, want one of %s", name, strings.Join(names, ", "))
}

// QueryRangePath is VictoriaMetrics' endpoint for range queries.
const QueryRangePath = "/api/v1/query_range"

const (
	defaultQueryTimeout = 10 * time.Second
	// maxQueryBody bounds a query_range answer. Ours are two series of at most 336 points,
	// about 20 kB; anything near the bound is not VictoriaMetrics answering our query.
	maxQueryBody = 8 << 20
	// maxErrorText bounds the part of an answer that goes into an error.
	maxErrorText = 200
)

// History reads past traffic rates from VictoriaMetrics.
type History struct {
	URL    string       // VictoriaMetrics base URL, e.g. http://127.0.0.1:8428
	Client *http.Client // nil means a client with a 10 s timeout
}

// Rates returns the receive and send rates (bytes/s) of the device with publicKey over span,
// ending at end, one Point per step, oldest first. Steps without data are left out.
//
// end is rounded down to a multiple of the step (in Unix time), and the points are at the
// ends of the steps in (end-span.Range, end]: span.Range/span.Step of them at most. A point's
// rates are the bytes counted during its step divided by the time between the samples that
// bound it; a device renamed or moved to another user stays one line (see ratesQuery). A
// step in which only one direction has data gets 0 for the other.
func (h *History) Rates(ctx context.Context, publicKey string, span HistorySpan, end time.Time) ([]Point, error) {
	if span.Step < time.Second || span.Step%time.Second != 0 || span.Range < span.Step {
		return nil, fmt.Errorf("history span %q: range %s, step %s: want a step of whole seconds, at most the range", span.Name, span.Range, span.Step)
	}
	step := span.Step.Milliseconds()
	endMs := end.UnixMilli()
	endMs -= endMs % step
	startMs := endMs - span.Range.Milliseconds() + step

	q := url.Values{
		"query": {ratesQuery(publicKey, span.Step)},
		"start": {strconv.FormatInt(startMs/1e3, 10)},
		"end":   {strconv.FormatInt(endMs/1e3, 10)},
		"step":  {strconv.FormatInt(step/1e3, 10) + "s"},
	}
	var data queryData
	if err := h.get(ctx, QueryRangePath, q, &data); err != nil {
		return nil, fmt.Errorf("victoriametrics query_range: %w", err)
	}
	if data.ResultType != "matrix" {
		return nil, fmt.Errorf("victoriametrics query_range: result type %q, want matrix", data.ResultType)
	}

	byTime := make(map[int64]*Point, span.Range/span.Step)
	seen := map[string]bool{}
	for _, s := range data.Result {
		name := s.Metric["__name__"]
		if (name != rxMetric && name != txMetric) || seen[name] || len(s.Metric) != 1 {
			return nil, fmt.Errorf("victoriametrics query_range: unexpected series %v, want one per direction with only __name__", s.Metric)
		}
		seen[name] = true
		for _, v := range s.Values {
			if math.IsNaN(v.value) || math.IsInf(v.value, 0) {
				continue
			}
			p := byTime[v.ms]
			if p == nil {
				p = &Point{At: time.UnixMilli(v.ms)}
				byTime[v.ms] = p
			}
			if name == rxMetric {
				p.RxRate = v.value
			} else {
				p.TxRate = v.value
			}
		}
	}
	points := make([]Point, 0, len(byTime))
	for _, p := range byTime {
		points = append(points, *p)
	}
	slices.SortFunc(points, func(a, b Point) int { return a.At.Compare(b.At) })
	return points, nil
}

const (
	rxMetric = "wiregui_peer_rx_bytes"
	txMetric = "wiregui_peer_tx_bytes"
)

// ratesQuery is the MetricsQL for the rates of publicKey at step: one series per direction,
// named after its counter.
//
// rate(m[step]) in VictoriaMetrics is the growth from the last sample before the window (if it
// is at most about two sample intervals older) to the last one in it, divided by the time
// between the two, after counter resets are removed. The windows of consecutive points thus
// share a sample and count every byte once, at 3 samples per window at the 5 s poll of "1h".
// After a gap in the samples (the collector was down) a window starts at its first sample,
// so what was counted during the gap is not put into one step. A larger window would smooth
// over several steps, a smaller one would leave samples out. Without [step] VictoriaMetrics
// would pick the same window, but Prometheus would not accept it.
//
// Each name or owner a device had is a series of its own; the collector writes one of them
// at a time, and its totals carry on from one to the next. At the step of a rename, each
// series' rate is that of its own part of the step, both about the device's rate: their sum
// would double it, their maximum does not (sum(increase)/step instead loses the interval
// between the two series, and spikes when an old name comes back: increase bridges the
// series' own gap). Outside such steps there is one series, or the others have a rate of 0.
func ratesQuery(publicKey string, step time.Duration) string {
	return fmt.Sprintf(`max by (__name__) (rate({__name__=~"%s|%s",public_key="%s"}[%ds]) keep_metric_names)`,
		rxMetric, txMetric, escapeLabelValue(publicKey), step/time.Second)
}

// escapeLabelValue escapes v for a double-quoted string of MetricsQL.
func escapeLabelValue(v string) string {
	return string(appendLabelValue(nil, v))
}

// queryData is the data of a query_range answer.
type queryData struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Values []samplePair      `json:"values"`
	} `json:"result"`
}

// samplePair is a point of a query answer, [seconds, "value"].
type samplePair struct {
	ms    int64
	value float64
}

func (p *samplePair) UnmarshalJSON(b []byte) error {
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("point %.40s: %w", b, err)
	}
	sec, err := strconv.ParseFloat(string(pair[0]), 64)
	if err != nil {
		return fmt.Errorf("point %.40s: time: %w", b, err)
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return fmt.Errorf("point %.40s: value: %w", b, err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("point %.40s: value: %w", b, err)
	}
	p.ms, p.value = int64(math.Round(sec*1e3)), v
	return nil
}

// get requests path with the query q and decodes the data of a successful answer into v.
func (h *History) get(ctx context.Context, path string, q url.Values, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(h.URL, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: defaultQueryTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which repeats the whole query
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxQueryBody+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", resp.Status, err)
	}

	var answer struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	jsonErr := json.Unmarshal(body, &answer)
	switch {
	case len(body) > maxQueryBody:
		return fmt.Errorf("%s: answer larger than %d MiB", resp.Status, maxQueryBody>>20)
	case resp.StatusCode != http.StatusOK && jsonErr == nil && answer.Error != "":
		return fmt.Errorf("%s: %s", resp.Status, errorText([]byte(answer.Error)))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s%s", resp.Status, bodyText(resp.Header.Get("Content-Type"), body))
	case jsonErr != nil:
		return fmt.Errorf("answer is not JSON%s", bodyText(resp.Header.Get("Content-Type"), body))
	case answer.Status != "success":
		return fmt.Errorf("status %q: %s", answer.Status, errorText([]byte(answer.Error)))
	}
	if err := json.Unmarshal(answer.Data, v); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	return nil
}

// bodyText is ": " and the first line of an answer that is not the expected JSON, for an
// error, or nothing when the body is HTML (a proxy's error page) or empty.
func bodyText(contentType string, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] == '<' || strings.Contains(contentType, "html") {
		return ""
	}
	return ": " + errorText(body)
}

// errorText is the first line of msg, at most maxErrorText bytes.
func errorText(msg []byte) string {
	msg = bytes.TrimSpace(msg)
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		msg = bytes.TrimSpace(msg[:i])
	}
	if len(msg) > maxErrorText {
		msg = append(bytes.ToValidUTF8(msg[:maxErrorText], nil), "…"...)
	}
	return string(msg)
}
