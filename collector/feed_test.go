package collector

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// utcMessage puts every time of m in UTC, so that messages compare with reflect.DeepEqual.
func utcMessage(m Message) Message {
	m.Health.LastTick = m.Health.LastTick.UTC()
	m.Health.Push.LastSuccess = m.Health.Push.LastSuccess.UTC()
	if m.Tick != nil {
		t := *m.Tick
		t.At = t.At.UTC()
		t.Peers = append([]Peer(nil), t.Peers...)
		for i := range t.Peers {
			t.Peers[i].LatestHandshake = t.Peers[i].LatestHandshake.UTC()
		}
		m.Tick = &t
	}
	return m
}

func roundTrip(t *testing.T, m Message) (Message, []byte) {
	t.Helper()
	line := AppendMessage(nil, m)
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("AppendMessage wrote %q, want one line ending in a newline", line)
	}
	got, err := DecodeMessage(line)
	if err != nil {
		t.Fatalf("DecodeMessage(%s): %v", line, err)
	}
	return got, line
}

var (
	feedAt        = time.Date(2026, 5, 1, 12, 0, 0, 123e6, time.UTC)
	feedHandshake = time.Date(2026, 5, 1, 11, 59, 30, 0, time.UTC)
	feedHealth    = Health{
		LastTick: feedAt, TickDuration: 812345 * time.Nanosecond, LastError: `db "locked"`, Errors: 3,
		Push: PushHealth{State: "failing", LastError: "connection refused", LastSuccess: feedAt.Add(-time.Minute),
			Buffered: 1200, Dropped: 7},
	}
)

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Message
		want Message
	}{
		{
			name: "every field",
			in: Message{Health: feedHealth, Tick: &Tick{Seq: 7, At: feedAt, Took: 812 * time.Microsecond, Peers: []Peer{
				{DeviceID: "3f0c7a52-9d1e-4b7a-8c55-0a1b2c3d4e5f", PublicKey: "key", UserEmail: "a@example.com", DeviceName: "laptop",
					RxTotal: 123456789, TxTotal: 987654321, RxRate: 2048.5, TxRate: 12, LatestHandshake: feedHandshake, Changed: true},
				{DeviceID: "never-shook-hands", RxTotal: 0, TxTotal: 148, RxRate: 0, TxRate: 29.6, Changed: true},
				{DeviceID: "idle", RxTotal: 5, TxTotal: 5, LatestHandshake: feedHandshake, Changed: false},
				{DeviceID: "quote\" backslash\\ tab\t nul\x00 é 🔑", RxTotal: 1, TxTotal: 2, RxRate: 0.1, TxRate: 1e9, Changed: true},
			}}},
			want: Message{Health: feedHealth, Tick: &Tick{Seq: 7, At: feedAt, Took: 812 * time.Microsecond, Peers: []Peer{
				{DeviceID: "3f0c7a52-9d1e-4b7a-8c55-0a1b2c3d4e5f",
					RxTotal: 123456789, TxTotal: 987654321, RxRate: 2048.5, TxRate: 12, LatestHandshake: feedHandshake, Changed: true},
				{DeviceID: "never-shook-hands", RxTotal: 0, TxTotal: 148, RxRate: 0, TxRate: 29.6, Changed: true},
				{DeviceID: "quote\" backslash\\ tab\t nul\x00 é 🔑", RxTotal: 1, TxTotal: 2, RxRate: 0.1, TxRate: 1e9, Changed: true},
			}}},
		},
		{
			name: "failed poll",
			in:   Message{Health: Health{LastTick: feedAt, LastError: "read peers: no such device", Errors: 1, Push: PushHealth{State: "off"}}},
			want: Message{Health: Health{LastTick: feedAt, LastError: "read peers: no such device", Errors: 1, Push: PushHealth{State: "off"}}},
		},
		{
			name: "nothing changed",
			in:   Message{Health: feedHealth, Tick: &Tick{Seq: 1 << 40, At: feedAt, Peers: []Peer{{DeviceID: "idle", RxTotal: 9}}}},
			want: Message{Health: feedHealth, Tick: &Tick{Seq: 1 << 40, At: feedAt, Peers: []Peer{}}},
		},
		{
			name: "first health of a collector",
			in:   Message{},
			want: Message{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, line := roundTrip(t, tt.in)
			if g, w := utcMessage(got), utcMessage(tt.want); !reflect.DeepEqual(g, w) {
				t.Errorf("line %s\ngot  %s\nwant %s", line, describe(g), describe(w))
			}
		})
	}
}

