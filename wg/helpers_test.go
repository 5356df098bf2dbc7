package wg

import (
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/wglab"
)

// testLogger logs into the test's output until the test ends; wireguard-go
// goroutines may log a little later, and writing to a finished test panics.
func testLogger(t testing.TB) *slog.Logger {
	w := &gatedWriter{w: t.Output()}
	t.Cleanup(w.close) // registered first, so it runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type gatedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

// dumpPeer is one peer line of `wg show IFACE dump`.
type dumpPeer struct {
	PublicKey, PresharedKey, Endpoint, AllowedIPs string
	LatestHandshake                               int64
	Rx, Tx                                        int64
	// Keepalive is the persistent keepalive in seconds, or "off".
	Keepalive string
}

// wgDump is `wg show IFACE dump`, parsed.
type wgDump struct {
	PrivateKey, PublicKey string
	ListenPort            int
	Peers                 map[string]dumpPeer
}

func showDump(t testing.TB, ns *wglab.Namespace, iface string) wgDump {
	t.Helper()
	out := ns.Run(t, "wg", "show", iface, "dump")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	head := strings.Split(lines[0], "\t")
	if len(head) != 4 {
		t.Fatalf("wg show dump header %q", lines[0])
	}
	d := wgDump{PrivateKey: head[0], PublicKey: head[1], Peers: map[string]dumpPeer{}}
	d.ListenPort, _ = strconv.Atoi(head[2])
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 8 {
			t.Fatalf("wg show dump peer line %q", l)
		}
		p := dumpPeer{PublicKey: f[0], PresharedKey: f[1], Endpoint: f[2], AllowedIPs: f[3]}
		p.LatestHandshake, _ = strconv.ParseInt(f[4], 10, 64)
		p.Rx, _ = strconv.ParseInt(f[5], 10, 64)
		p.Tx, _ = strconv.ParseInt(f[6], 10, 64)
		p.Keepalive = f[7]
		d.Peers[p.PublicKey] = p
	}
	return d
}

// checkDump fails unless the device in dump matches want exactly.
func checkDump(t testing.TB, d wgDump, want Config) {
	t.Helper()
	if d.PrivateKey != want.PrivateKey.String() {
		t.Errorf("private key %s, want %s", d.PrivateKey, want.PrivateKey)
	}
	if d.ListenPort != want.ListenPort {
		t.Errorf("listen port %d, want %d", d.ListenPort, want.ListenPort)
	}
	if len(d.Peers) != len(want.Peers) {
		t.Errorf("%d peers, want %d: %v", len(d.Peers), len(want.Peers), d.Peers)
	}
	for _, p := range want.Peers {
		got, ok := d.Peers[p.PublicKey.String()]
		if !ok {
			t.Errorf("peer %s missing", p.PublicKey)
			continue
		}
		wantPSK := "(none)"
		if p.PresharedKey != (wgtypes.Key{}) {
			wantPSK = p.PresharedKey.String()
		}
		if got.PresharedKey != wantPSK {
			t.Errorf("peer %s psk %s, want %s", p.PublicKey, got.PresharedKey, wantPSK)
		}
		var ips []string
		for _, a := range p.AllowedIPs {
			ips = append(ips, a.Masked().String())
		}
		if !sameSet(strings.Split(got.AllowedIPs, ","), ips) {
			t.Errorf("peer %s allowed ips %s, want %v", p.PublicKey, got.AllowedIPs, ips)
		}
		if got.Keepalive != "off" {
			t.Errorf("peer %s persistent keepalive %s, want off", p.PublicKey, got.Keepalive)
		}
	}
}

// waitFor polls cond every 50 ms for up to timeout.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
