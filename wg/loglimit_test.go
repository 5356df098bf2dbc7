package wg

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	l := &logLimiter{burst: 3, every: time.Second}
	steps := []struct {
		ms       int
		ok       bool
		held     int
		describe string
	}{
		{0, true, 0, "the burst"},
		{0, true, 0, "the burst"},
		{10, true, 0, "the burst"},
		{20, false, 0, "over the burst"},
		{500, false, 0, "before a second has passed"},
		{1000, true, 2, "one more a second later, with the two held back"},
		{1001, false, 0, "and no more"},
		{1999, false, 0, "not before the next second"},
		{2000, true, 2, "the next second, with the two held back"},
		{60_000, true, 0, "after a long quiet, a burst again"},
		{60_000, true, 0, "after a long quiet, a burst again"},
		{60_000, true, 0, "after a long quiet, a burst again"},
		{60_000, false, 0, "but no more than the burst"},
		{61_000, true, 1, "the next second"},
	}
	for i, s := range steps {
		ok, held := l.allow(at(s.ms))
		if ok != s.ok || held != s.held {
			t.Errorf("line %d at %d ms (%s): got %v with %d held, want %v with %d", i, s.ms, s.describe, ok, held, s.ok, s.held)
		}
	}
}
