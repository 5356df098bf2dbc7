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
	"sync/atomic"
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

// LivenessFor is how long a collector that polls every interval may go without a line to its
// parent before it counts as hung: three polls, and never less than five seconds, since a poll
// may take longer than the interval (the next one then starts right after it).
func LivenessFor(interval time.Duration) time.Duration { return max(3*interval, 5*time.Second) }

// Supervisor runs the collector child process and keeps it running: it restarts the child with
// exponential backoff after it exits or hangs, relays its stderr into Logger and its stdout
// lines to OnLine, and stops it with SIGTERM (then SIGKILL) when Run's context ends. The child
// also exits when the parent dies: its stdin pipe reaches EOF and the kernel sends it Pdeathsig.
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
	// Liveness, if set, is how long the child may go without writing a line to stdout. One
	// that stays silent longer is hung (stopped, deadlocked, stuck in a call): the supervisor
	// kills it with SIGKILL, which a stopped process cannot hold pending as it does SIGTERM,
	// and restarts it with the usual backoff. A stall is logged once when it begins, and once
	// when a child writes a line again.
	Liveness time.Duration
	// OnStall, if set, is called when a stall begins, with the time of the child's last line
	// (or of its start, if it wrote none). The next line of a child ends the stall.
	OnStall func(since time.Time)

	mu       sync.Mutex
	proc     *os.Process
	restarts int
	stalled  time.Time // while a stall lasts: since when no child has written a line
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
	var lastLine atomic.Int64 // unix ns of the child's last stdout line, or of its start
	stdout := &lineWriter{max: maxStdoutLineLen, emit: func(line []byte) {
		lastLine.Store(time.Now().UnixNano())
		s.reported()
		if s.OnLine != nil {
			s.OnLine(line)
		}
	}}
	stderr := &lineWriter{emit: s.relay}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	started := time.Now()
	lastLine.Store(started.UnixNano())
	s.setProc(cmd.Process)
	s.logger().Info("collector started", slog.Int("pid", cmd.Process.Pid))
	exited := make(chan struct{})
	if s.Liveness > 0 {
		go s.watch(cmd.Process, &lastLine, exited)
	}
	err := cmd.Wait()
	close(exited)
	s.setProc(nil)
	stdout.flush()
	stderr.flush()
	return time.Since(started), cmd.ProcessState, err
}

// watch kills the child p when it writes no line for Liveness; lastLine holds the time of its
// last one. It returns when p has exited.
func (s *Supervisor) watch(p *os.Process, lastLine *atomic.Int64, exited <-chan struct{}) {
	t := time.NewTimer(s.Liveness)
	defer t.Stop()
	for {
		select {
		case <-exited:
			return
		case <-t.C:
		}
		since := time.Unix(0, lastLine.Load())
		select {
		case <-exited: // it ended on its own meanwhile
			return
		default:
		}
		if silent := time.Since(since); silent < s.Liveness {
			t.Reset(s.Liveness - silent)
			continue
		}
		s.stall(p.Pid, since)
		p.Kill() // Wait sees it exit; Run restarts it
		return
	}
}

// stall records that the child pid wrote nothing since since and is about to be killed.
func (s *Supervisor) stall(pid int, since time.Time) {
	s.mu.Lock()
	begins := s.stalled.IsZero()
	if begins {
		s.stalled = since
	}
	s.mu.Unlock()
	log := s.logger()
	silent := time.Since(since).Round(time.Second)
	if !begins { // the child started during a stall hangs too: its exit is logged
		log.Debug("collector still not reporting; killing it", slog.Int("pid", pid), slog.Duration("silent_for", silent))
		return
	}
	log.Error("collector not reporting; killing and restarting it", slog.Int("pid", pid),
		slog.Duration("silent_for", silent), slog.Duration("liveness", s.Liveness))
	if s.OnStall != nil {
		s.OnStall(since)
	}
}

// reported records that a child wrote a line, which ends a stall.
func (s *Supervisor) reported() {
	s.mu.Lock()
	since := s.stalled
	s.stalled = time.Time{}
	s.mu.Unlock()
	if !since.IsZero() {
		s.logger().Info("collector reporting again", slog.Duration("silent_for", time.Since(since).Round(time.Second)))
	}
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
