package collector

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{emit: func(line []byte) { got = append(got, string(line)) }}
	for _, chunk := range []string{"one\ntw", "o\r\n", "\nthree\nfour", "-and-more"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	w.flush()
	want := []string{"one", "two", "", "three", "four-and-more"}
	if !slices.Equal(got, want) {
		t.Errorf("got lines %q, want %q", got, want)
	}
}

func TestChildRecord(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		line  string
		time  time.Time
		level slog.Level
		msg   string
		attrs []string // key=value in order, after proc=collector
	}{
		{
			name:  "slog json",
			line:  `{"time":"2026-02-03T04:05:06.789+01:00","level":"WARN","msg":"poll failed","err":"db locked","n":3}`,
			time:  time.Date(2026, 2, 3, 3, 5, 6, 789e6, time.UTC),
			level: slog.LevelWarn, msg: "poll failed",
			attrs: []string{"err=db locked", "n=3"},
		},
		{
			name: "levels between the named ones",
			line: `{"level":"ERROR+2","msg":"m"}`,
			time: now, level: slog.LevelError + 2, msg: "m",
		},
		{
			name: "debug and nested group",
			line: `{"level":"DEBUG","msg":"m","g":{"a":1,"b":{"c":true}},"f":1.5,"z":null}`,
			time: now, level: slog.LevelDebug, msg: "m",
			attrs: []string{"g=[a=1 b=[c=true]]", "f=1.5", "z=<nil>"},
		},
		{
			name: "not json",
			line: `panic: runtime error: index out of range`,
			time: now, level: slog.LevelInfo, msg: "panic: runtime error: index out of range",
		},
		{
			name: "json with trailing text",
			line: `{"msg":"m"} extra`,
			time: now, level: slog.LevelInfo, msg: `{"msg":"m"} extra`,
		},
		{
			name: "fields of the wrong type are kept as attributes",
			line: `{"time":"yesterday","level":"LOUD","msg":7}`,
			time: now, level: slog.LevelInfo, msg: "",
			attrs: []string{"time=yesterday", "level=LOUD", "msg=7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := childRecord([]byte(tt.line), now)
			if !r.Time.Equal(tt.time) {
				t.Errorf("got time %v, want %v", r.Time, tt.time)
			}
			if r.Level != tt.level {
				t.Errorf("got level %v, want %v", r.Level, tt.level)
			}
			if r.Message != tt.msg {
				t.Errorf("got msg %q, want %q", r.Message, tt.msg)
			}
			var attrs []string
			r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a.String()); return true })
			want := append([]string{"proc=collector"}, tt.attrs...)
			if !slices.Equal(attrs, want) {
				t.Errorf("got attrs %q, want %q", attrs, want)
			}
		})
	}
}

func TestLineWriterBounds(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		line   int
		pieces []int // lengths of what emit receives
	}{
		{"stderr passes a long line in pieces", 0, 100 << 10, []int{64 << 10, 36 << 10}},
		{"stderr passes a line of its bound whole", 0, 64<<10 - 1, []int{64<<10 - 1}},
		{"stdout passes a tick of 10,000 peers whole", maxStdoutLineLen, 2 << 20, []int{2 << 20}},
		{"stdout bound", maxStdoutLineLen, maxStdoutLineLen + 1000, []int{maxStdoutLineLen, 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			w := &lineWriter{max: tt.max, emit: func(line []byte) { got = append(got, len(line)) }}
			line := append(bytes.Repeat([]byte("x"), tt.line), '\n')
			for chunk := range slices.Chunk(line, 32<<10) { // as os/exec copies a pipe
				w.Write(chunk)
			}
			w.flush()
			if !slices.Equal(got, tt.pieces) {
				t.Errorf("got pieces of %v bytes, want %v", got, tt.pieces)
			}
		})
	}
}

// A tick of 10,000 changed peers is a line of about 1 MB on the child's stdout.
func TestSupervisorPassesLongStdoutLines(t *testing.T) {
	const n = 2 << 20
	lines := make(chan []byte, 10)
	s := &Supervisor{
		Path:       "/bin/sh",
		Args:       []string{"-c", fmt.Sprintf(`head -c %d /dev/zero | tr '\000' x; echo; echo short; exec sleep 60`, n)},
		Logger:     slog.New(newCapture()),
		MinBackoff: time.Second,
		OnLine: func(line []byte) {
			select {
			case lines <- line:
			default: // a broken relay passes many pieces: do not block the child
			}
		},
	}
	startSupervisor(t, s)
	for _, want := range []string{strings.Repeat("x", n), "short"} {
		select {
		case got := <-lines:
			if string(got) != want {
				t.Errorf("got a line of %d bytes, want %d", len(got), len(want))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no line of %d bytes from the child", len(want))
		}
	}
}
