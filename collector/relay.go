package collector

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// How much of one line the relay buffers; a longer line is passed on in pieces.
const (
	maxLineLen = 64 << 10 // stderr: a log record
	// maxStdoutLineLen fits a tick of 100,000 changed peers (about 100 bytes each).
	maxStdoutLineLen = 16 << 20
)

// lineWriter splits what a child writes into lines and calls emit with each, without the
// newline. emit owns the slice it receives. os/exec copies each child pipe into its writer from
// one goroutine; the mutex only guards flush racing with a write after WaitDelay expired.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	max  int // the longest line passed on whole; 0 means maxLineLen
	emit func(line []byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= cmp.Or(w.max, maxLineLen) {
				w.emitLocked()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emitLocked()
		p = p[i+1:]
	}
	return n, nil
}

// flush passes on a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emitLocked()
	}
}

func (w *lineWriter) emitLocked() {
	line := bytes.Clone(bytes.TrimSuffix(w.buf, []byte("\r")))
	w.buf = w.buf[:0]
	if w.emit != nil {
		w.emit(line)
	}
}

// childRecord turns one line of the child's stderr into a record for the parent's logger,
// with proc=collector first. A line written by slog's JSON handler keeps its time, level,
// message and attributes (nested objects become groups, in the child's order); any other
// line becomes an Info record whose message is the line.
func childRecord(line []byte, now time.Time) slog.Record {
	proc := slog.String("proc", "collector")
	attrs, ok := parseJSONObject(line)
	if !ok {
		r := slog.NewRecord(now, slog.LevelInfo, string(line), 0)
		r.AddAttrs(proc)
		return r
	}
	t, level, msg := now, slog.LevelInfo, ""
	rest := []slog.Attr{proc}
	for _, a := range attrs {
		switch {
		case a.Key == slog.TimeKey && a.Value.Kind() == slog.KindString:
			if parsed, err := time.Parse(time.RFC3339Nano, a.Value.String()); err == nil {
				t = parsed
				continue
			}
		case a.Key == slog.LevelKey && a.Value.Kind() == slog.KindString:
			if err := level.UnmarshalText([]byte(a.Value.String())); err == nil {
				continue
			}
		case a.Key == slog.MessageKey && a.Value.Kind() == slog.KindString:
			msg = a.Value.String()
			continue
		}
		rest = append(rest, a)
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(rest...)
	return r
}

// parseJSONObject decodes a JSON object into attributes in the order of its keys.
func parseJSONObject(data []byte) ([]slog.Attr, bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, false
	}
	var attrs []slog.Attr
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		v, ok := jsonValue(raw)
		if !ok {
			return nil, false
		}
		attrs = append(attrs, slog.Attr{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF { // nothing after the object
		return nil, false
	}
	return attrs, true
}

func jsonValue(raw json.RawMessage) (slog.Value, bool) {
	if len(raw) > 0 && raw[0] == '{' {
		attrs, ok := parseJSONObject(raw)
		return slog.GroupValue(attrs...), ok
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return slog.Value{}, false
	}
	switch v := v.(type) {
	case string:
		return slog.StringValue(v), true
	case bool:
		return slog.BoolValue(v), true
	case json.Number:
		if !strings.ContainsAny(v.String(), ".eE") {
			if i, err := v.Int64(); err == nil {
				return slog.Int64Value(i), true
			}
		}
		if f, err := v.Float64(); err == nil {
			return slog.Float64Value(f), true
		}
		return slog.StringValue(v.String()), true
	default: // null, arrays
		return slog.AnyValue(v), true
	}
}
