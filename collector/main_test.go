package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

	"wiregui/store/storetest"
)

// The tests re-execute the test binary as a collector child (or as a serve-like parent of
// one); this variable selects what the re-executed binary does.
const (
	childEnv      = "WIREGUI_TEST_CHILD"
	grandchildEnv = "WIREGUI_TEST_GRANDCHILD"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(testChild(mode))
	}
	storetest.Main(m) // stops the PostgreSQL cluster the benchmarks may start

}

// testChild is the re-executed test binary. Modes:
//
//	sleep        log to stderr, write "tick PID" to stdout, run until SIGTERM or stdin EOF
//	ignore-stdin like sleep, but does not watch stdin: only SIGTERM (Pdeathsig) ends it
//	ignore-term  ignores SIGTERM: only stdin EOF (or SIGKILL) ends it
//	crash        exits 1 at once
//	crash-late   exits 1 after 150 ms
//	ticking      like sleep, but writes "tick PID" every 20 ms
//	mute         like sleep, but never writes to stdout
//	parent       runs a Supervisor of the mode in WIREGUI_TEST_GRANDCHILD and copies the
//	             grandchild's stdout lines to its own stdout
//	parent-churn like parent, then ends many OS threads once the grandchild is up
func testChild(mode string) int {
	log := ChildLogger(os.Stderr, slog.LevelDebug)
	switch mode {
	case "crash":
		return 1
	case "crash-late":
		time.Sleep(150 * time.Millisecond)
		return 1
	case "sleep", "ignore-stdin", "ignore-term", "ticking", "mute":
		sigs := make(chan os.Signal, 1)
		if mode == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
			signal.Notify(sigs, syscall.SIGHUP)
		} else {
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
		}
		ctx := context.Background()
		if mode != "ignore-stdin" {
			ctx = WatchParent(ctx, os.Stdin)
		}
		log.Info("child ready", slog.Int("n", 42), slog.Group("g", slog.String("k", "v")))
		log.Warn("child warning", slog.Int64("big", 1<<40))
		log.Debug("child debug")
		fmt.Fprintln(os.Stderr, "plain text line")
		if mode != "mute" {
			fmt.Fprintf(os.Stdout, "tick %d\n", os.Getpid())
		}
		var ticks <-chan time.Time
		if mode == "ticking" {
			ticks = time.Tick(20 * time.Millisecond)
		}
		for {
			select {
			case <-ticks:
				fmt.Fprintf(os.Stdout, "tick %d\n", os.Getpid())
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					log.Info("child got SIGHUP")
					continue
				}
				log.Info("child got SIGTERM")
				return 0
			case <-ctx.Done():
				log.Info("child saw parent go", slog.Any("cause", context.Cause(ctx)))
				return 0
			}
		}
	case "parent", "parent-churn":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		up := make(chan struct{}, 1)
		s := &Supervisor{
			Env:        []string{childEnv + "=" + os.Getenv(grandchildEnv)},
			Logger:     log,
			MinBackoff: 10 * time.Millisecond,
			OnLine: func(line []byte) {
				os.Stdout.Write(append(line, '\n'))
				select {
				case up <- struct{}{}:
				default:
				}
			},
		}
		if mode == "parent-churn" {
			go func() {
				<-up
				endThreads(64)
				fmt.Println("churned")
			}()
		}
		if err := s.Run(ctx); err != nil {
			log.Error("supervisor", slog.Any("err", err))
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", childEnv, mode)
	return 2
}

// endThreads makes the Go runtime end n OS threads: a goroutine that exits while locked to its
// thread takes the thread with it. A child whose Pdeathsig is tied to one of those threads
// would get SIGTERM.
func endThreads(n int) {
	done := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread()
			done <- struct{}{}
		}()
		<-done
	}
}
