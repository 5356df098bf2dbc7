package app

import "time"

// SetLiveRecheck sets how often live streams re-check who is watching, and returns a
// function that restores it.
func SetLiveRecheck(d time.Duration) (restore func()) {
	was := liveRecheck
	liveRecheck = d
	return func() { liveRecheck = was }
}

// SetSessionIdle sets how long a session may go without a request and how often activity is
// recorded, and returns a function that restores both.
func SetSessionIdle(idle, seenEvery time.Duration) (restore func()) {
	wasIdle, wasEvery := sessionIdle, sessionSeenEvery
	sessionIdle, sessionSeenEvery = idle, seenEvery
	return func() { sessionIdle, sessionSeenEvery = wasIdle, wasEvery }
}

// RoutePatterns returns the patterns of the route table, in its order.
func (s *Server) RoutePatterns() []string {
	var patterns []string
	for _, rt := range s.routes() {
		patterns = append(patterns, rt.pattern)
	}
	return patterns
}

// SetPendingMFA sets how long a sign-in waits for its second factor, and returns a function
// that restores it.
func SetPendingMFA(d time.Duration) (restore func()) {
	was := pendingMFA
	pendingMFA = d
	return func() { pendingMFA = was }
}
