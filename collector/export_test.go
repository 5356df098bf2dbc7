package collector

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

// Missed returns how many updates subscribers have missed in all because their queues were
// full.
func (h *Hub) Missed() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.missed
}
