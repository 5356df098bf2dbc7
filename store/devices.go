package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Device is a WireGuard peer owned by a user. The private key is never stored.
type Device struct {
	ID        string
	UserID    string
	UserEmail string // filled on reads that join the owner
	// OwnerDisabledAt and OwnerSignedInAt are the owner's (User.DisabledAt, LastSignedInAt),
	// filled on the same reads: what Hold decides by.
	OwnerDisabledAt *time.Time
	OwnerSignedInAt *time.Time
	Name            string
	Description     string
	PublicKey       string // base64
	PresharedKey    string // base64, plaintext in memory; encrypted at rest
	IPv4            netip.Addr
	IPv6            netip.Addr
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

// AddressPool hands out tunnel addresses; wg.Pool implements it.
type AddressPool interface {
	Allocate(used []netip.Addr) (netip.Addr, error)
}

// AddressPools holds one pool per address family; a nil pool means the family is off.
type AddressPools struct {
	IPv4, IPv6 AddressPool
}

const deviceColumns = `d.id, d.user_id, u.email, u.disabled_at, u.last_signed_in_at, d.name, d.description, d.public_key, d.preshared_key, d.ipv4, d.ipv6,
	d.use_default_allowed_ips, d.allowed_ips, d.use_default_dns, d.dns, d.use_default_endpoint, d.endpoint,
	d.use_default_mtu, d.mtu, d.use_default_persistent_keepalive, d.persistent_keepalive, d.allowed_subnets,
	d.rx_bytes, d.tx_bytes, d.rx_total, d.tx_total, d.latest_handshake, d.remote_endpoint, d.created_at, d.updated_at`

const deviceFrom = ` FROM devices d JOIN users u ON u.id = d.user_id`

func (s *Store) scanDevice(row scanner) (Device, error) {
	var d Device
	var psk, allowedIPs, dns, subnets string
	var v4, v6 sql.NullString
	var handshake, ownerDisabled, ownerSignedIn sql.NullTime
	var defAllowed, defDNS, defEndpoint, defMTU, defKeepalive bool
	o := &d.Overrides
	err := row.Scan(&d.ID, &d.UserID, &d.UserEmail, &ownerDisabled, &ownerSignedIn, &d.Name, &d.Description, &d.PublicKey, &psk, &v4, &v6,
		&defAllowed, &allowedIPs, &defDNS, &dns, &defEndpoint, &o.Endpoint.Value,
		&defMTU, &o.MTU.Value, &defKeepalive, &o.PersistentKeepalive.Value, &subnets,
		&d.RxBytes, &d.TxBytes, &d.RxTotal, &d.TxTotal, &handshake, &d.RemoteEndpoint, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return Device{}, err
	}
	o.AllowedIPs.Set, o.DNS.Set, o.Endpoint.Set, o.MTU.Set, o.PersistentKeepalive.Set =
		!defAllowed, !defDNS, !defEndpoint, !defMTU, !defKeepalive
	var problems []string
	o.AllowedIPs.Value, problems = readPrefixes("allowed IPs", allowedIPs, problems)
	d.AllowedSubnets, problems = readPrefixes("relay subnets", subnets, problems)
	o.DNS.Value = splitList(dns)
	d.PresharedKey, problems = s.openPresharedKey(psk, problems)
	d.IPv4, problems = readAddr("IPv4 address", v4, problems)
	d.IPv6, problems = readAddr("IPv6 address", v6, problems)
	d.Problem = strings.Join(problems, "; ")
	d.LatestHandshake = timePtr(handshake)
	d.OwnerDisabledAt, d.OwnerSignedInAt = timePtr(ownerDisabled), timePtr(ownerSignedIn)
	return d, nil
}

// CreateDevice inserts d for d.UserID, allocating the next free address of each family in
// pools within the same transaction, so concurrent creations never get the same address.
// A public key already in use is ErrConflict; a name the user's devices have already (see
// DeviceNameKey) is a *DeviceNameTakenError, which is one too.
func (s *Store) CreateDevice(ctx context.Context, d *Device, pools AddressPools) error {
	d.ID = newID()
	d.CreatedAt, d.UpdatedAt = now(), now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockAddresses(ctx, tx); err != nil {
			return err
		}
		if err := checkDeviceName(ctx, tx, d.UserID, d.ID, d.Name); err != nil {
			return err
		}
		var err error
		if d.IPv4, err = allocate(ctx, tx, "ipv4", pools.IPv4); err != nil {
			return err
		}
		if d.IPv6, err = allocate(ctx, tx, "ipv6", pools.IPv6); err != nil {
			return err
		}
		o := d.Overrides
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, name_key, description, public_key,
			preshared_key, ipv4, ipv6, use_default_allowed_ips, allowed_ips, use_default_dns, dns, use_default_endpoint,
			endpoint, use_default_mtu, mtu, use_default_persistent_keepalive, persistent_keepalive, allowed_subnets,
			created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			d.ID, d.UserID, d.Name, DeviceNameKey(d.Name), d.Description, d.PublicKey, s.seal.seal(d.PresharedKey),
			nullAddr(d.IPv4), nullAddr(d.IPv6), !o.AllowedIPs.Set, joinPrefixes(o.AllowedIPs.Value), !o.DNS.Set,
			strings.Join(o.DNS.Value, ","), !o.Endpoint.Set, o.Endpoint.Value, !o.MTU.Set, o.MTU.Value,
			!o.PersistentKeepalive.Set, o.PersistentKeepalive.Value, joinPrefixes(d.AllowedSubnets), d.CreatedAt, d.UpdatedAt)
		if isUniqueViolation(err) && strings.Contains(err.Error(), "public_key") {
			return fmt.Errorf("public key %s: %w", d.PublicKey, ErrConflict)
		}
		if uniqueNameViolation(err) {
			return &DeviceNameTakenError{Name: d.Name}
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
	texts, err := queryRows(ctx, tx, nil, scanText, `SELECT `+column+` FROM devices WHERE `+column+` IS NOT NULL`)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read used %s addresses: %w", column, err)
	}
	var used []netip.Addr
	for _, t := range texts {
		if a, err := netip.ParseAddr(t); err == nil {
			used = append(used, a)
		}
	}
	return pool.Allocate(used)
}

