package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

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

// TrackedDevices returns every device with its owner's email and its last stored stats,
// ordered by public key.
func (s *Store) TrackedDevices(ctx context.Context) ([]TrackedDevice, error) {
	devices, err := queryRows(ctx, s.read, nil, scanTrackedDevice, `SELECT d.id, d.public_key, d.name, u.email,
		d.rx_bytes, d.tx_bytes, d.rx_total, d.tx_total, d.latest_handshake, d.remote_endpoint
		FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.public_key`)
	if err != nil {
		return nil, fmt.Errorf("tracked devices: %w", err)
	}
	return devices, nil
}

func scanTrackedDevice(rows *sql.Rows) (TrackedDevice, error) {
	var d TrackedDevice
	var handshake sql.NullTime
	if err := rows.Scan(&d.ID, &d.PublicKey, &d.Name, &d.UserEmail, &d.RxBytes, &d.TxBytes,
		&d.RxTotal, &d.TxTotal, &handshake, &d.RemoteEndpoint); err != nil {
		return TrackedDevice{}, err
	}
	d.LatestHandshake = timePtr(handshake)
	return d, nil
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
