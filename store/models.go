package store

import (
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors, wrapped with %w by every method that returns them.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Roles a user can have.
const (
	RoleAdmin        = "admin"
	RoleUnprivileged = "unprivileged"
)

// User is an account that can sign in and own devices.
type User struct {
	ID             string
	Email          string // stored lower-case; unique
	PasswordHash   string // argon2id or bcrypt; empty for users without a password
	Role           string
	DisabledAt     *time.Time
	LastSignedInAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// Disabled reports whether the user has been disabled.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// Device is a WireGuard peer owned by a user. The private key is never stored.
type Device struct {
	ID           string
	UserID       string
	UserEmail    string // filled on reads that join the owner
	Name         string
	Description  string
	PublicKey    string // base64
	PresharedKey string // base64, plaintext in memory; encrypted at rest
	IPv4         netip.Addr
	IPv6         netip.Addr
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeviceStats
}

// DeviceStats is what the collector observes about a device's peer.
type DeviceStats struct {
	RxBytes         int64
	TxBytes         int64
	LatestHandshake *time.Time
	RemoteEndpoint  string
}

// StatsUpdate is one device's new counters, keyed by public key.
type StatsUpdate struct {
	PublicKey string
	DeviceStats
}

// ServerKeys is the WireGuard key pair of the server interface.
type ServerKeys struct {
	PrivateKey string // base64, plaintext in memory; encrypted at rest
	PublicKey  string // base64
}
