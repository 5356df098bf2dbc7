package main

// Database outages, end to end: the real binary on a PostgreSQL cluster of the test's own,
// which the test stops and starts, and a real WireGuard client.

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/store/storetest"
	"wiregui/wg/wglab"
)

// PostgreSQL is down when serve starts: serve keeps trying and answers that the database is
// unavailable; once PostgreSQL runs, sign-in works and a client's tunnel comes up, with no
// restart.
func TestServeWaitsForTheDatabase(t *testing.T) {
	wglab.Require(t)
	pg := storetest.NewCluster(t)
	dsn := pg.NewDatabase(t)
	pg.Stop(t)
	clientNS := wglab.NewNamespace(t, "wgt-cli")
	s := newServer(t, "sqlite", clientNS, "WG_DATABASE_URL="+dsn)
	s.launch(t)
	wglab.WaitDial(t, strings.TrimPrefix(s.url, "http://"), 20*time.Second)

	expectUnavailable(t, s)
	s.proc.Signal(syscall.SIGHUP) // what a CLI change sends: it must not end a server that waits
	time.Sleep(2 * time.Second)   // a few attempts
	select {
	case <-s.proc.Done():
		t.Fatalf("serve exited while PostgreSQL was down: %v\n%s", s.proc.Err(), s.proc.Output())
	default:
	}
	if n := strings.Count(s.proc.Output(), `msg="database unavailable; retrying"`); n < 2 {
		t.Errorf("got %d attempts logged in 2 s, want one line per attempt:\n%s", n, s.proc.Output())
	}
	expectUnavailable(t, s)

	pg.Start(t)
	started := time.Now()
	waitFor(t, 30*time.Second, "the sign-in page once PostgreSQL runs", func() bool { return answers200(s.url + "/login") })
	t.Logf("figure: PostgreSQL started → /login 200: %s", time.Since(started).Round(time.Millisecond))
	conf := s.createDevice(t, "laptop")
	client := wglab.StartClient(t, clientNS, wglab.UniqueName("wgc"), []byte(conf))
	if err := client.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
		t.Fatalf("ping %s through the tunnel: %v\nserver log:\n%s", tunnelServer, err, s.proc.Output())
	}
}

// PostgreSQL goes away for some seconds under a running server: pages say that the database
// is unavailable, the tunnel keeps passing traffic and keeps its peer, the collector and the
// reconciler each log the outage once when it starts and once when it ends; afterwards
// everything works again with no restart, in the same browser session.
func TestDatabaseOutageKeepsTheTunnelUp(t *testing.T) {
	wglab.Require(t)
	pg := storetest.NewCluster(t)
	clientNS := wglab.NewNamespace(t, "wgt-cli")
	s := startServer(t, "sqlite", clientNS, "WG_DATABASE_URL="+pg.NewDatabase(t))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.proc.Output())
		}
	})
	conf := s.createDevice(t, "laptop")
	client := wglab.StartClient(t, clientNS, wglab.UniqueName("wgc"), []byte(conf))
	tunnel := netip.MustParseAddr(tunnelServer)
	if err := client.Ping(t, tunnel); err != nil {
		t.Fatalf("ping %s through the tunnel: %v", tunnelServer, err)
	}
	peers := s.peers(t)
	browser := apptest.New(t, s.url)
	browser.SignIn(adminEmail, adminPassword)
	var collector int
	waitFor(t, 5*time.Second, "the collector", func() bool { collector = collectorPID(t, s.proc.Cmd.Process.Pid); return collector != 0 })

	pg.Stop(t)
	const outage = 8 * time.Second
	for start := time.Now(); time.Since(start) < outage; time.Sleep(500 * time.Millisecond) {
		if _, err := clientNS.Exec("ping", "-n", "-c", "1", "-W", "1", tunnelServer); err != nil {
			t.Errorf("%s into the outage the tunnel passes no traffic: %v", time.Since(start).Round(time.Millisecond), err)
		}
		if got := s.peers(t); strings.Join(got, " ") != strings.Join(peers, " ") {
			t.Errorf("%s into the outage the peers are %v, want %v", time.Since(start).Round(time.Millisecond), got, peers)
		}
		if r := browser.Get("/devices"); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "The database is unavailable") {
			t.Errorf("devices page during the outage: got %d:\n%s", r.Status, r.Body)
		}
	}
	expectUnavailable(t, s)

	pg.Start(t)
	waitFor(t, 10*time.Second, "the devices page once PostgreSQL runs", func() bool {
		return browser.Get("/devices").Status == http.StatusOK
	})
	s.createDevice(t, "phone") // the reconciler applies it at once
	s.waitPeers(t, 5*time.Second, func(p []string) bool { return len(p) == 2 })
	if err := client.Ping(t, tunnel); err != nil {
		t.Errorf("ping through the tunnel after the outage: %v", err)
	}
	waitFor(t, 40*time.Second, "the collector and the reconciler say the database is back", func() bool {
		out := s.proc.Output()
		return strings.Contains(out, `msg="database back"`) && strings.Contains(out, `msg="reconcile resumed`)
	})
	out := s.proc.Output()
	for _, line := range []string{
		`msg="database unavailable; polling less often until it is back" proc=collector`,
		`msg="database back" proc=collector`,
		`msg="reconcile paused`,
		`msg="reconcile resumed`,
	} {
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("got %d lines with %s, want 1", n, line)
		}
	}
	for _, line := range []string{`msg="server error"`, `msg="reconcile failed"`, `msg="poll peer stats"`} {
		if strings.Contains(out, line) {
			t.Errorf("the outage is logged as %s", line)
		}
	}
	if pid := collectorPID(t, s.proc.Cmd.Process.Pid); pid != collector {
		t.Errorf("the collector was restarted (pid %d, then %d), want it to ride out the outage", collector, pid)
	}
	waitFor(t, 10*time.Second, "healthz 200", func() bool { return answers200(s.url + "/healthz") })
}

// expectUnavailable checks that signing in and /healthz answer 503 with Retry-After and
// say that the database is unavailable.
func expectUnavailable(t *testing.T, s *server) {
	t.Helper()
	c := apptest.New(t, s.url)
	// The form itself needs no database (a visitor has no session); signing in does.
	c.Get("/login")
	if r := c.Post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}}); r.Status != http.StatusServiceUnavailable ||
		r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "The database is unavailable") {
		t.Errorf("sign-in: got %d with Retry-After %q, want 503 saying the database is unavailable:\n%s",
			r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	r := c.Get("/healthz")
	var health struct {
		Status   string
		Database struct{ Error string }
	}
	if err := json.Unmarshal([]byte(r.Body), &health); err != nil || r.Status != http.StatusServiceUnavailable ||
		health.Database.Error != "database unavailable" || r.Header.Get("Retry-After") == "" {
		t.Errorf("healthz: got %d %s, want 503 with the reason \"database unavailable\"", r.Status, r.Body)
	}
	if strings.Contains(r.Body, "PGSQL") || strings.Contains(r.Body, "connect") {
		t.Errorf("healthz shows an error's text: %s", r.Body)
	}
}
