package wg

import (
	"sync"
	"time"
)

// logLimiter lets burst lines through, then one more every interval: a token bucket. It
// counts the lines it holds back and hands the count to the next line it lets through. A
// limiter is safe for concurrent use.
type logLimiter struct {
	burst int
	every time.Duration

	mu       sync.Mutex
	tokens   int
	refilled time.Time // when tokens was last topped up; zero before the first line
	held     int       // lines held back since the last one let through
}

// allow reports whether a line may be logged at now, and how many were held back since the
// last one that was.
func (l *logLimiter) allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refilled.IsZero() {
		l.tokens, l.refilled = l.burst, now
	}
	if n := now.Sub(l.refilled) / l.every; n > 0 {
		l.tokens = min(l.burst, l.tokens+int(min(n, time.Duration(l.burst))))
		l.refilled = l.refilled.Add(n * l.every)
	}
	if l.tokens == 0 {
		l.held++
		return false, 0
	}
	l.tokens--
	held, l.held = l.held, 0
	return true, held
}
