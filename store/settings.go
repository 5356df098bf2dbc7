package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

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
	// PasswordlessEnabled lets a passkey sign its user in alone, without a password.
	PasswordlessEnabled bool
	// MFARequired makes users without a second factor add one when they next sign in with a
	// password (or another local way), before they can do anything else.
	MFARequired bool
	// LocalAuthEnabled lets people sign in with a password; MagicLinkEnabled with a link sent
	// to their email address. Both are enforced by the server, not only shown.
	LocalAuthEnabled bool
	MagicLinkEnabled bool
	// Firewall are the network policies and the default action. UpdateSettings leaves them
	// as they are: they change with the rules, through UpdatePolicy, so that the rule service
	// checks every change of them against the policy tests.
	Firewall FirewallSettings
}

// FirewallSettings are the settings of the gateway firewall.
type FirewallSettings struct {
	// PeerToPeer lets devices reach other devices through the server.
	PeerToPeer bool
	// LANToPeers lets hosts on the server's other networks open connections to devices.
	LANToPeers bool
	// DefaultAction decides a device's new connection that no rule matches: ActionAccept
	// (the default, so that an upgrade changes nothing) or ActionDrop.
	DefaultAction string
}

// The actions of rules, of policy tests' expectations and of the default.
const (
	ActionAccept = "accept"
	ActionDrop   = "drop"
)

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

const settingsColumns = `default_client_endpoint, default_client_dns, default_client_allowed_ips, default_client_mtu,
	default_client_persistent_keepalive, vpn_session_duration, allow_unprivileged_device_management,
	allow_unprivileged_device_configuration, allow_peer_to_peer, allow_lan_to_peers, default_action,
	passwordless_enabled, mfa_required, local_auth_enabled, magic_link_enabled`

// defaultSettings are the settings before an admin changed any.
var defaultSettings = Settings{AllowUnprivilegedDeviceManagement: true, AllowUnprivilegedDeviceConfiguration: true,
	LocalAuthEnabled: true, Firewall: FirewallSettings{DefaultAction: ActionAccept}}

// Settings returns the runtime settings.
func (s *Store) Settings(ctx context.Context) (Settings, error) {
	return s.settings(ctx, s.reads)
}

func (s *Store) settings(ctx context.Context, q queryer) (Settings, error) {
	var st Settings
	var endpoint, dns, allowed sql.NullString
	var mtu, keepalive sql.NullInt64
	var session int64
	err := q.QueryRowContext(ctx, `SELECT `+settingsColumns+` FROM configuration WHERE id = 1`).Scan(
		&endpoint, &dns, &allowed, &mtu, &keepalive, &session,
		&st.AllowUnprivilegedDeviceManagement, &st.AllowUnprivilegedDeviceConfiguration,
		&st.Firewall.PeerToPeer, &st.Firewall.LANToPeers, &st.Firewall.DefaultAction,
		&st.PasswordlessEnabled, &st.MFARequired, &st.LocalAuthEnabled, &st.MagicLinkEnabled)
	if errors.Is(err, sql.ErrNoRows) {
		return defaultSettings, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	c := &st.ClientDefaults
	c.Endpoint = Optional[string]{Value: endpoint.String, Set: endpoint.Valid}
	c.DNS = Optional[[]string]{Value: splitList(dns.String), Set: dns.Valid}
	c.MTU = Optional[int]{Value: int(mtu.Int64), Set: mtu.Valid}
	c.PersistentKeepalive = Optional[int]{Value: int(keepalive.Int64), Set: keepalive.Valid}
	prefixes, err := parsePrefixes(allowed.String)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: default allowed ips: %w", err)
	}
	c.AllowedIPs = Optional[[]netip.Prefix]{Value: prefixes, Set: allowed.Valid}
	st.VPNSessionDuration = time.Duration(session) * time.Second
	return st, nil
}

// UpdateSettings changes the settings in one transaction: fn edits the current values. The
// firewall's settings stay as they are (see Settings.Firewall).
func (s *Store) UpdateSettings(ctx context.Context, fn func(*Settings) error) (Settings, error) {
	var st Settings
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockPolicy(ctx, tx); err != nil {
			return err
		}
		var err error
		if st, err = s.settings(ctx, tx); err != nil {
			return err
		}
		firewall := st.Firewall
		if err := fn(&st); err != nil {
			return err
		}
		st.Firewall = firewall
		return writeSettings(ctx, tx, st)
	})
	return st, err
}

// writeSettings stores st in transaction tx.
func writeSettings(ctx context.Context, tx *sql.Tx, st Settings) error {
	c := st.ClientDefaults
	_, err := tx.ExecContext(ctx, `INSERT INTO configuration (id, created_at, updated_at, `+settingsColumns+`)
		VALUES (1, $1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (id) DO UPDATE SET updated_at = $1, default_client_endpoint = $2, default_client_dns = $3,
		default_client_allowed_ips = $4, default_client_mtu = $5, default_client_persistent_keepalive = $6,
		vpn_session_duration = $7, allow_unprivileged_device_management = $8,
		allow_unprivileged_device_configuration = $9, allow_peer_to_peer = $10, allow_lan_to_peers = $11,
		default_action = $12, passwordless_enabled = $13, mfa_required = $14, local_auth_enabled = $15,
		magic_link_enabled = $16`,
		now(), optionalString(c.Endpoint.Value, c.Endpoint.Set),
		optionalString(strings.Join(c.DNS.Value, ","), c.DNS.Set),
		optionalString(joinPrefixes(c.AllowedIPs.Value), c.AllowedIPs.Set),
		optionalInt(c.MTU), optionalInt(c.PersistentKeepalive), int64(st.VPNSessionDuration/time.Second),
		st.AllowUnprivilegedDeviceManagement, st.AllowUnprivilegedDeviceConfiguration,
		st.Firewall.PeerToPeer, st.Firewall.LANToPeers, st.Firewall.DefaultAction,
		st.PasswordlessEnabled, st.MFARequired, st.LocalAuthEnabled, st.MagicLinkEnabled)
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	return nil
}

func optionalString(v string, set bool) sql.NullString { return sql.NullString{String: v, Valid: set} }

func optionalInt(o Optional[int]) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(o.Value), Valid: o.Set}
}
