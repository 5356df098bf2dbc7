package devices

import (
	"time"

	"wiregui/store"
)

// State is why a device is not a live WireGuard peer, in the words every page says it with
// (All Devices, My Devices, a user's page, the device's page); the zero State is a device
// that is one, or that nothing keeps from being one.
type State struct {
	Word   string // one or two words, shown as a badge: "owner disabled", "session expired", "not applied"
	Reason string // what follows the word after a colon: why, or what brings the device back
}

// The states an owner puts their devices in (store.Hold).
var (
	OwnerDisabled  = State{"owner disabled", "not connected until the owner is enabled again"}
	SessionExpired = State{"session expired", "not connected until the owner signs in again"}
)

// notAppliedWord is the word of a device the data plane leaves out; its reason completes
// "not applied: …" (wg.Problem.Reason).
const notAppliedWord = "not applied"

// StateOf is the state of dev at time at, when VPN sessions last session (0: for ever): its
// owner's hold first (store.Device.Hold decides as the data plane does), then notApplied, why
// the data plane left the device out or its row does not read ("" when neither, or when the
// viewer may not be told: only admins are).
func StateOf(dev *store.Device, at time.Time, session time.Duration, notApplied string) State {
	switch dev.Hold(at, session) {
	case store.HeldByDisabledOwner:
		return OwnerDisabled
	case store.HeldByExpiredSession:
		return SessionExpired
	}
	if notApplied != "" {
		return State{notAppliedWord, notApplied}
	}
	return State{}
}

// NotApplied reports whether the data plane left the device out (rather than its owner).
func (s State) NotApplied() bool { return s.Word == notAppliedWord }

// Title is the state's word as the start of a sentence: "Owner disabled".
func (s State) Title() string {
	if s.Word == "" {
		return ""
	}
	return string(s.Word[0]-'a'+'A') + s.Word[1:]
}

// OwnerWarning is what the Add device form says of an owner who would keep the new device off
// WireGuard at time at, to an admin choosing them or (self) to the owner themself; "" when
// the device will connect.
func OwnerWarning(owner *store.User, self bool, at time.Time, session time.Duration) string {
	switch hold := owner.Hold(at, session); {
	case hold == store.HeldByDisabledOwner:
		return owner.Email + " is disabled: the device will not connect until they are enabled again."
	case hold == store.HeldByExpiredSession && self:
		return "Your VPN session has expired: the device connects once you sign in again."
	case hold == store.HeldByExpiredSession:
		return owner.Email + "'s VPN session has expired: the device connects once they sign in again."
	}
	return ""
}
