package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
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
	d.use_default_allowed_ips, d.allowed_ips, d.use_default_dns, d.dns, d.use_default_endpoint, d.endpoint,
	d.use_default_mtu, d.mtu, d.use_default_persistent_keepalive, d.persistent_keepalive, d.allowed_subnets,
	d.rx_bytes, d.tx_bytes, d.rx_total, d.tx_total, d.latest_handshake, d.remote_endpoint, d.created_at, d.updated_at`

const deviceFrom = ` FROM devices d JOIN users u ON u.id = d.user_id`

func (s *Store) scanDevice(row interface{ Scan(...any) error }) (*Device, error) {
	var d Device
	var psk, allowedIPs, dns, subnets string
	var v4, v6 sql.NullString
	var handshake sql.NullTime
	var defAllowed, defDNS, defEndpoint, defMTU, defKeepalive bool
	o := &d.Overrides
	err := row.Scan(&d.ID, &d.UserID, &d.UserEmail, &d.Name, &d.Description, &d.PublicKey, &psk, &v4, &v6,
		&defAllowed, &allowedIPs, &defDNS, &dns, &defEndpoint, &o.Endpoint.Value,
		&defMTU, &o.MTU.Value, &defKeepalive, &o.PersistentKeepalive.Value, &subnets,
		&d.RxBytes, &d.TxBytes, &d.RxTotal, &d.TxTotal, &handshake, &d.RemoteEndpoint, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return nil, err
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
	return &d, nil
}

// CreateDevice inserts d for d.UserID, allocating the next free address of each family in
// pools within the same transaction, so concurrent creations never get the same address.
// A public key already in use is ErrConflict.
func (s *Store) CreateDevice(ctx context.Context, d *Device, pools AddressPools) error {
	d.ID = newID()
	d.CreatedAt, d.UpdatedAt = now(), now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockAddresses(ctx, tx); err != nil {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, description, public_key, preshared_key,
			ipv4, ipv6, use_default_allowed_ips, allowed_ips, use_default_dns, dns, use_default_endpoint, endpoint,
			use_default_mtu, mtu, use_default_persistent_keepalive, persistent_keepalive, allowed_subnets,
			created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
			d.ID, d.UserID, d.Name, d.Description, d.PublicKey, s.seal.seal(d.PresharedKey),
			nullAddr(d.IPv4), nullAddr(d.IPv6), !o.AllowedIPs.Set, joinPrefixes(o.AllowedIPs.Value), !o.DNS.Set,
			strings.Join(o.DNS.Value, ","), !o.Endpoint.Set, o.Endpoint.Value, !o.MTU.Set, o.MTU.Value,
			!o.PersistentKeepalive.Set, o.PersistentKeepalive.Value, joinPrefixes(d.AllowedSubnets), d.CreatedAt, d.UpdatedAt)
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
	d, err := s.scanDevice(s.reads.QueryRowContext(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.id = $1`, id))
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