func describe(m Message) string {
	if m.Tick == nil {
		return fmt.Sprintf("%+v tick <nil>", m.Health)
	}
	return fmt.Sprintf("%+v tick %+v", m.Health, *m.Tick)
}

// The wire format is a contract between two builds: this pins it.
func TestAppendMessageFormat(t *testing.T) {
	m := Message{
		Health: Health{LastTick: feedAt, TickDuration: 812 * time.Microsecond, Push: PushHealth{State: "off"}},
		Tick: &Tick{Seq: 7, At: feedAt, Took: 812400 * time.Nanosecond, Peers: []Peer{
			{DeviceID: "a", RxTotal: 1 << 60, TxTotal: 2, RxRate: 1234.56, TxRate: 0.04, LatestHandshake: feedHandshake.Add(900 * time.Millisecond), Changed: true},
			{DeviceID: "b", RxTotal: 3, TxTotal: 4, Changed: false},
			{DeviceID: "c", RxTotal: 5, TxTotal: 6, RxRate: 0.05, TxRate: 7, Changed: true},
		}},
	}
	want := `{"v":1,"health":{"last_tick":"2026-05-01T12:00:00.123Z","tick_duration_ns":812000,"errors":0,` +
		`"victoriametrics":{"state":"off","buffered_samples":0,"dropped_samples":0}},` +
		`"tick":{"seq":7,"at":1777636800123,"took_us":812,"peers":[["a",1152921504606846976,2,1234.6,0,1777636770],["c",5,6,0.1,7,0]]}}` + "\n"
	if got := string(AppendMessage(nil, m)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(AppendMessage([]byte("kept"), Message{})); !strings.HasPrefix(got, `kept{"v":1,`) {
		t.Errorf("got %s, want the message appended to dst", got)
	}
}

// Totals are int64 counters that JSON numbers read as float64 would round beyond 2^53.
func TestMessageTotalsBeyond2To53(t *testing.T) {
	for _, total := range []int64{1<<53 + 1, 1<<62 + 3, math.MaxInt64, math.MinInt64} {
		t.Run(fmt.Sprint(total), func(t *testing.T) {
			m := Message{Tick: &Tick{Seq: 1, At: feedAt, Peers: []Peer{{DeviceID: "d", RxTotal: total, TxTotal: total - 1, Changed: true}}}}
			got, line := roundTrip(t, m)
			if !bytes.Contains(line, []byte(fmt.Sprintf(",%d,%d,", total, total-1))) {
				t.Errorf("line %s does not hold the totals as integers", line)
			}
			p := got.Tick.Peers[0]
			if p.RxTotal != total || p.TxTotal != total-1 {
				t.Errorf("got totals %d/%d, want %d/%d", p.RxTotal, p.TxTotal, total, total-1)
			}
		})
	}
}

func TestMessageRates(t *testing.T) {
	tests := []struct {
		rate float64
		text string
		want float64
	}{
		{0, "0", 0},
		{0.04, "0", 0},
		{0.05, "0.1", 0.1},
		{1.28, "1.3", 1.3},
		{2048, "2048", 2048},
		{1234.56, "1234.6", 1234.6},
		{1.25e9 + 0.25, "1250000000.3", 1250000000.3},
		{123456789012345.67, "123456789012345.7", 123456789012345.7},
		{1e300, "1" + strings.Repeat("0", 300), 1e300}, // too large for tenths: whole
		{-3.14, "-3.1", -3.1},
		{math.NaN(), "0", 0},
		{math.Inf(1), "0", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			if got := string(appendRate(nil, tt.rate)); got != tt.text {
				t.Errorf("appendRate(%v) = %s, want %s", tt.rate, got, tt.text)
			}
			m := Message{Tick: &Tick{Seq: 1, At: feedAt, Peers: []Peer{{DeviceID: "d", RxRate: tt.rate, TxRate: tt.rate, Changed: true}}}}
			got, _ := roundTrip(t, m)
			if p := got.Tick.Peers[0]; p.RxRate != tt.want || p.TxRate != tt.want {
				t.Errorf("decoded rates %v/%v, want %v", p.RxRate, p.TxRate, tt.want)
			}
		})
	}
}

