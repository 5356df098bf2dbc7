package apptest

import (
	"context"
	"sync"
	"time"
)

// Limiter is an attempt limiter for the tests (the server's own is the sign-in attempt
// limiter): after Max wrong attempts in a row an account waits Lockout, on the clock Now.
type Limiter struct {
	Max     int
	Lockout time.Duration
	Now     func() time.Time

	mu    sync.Mutex
	fails map[string]int
	until map[string]time.Time
}

// Check returns how long account must wait before its next attempt.
func (l *Limiter) Check(_ context.Context, account string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.until[account].Sub(l.Now()), 0), nil
}

// Fail records a wrong attempt of account.
func (l *Limiter) Fail(_ context.Context, account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails, l.until = map[string]int{}, map[string]time.Time{}
	}
	if l.fails[account]++; l.fails[account] >= l.Max {
		l.until[account], l.fails[account] = l.Now().Add(l.Lockout), 0
	}
	return nil
}

// Succeed records a right attempt of account: its wrong ones are forgotten.
func (l *Limiter) Succeed(_ context.Context, account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, account)
	return nil
}
