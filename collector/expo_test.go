package collector

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAppendLabelValue(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "laptop", "laptop"},
		{"empty", "", ""},
		{"double quotes", `my "work" phone`, `my \"work\" phone`},
		{"backslash", `C:\Users`, `C:\\Users`},
		{"backslash n is not a newline", `a\nb`, `a\\nb`},
		{"newline", "two\nlines", `two\nlines`},
		{"single quote and plus", "o'brien+vpn@example.com", "o'brien+vpn@example.com"},
		{"umlaut", "Jürgens Rechner", "Jürgens Rechner"},
		{"emoji", "phone 📱", "phone 📱"},
		{"everything", "a \"quoted\" \\ name ü\n📱", `a \"quoted\" \\ name ü\n📱`},
		{"carriage return and tab pass", "a\r\tb", "a\r\tb"},
		{"invalid utf-8", "bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendLabelValue(nil, tt.in)); got != tt.want {
				t.Errorf("appendLabelValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// testTick is a tick of three peers at 2024-05-01 12:00:00.250 UTC: counters beyond 32 and 31
// bits, a handshake 179 s old (connected), one 180 s old (not), and one never.
func testTick() Tick {
	at := time.Date(2024, 5, 1, 12, 0, 0, 250e6, time.UTC)
	return Tick{Seq: 7, At: at, Peers: []Peer{
		{
			DeviceID: "d1", PublicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
			UserEmail: "alice@example.com", DeviceName: "laptop",
			RxTotal: 1<<32 + 1, TxTotal: 1 << 31, LatestHandshake: at.Add(-179 * time.Second),
		},
		{
			DeviceID: "d2", PublicKey: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
			UserEmail: "bob@example.com", DeviceName: "phone",
			RxTotal: 1<<53 + 1, TxTotal: 0, LatestHandshake: at.Add(-180 * time.Second),
		},
		{
			DeviceID: "d3", PublicKey: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
			UserEmail: "o'brien+vpn@example.com", DeviceName: `a "quoted" \ name ü`,
		},
	}}
}

const (
	aliceLabels = `{public_key="xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",user_email="alice@example.com",device_name="laptop"}`
	bobLabels   = `{public_key="TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",user_email="bob@example.com",device_name="phone"}`
	carolLabels = `{public_key="HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",user_email="o'brien+vpn@example.com",device_name="a \"quoted\" \\ name ü"}`
)

func TestAppendTickImport(t *testing.T) {
	var e Encoder
	got := string(e.AppendTick(nil, testTick(), FormatImport))
	// 1714564800250 is 2024-05-01 12:00:00.250 UTC in milliseconds.
	want := `wiregui_peer_rx_bytes` + aliceLabels + ` 4294967297 1714564800250
wiregui_peer_rx_bytes` + bobLabels + ` 9007199254740993 1714564800250
wiregui_peer_rx_bytes` + carolLabels + ` 0 1714564800250
wiregui_peer_tx_bytes` + aliceLabels + ` 2147483648 1714564800250
wiregui_peer_tx_bytes` + bobLabels + ` 0 1714564800250
wiregui_peer_tx_bytes` + carolLabels + ` 0 1714564800250
wiregui_peer_latest_handshake_seconds` + aliceLabels + ` 1714564621 1714564800250
wiregui_peer_latest_handshake_seconds` + bobLabels + ` 1714564620 1714564800250
wiregui_peer_latest_handshake_seconds` + carolLabels + ` 0 1714564800250
wiregui_peer_connected` + aliceLabels + ` 1 1714564800250
wiregui_peer_connected` + bobLabels + ` 0 1714564800250
wiregui_peer_connected` + carolLabels + ` 0 1714564800250
wiregui_peers_total 1 1714564800250
`
	if got != want {
		t.Errorf("AppendTick(FormatImport):\ngot\n%s\nwant\n%s", got, want)
	}
	// The second tick takes the labels from the cache; the output is the same.
	if again := string(e.AppendTick(nil, testTick(), FormatImport)); again != want {
		t.Errorf("second AppendTick:\ngot\n%s\nwant\n%s", again, want)
	}
}

func TestAppendTickScrape(t *testing.T) {
	var e Encoder
	tick := testTick()
	tick.Peers[0].DeviceName = "two\nlines 📱"
	text := string(e.AppendTick(nil, tick, FormatScrape))
	samples, types := parseExpo(t, text)

	wantTypes := map[string]string{
		"wiregui_peer_rx_bytes": "counter", "wiregui_peer_tx_bytes": "counter",
		"wiregui_peer_latest_handshake_seconds": "gauge", "wiregui_peer_connected": "gauge",
		"wiregui_peers_total": "gauge",
	}
	if !maps.Equal(types, wantTypes) {
		t.Errorf("types = %v, want %v", types, wantTypes)
	}
	if len(samples) != 4*len(tick.Peers)+1 {
		t.Fatalf("got %d samples, want %d", len(samples), 4*len(tick.Peers)+1)
	}
	for _, s := range samples {
		if s.TS != "" {
			t.Errorf("%s has timestamp %s, want none on /metrics", s.Name, s.TS)
		}
	}
	// The labels come back as they went in, whatever they contain.
	for i, p := range tick.Peers {
		s := samples[i] // wiregui_peer_rx_bytes of peer i
		want := map[string]string{"public_key": p.PublicKey, "user_email": p.UserEmail, "device_name": p.DeviceName}
		if !maps.Equal(s.Labels, want) {
			t.Errorf("labels of peer %d = %q, want %q", i, s.Labels, want)
		}
		if s.Value != strconv.FormatInt(p.RxTotal, 10) {
			t.Errorf("rx of peer %d = %s, want %d", i, s.Value, p.RxTotal)
		}
	}
}

func TestAppendTickConnected(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		handshake time.Time
		want      string
	}{
		{"just now", at, "1"},
		{"179 s ago", at.Add(-179 * time.Second), "1"},
		{"179.999 s ago", at.Add(-179999 * time.Millisecond), "1"},
		{"180 s ago", at.Add(-180 * time.Second), "0"},
		{"181 s ago", at.Add(-181 * time.Second), "0"},
		{"never", time.Time{}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			tick := Tick{At: at, Peers: []Peer{{PublicKey: "k", LatestHandshake: tt.handshake}}}
			samples, _ := parseExpo(t, string(e.AppendTick(nil, tick, FormatScrape)))
			got := values(samples)
			if got["wiregui_peer_connected"] != tt.want || got["wiregui_peers_total"] != tt.want {
				t.Errorf("connected = %s, peers_total = %s, want %s", got["wiregui_peer_connected"], got["wiregui_peers_total"], tt.want)
			}
			wantHandshake := "0"
			if !tt.handshake.IsZero() {
				wantHandshake = strconv.FormatInt(tt.handshake.Unix(), 10)
			}
			if got["wiregui_peer_latest_handshake_seconds"] != wantHandshake {
				t.Errorf("handshake = %s, want %s", got["wiregui_peer_latest_handshake_seconds"], wantHandshake)
			}
		})
	}
}

