package store

import (
	"net/netip"
	"time"
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
	// Overrides are the device's own client settings; an unset one uses the default.
	Overrides ClientSettings
	// AllowedSubnets are relay (site-to-site) networks behind the device, routed to it by
	// the server.
	AllowedSubnets []netip.Prefix
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Problem says which columns of the row did not read (they read as empty), in words for
	// an admin; "" for a sound row. A bad row is listed with it rather than failing the list.
	Problem string
	DeviceStats
}

// Optional is a setting that may be unset, in which case the next source of it applies.
type Optional[T any] struct {
	Value T
	Set   bool
}

// Some returns a set Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Set: true} }

// Settings are the runtime settings admins edit in the UI (the configuration singleton).
type Settings struct {
	// ClientDefaults apply to every device without an override; an unset one falls back to
	// the environment's default.
	ClientDefaults ClientSettings
	// VPNSessionDuration is how long a sign-in keeps the user's devices connected; 0 = forever.
	VPNSessionDuration                   time.Duration
	AllowUnprivilegedDeviceManagement    bool
	AllowUnprivilegedDeviceConfiguration bool
}

// ClientSettings are the values written into a device's client configuration. Set or
// unset, each keeps its Value, so a switch back to the default does not lose what was typed.
// A value resolves: the device's override, then the database default, then the environment.
type ClientSettings struct {
	Endpoint            Optional[string]
	DNS                 Optional[[]string]
	AllowedIPs          Optional[[]netip.Prefix]
	MTU                 Optional[int]
	PersistentKeepalive Optional[int]
}

// Notification is an event raised for admins.
type Notification struct {
	ID        string
	Kind      string
	UserID    string // empty when about no user
	Message   string
	CreatedAt time.Time
}

// DeviceStats is what the collector observes about a device's peer.
type DeviceStats struct {
	// RxBytes and TxBytes are WireGuard's counters as last read; they restart at 0 when the
	// peer or the interface is re-created.
	RxBytes, TxBytes int64
	// RxTotal and TxTotal are monotonic totals that keep growing across those restarts.
	RxTotal, TxTotal int64
	LatestHandshake  *time.Time
	RemoteEndpoint   string
}

// StatsUpdate is one device's new counters, keyed by public key.
type StatsUpdate struct {
	PublicKey string
	DeviceStats
}

// TrackedDevice is a device as the collector sees it: its identity, the labels of its
// metrics, and its last stored stats.
type TrackedDevice struct {
	ID        string
	PublicKey string
	Name      string
	UserEmail string
	DeviceStats
}

// ServerKeys is the WireGuard key pair of the server interface.
type ServerKeys struct {
	PrivateKey string // base64, plaintext in memory; encrypted at rest
	PublicKey  string // base64
}
