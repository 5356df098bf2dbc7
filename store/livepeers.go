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

// LivePeer is what the data plane needs of a device that must be a live WireGuard peer.
type LivePeer struct {
	DeviceID       string
	UserID         string
	PublicKey      string
	PresharedKey   string // plaintext
	IPv4, IPv6     netip.Addr
	AllowedSubnets []netip.Prefix
	RemoteEndpoint string
	CreatedAt      time.Time
	// Problem says why the row cannot be read as a peer (a column that does not parse, a
	// preshared key sealed under another key); "" when it can. Such a row is still listed,
	// so that one bad row is reported and skipped instead of failing the whole read.
	Problem string
}

// livePeerQuery selects the live peers; $1 is the start of the valid sessions (NULL when
// sessions never expire) and, when scoped, $2 is an owner's id. This is the one place that
// decides who is connected; HoldOf says the same of one owner, in Go, for the pages.
func livePeerQuery(d dialect, scoped bool) string {
	since := d.param(1, "timestamptz")
	return `SELECT d.id, d.user_id, d.public_key, d.preshared_key, d.ipv4, d.ipv6, d.allowed_subnets,
	d.remote_endpoint, d.created_at FROM devices d JOIN users u ON u.id = d.user_id
	WHERE u.disabled_at IS NULL AND (` + since + ` IS NULL OR u.last_signed_in_at > ` + since + `)` +
		ownerCondition(scoped) + ` ORDER BY d.created_at, d.id`
}

// Hold is why an owner keeps their devices from being live WireGuard peers; "" when they
// do not.
type Hold string

const (
	HeldByDisabledOwner  Hold = "owner-disabled"  // an admin disabled the owner
	HeldByExpiredSession Hold = "session-expired" // the owner's VPN session expired: they must sign in again
)

// HoldOf says whether an owner, disabled at disabledAt (nil: enabled) and last signed in at
// signedIn (nil: never), keeps their devices off WireGuard at time at, when VPN sessions last
// session (0: for ever). It decides as livePeerQuery does, and a test holds the two together:
// a device is a live peer exactly when its owner's hold is "".
func HoldOf(disabledAt, signedIn *time.Time, at time.Time, session time.Duration) Hold {
	switch {
	case disabledAt != nil:
		return HeldByDisabledOwner
	case session > 0 && (signedIn == nil || !signedIn.After(at.Add(-session))):
		return HeldByExpiredSession
	}
	return ""
}

// Hold is HoldOf the user.
func (u *User) Hold(at time.Time, session time.Duration) Hold {
	return HoldOf(u.DisabledAt, u.LastSignedInAt, at, session)
}

// Hold is HoldOf the device's owner.
func (d *Device) Hold(at time.Time, session time.Duration) Hold {
	return HoldOf(d.OwnerDisabledAt, d.OwnerSignedInAt, at, session)
}

// nextExpiryQuery finds the earliest valid session that keeps a device live, with the same
// parameters.
func nextExpiryQuery(d dialect, scoped bool) string {
	return `SELECT u.last_signed_in_at FROM users u
	WHERE u.disabled_at IS NULL AND u.last_signed_in_at > ` + d.param(1, "timestamptz") + ownerCondition(scoped) + `
	AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id)
	ORDER BY u.last_signed_in_at LIMIT 1`
}

// ownerCondition limits a live-peer query to the owner in $2 when scoped. It is left out of
// the text when not, rather than written as a condition an empty $2 makes true, so that a
// one-user read uses the user_id index.
func ownerCondition(scoped bool) string {
	if scoped {
		return " AND u.id = $2"
	}
	return ""
}

// ListLivePeers returns the devices that must be live WireGuard peers at time at: the
// device exists, its owner is enabled, and either VPN sessions never expire or the owner
// signed in within the session duration. changesAt is when the earliest of those sessions
// expires (zero when none will), so the caller can look again then. A non-empty userID
// limits the answer, changesAt included, to that user's devices.
func (s *Store) ListLivePeers(ctx context.Context, at time.Time, userID string) (peers []LivePeer, changesAt time.Time, err error) {
	settings, err := s.Settings(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var since sql.NullTime
	if d := settings.VPNSessionDuration; d > 0 {
		since = sql.NullTime{Time: at.Add(-d).UTC(), Valid: true}
	}
	args := []any{since}
	if userID != "" {
		args = append(args, userID)
	}
	peers, err = queryRows(ctx, s.read, nil, s.scanLivePeer, livePeerQuery(s.dialect, userID != ""), args...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list live peers: %w", err)
	}
	if !since.Valid {
		return peers, time.Time{}, nil
	}
	// ORDER BY, not min(): SQLite's aggregate drops the column type and returns text.
	var signedIn time.Time
	args[0] = since.Time
	err = s.read.QueryRowContext(ctx, nextExpiryQuery(s.dialect, userID != ""), args...).Scan(&signedIn)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("next session expiry: %w", err)
	default:
		changesAt = signedIn.UTC().Add(settings.VPNSessionDuration)
	}
	return peers, changesAt, nil
}

func (s *Store) scanLivePeer(rows *sql.Rows) (LivePeer, error) {
	var p LivePeer
	var psk, subnets string
	var v4, v6 sql.NullString
	if err := rows.Scan(&p.DeviceID, &p.UserID, &p.PublicKey, &psk, &v4, &v6, &subnets, &p.RemoteEndpoint, &p.CreatedAt); err != nil {
		return LivePeer{}, err
	}
	var problems []string
	p.PresharedKey, problems = s.openPresharedKey(psk, problems)
	p.IPv4, problems = readAddr("IPv4 address", v4, problems)
	p.IPv6, problems = readAddr("IPv6 address", v6, problems)
	p.AllowedSubnets, problems = readPrefixes("relay subnets", subnets, problems)
	p.Problem = strings.Join(problems, "; ")
	return p, nil
}

// AccessMark is a fingerprint of the rows that decide the live peers (apart from the clock):
// it changes when any device, user or setting is added, changed or deleted, by whichever
// process. A data plane compares it to find changes it was not told about.
func (s *Store) AccessMark(ctx context.Context) (string, error) {
	var mark [5]sql.NullString
	err := s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM devices), (SELECT max(updated_at) FROM devices),
		(SELECT count(*) FROM users), (SELECT max(updated_at) FROM users), (SELECT max(updated_at) FROM configuration)`).
		Scan(&mark[0], &mark[1], &mark[2], &mark[3], &mark[4])
	if err != nil {
		return "", fmt.Errorf("access mark: %w", err)
	}
	parts := make([]string, len(mark))
	for i, m := range mark {
		parts[i] = m.String
	}
	return strings.Join(parts, "|"), nil
}