// DeviceByID returns the device with id, with its owner's email, or ErrNotFound.
func (s *Store) DeviceByID(ctx context.Context, id string) (*Device, error) {
	return s.deviceByID(ctx, s.reads, id)
}

func (s *Store) deviceByID(ctx context.Context, q queryer, id string) (*Device, error) {
	d, err := s.scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.id = $1`, id))
	if err != nil {
		return nil, lookupError(err, "device", id)
	}
	return &d, nil
}

// DeviceByName returns user userID's device named name, compared as DeviceNameKey does
// (names are unique per user by it), or ErrNotFound.
func (s *Store) DeviceByName(ctx context.Context, userID, name string) (*Device, error) {
	d, err := s.scanDevice(s.read.QueryRowContext(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.user_id = $1 AND d.name_key = $2`,
		userID, DeviceNameKey(name)))
	if err != nil {
		return nil, lookupError(err, "device", strconv.Quote(name))
	}
	return &d, nil
}

// ListDevices returns every device ordered by owner email and name.
func (s *Store) ListDevices(ctx context.Context) ([]Device, error) {
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` ORDER BY u.email, d.name, d.id`)
}

// ListDevicesByUser returns the devices of user userID ordered by name.
func (s *Store) ListDevicesByUser(ctx context.Context, userID string) ([]Device, error) {
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.user_id = $1 ORDER BY d.name, d.id`, userID)
}

// UpdateDevice changes the device with id in one transaction: fn edits a fresh copy, and
// the editable fields (name, description, overrides, relay subnets) are written back. An
// error from fn aborts the update and is returned as it is; a name another device of the
// user has is a *DeviceNameTakenError.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (*Device, error) {
	var updated *Device
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d, err := s.deviceByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
		if err := checkDeviceName(ctx, tx, d.UserID, d.ID, d.Name); err != nil {
			return err
		}
		d.UpdatedAt = now()
		o := d.Overrides
		_, err = tx.ExecContext(ctx, `UPDATE devices SET name = $1, name_key = $2, description = $3,
			use_default_allowed_ips = $4, allowed_ips = $5, use_default_dns = $6, dns = $7, use_default_endpoint = $8,
			endpoint = $9, use_default_mtu = $10, mtu = $11, use_default_persistent_keepalive = $12,
			persistent_keepalive = $13, allowed_subnets = $14, updated_at = $15 WHERE id = $16`,
			d.Name, DeviceNameKey(d.Name), d.Description, !o.AllowedIPs.Set, joinPrefixes(o.AllowedIPs.Value), !o.DNS.Set,
			strings.Join(o.DNS.Value, ","), !o.Endpoint.Set, o.Endpoint.Value, !o.MTU.Set, o.MTU.Value,
			!o.PersistentKeepalive.Set, o.PersistentKeepalive.Value, joinPrefixes(d.AllowedSubnets), d.UpdatedAt, id)
		if uniqueNameViolation(err) {
			return &DeviceNameTakenError{Name: d.Name}
		}
		if err != nil {
			return fmt.Errorf("update device: %w", err)
		}
		updated = d
		return nil
	})
	return updated, err
}

func (s *Store) listDevices(ctx context.Context, query string, args ...any) ([]Device, error) {
	scan := func(rows *sql.Rows) (Device, error) { return s.scanDevice(rows) }
	devices, err := queryRows(ctx, s.read, nil, scan, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return devices, nil
}

// DeleteDevice removes the device with id; its addresses become free.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
	return expectOne(res, err, "delete device", id)
}