func TestAppendTickPeersTotal(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		peers []Peer
		want  string
	}{
		{"no peers", nil, "0"},
		{"none connected", []Peer{{PublicKey: "a"}, {PublicKey: "b", LatestHandshake: at.Add(-time.Hour)}}, "0"},
		{"two of three", []Peer{
			{PublicKey: "a", LatestHandshake: at.Add(-time.Second)},
			{PublicKey: "b"},
			{PublicKey: "c", LatestHandshake: at.Add(-2 * time.Minute)},
		}, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			samples, _ := parseExpo(t, string(e.AppendTick(nil, Tick{At: at, Peers: tt.peers}, FormatScrape)))
			if got := values(samples)["wiregui_peers_total"]; got != tt.want {
				t.Errorf("wiregui_peers_total = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEncoderLabelCache(t *testing.T) {
	var e Encoder
	tick := testTick()
	e.AppendTick(nil, tick, FormatImport)
	if len(e.labels.byKey) != 3 {
		t.Fatalf("cache holds %d devices, want 3", len(e.labels.byKey))
	}
	cached := e.labels.byKey[tick.Peers[0].PublicKey]

	// A renamed device gets new labels; the others are not escaped again.
	tick.Peers[0].DeviceName = "renamed"
	tick.Peers[1].UserEmail = "robert@example.com"
	samples, _ := parseExpo(t, string(e.AppendTick(nil, tick, FormatScrape)))
	if got := samples[0].Labels["device_name"]; got != "renamed" {
		t.Errorf("device_name after rename = %q, want renamed", got)
	}
	if got := samples[1].Labels["user_email"]; got != "robert@example.com" {
		t.Errorf("user_email after change = %q, want robert@example.com", got)
	}
	if e.labels.byKey[tick.Peers[0].PublicKey] == cached {
		t.Error("renamed device kept its old labels")
	}
	if !strings.Contains(cached.text, `device_name="laptop"`) {
		t.Errorf("old labels changed to %s; queued ticks must keep them", cached.text)
	}
	carol := e.labels.byKey[tick.Peers[2].PublicKey]

	// A device that is gone is forgotten.
	tick.Peers = tick.Peers[2:]
	e.AppendTick(nil, tick, FormatImport)
	if got := slices.Collect(maps.Keys(e.labels.byKey)); len(got) != 1 || e.labels.byKey[tick.Peers[0].PublicKey] != carol {
		t.Errorf("cache holds %q, want only the remaining device, unchanged", got)
	}
}

func TestAppendHealth(t *testing.T) {
	base := Health{
		LastTick:     time.Date(2024, 5, 1, 12, 0, 0, 250e6, time.UTC),
		TickDuration: 12500 * time.Microsecond,
		Errors:       3,
		Push:         PushHealth{Buffered: 2001, Dropped: 1 << 33},
	}
	tests := []struct {
		state  string
		pushUp string // "" when the series must be absent
	}{
		{"", ""},
		{"off", ""},
		{"ok", "1"},
		{"failing", "0"},
	}
	for _, tt := range tests {
		t.Run("push "+tt.state, func(t *testing.T) {
			h := base
			h.Push.State = tt.state
			samples, types := parseExpo(t, string(AppendHealthSeries(nil, h)))
			got := values(samples)
			want := map[string]string{
				"wiregui_collector_last_tick_timestamp_seconds": "1714564800.25",
				"wiregui_collector_tick_duration_seconds":       "0.0125",
				"wiregui_collector_errors_total":                "3",
				"wiregui_collector_buffered_samples":            "2001",
				"wiregui_collector_dropped_samples_total":       "8589934592",
			}
			if tt.pushUp != "" {
				want["wiregui_collector_push_up"] = tt.pushUp
			}
			if !maps.Equal(got, want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
			for name := range want {
				if types[name] == "" {
					t.Errorf("%s has no # TYPE", name)
				}
			}
		})
	}
	t.Run("no tick yet", func(t *testing.T) {
		samples, _ := parseExpo(t, string(AppendHealthSeries(nil, Health{})))
		if got := values(samples)["wiregui_collector_last_tick_timestamp_seconds"]; got != "0" {
			t.Errorf("last tick = %s, want 0", got)
		}
	})
}

// BenchmarkEncodeTick10k encodes a tick of 10,000 peers whose labels are cached, as every
// tick but a collector's first is.
func BenchmarkEncodeTick10k(b *testing.B) {
	tick := syntheticTick(10000, time.Now())
	var e Encoder
	buf := e.AppendTick(nil, tick, FormatImport)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = e.AppendTick(buf[:0], tick, FormatImport)
	}
}

// BenchmarkEncodeTick10kCold is the first tick: every label is escaped.
func BenchmarkEncodeTick10kCold(b *testing.B) {
	tick := syntheticTick(10000, time.Now())
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var e Encoder
		buf = e.AppendTick(buf[:0], tick, FormatImport)
	}
}

// syntheticTick is a tick of n peers with realistic keys, emails and names; half of them are
// connected.
func syntheticTick(n int, at time.Time) Tick {
	t := Tick{At: at, Peers: make([]Peer, n)}
	for i := range t.Peers {
		key := sha256.Sum256([]byte(strconv.Itoa(i)))
		t.Peers[i] = Peer{
			DeviceID:   fmt.Sprintf("dev-%06d", i),
			PublicKey:  base64.StdEncoding.EncodeToString(key[:]),
			UserEmail:  fmt.Sprintf("user%05d@example.com", i/3),
			DeviceName: fmt.Sprintf("laptop %d", i%3),
			RxTotal:    int64(i) * 123456789,
			TxTotal:    int64(i) * 98765,
		}
		if i%2 == 0 {
			t.Peers[i].LatestHandshake = at.Add(-time.Duration(i%170) * time.Second)
		}
	}
	return t
}

// expoSample is a sample line of the text format, as parseExpo reads it.
type expoSample struct {
	Name   string
	Labels map[string]string
	Value  string
	TS     string // "" when the line has none
}

// parseExpo parses text in the Prometheus text format, strictly: comment lines are
// # HELP or # TYPE, a metric's # TYPE comes before its samples, a metric's lines are
// together, label values are escaped as the format says, values are numbers and timestamps
// integers. A metric's lines must be together only in text with comments: a push body holds
// several ticks. It returns the samples in order and the types by metric name.
func parseExpo(t testing.TB, text string) ([]expoSample, map[string]string) {
	t.Helper()
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("text does not end in a newline: %q", text)
	}
	var samples []expoSample
	types := map[string]string{}
	done := map[string]bool{} // metrics whose lines are over
	current := ""
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if text == "" {
			break
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		var name string
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kind, rest, _ := strings.Cut(rest, " ")
			name, rest, _ = strings.Cut(rest, " ")
			switch kind {
			case "HELP":
				if rest == "" {
					fail("empty help")
				}
			case "TYPE":
				if rest != "counter" && rest != "gauge" {
					fail("type %q", rest)
				}
				if types[name] != "" {
					fail("second # TYPE for %s", name)
				}
				types[name] = rest
			default:
				fail("comment is neither HELP nor TYPE")
			}
		} else {
			s := parseSampleLine(t, line)
			name = s.Name
			if types[name] == "" && strings.HasPrefix(text, "#") {
				fail("sample before # TYPE %s", name)
			}
			samples = append(samples, s)
		}
		if name != current && strings.HasPrefix(text, "#") {
			if done[name] {
				fail("lines of %s are not together", name)
			}
			done[current], current = true, name
		}
	}
	return samples, types
}

