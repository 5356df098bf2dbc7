package main

// The HTTP layer under load and faults, with the real binary: parallel sign-ins, a full disk,
// and the metrics listener. WireGuard is off; the server listens on loopback.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/wg/wglab"
)

// localServer is wiregui serve on loopback with WireGuard off.
type localServer struct {
	url  string
	cmd  *exec.Cmd
	out  *lockedOutput
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

type lockedOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *lockedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *lockedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// startLocal starts wiregui serve on a free loopback port; extraEnv overrides the defaults,
// among them the data dir and the metrics listener (off); "{port}" in it is the port. It is
// stopped with SIGTERM when the test ends.
func startLocal(t *testing.T, extraEnv ...string) *localServer {
	t.Helper()
	port := freeLoopbackPort(t)
	s := &localServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &lockedOutput{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = append(envWithoutSettings(), "WG_DATA_DIR="+t.TempDir(), "WG_HOST=127.0.0.1", fmt.Sprintf("WG_PORT=%d", port),
		"WG_EXTERNAL_URL="+s.url, "WG_WG_ENABLED=false", "WG_METRICS_LISTEN=off",
		"WG_ADMIN_EMAIL="+adminEmail, "WG_ADMIN_PASSWORD="+adminPassword)
	for _, kv := range extraEnv {
		s.cmd.Env = append(s.cmd.Env, strings.ReplaceAll(kv, "{port}", strconv.Itoa(port)))
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("wiregui exited at start: %v\n%s", s.err, s.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("wiregui did not answer /login within 20s\n%s", s.out.String())
		}
	}
}

// stop sends SIGTERM and waits up to 10 s for the exit; it returns how long that took.
func (s *localServer) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("serve did not exit within 10 s of SIGTERM")
	}
	return time.Since(start)
}