// A message written by hand, or by a later build of the same version: keys in any order,
// whitespace, unknown keys, numbers in any JSON form where a float is expected.
func TestDecodeMessageIsPlainJSON(t *testing.T) {
	line := " {\"tick\" : { \"future\":[1,{\"x\":null}], \"peers\" : [ [ \"d\\u00e9v\" , 10 , 20 , 1.5e3 , 0.25 , 1777636770 ] ] ,\n" +
		"\"took_us\":5, \"seq\":3, \"at\":1777636800123},\t\"health\":{\"errors\":2,\"new_field\":true}, \"later\":\"x\", \"v\":1 }\r\n"
	got, err := DecodeMessage([]byte(line))
	if err != nil {
		t.Fatalf("DecodeMessage: %v", err)
	}
	want := Message{Health: Health{Errors: 2}, Tick: &Tick{Seq: 3, At: feedAt, Took: 5 * time.Microsecond, Peers: []Peer{
		{DeviceID: "dév", RxTotal: 10, TxTotal: 20, RxRate: 1500, TxRate: 0.25, LatestHandshake: feedHandshake, Changed: true},
	}}}
	if g, w := utcMessage(got), utcMessage(want); !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", describe(g), describe(w))
	}
	got, err = DecodeMessage([]byte(`{"v":1,"health":{},"tick":null}`))
	if err != nil || got.Tick != nil {
		t.Errorf("tick null: got %v, %v; want no tick", got.Tick, err)
	}
}

func TestDecodeMessageRefusesOtherVersions(t *testing.T) {
	tests := []struct {
		name, line, want string
		isVersion        bool
	}{
		{"newer", `{"v":2,"health":{},"tick":{"seq":1,"at":1,"peers":[{"id":"d"}]}}`, "version 2, this program reads version 1", true},
		{"older", `{"v":0,"health":{}}`, "version 0, this program reads version 1", true},
		{"version after the tick", `{"health":{},"tick":{"whatever":[]},"v":3}`, "version 3", true},
		{"no version", `{"health":{},"tick":{"seq":1,"at":1,"peers":[]}}`, "no version", false},
		{"version as text", `{"v":"1","health":{}}`, "version: want a number", false},
		{"fractional version", `{"v":1.0,"health":{}}`, "version: want an integer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMessage([]byte(tt.line))
			if err == nil {
				t.Fatalf("got %s and no error, want %q", describe(m), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "decode collector message: ") {
				t.Errorf("got error %q, want one with %q", err, tt.want)
			}
			if errors.Is(err, ErrFeedVersion) != tt.isVersion {
				t.Errorf("got errors.Is(err, ErrFeedVersion) = %v, want %v", !tt.isVersion, tt.isVersion)
			}
		})
	}
}

