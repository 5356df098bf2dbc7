package instance

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir, "0.0.0.0:13000")
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	want := fmt.Sprintf("another wiregui serve (pid %d, listening on 0.0.0.0:13000) holds %s; stop it first", os.Getpid(), dir)
	if second, err := Lock(dir, "0.0.0.0:13001"); err == nil || err.Error() != want {
		second.Close()
		t.Fatalf("second lock: got %v, want %q", err, want)
	}
	first.Close()
	second, err := Lock(dir, "127.0.0.1:13001")
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
	ln, err := ListenControl(path, slog.New(slog.DiscardHandler), func() { asked.Add(1) })
	if err != nil {
		t.Fatalf("listenControl over a stale file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %v, %v: want a socket of mode 0600", fi.Mode(), err)
	}

	if err := AskReconcile(path); err != nil {
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
	if err := AskReconcile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("askReconcile without a server: got %v, want not exist", err)
	}
}
