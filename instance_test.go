package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiregui/wg/wglab"
)

// A wiregui.pid left by an older version names a process that now is something else: the CLI
// must never signal it. Without a server, a change says when it will apply and succeeds.
func TestCLINeverSignalsAStalePID(t *testing.T) {
	dir := t.TempDir()
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "wiregui.pid"), []byte(strconv.Itoa(sleep.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		notifies bool // the change concerns the peers: the CLI tries to tell a server
	}{
		{[]string{"user", "add", "--email", "bob@example.com"}, false},
		{[]string{"device", "add", "--user", "bob@example.com", "--name", "phone"}, true},
		{[]string{"user", "disable", "bob@example.com"}, true},
		{[]string{"device", "delete", "--user", "bob@example.com", "--name", "phone"}, true},
	} {
		command := strings.Join(tc.args, " ")
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = append(envWithoutSettings(), "WG_DATA_DIR="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v: %s", command, err, stderr.String())
		}
		want := "no server is running on " + dir + ": the change applies when one starts, or at its next reconcile"
		if got := strings.Contains(stderr.String(), want); got != tc.notifies {
			t.Errorf("%s: stderr %q: got saying %q %v, want %v", command, stderr.String(), want, got, tc.notifies)
		}
		if !alive(sleep.Process.Pid) {
			t.Fatalf("%s killed the unrelated process named by the stale wiregui.pid", command)
		}
	}
}

// One server per data directory: a second one exits at once and names the first, which keeps
// working; once the first is gone (kill -9 leaves its lock file and socket behind), a new one
// starts and takes over the socket.
func TestSecondServerOnOneDataDirRefuses(t *testing.T) {
	wglab.Require(t)
	s := startServer(t, "sqlite", nil, "WG_RECONCILE_INTERVAL=1m")
	dataDir := settingOf(s, "WG_DATA_DIR")
	if _, err := s.cli(t, "user", "add", "--email", "bob@example.com"); err != nil {
		t.Fatal(err)
	}

	cmd := s.ns.Command(context.Background(), binary, "serve")
	cmd.Env = append(s.environ(), "WG_PORT=13001")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		want := fmt.Sprintf("wiregui: another wiregui serve (pid %d, listening on 0.0.0.0:13000) holds %s; stop it first",
			s.proc.Cmd.Process.Pid, dataDir)
		if err == nil || strings.TrimSpace(stderr.String()) != want {
			t.Errorf("second serve: exit %v, output %q; want a failure with the one line %q", err, stderr.String(), want)
		}
		t.Logf("figure: the second serve exited after %s", time.Since(started).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("a second serve on the same data directory still runs after 5 s:\n%s", stderr.String())
	}

	// The first still answers, and still gets the CLI's changes at once.
	if resp, err := http.Get(s.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first server's /healthz after the refusal: %v %v", resp, err)
	}
	if _, err := s.cli(t, "device", "add", "--user", "bob@example.com", "--name", "one"); err != nil {
		t.Fatal(err)
	}
	s.waitPeers(t, 3*time.Second, func(p []string) bool { return len(p) == 1 })

	s.proc.Cmd.Process.Kill()
	<-s.proc.Done()
	s.start(t)
	if _, err := s.cli(t, "device", "add", "--user", "bob@example.com", "--name", "two"); err != nil {
		t.Fatal(err)
	}
	s.waitPeers(t, 3*time.Second, func(p []string) bool { return len(p) == 2 })
}
