package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"wiregui/store"
)

// After the interface was re-created, WireGuard's counters start again while the totals keep
// growing: device list shows the totals, as the web UI and /metrics do.
func TestDeviceListPrintsTotals(t *testing.T) {
	handshake := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	devices := []store.Device{{Name: "laptop", UserEmail: "bob@example.com", PublicKey: "key",
		DeviceStats: store.DeviceStats{RxBytes: 92, TxBytes: 41, RxTotal: 57156, TxTotal: 9041, LatestHandshake: &handshake}}}

	t.Run("table", func(t *testing.T) {
		var b bytes.Buffer
		if err := writeDeviceTable(&b, devices); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("got %d lines, want a heading and one row:\n%s", len(lines), b.String())
		}
		got := strings.Fields(lines[1])
		want := []string{"laptop", "bob@example.com", "57156", "9041", "2026-05-01T12:00:00Z"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("got row %q, want %q", got, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		if err := writeDeviceJSON(&b, devices); err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got) != 1 {
			t.Fatalf("got %v (%d devices), want one device: %s", err, len(got), b.String())
		}
		for field, want := range map[string]float64{"rx_bytes": 57156, "tx_bytes": 9041, "rx_counter": 92, "tx_counter": 41} {
			if got[0][field] != want {
				t.Errorf("got %s %v, want %v", field, got[0][field], want)
			}
		}
	})
}
