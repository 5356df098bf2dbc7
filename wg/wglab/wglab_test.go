package wglab

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for _, prefix := range []string{"", "wg", "averyveryverylongprefix"} {
		for range 100 {
			n := UniqueName(prefix)
			if len(n) > 15 || len(n) < 6 {
				t.Errorf("UniqueName(%q) = %q: %d characters", prefix, n, len(n))
			}
			if seen[n] {
				t.Errorf("UniqueName returned %q twice", n)
			}
			seen[n] = true
		}
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

func runRequire(t *testing.T) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RequireRoot(r, "no-such-tool-wglab")
	}()
	<-done
	return r
}

func TestRequireSkipsOnlyOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	r := runRequire(t)
	if r.skipped == "" || r.failed != "" || !strings.Contains(r.skipped, "no-such-tool-wglab") {
		t.Errorf("outside CI: skipped %q, failed %q; want a skip naming the tool", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = runRequire(t)
	if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, "no-such-tool-wglab") {
		t.Errorf("with CI=true: skipped %q, failed %q; want a failure naming the tool", r.skipped, r.failed)
	}
}

func TestConnectAndProcesses(t *testing.T) {
	RequireRoot(t, "ip", "ping", "sleep")
	a, b := NewNamespace(t, "wla"), NewNamespace(t, "wlb")
	addrA, addrB := Connect(t, a, b)
	if !netip.PrefixFrom(addrA, 30).Masked().Contains(addrB) || addrA == addrB {
		t.Fatalf("Connect returned %s and %s", addrA, addrB)
	}
	if err := a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A second link from a gets another network.
	c := NewNamespace(t, "wlc")
	addrA2, addrC := Connect(t, a, c)
	if netip.PrefixFrom(addrA, 30).Masked() == netip.PrefixFrom(addrA2, 30).Masked() {
		t.Errorf("two links share %s", addrA)
	}
	if err := c.Ping(addrA2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec("ping", "-c", "1", "-W", "1", addrB.String()); err == nil {
		t.Error("c reaches b without a route")
	}
	_ = addrC

	p := a.Start(t, "sleep", "600")
	if err := p.Stop(); err != nil {
		t.Errorf("Stop of sleep: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("process still running after Stop")
	}
	out, err := a.Exec("sh", "-c", "echo hello; exit 3")
	if err == nil || !strings.Contains(out, "hello") || !strings.Contains(err.Error(), "hello") {
		t.Errorf("Exec of a failing command = %q, %v", out, err)
	}
}

// TestConnectRoot serves HTTP inside a namespace and reaches it from the
// test process, and the other way round with the namespace's HTTPClient.
func TestConnectRoot(t *testing.T) {
	RequireRoot(t, "ip")
	ns := NewNamespace(t, "wlr")
	rootAddr, nsAddr := ConnectRoot(t, ns)

	var l net.Listener
	if err := ns.Do(func() error {
		var err error
		l, err = net.Listen("tcp", netip.AddrPortFrom(nsAddr, 8080).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "inside")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	url := "http://" + netip.AddrPortFrom(nsAddr, 8080).String() + "/"
	WaitDial(t, netip.AddrPortFrom(nsAddr, 8080).String(), 5*time.Second)
	if body := get(t, http.DefaultClient, url); body != "inside" {
		t.Errorf("GET %s = %q", url, body)
	}

	rl, err := net.Listen("tcp", netip.AddrPortFrom(rootAddr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	rootSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host saw "+r.RemoteAddr)
	})}
	go rootSrv.Serve(rl)
	t.Cleanup(func() { rootSrv.Close() })
	ns.WaitDial(t, rl.Addr().String(), 5*time.Second)
	body := get(t, ns.HTTPClient(), "http://"+rl.Addr().String()+"/")
	if !strings.HasPrefix(body, "host saw "+nsAddr.String()+":") {
		t.Errorf("from the namespace: %q, want the request to come from %s", body, nsAddr)
	}
	if _, err := os.Stat(ns.Path); err != nil {
		t.Errorf("namespace file: %v", err)
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
