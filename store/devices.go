package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AddressPool hands out tunnel addresses; wg.Pool implements it.
type AddressPool interface {
	Allocate(used []netip.Addr) (netip.Addr, error)
}

// AddressPools holds one pool per address family; a nil pool means the family is off.
type AddressPools struct {
	IPv4, IPv6 AddressPool
}

const deviceColumns = `d.id, d.user_id, u.email, d.name, d.description, d.public_key, d.preshared_key, d.ipv4, d.ipv6,
	d.rx_bytes, d.tx_bytes, d.latest_handshake, d.remote_endpoint, d.created_at, d.updated_at`

const deviceFrom = ` FROM devices d JOIN users u ON u.id = d.user_id`

func (s *Store) scanDevice(row interface{ Scan(...any) error }) (*Device, error) {
	var d Device
	var psk string
	var v4, v6 sql.NullString
	var handshake sql.NullTime
	err := row.Scan(&d.ID, &d.UserID, &d.UserEmail, &d.Name, &d.Description, &d.PublicKey, &psk, &v4, &v6,
		&d.RxBytes, &d.TxBytes, &handshake, &d.RemoteEndpoint, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if d.PresharedKey, err = s.seal.open(psk); err != nil {
		return nil, fmt.Errorf("device %s preshared key: %w", d.ID, err)
	}
	if d.IPv4, err = parseAddr(v4); err != nil {
		return nil, fmt.Errorf("device %s ipv4: %w", d.ID, err)
	}
	if d.IPv6, err = parseAddr(v6); err != nil {
		return nil, fmt.Errorf("device %s ipv6: %w", d.ID, err)
	}
	d.LatestHandshake = timePtr(handshake)
	return &d, nil
}

// CreateDevice inserts d for d.UserID, allocating the next free address of each family in
// pools within the same transaction, so concurrent creations never get the same address.
// A public key already in use is ErrConflict.
func (s *Store) CreateDevice(ctx context.Context, d *Device, pools AddressPools) error {
	d.ID = newID()
	d.CreatedAt, d.UpdatedAt = now(), now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect.lockAddresses != "" {
			if _, err := tx.ExecContext(ctx, s.dialect.lockAddresses); err != nil {
				return fmt.Errorf("lock addresses: %w", err)
			}
		}
		var err error
		if d.IPv4, err = allocate(ctx, tx, "ipv4", pools.IPv4); err != nil {
			return err
		}
		if d.IPv6, err = allocate(ctx, tx, "ipv6", pools.IPv6); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, description, public_key, preshared_key,
			ipv4, ipv6, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			d.ID, d.UserID, d.Name, d.Description, d.PublicKey, s.seal.seal(d.PresharedKey),
			nullAddr(d.IPv4), nullAddr(d.IPv6), d.CreatedAt, d.UpdatedAt)
		if isUniqueViolation(err) && strings.Contains(err.Error(), "public_key") {
			return fmt.Errorf("public key %s: %w", d.PublicKey, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	return nil
}

// allocate picks the next free address of one family (column "ipv4" or "ipv6").
func allocate(ctx context.Context, tx *sql.Tx, column string, pool AddressPool) (netip.Addr, error) {
	if pool == nil {
		return netip.Addr{}, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+column+` FROM devices WHERE `+column+` IS NOT NULL`)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read used %s addresses: %w", column, err)
	}
	defer rows.Close()
	var used []netip.Addr
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return netip.Addr{}, fmt.Errorf("read used %s addresses: %w", column, err)
		}
		if a, err := netip.ParseAddr(s); err == nil {
			used = append(used, a)
		}
	}
	if err := rows.Err(); err != nil {
		return netip.Addr{}, fmt.Errorf("read used %s addresses: %w", column, err)
	}
	return pool.Allocate(used)
}

// DeviceByID returns the device with id, with its owner's email, or ErrNotFound.
func (s *Store) DeviceByID(ctx context.Context, id string) (*Device, error) {
	d, err := s.scanDevice(s.read.QueryRowContext(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get device: %w", err)
	}
	return d, nil
}

// ListDevices returns every device ordered by owner email and name.
func (s *Store) ListDevices(ctx context.Context) ([]Device, error) {
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` ORDER BY u.email, d.name, d.id`)
}

// ListDevicesByUser returns the devices of user userID ordered by name.
func (s *Store) ListDevicesByUser(ctx context.Context, userID string) ([]Device, error) {
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.user_id = $1 ORDER BY d.name, d.id`, userID)
}

// ListActiveDevices returns the devices that should be live WireGuard peers: those whose
// owner is enabled.
func (s *Store) ListActiveDevices(ctx context.Context) ([]Device, error) {
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE u.disabled_at IS NULL ORDER BY d.id`)
}

func (s *Store) listDevices(ctx context.Context, query string, args ...any) ([]Device, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var devices []Device
	for rows.Next() {
		d, err := s.scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		devices = append(devices, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return devices, nil
}

// DeleteDevice removes the device with id; its addresses become free.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM devices WHERE id = $1`, id)
	return expectOne(res, err, "delete device", id)
}

// DeviceStats returns the last stored stats of every device, by public key.
func (s *Store) DeviceStats(ctx context.Context) (map[string]DeviceStats, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT public_key, rx_bytes, tx_bytes, latest_handshake, remote_endpoint FROM devices`)
	if err != nil {
		return nil, fmt.Errorf("device stats: %w", err)
	}
	defer rows.Close()
	stats := make(map[string]DeviceStats)
	for rows.Next() {
		var key string
		var st DeviceStats
		var handshake sql.NullTime
		if err := rows.Scan(&key, &st.RxBytes, &st.TxBytes, &handshake, &st.RemoteEndpoint); err != nil {
			return nil, fmt.Errorf("device stats: %w", err)
		}
		st.LatestHandshake = timePtr(handshake)
		stats[key] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device stats: %w", err)
	}
	return stats, nil
}

// UpdateDeviceStats writes new counters for the given devices in one transaction. Updates for
// public keys that no longer exist are ignored.
func (s *Store) UpdateDeviceStats(ctx context.Context, updates []StatsUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET rx_bytes = $1, tx_bytes = $2, latest_handshake = $3,
			remote_endpoint = $4 WHERE public_key = $5`)
		if err != nil {
			return fmt.Errorf("update device stats: %w", err)
		}
		defer stmt.Close()
		for _, u := range updates {
			if _, err := stmt.ExecContext(ctx, u.RxBytes, u.TxBytes, nullTime(u.LatestHandshake),
				u.RemoteEndpoint, u.PublicKey); err != nil {
				return fmt.Errorf("update device stats: %w", err)
			}
		}
		return nil
	})
}

func parseAddr(s sql.NullString) (netip.Addr, error) {
	if !s.Valid || s.String == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s.String)
}

func nullAddr(a netip.Addr) sql.NullString {
	if !a.IsValid() {
		return sql.NullString{}
	}
	return sql.NullString{String: a.String(), Valid: true}
}