// UpdateDevice changes the device with id in one transaction: fn edits a fresh copy, and
// the editable fields (name, description, overrides, relay subnets) are written back. An
// error from fn aborts the update and is returned as it is.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (*Device, error) {
	var updated *Device
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d, err := s.scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get device: %w", err)
		}
		if err := fn(d); err != nil {
			return err
		}
		d.UpdatedAt = now()
		o := d.Overrides
		_, err = tx.ExecContext(ctx, `UPDATE devices SET name = $1, description = $2, use_default_allowed_ips = $3,
			allowed_ips = $4, use_default_dns = $5, dns = $6, use_default_endpoint = $7, endpoint = $8,
			use_default_mtu = $9, mtu = $10, use_default_persistent_keepalive = $11, persistent_keepalive = $12,
			allowed_subnets = $13, updated_at = $14 WHERE id = $15`,
			d.Name, d.Description, !o.AllowedIPs.Set, joinPrefixes(o.AllowedIPs.Value), !o.DNS.Set,
			strings.Join(o.DNS.Value, ","), !o.Endpoint.Set, o.Endpoint.Value, !o.MTU.Set, o.MTU.Value,
			!o.PersistentKeepalive.Set, o.PersistentKeepalive.Value, joinPrefixes(d.AllowedSubnets), d.UpdatedAt, id)
		if err != nil {
			return fmt.Errorf("update device: %w", err)
		}
		updated = d
		return nil
	})
	return updated, err
}

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
// decides who is connected.
func livePeerQuery(d dialect, scoped bool) string {
	since := d.param(1, "timestamptz")
	return `SELECT d.id, d.user_id, d.public_key, d.preshared_key, d.ipv4, d.ipv6, d.allowed_subnets,
	d.remote_endpoint, d.created_at FROM devices d JOIN users u ON u.id = d.user_id
	WHERE u.disabled_at IS NULL AND (` + since + ` IS NULL OR u.last_signed_in_at > ` + since + `)` +
		ownerCondition(scoped) + ` ORDER BY d.created_at, d.id`
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
	rows, err := s.read.QueryContext(ctx, livePeerQuery(s.dialect, userID != ""), args...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list live peers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p LivePeer
		var psk, subnets string
		var v4, v6 sql.NullString
		if err := rows.Scan(&p.DeviceID, &p.UserID, &p.PublicKey, &psk, &v4, &v6, &subnets, &p.RemoteEndpoint, &p.CreatedAt); err != nil {
			return nil, time.Time{}, fmt.Errorf("list live peers: %w", err)
		}
		var problems []string
		p.PresharedKey, problems = s.openPresharedKey(psk, problems)
		p.IPv4, problems = readAddr("IPv4 address", v4, problems)
		p.IPv6, problems = readAddr("IPv6 address", v6, problems)
		p.AllowedSubnets, problems = readPrefixes("relay subnets", subnets, problems)
		p.Problem = strings.Join(problems, "; ")
		peers = append(peers, p)
	}
	if err := rows.Err(); err != nil {
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
	res, err := s.exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
	return expectOne(res, err, "delete device", id)
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

// TrackedDevices returns every device with its owner's email and its last stored stats,
// ordered by public key.
func (s *Store) TrackedDevices(ctx context.Context) ([]TrackedDevice, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT d.id, d.public_key, d.name, u.email, d.rx_bytes, d.tx_bytes,
		d.rx_total, d.tx_total, d.latest_handshake, d.remote_endpoint
		FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.public_key`)
	if err != nil {
		return nil, fmt.Errorf("tracked devices: %w", err)
	}
	defer rows.Close()
	var out []TrackedDevice
	for rows.Next() {
		var d TrackedDevice
		var handshake sql.NullTime
		if err := rows.Scan(&d.ID, &d.PublicKey, &d.Name, &d.UserEmail, &d.RxBytes, &d.TxBytes,
			&d.RxTotal, &d.TxTotal, &handshake, &d.RemoteEndpoint); err != nil {
			return nil, fmt.Errorf("tracked devices: %w", err)
		}
		d.LatestHandshake = timePtr(handshake)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tracked devices: %w", err)
	}
	return out, nil
}

// UpdateDeviceStats writes new counters for the given devices in one transaction. Updates for
// public keys that no longer exist are ignored.
func (s *Store) UpdateDeviceStats(ctx context.Context, updates []StatsUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if !s.dialect.batchesStats() {
			return updateStatsRowByRow(ctx, tx, updates)
		}
		args := make([]any, 0, statsBatch*len(statsColumns))
		for batch := range slices.Chunk(updates, statsBatch) {
			args = args[:0]
			for _, u := range batch {
				args = append(args, u.PublicKey, u.RxBytes, u.TxBytes, u.RxTotal, u.TxTotal,
					nullTime(u.LatestHandshake), u.RemoteEndpoint)
			}
			query := fullStatsUpdate()
			if len(batch) < statsBatch {
				query = statsUpdateQuery(len(batch))
			}
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("update device stats: %w", err)
			}
		}
		return nil
	})
}

// updateStatsRowByRow is UpdateDeviceStats with one prepared statement per row: what SQLite
// does fastest.
func updateStatsRowByRow(ctx context.Context, tx *sql.Tx, updates []StatsUpdate) error {
	stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET rx_bytes = $1, tx_bytes = $2, rx_total = $3,
		tx_total = $4, latest_handshake = $5, remote_endpoint = $6 WHERE public_key = $7`)
	if err != nil {
		return fmt.Errorf("update device stats: %w", err)
	}
	defer stmt.Close()
	for _, u := range updates {
		if _, err := stmt.ExecContext(ctx, u.RxBytes, u.TxBytes, u.RxTotal, u.TxTotal,
			nullTime(u.LatestHandshake), u.RemoteEndpoint, u.PublicKey); err != nil {
			return fmt.Errorf("update device stats: %w", err)
		}
	}
	return nil
}

// statsBatch is how many devices one statement updates: a tick at 10,000 peers is a few
// statements, not thousands of round trips. 500 rows of 7 parameters stay well below both
// databases' limits on parameters.
const statsBatch = 500

// statsColumns are the values of a stats update, in the order of its VALUES rows, with the
// type PostgreSQL must be told (a VALUES list has no column to infer it from).
var statsColumns = [...]struct{ name, pgType string }{
	{"public_key", "text"}, {"rx_bytes", "bigint"}, {"tx_bytes", "bigint"}, {"rx_total", "bigint"},
	{"tx_total", "bigint"}, {"latest_handshake", "timestamptz"}, {"remote_endpoint", "text"},
}

// fullStatsUpdate is the text of a whole batch, built once: every batch of a large tick but
// its last is whole, and the text has 3,500 placeholders.
var fullStatsUpdate = sync.OnceValue(func() string { return statsUpdateQuery(statsBatch) })

// statsUpdateQuery updates rows devices from one VALUES list, matched by public key, in
// PostgreSQL's dialect (the only one that batches), which names the columns of a VALUES list
// column1, column2, ….
func statsUpdateQuery(rows int) string {
	var b strings.Builder
	b.WriteString("UPDATE devices SET ")
	for i, c := range statsColumns[1:] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = v.column%d", c.name, i+2)
	}
	b.WriteString(" FROM (VALUES ")
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i, c := range statsColumns {
			if i > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString(postgresDialect.param(n, c.pgType))
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v WHERE devices.public_key = v.column1")
	return b.String()
}

// parsePrefixes reads a list stored by joinPrefixes.
// openPresharedKey, readAddr and readPrefixes read one column of a device row; a value that
// does not read is added to problems, in words for an admin, and read as empty.
func (s *Store) openPresharedKey(sealed string, problems []string) (string, []string) {
	psk, err := s.seal.open(sealed)
	if err != nil {
		return "", append(problems, "its preshared key cannot be decrypted with this server's encryption key")
	}
	return psk, problems
}

func readAddr(what string, v sql.NullString, problems []string) (netip.Addr, []string) {
	a, err := parseAddr(v)
	if err != nil {
		return netip.Addr{}, append(problems, fmt.Sprintf("its %s %q is invalid", what, v.String))
	}
	return a, problems
}

func readPrefixes(what, v string, problems []string) ([]netip.Prefix, []string) {
	ps, err := parsePrefixes(v)
	if err != nil {
		return nil, append(problems, fmt.Sprintf("its %s %q are invalid", what, v))
	}
	return ps, problems
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
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