// health is what these tests read of /healthz.
type health struct {
	Status   string `json:"status"`
	Database struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"database"`
	Metrics *struct {
		Address   string `json:"address"`
		Listening bool   `json:"listening"`
		Error     string `json:"error"`
	} `json:"metrics_listener"`
}

func (s *localServer) health(t *testing.T) (int, health) {
	t.Helper()
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	return resp.StatusCode, h
}

// 128 parallel wrong sign-ins, each from an address of its own (one address would be made to
// wait after 20): password hashing runs in a few slots, so the server's memory stays bounded;
// who cannot wait gets 503 with Retry-After; the known account's attempts past its fifth wait
// (429); another account still signs in afterwards.
func TestParallelWrongSignInsKeepMemoryBounded(t *testing.T) {
	dir := t.TempDir()
	s := startLocal(t, "WG_DATA_DIR="+dir)
	pid := s.cmd.Process.Pid

	// One sign-in form: its cookie and token serve every attempt.
	resp, err := http.Get(s.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := apptest.CSRFToken(string(page))
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wiregui_login" {
			cookie = c
		}
	}
	if cookie == nil || token == "" {
		t.Fatal("the sign-in page set no cookie or token")
	}

	before := rssKiB(pid)
	var peak int
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, rssKiB(pid))
			select {
			case <-sampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	const attempts = 128
	from := func(ip string) *http.Client { // a client whose connections come from ip
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	type answer struct {
		status     int
		retryAfter string
		err        error
	}
	answers := make([]answer, attempts)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range attempts {
		wg.Go(func() {
			email := adminEmail // half a known user with the wrong password, half unknown users
			if i%2 == 1 {
				email = fmt.Sprintf("nobody%d@example.com", i)
			}
			form := url.Values{"email": {email}, "password": {"wrong-password"}, "csrf_token": {token}}
			req, _ := http.NewRequest(http.MethodPost, s.url+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
			client := from(fmt.Sprintf("127.0.1.%d", i+1))
			<-start
			resp, err := client.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers[i] = answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(sampling)
	<-sampled

	counts := map[int]int{}
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("attempt %d: %v", i, a.err)
		case (a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests) && a.retryAfter == "":
			t.Errorf("attempt %d: %d without Retry-After", i, a.status)
		case a.status == http.StatusTooManyRequests && i%2 == 1:
			t.Errorf("attempt %d: an unknown email's only attempt was made to wait", i)
		case a.status != http.StatusUnauthorized && a.status != http.StatusServiceUnavailable && a.status != http.StatusTooManyRequests:
			t.Errorf("attempt %d: got %d, want 401, 503 or 429", i, a.status)
		}
		counts[a.status]++
	}
	t.Logf("figure: %d parallel wrong sign-ins in %s: %d answered 401, %d answered 503, %d answered 429; serve RSS %d MiB before, %d MiB at the peak",
		attempts, took.Round(time.Millisecond), counts[401], counts[503], counts[429], before/1024, peak/1024)
	if counts[429] > attempts/2-5 {
		t.Errorf("%d attempts made to wait: more than the known account's past its fifth", counts[429])
	}
	if peak >= 400*1024 {
		t.Errorf("serve's RSS peaked at %d MiB, want below 400 MiB", peak/1024)
	}
	if counts[401] == 0 {
		t.Error("no attempt was checked at all")
	}

	// The admin's account waits now; another account, from another address, signs in.
	localCLI(t, dir, "user", "add", "--email", "after@example.com", "--password", adminPassword)
	c := apptest.New(t, s.url)
	c.HTTP.Transport = from("127.0.2.1").Transport
	c.SignIn("after@example.com", adminPassword)
}

// A full disk under the data dir: a change says so and writes nothing, pages already signed in
// still render, /healthz says degraded; once there is room again it recovers by itself.
func TestDiskFull(t *testing.T) {
	wglab.RequireRoot(t) // to mount a small tmpfs
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { // registered before the server's cleanup, so it runs after it
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	s := startLocal(t, "WG_DATA_DIR="+dir)
	c := apptest.New(t, s.url)
	c.SignIn(adminEmail, adminPassword)
	c.Get("/devices")

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	for name, r := range map[string]apptest.Response{
		"form": c.Post("/devices", url.Values{"name": {"full-disk laptop"}}),
		"htmx": c.HTMX("/devices", url.Values{"name": {"full-disk phone"}}),
	} {
		if r.Status != http.StatusInsufficientStorage || !strings.Contains(r.Body, "The server cannot write: disk full") {
			t.Errorf("%s: creating a device on a full disk: got %d, want 507 saying the disk is full:\n%.1500s", name, r.Status, r.Body)
		}
	}
	late := apptest.New(t, s.url)
	late.Get("/login")
	if r := late.Post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}}); r.Status != http.StatusInsufficientStorage ||
		!strings.Contains(r.Body, "disk full") {
		t.Errorf("signing in on a full disk: got %d at %s, want 507 saying the disk is full", r.Status, r.URL)
	}
	for _, path := range []string{"/devices", "/admin/devices", "/admin/settings"} {
		r := c.Get(path)
		if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, path) {
			t.Errorf("GET %s on a full disk: got %d at %s, want the page", path, r.Status, r.URL)
		}
		if strings.Contains(r.Body, "full-disk") {
			t.Errorf("GET %s lists a device whose creation failed", path)
		}
	}
	if code, h := s.health(t); code != http.StatusOK || h.Status != "degraded" || h.Database.Error != "disk full" {
		t.Errorf("/healthz on a full disk: %d %+v, want 200, degraded, database error \"disk full\"", code, h)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r := c.Post("/devices", url.Values{"name": {"laptop"}})
	if r.Status != http.StatusOK || !strings.Contains(apptest.ConfigFromPage(r.Body), "PrivateKey = ") {
		t.Fatalf("creating a device with room again: got %d, want its configuration", r.Status)
	}
	if code, h := s.health(t); code != http.StatusOK || h.Status != "ok" || !h.Database.OK {
		t.Errorf("/healthz with room again: %d %+v, want 200 ok", code, h)
	}
	list := c.Get("/admin/devices").Body
	if strings.Contains(list, "full-disk") || strings.Count(list, `href="/devices/`) == 0 {
		t.Errorf("after the full disk the device list is not exactly the one device made afterwards")
	}
	late.SignIn(adminEmail, adminPassword)
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// Without a token, /metrics is served on its own listener only: the web UI's port answers
// 404. A listener whose address is taken is logged once and shown on /healthz; the server
// runs on and stops cleanly.
func TestMetricsListener(t *testing.T) {
	t.Run("serves /metrics that the UI's port does not", func(t *testing.T) {
		listen := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
		s := startLocal(t, "WG_METRICS_LISTEN="+listen)
		if code, _ := getMetrics(t, s.url, ""); code != http.StatusNotFound {
			t.Errorf("/metrics on the UI's port without WG_METRICS_TOKEN: %d, want 404", code)
		}
		wglab.WaitDial(t, listen, 5*time.Second)
		code, body := getMetrics(t, "http://"+listen, "")
		if code != http.StatusOK || !strings.Contains(body, "wiregui_peers_total 0") {
			t.Errorf("/metrics on %s: %d, want 200 with the series:\n%s", listen, code, body)
		}
		resp, err := http.Get("http://" + listen + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics listener serves more than /metrics: /login answered %d, want 404", resp.StatusCode)
		}
		if code, h := s.health(t); code != http.StatusOK || h.Status != "ok" || h.Metrics == nil || !h.Metrics.Listening {
			t.Errorf("/healthz: %d %+v, want ok with the metrics listener listening", code, h)
		}
		if took := s.stop(t); took > 6*time.Second {
			t.Errorf("SIGTERM to exit took %s", took)
		}
		if s.err != nil {
			t.Errorf("serve exit: %v, want 0", s.err)
		}
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after serve stopped", listen)
		}
	})

	t.Run("an address that is taken", func(t *testing.T) {
		squatter, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer squatter.Close()
		s := startLocal(t, "WG_METRICS_LISTEN="+squatter.Addr().String(), "WG_METRICS_TOKEN="+metricsToken)
		c := apptest.New(t, s.url)
		c.SignIn(adminEmail, adminPassword)
		if code, _ := getMetrics(t, s.url, metricsToken); code != http.StatusOK {
			t.Errorf("/metrics on the UI's port with the token: %d, want 200", code)
		}
		if code, _ := getMetrics(t, s.url, ""); code != http.StatusUnauthorized {
			t.Errorf("/metrics on the UI's port without the token: %d, want 401", code)
		}
		code, h := s.health(t)
		if code != http.StatusOK || h.Status != "degraded" || h.Metrics == nil || h.Metrics.Listening || h.Metrics.Error != "address in use" {
			t.Errorf("/healthz: %d %+v, want degraded with the metrics listener's address in use", code, h)
		}
		time.Sleep(time.Second)
		if n := strings.Count(s.out.String(), "metrics listener unavailable"); n != 1 {
			t.Errorf("the taken address was logged %d times, want once:\n%s", n, s.out.String())
		}
		s.stop(t)
		if s.err != nil {
			t.Errorf("serve exit: %v, want 0", s.err)
		}
	})
}
