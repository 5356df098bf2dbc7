package collector

import (
	"testing"
	"time"
)

func TestStatusAt(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ago := func(s int) time.Time { return now.Add(-time.Duration(s) * time.Second) }
	cases := []struct {
		name      string
		handshake time.Time
		want      Status
	}{
		{"0 s", ago(0), Online},
		{"119 s", ago(119), Online},
		{"119.999 s", now.Add(-OnlineWithin + time.Millisecond), Online},
		{"120 s", ago(120), Idle},
		{"299 s", ago(299), Idle},
		{"300 s", ago(300), Offline},
		{"a day", ago(86400), Offline},
		{"never", time.Time{}, Offline},
		{"clock ahead by 3 s", now.Add(3 * time.Second), Online},
	}
	for _, tc := range cases {
		if got := StatusAt(tc.handshake, now); got != tc.want {
			t.Errorf("%s: StatusAt = %q, want %q", tc.name, got, tc.want)
		}
	}
}