func TestDecodeMessageRefusesGarbage(t *testing.T) {
	const head = `{"v":1,"health":{},"tick":{"seq":1,"at":1,"peers":[`
	tests := []struct{ name, line, want string }{
		{"empty", ``, "want an object"},
		{"not json", `tick 4242`, "want an object"},
		{"null", `null`, "want an object"},
		{"array", `[1,2]`, "want an object"},
		{"cut short", `{"v":1,"health":{"errors":1`, "health: want , or }"},
		{"cut in a string", `{"v":1,"health":{"last_error":"db`, "unterminated string"},
		{"no health", `{"v":1}`, "no health"},
		{"health of the wrong type", `{"v":1,"health":[]}`, "health: json: cannot unmarshal"},
		{"health field of the wrong type", `{"v":1,"health":{"errors":"many"}}`, "health: json: cannot unmarshal"},
		{"text after", `{"v":1,"health":{}} {}`, "text after the message"},
		{"missing comma", `{"v":1 "health":{}}`, "want , or }"},
		{"control character", "{\"v\":1,\"health\":{\"last_error\":\"a\x01b\"}}", "control character"},
		{"bad escape", `{"v":1,"health":{"last_error":"\x"}}`, "bad string"},
		{"deep nesting", `{"v":1,"health":{},"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, "nested too deeply"},
		{"tick not an object", `{"v":1,"health":{},"tick":[]}`, "tick: want an object"},
		{"tick without at", `{"v":1,"health":{},"tick":{"seq":1,"peers":[]}}`, "tick: want seq and at"},
		{"negative seq", `{"v":1,"health":{},"tick":{"seq":-1,"at":1}}`, "seq: integer out of range"},
		{"seq too large", `{"v":1,"health":{},"tick":{"seq":18446744073709551616,"at":1}}`, "seq: integer out of range"},
		{"took out of range", `{"v":1,"health":{},"tick":{"seq":1,"at":1,"took_us":9223372036854775807}}`, "duration out of range"},
		{"peers not an array", `{"v":1,"health":{},"tick":{"seq":1,"at":1,"peers":{}}}`, "peers: want an array"},
		{"peer as an object", head + `{"id":"d"}]}}`, "peer 0: want an array"},
		{"peer with 5 elements", head + `["d",1,2,3,4]]}}`, "peer 0: handshake: want ,"},
		{"peer with 7 elements", head + `["d",1,2,3,4,5,6]]}}`, "peer 0: want ] after 6 elements"},
		{"id a number", head + `[7,1,2,3,4,5]]}}`, "peer 0: device id: want a string"},
		{"total a float", head + `["a",1,2,3,4,5],["d",1.5,2,3,4,5]]}}`, "peer 1: rx total: want an integer"},
		{"total in exponent form", head + `["d",1,2e3,3,4,5]]}}`, "tx total: want an integer"},
		{"total beyond int64", head + `["d",9223372036854775808,2,3,4,5]]}}`, "rx total: integer out of range"},
		{"total with a leading zero", head + `["d",01,2,3,4,5]]}}`, "rx total: number with a leading zero"},
		{"rate a string", head + `["d",1,2,"fast",4,5]]}}`, "rx rate: want a number"},
		{"rate NaN", head + `["d",1,2,3,NaN,5]]}}`, "tx rate: want a number"},
		{"rate out of range", head + `["d",1,2,1e999,4,5]]}}`, "rx rate: number out of range"},
		{"rate with a bare point", head + `["d",1,2,3.,4,5]]}}`, "want a digit after the decimal point"},
		{"handshake null", head + `["d",1,2,3,4,null]]}}`, "handshake: want a number"},
		{"binary", "\x00\xff\xfe{\"v\":1}", "want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMessage([]byte(tt.line))
			if err == nil {
				t.Fatalf("got %s and no error, want %q", describe(m), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want one with %q", err, tt.want)
			}
			if !reflect.DeepEqual(m, Message{}) {
				t.Errorf("got %s with the error, want a zero message", describe(m))
			}
		})
	}
}

// FuzzDecodeMessage checks that no line makes DecodeMessage panic, and that what it accepts
// is written back in a form that reads the same.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendMessage(nil, Message{Health: feedHealth, Tick: &Tick{Seq: 7, At: feedAt, Took: time.Millisecond, Peers: []Peer{
		{DeviceID: "a\"b", RxTotal: math.MaxInt64, TxTotal: 2, RxRate: 3.5, TxRate: 4, LatestHandshake: feedHandshake, Changed: true},
	}}}))
	f.Add(AppendMessage(nil, Message{}))
	f.Add([]byte(`{"tick":{"peers":[["x",1,2,1e3,-0.5,0]],"seq":1,"at":-5},"health":{"errors":1},"v":1}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := DecodeMessage(line)
		if err != nil {
			return
		}
		again := AppendMessage(nil, m)
		m2, err := DecodeMessage(again)
		if err != nil {
			t.Fatalf("DecodeMessage(%q) accepted, its re-encoding %q refused: %v", line, again, err)
		}
		if third := AppendMessage(nil, m2); !bytes.Equal(third, again) {
			t.Fatalf("re-encoding is not stable:\n%s\n%s", again, third)
		}
	})
}

// feedTick returns a tick of n changed peers with realistic ids, totals, rates and handshakes.
func feedTick(n int) *Tick {
	t := &Tick{Seq: 1234, At: feedAt, Took: 38 * time.Millisecond, Peers: make([]Peer, n)}
	for i := range t.Peers {
		t.Peers[i] = Peer{
			DeviceID: fmt.Sprintf("%08x-9d1e-4b7a-8c55-%012x", i*7919, i),
			RxTotal:  int64(i) * 987654321, TxTotal: int64(i) * 123456789,
			RxRate: float64(i%5000) * 1.37, TxRate: float64(i%300) * 11.1,
			LatestHandshake: feedHandshake.Add(-time.Duration(i%180) * time.Second),
			Changed:         true,
		}
	}
	return t
}

func BenchmarkAppendMessage10k(b *testing.B) {
	m := Message{Health: feedHealth, Tick: feedTick(10_000)}
	line := AppendMessage(nil, m)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		line = AppendMessage(line[:0], m) // as the collector does: one buffer for every tick
	}
	b.ReportMetric(float64(len(line))/1e6, "MB/line")
}

func BenchmarkDecodeMessage10k(b *testing.B) {
	line := AppendMessage(nil, Message{Health: feedHealth, Tick: feedTick(10_000)})
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(line); err != nil {
			b.Fatal(err)
		}
	}
}