func parseSampleLine(t testing.TB, line string) expoSample {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("line %q: %s", line, fmt.Sprintf(format, args...))
	}
	isName := func(c byte, first bool) bool {
		return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
	}
	s := expoSample{Labels: map[string]string{}}
	i := 0
	for i < len(line) && isName(line[i], i == 0) {
		i++
	}
	if i == 0 {
		fail("no metric name")
	}
	s.Name = line[:i]
	if i < len(line) && line[i] == '{' {
		i++
		for line[i] != '}' {
			start := i
			for i < len(line) && isName(line[i], i == start) {
				i++
			}
			label := line[start:i]
			if label == "" || i+1 >= len(line) || line[i:i+2] != `="` {
				fail("bad label at %d", start)
			}
			i += 2
			var v strings.Builder
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
					if i == len(line) {
						fail("escape at the end")
					}
					switch line[i] {
					case '\\', '"':
						v.WriteByte(line[i])
					case 'n':
						v.WriteByte('\n')
					default:
						fail("bad escape \\%c", line[i])
					}
					continue
				}
				v.WriteByte(line[i])
			}
			if i == len(line) {
				fail("unterminated label value")
			}
			if _, dup := s.Labels[label]; dup {
				fail("label %s twice", label)
			}
			s.Labels[label] = v.String()
			i++ // the closing quote
			if i < len(line) && line[i] == ',' {
				i++
			}
			if i == len(line) {
				fail("unterminated labels")
			}
		}
		i++
	}
	fields := strings.Split(line[i:], " ")
	if fields[0] != "" || len(fields) < 2 || len(fields) > 3 {
		fail("want ' value' or ' value timestamp' after the labels")
	}
	s.Value = fields[1]
	if _, err := strconv.ParseFloat(s.Value, 64); err != nil {
		fail("value: %v", err)
	}
	if len(fields) == 3 {
		s.TS = fields[2]
		if _, err := strconv.ParseInt(s.TS, 10, 64); err != nil {
			fail("timestamp: %v", err)
		}
	}
	return s
}

// values maps each sample's name to its value, for outputs with one sample per name.
func values(samples []expoSample) map[string]string {
	m := map[string]string{}
	for _, s := range samples {
		m[s.Name] = s.Value
	}
	return m
}
