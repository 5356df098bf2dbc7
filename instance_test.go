package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiregui/wg/wglab"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDataDir(dir, "0.0.0.0:13000")
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	want := fmt.Sprintf("another wiregui serve (pid %d, listening on 0.0.0.0:13000) holds %s; stop it first", os.Getpid(), dir)
	if second, err := lockDataDir(dir, "0.0.0.0:13001"); err == nil || err.Error() != want {
		second.Close()
		t.Fatalf("second lock: got %v, want %q", err, want)
	}
	first.Close()
	second, err := lockDataDir(dir, "127.0.0.1:13001")
	if err != nil {
		t.Fatalf("lock after the first was released: %v", err)
	}
	defer second.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "wiregui.lock")); string(b) != fmt.Sprintf("%d 127.0.0.1:13001\n", os.Getpid()) {
		t.Errorf("got lock file %q, want the pid and the new listen address", b)
	}
}

func TestControlSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wiregui.sock")
	if err := os.WriteFile(path, []byte("left by a crashed server"), 0o644); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	ln, err := listenControl(path, slog.New(slog.DiscardHandler), func() { asked.Add(1) })
	if err != nil {
		t.Fatalf("listenControl over a stale file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %v, %v: want a socket of mode 0600", fi.Mode(), err)
	}

	if err := askReconcile(path); err != nil {
		t.Fatalf("askReconcile: %v", err)
	}
	if got := asked.Load(); got != 1 {
		t.Errorf("got %d reconciles, want 1", got)
	}
	for _, tc := range []struct{ name, send, want string }{
		{"unknown command", "reload\n", "error: unknown command \"reload\"\n"},
		{"line too long", strings.Repeat("x", 1000), ""},
		{"no newline", "reconcile", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tc.send)
			conn.(*net.UnixConn).CloseWrite()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(conn) // a refused request may end in a reset
			if string(got) != tc.want {
				t.Errorf("got answer %q, want %q", got, tc.want)
			}
		})
	}
	if got := asked.Load(); got != 1 {
		t.Errorf("got %d reconciles after the bad requests, want still 1", got)
	}

	ln.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after Close: %v", err)
	}
	if err := askReconcile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("askReconcile without a server: got %v, want not exist", err)
	}
}

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
