package wglab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/wg/internal/netnsx"
)

// Namespace is a network namespace created for one test.
type Namespace struct {
	Name string
	// Path is the namespace file, for wg.WithNetNS.
	Path string

	mu    sync.Mutex
	procs []*Process
}

// NewNamespace creates a namespace named prefix plus a random suffix, with lo
// up and IPv4 forwarding off (a new namespace copies the host's IPv4 settings,
// and a host that forwards must not change what the tests see). At cleanup it
// stops the processes started in it (and any other process still inside) and
// deletes it.
func NewNamespace(t testing.TB, prefix string) *Namespace {
	t.Helper()
	name := UniqueName(prefix)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &Namespace{Name: name, Path: filepath.Join("/var/run/netns", name)}
	t.Cleanup(func() { ns.destroy(t) })
	ns.Run(t, "ip", "link", "set", "lo", "up")
	ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	return ns
}

func (ns *Namespace) destroy(t testing.TB) {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, p := range procs {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(p.Cmd.Args, " "), p.Output())
		}
	}
	// Anything else left inside (a daemon that forked, say) is ours too.
	if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			// Never this process: one of its threads may be inside.
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
	}
}

// Command returns a command that runs args inside the namespace. The caller
// may set Env, Dir or Stdin before running it.
func (ns *Namespace) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Exec runs args inside the namespace and returns the combined output; the
// error includes the output.
func (ns *Namespace) Exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Run is Exec that fails the test on error.
func (ns *Namespace) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Start runs args inside the namespace in the background until cleanup.
func (ns *Namespace) Start(t testing.TB, args ...string) *Process {
	t.Helper()
	return ns.StartCmd(t, ns.Command(context.Background(), args...))
}

// StartCmd starts a command made by Command (possibly with Env or Dir set)
// in the background. It is stopped at cleanup, and its output is logged if
// the test failed.
func (ns *Namespace) StartCmd(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	// Its own process group, so a Ctrl-C of go test does not reach it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", strings.Join(cmd.Args, " "), ns.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ns.mu.Lock()
	ns.procs = append(ns.procs, p)
	ns.mu.Unlock()
	return p
}

// Do runs fn on an OS thread inside the namespace. Sockets, TUN devices and
// netlink handles that fn creates stay in the namespace after it returns;
// goroutines that fn starts do not run inside it.
func (ns *Namespace) Do(fn func() error) error {
	f, err := netnsx.Open(ns.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return netnsx.Do(int(f.Fd()), fn)
}

// DialContext dials from inside the namespace. Use it with IP addresses: a
// name lookup would run outside.
func (ns *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections start inside the namespace,
// for example to reach a server through a WireGuard tunnel.
func (ns *Namespace) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true},
		Timeout:   30 * time.Second,
	}
}

// Ping pings addr from inside the namespace until it answers or timeout
// passes.
func (ns *Namespace) Ping(addr netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := ns.Exec("ping", "-n", "-c", "1", "-W", "1", addr.String())
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitDial waits until a TCP connection to addr succeeds from the test
// process's own namespace, or fails the test after timeout.
func WaitDial(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	waitDial(t, addr, timeout, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	})
}

// WaitDial waits until a TCP connection to addr succeeds from inside the
// namespace, or fails the test after timeout.
func (ns *Namespace) WaitDial(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	waitDial(t, addr, timeout, func(ctx context.Context) (net.Conn, error) {
		return ns.DialContext(ctx, "tcp", addr)
	})
}

func waitDial(t testing.TB, addr string, timeout time.Duration, dial func(context.Context) (net.Conn, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := dial(ctx)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: still failing after %s: %v", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is a background command started in a namespace.
type Process struct {
	Cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the exit error; call it after Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to five seconds, then kills the process. It
// returns the exit error, nil for a clean exit or one caused by SIGTERM.
func (p *Process) Stop() error {
	select {
	case <-p.done:
	default:
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.Cmd.Process.Kill()
			<-p.done
			return errors.New("did not stop within 5s of SIGTERM; killed")
		}
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return p.err
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
