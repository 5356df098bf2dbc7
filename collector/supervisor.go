package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Defaults of a Supervisor's zero fields.
const (
	DefaultPath         = "/proc/self/exe"
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultHealthyAfter = time.Minute
	DefaultStopTimeout  = 5 * time.Second
)

// ErrNoChild is returned by [Supervisor.Signal] when no child is running.
var ErrNoChild = errors.New("collector child is not running")

// Supervisor runs the collector child process and keeps it running: it restarts the child with
// exponential backoff after it exits, relays its stderr into Logger and its stdout lines to
// OnLine, and stops it with SIGTERM (then SIGKILL) when Run's context ends. The child also exits
// when the parent dies: its stdin pipe reaches EOF and the kernel sends it Pdeathsig.
//
// Set the fields before calling Run; the methods are safe to call from other goroutines while
// Run runs. Run must not be called twice at the same time.
type Supervisor struct {
	Path   string       // executable; default DefaultPath
	Args   []string     // arguments after the program name, e.g. {"--collector"}
	Env    []string     // appended to os.Environ(); a later entry wins
	Logger *slog.Logger // default slog.Default()

	// MinBackoff is the wait before the first restart; each further restart doubles it up to
	// MaxBackoff. It goes back to MinBackoff after a child ran for HealthyAfter.
	MinBackoff, MaxBackoff time.Duration
	HealthyAfter           time.Duration
	// StopTimeout is how long a child has to exit after SIGTERM before it is killed.
	StopTimeout time.Duration
	// OnLine, if set, receives each line the child writes to stdout, without the newline; the
	// slice is the callee's. A line of up to 16 MiB arrives whole; a longer one in pieces. It is
	// called from one goroutine at a time and should return quickly: while it runs, the child's
	// writes to stdout block.
	OnLine func(line []byte)

	mu       sync.Mutex
	proc     *os.Process
	restarts int
}

// Run starts the child and restarts it whenever it exits, until ctx ends. Then it sends the
// child SIGTERM and waits for it; the child is killed if it has not exited after StopTimeout.
// Run returns nil when the child stopped after SIGTERM (or was not running), and an error when
// it had to be killed.
func (s *Supervisor) Run(ctx context.Context) error {
	log := s.logger()
	minBackoff := orDefault(s.MinBackoff, DefaultMinBackoff)
	maxBackoff := max(orDefault(s.MaxBackoff, DefaultMaxBackoff), minBackoff)
	healthyAfter := orDefault(s.HealthyAfter, DefaultHealthyAfter)
	backoff := minBackoff
	for first := true; ; first = false {
		if !first {
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
		}
		ran, state, err := s.runChild(ctx)
		if ctx.Err() != nil {
			return s.stopped(state, err)
		}
		if ran >= healthyAfter {
			backoff = minBackoff
		}
		if err != nil && state == nil {
			log.Error("start collector", slog.Any("err", err), slog.Duration("retry_in", backoff))
		} else {
			log.Error("collector exited", slog.Int("pid", state.Pid()), slog.String("status", state.String()),
				slog.Duration("ran", ran.Round(time.Millisecond)), slog.Duration("retry_in", backoff))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// runChild starts one child and waits for it to exit. The state is nil when it did not start.
//
// Pdeathsig is sent when the thread that forked the child exits, not the process. Go ends a
// thread when a goroutine locked to it exits, so the goroutine that starts the child stays
// locked to its thread until the child is gone; no other goroutine can run there in between.
func (s *Supervisor) runChild(ctx context.Context) (time.Duration, *os.ProcessState, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.CommandContext(ctx, orDefault(s.Path, DefaultPath), s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true, // the terminal's Ctrl-C goes to the parent only; the parent stops us in order
		Pdeathsig: syscall.SIGTERM,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = orDefault(s.StopTimeout, DefaultStopTimeout)
	// The pipe is never written to; its EOF tells the child that the parent is gone. Wait
	// closes it after the child exits.
	if _, err := cmd.StdinPipe(); err != nil {
		return 0, nil, fmt.Errorf("collector stdin: %w", err)
	}
	stdout := &lineWriter{emit: s.OnLine, max: maxStdoutLineLen}
	stderr := &lineWriter{emit: s.relay}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	started := time.Now()
	s.setProc(cmd.Process)
	s.logger().Info("collector started", slog.Int("pid", cmd.Process.Pid))
	err := cmd.Wait()
	s.setProc(nil)
	stdout.flush()
	stderr.flush()
	return time.Since(started), cmd.ProcessState, err
}

// stopped reports how a child that was asked to stop ended.
func (s *Supervisor) stopped(state *os.ProcessState, err error) error {
	if state == nil {
		return nil
	}
	log := s.logger()
	if errors.Is(err, exec.ErrWaitDelay) {
		log.Warn("collector output still open after it exited", slog.Int("pid", state.Pid()))
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		timeout := orDefault(s.StopTimeout, DefaultStopTimeout)
		log.Error("collector killed", slog.Int("pid", state.Pid()), slog.Duration("stop_timeout", timeout))
		return fmt.Errorf("collector %d did not exit within %s of SIGTERM and was killed", state.Pid(), timeout)
	}
	log.Info("collector stopped", slog.Int("pid", state.Pid()), slog.String("status", state.String()))
	return nil
}

// Signal sends sig to the running child (serve forwards SIGHUP). It returns [ErrNoChild] when
// no child is running.
func (s *Supervisor) Signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ErrNoChild
	}
	if err := s.proc.Signal(sig); err != nil {
		return fmt.Errorf("signal collector %d: %w", s.proc.Pid, err)
	}
	return nil
}

// PID returns the process id of the running child, or 0 when none is running.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

// Restarts returns how many times the child has been started again after it exited.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

func (s *Supervisor) setProc(p *os.Process) {
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
}

// relay writes one line of the child's stderr to the parent's logger.
func (s *Supervisor) relay(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	h := s.logger().Handler()
	r := childRecord(line, time.Now())
	if !h.Enabled(context.Background(), r.Level) {
		return
	}
	h.Handle(context.Background(), r)
}

func (s *Supervisor) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
