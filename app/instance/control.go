package instance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A running server owns its data directory: it holds an exclusive lock on wiregui.lock for
// its whole life, so that a second server on the same directory refuses to start, and it
// listens on the control socket wiregui.sock, through which a CLI command on the same machine
// asks it to apply a change at once. A pid file would do neither safely: after a crash it
// names a process that no longer exists, or, once the pid is reused, an unrelated one.

// Lock takes the data directory for this server: an exclusive flock on
// <dir>/wiregui.lock, which records the server's pid and listen address for the message a
// second server gives. The lock lasts until the file is closed or the process ends, however
// it ends, so a lock left by a crashed server is free again. The file itself stays: removing
// it could let two servers lock different files of the same name.
func Lock(dir, listen string) (*os.File, error) {
	path := filepath.Join(dir, "wiregui.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock data dir: flock %s: %w", path, err)
		}
		var pid int
		var addr string
		b, _ := io.ReadAll(io.LimitReader(f, 512))
		if n, _ := fmt.Sscan(string(b), &pid, &addr); n == 2 {
			return nil, fmt.Errorf("another wiregui serve (pid %d, listening on %s) holds %s; stop it first", pid, addr, dir)
		}
		return nil, fmt.Errorf("another wiregui serve holds %s; stop it first", dir)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(fmt.Appendf(nil, "%d %s\n", os.Getpid(), listen), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir: write %s: %w", path, err)
	}
	return f, nil
}

// The control socket's protocol: the client sends one command line, the server answers one
// line, "ok" or "error: …". The only command is "reconcile": apply the database now.
const (
	controlReconcile = "reconcile"
	controlMaxLine   = 64              // longer lines are refused
	controlTimeout   = 2 * time.Second // for a whole exchange, on either side
)

// ControlSocket is the path of the control socket of the server on the data directory dir.
func ControlSocket(dir string) string { return filepath.Join(dir, "wiregui.sock") }

// ListenControl serves the control socket at path (mode 0600) until the returned listener is
// closed, which removes the socket. reconcile is called for each "reconcile" request. Call it
// with the data directory locked: a socket already there was left by a server that is gone.
func ListenControl(path string, log *slog.Logger, reconcile func()) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: remove the stale %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	go func() {
		failing := false // log the first error of a run of them only
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				if !failing {
					log.Warn("control socket: accept", slog.Any("err", err))
				}
				failing = true
				time.Sleep(time.Second)
				continue
			}
			failing = false
			go answerControl(conn, log, reconcile)
		}
	}()
	return ln, nil
}

// answerControl reads one command from conn and answers it.
func answerControl(conn net.Conn, log *slog.Logger, reconcile func()) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlTimeout))
	line, err := readControlLine(conn)
	if err != nil {
		log.Debug("control socket: read", slog.Any("err", err))
		return
	}
	reply := "ok"
	switch line {
	case controlReconcile:
		log.Debug("reconcile asked over the control socket")
		reconcile()
	default:
		reply = fmt.Sprintf("error: unknown command %q", line)
	}
	io.WriteString(conn, reply+"\n")
}

// readControlLine reads one line of at most controlMaxLine bytes, without its newline.
func readControlLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, controlMaxLine)).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no complete line within %d bytes: %w", controlMaxLine, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// AskReconcile asks the server listening on the control socket at path to apply the database
// now.
func AskReconcile(path string) error {
	conn, err := net.DialTimeout("unix", path, controlTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlTimeout))
	if _, err := io.WriteString(conn, controlReconcile+"\n"); err != nil {
		return err
	}
	reply, err := readControlLine(conn)
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if reply != "ok" {
		return fmt.Errorf("the server answered %q", reply)
	}
	return nil
}
