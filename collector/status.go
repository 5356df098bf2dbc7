package collector

import "time"

// Status is a device's connection status for the UI, from the age of its last handshake.
type Status string

const (
	Online  Status = "online"  // the last handshake is under 2 minutes old
	Idle    Status = "idle"    // under 5 minutes old
	Offline Status = "offline" // older, or never
)

// The handshake ages at which a device stops being Online and stops being Idle.
const (
	OnlineWithin = 2 * time.Minute
	IdleWithin   = 5 * time.Minute
)

// StatusAt is the connection status at now of a device whose last handshake was at
// handshake; the zero time means it never completed one. A handshake a little in the future
// (a clock ahead of ours) counts as just now.
func StatusAt(handshake, now time.Time) Status {
	if handshake.IsZero() {
		return Offline
	}
	switch age := now.Sub(handshake); {
	case age < OnlineWithin:
		return Online
	case age < IdleWithin:
		return Idle
	}
	return Offline
}
