package collector

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// ErrParentGone is the cause of a context returned by [WatchParent] when the parent went away.
var ErrParentGone = errors.New("parent process went away")

// WatchParent returns a copy of ctx that is cancelled, with cause [ErrParentGone], when stdin
// reaches EOF or fails: the parent holds the write end of the child's stdin and never writes to
// it, so EOF means the parent exited, however it died. Anything read is discarded.
//
// The goroutine reading stdin lives until EOF; call WatchParent once per process.
func WatchParent(ctx context.Context, stdin io.Reader) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		io.Copy(io.Discard, stdin)
		cancel(ErrParentGone)
	}()
	return ctx
}

// ChildLogger returns the logger a collector child uses: slog JSON to w (the child's stderr),
// which the [Supervisor] parses and relays into the parent's logger.
func ChildLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// MemoryLimit is the collector's soft memory limit. Each poll at 10,000 peers leaves ~10 MB
// of garbage (the read of every peer) over a live heap of ~15 MB; a limit makes the runtime
// collect before the process grows past what it needs. It grows with the samples waiting for
// VictoriaMetrics (8 bytes each, twice over for headroom), so that an outage never makes the
// collector collect garbage in a loop.
func MemoryLimit(bufferedSamples int) int64 {
	const base = 20 << 20
	return base + 16*int64(bufferedSamples)
}
