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

// ServerKeys returns the server's WireGuard key pair, or ErrNotFound before EnsureServerKeys ran.
func (s *Store) ServerKeys(ctx context.Context) (ServerKeys, error) {
	return s.serverKeys(ctx, s.read)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) serverKeys(ctx context.Context, q queryer) (ServerKeys, error) {
	var k ServerKeys
	var sealed string
	err := q.QueryRowContext(ctx, `SELECT server_private_key, server_public_key FROM configuration WHERE id = 1`).
		Scan(&sealed, &k.PublicKey)
	if errors.Is(err, sql.ErrNoRows) || err == nil && sealed == "" {
		return ServerKeys{}, fmt.Errorf("server keys: %w", ErrNotFound)
	}
	if err != nil {
		return ServerKeys{}, fmt.Errorf("server keys: %w", err)
	}
	if k.PrivateKey, err = s.seal.open(sealed); err != nil {
		return ServerKeys{}, fmt.Errorf("server private key: %w", err)
	}
	return k, nil
}

// EnsureServerKeys returns the stored server key pair, generating and storing one with generate
// the first time. The private key is stored encrypted.
func (s *Store) EnsureServerKeys(ctx context.Context, generate func() (ServerKeys, error)) (ServerKeys, error) {
	var keys ServerKeys
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		keys, err = s.serverKeys(ctx, tx)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if keys, err = generate(); err != nil {
			return fmt.Errorf("generate server keys: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO configuration (id, server_private_key, server_public_key, created_at, updated_at)
			VALUES (1, $1, $2, $3, $3)
			ON CONFLICT (id) DO UPDATE SET server_private_key = $1, server_public_key = $2, updated_at = $3`,
			s.seal.seal(keys.PrivateKey), keys.PublicKey, now())
		if err != nil {
			return fmt.Errorf("store server keys: %w", err)
		}
		return nil
	})
	return keys, err
}

const settingsColumns = `default_client_endpoint, default_client_dns, default_client_allowed_ips, default_client_mtu,
	default_client_persistent_keepalive, vpn_session_duration, allow_unprivileged_device_management,
	allow_unprivileged_device_configuration`

// defaultSettings are the settings before an admin changed any.
var defaultSettings = Settings{AllowUnprivilegedDeviceManagement: true, AllowUnprivilegedDeviceConfiguration: true}

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
		&st.AllowUnprivilegedDeviceManagement, &st.AllowUnprivilegedDeviceConfiguration)
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

// UpdateSettings changes the settings in one transaction: fn edits the current values.
func (s *Store) UpdateSettings(ctx context.Context, fn func(*Settings) error) (Settings, error) {
	var st Settings
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if st, err = s.settings(ctx, tx); err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		c := st.ClientDefaults
		_, err = tx.ExecContext(ctx, `INSERT INTO configuration (id, created_at, updated_at, `+settingsColumns+`)
			VALUES (1, $1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET updated_at = $1, default_client_endpoint = $2, default_client_dns = $3,
			default_client_allowed_ips = $4, default_client_mtu = $5, default_client_persistent_keepalive = $6,
			vpn_session_duration = $7, allow_unprivileged_device_management = $8,
			allow_unprivileged_device_configuration = $9`,
			now(), optionalString(c.Endpoint.Value, c.Endpoint.Set),
			optionalString(strings.Join(c.DNS.Value, ","), c.DNS.Set),
			optionalString(joinPrefixes(c.AllowedIPs.Value), c.AllowedIPs.Set),
			optionalInt(c.MTU), optionalInt(c.PersistentKeepalive), int64(st.VPNSessionDuration/time.Second),
			st.AllowUnprivilegedDeviceManagement, st.AllowUnprivilegedDeviceConfiguration)
		if err != nil {
			return fmt.Errorf("update settings: %w", err)
		}
		return nil
	})
	return st, err
}

func optionalString(v string, set bool) sql.NullString { return sql.NullString{String: v, Valid: set} }

func optionalInt(o Optional[int]) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(o.Value), Valid: o.Set}
}

// ListExpiredSessions returns the enabled users with devices whose VPN session has expired
// at time at (never-signed-in users included). None when sessions never expire.
func (s *Store) ListExpiredSessions(ctx context.Context, at time.Time) ([]User, error) {
	settings, err := s.Settings(ctx)
	if err != nil || settings.VPNSessionDuration == 0 {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.disabled_at IS NULL
		AND (u.last_signed_in_at IS NULL OR u.last_signed_in_at <= $1)
		AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.email`,
		at.Add(-settings.VPNSessionDuration).UTC())
	if err != nil {
		return nil, fmt.Errorf("expired sessions: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("expired sessions: %w", err)
		}
		users = append(users, *u)
	}
	return users, rows.Err()
}

// Notify records n unless a notification with the same dedupe key exists; it reports
// whether n was new. The key makes one event raise one notification, however often it is seen.
func (s *Store) Notify(ctx context.Context, n *Notification, dedupeKey string) (bool, error) {
	n.ID, n.CreatedAt = newID(), now()
	var userID sql.NullString
	if n.UserID != "" {
		userID = sql.NullString{String: n.UserID, Valid: true}
	}
	res, err := s.exec(ctx, `INSERT INTO notifications (id, kind, user_id, message, dedupe_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING`,
		n.ID, n.Kind, userID, n.Message, dedupeKey, n.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	added, err := res.RowsAffected()
	return added == 1, err
}

// ListNotifications returns the newest notifications first, at most limit.
func (s *Store) ListNotifications(ctx context.Context, limit int) ([]Notification, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, kind, COALESCE(user_id, ''), message, created_at
		FROM notifications ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.ID, &n.Kind, &n.UserID, &n.Message, &n.CreatedAt); err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
