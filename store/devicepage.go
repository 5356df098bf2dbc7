package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DeviceSort is a column a device list can be ordered by.
type DeviceSort string

const (
	SortByName      DeviceSort = "name"      // device name, case-insensitive
	SortByOwner     DeviceSort = "owner"     // owner's email, then device name
	SortByHandshake DeviceSort = "handshake" // last handshake; never-connected devices count as oldest
	SortByReceived  DeviceSort = "rx"        // rx_total
	SortBySent      DeviceSort = "tx"        // tx_total
	SortByCreated   DeviceSort = "created"   // created_at
)

// maxDevicePage is the largest Limit of a DeviceQuery and the most ids DevicesByID takes.
const maxDevicePage = 500

// DeviceQuery selects one page of devices.
type DeviceQuery struct {
	UserID string     // only this owner's devices; "" for every owner
	Search string     // a case-insensitive substring of the name, IPv4, IPv6 or public key; "" matches all
	Sort   DeviceSort // "" means SortByName
	Desc   bool
	Offset int // rows to skip, >= 0
	Limit  int // 1..500
}

// deviceOrder is how a page is sorted.
type deviceOrder struct {
	asc, desc string // ORDER BY texts
	columns   string // the columns of devices they read besides d.id, which a search keeps
}

// deviceOrders maps each sort to its fixed ORDER BY texts. Every order ends with d.id so that
// equal keys keep one order from page to page; descending is the exact reverse of ascending,
// tie-breaker included, which lets an index be read backwards. NULLS FIRST/LAST are spelled
// out because PostgreSQL and SQLite disagree on where NULL sorts by default. lower(d.name)
// is written as the indexes devices_name_lower and devices_user_name are.
var deviceOrders = map[DeviceSort]deviceOrder{
	SortByName:      {"lower(d.name), d.id", "lower(d.name) DESC, d.id DESC", "d.name"},
	SortByOwner:     {"u.email, lower(d.name), d.id", "u.email DESC, lower(d.name) DESC, d.id DESC", "d.user_id, d.name"},
	SortByHandshake: {"d.latest_handshake NULLS FIRST, d.id", "d.latest_handshake DESC NULLS LAST, d.id DESC", "d.latest_handshake"},
	SortByReceived:  {"d.rx_total, d.id", "d.rx_total DESC, d.id DESC", "d.rx_total"},
	SortBySent:      {"d.tx_total, d.id", "d.tx_total DESC, d.id DESC", "d.tx_total"},
	SortByCreated:   {"d.created_at, d.id", "d.created_at DESC, d.id DESC", "d.created_at"},
}

// deviceSortNames lists the sorts in the order error messages name them.
var deviceSortNames = []DeviceSort{SortByName, SortByOwner, SortByHandshake, SortByReceived, SortBySent, SortByCreated}

func (q *DeviceQuery) validate() error {
	if q.Sort == "" {
		q.Sort = SortByName
	}
	if _, ok := deviceOrders[q.Sort]; !ok {
		names := make([]string, len(deviceSortNames))
		for i, s := range deviceSortNames {
			names[i] = string(s)
		}
		return fmt.Errorf("device query: sort %q is not one of %s", q.Sort, strings.Join(names, ", "))
	}
	if q.Limit < 1 || q.Limit > maxDevicePage {
		return fmt.Errorf("device query: limit %d is not in 1..%d", q.Limit, maxDevicePage)
	}
	if q.Offset < 0 {
		return fmt.Errorf("device query: offset %d is negative", q.Offset)
	}
	return nil
}

// likeSubstring returns a LIKE pattern, escaped with a backslash, that matches s as a literal
// substring, its ASCII letters folded to lower case as deviceSearch folds the columns. A NUL
// or a byte that is not UTF-8, which PostgreSQL refuses in text and no stored name holds,
// becomes U+FFFD: the search finds nothing instead of failing.
func likeSubstring(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case r == 0:
			return utf8.RuneError
		}
		return r
	}, s) // Map also turns each invalid byte into RuneError
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// ListDevicesPage returns the devices of one page, with the owner's email filled, and how
// many devices match q in all. Equal sort keys are ordered by id, so pages never overlap or
// skip; a descending order reverses the tie-breaker too.
func (s *Store) ListDevicesPage(ctx context.Context, q DeviceQuery) (devices []Device, total int, err error) {
	if err := q.validate(); err != nil {
		return nil, 0, err
	}
	page, count, args := devicePageQueries(s.dialect, q)
	devices, total, err = s.readDevicePage(ctx, q.Limit, page, append(args, q.Limit, q.Offset)...)
	switch {
	case err != nil:
		return nil, 0, err
	case len(devices) > 0 || q.Offset == 0:
		return devices, total, nil
	}
	// Past the end, no row carries the total.
	if err := s.reads.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count devices: %w", err)
	}
	return nil, total, nil
}

// devicePageQueries returns the SQL, in dialect, of a page of a valid q, whose rows end with
// the number of all matches; the SQL of that number alone; and the arguments of both. The
// page takes two more, the limit and the offset.
//
// The page is chosen from the narrow rows of an inner query and only its devices are read
// whole and joined to their owners: a deep page or a sort without an index then costs a
// scan of the table but a read of just one page of rows.
func devicePageQueries(d dialect, q DeviceQuery) (page, count string, args []any) {
	if q.Sort == SortByOwner && q.UserID != "" {
		q.Sort = SortByName // one owner: the same order, without the join
	}
	var conds []string
	if q.UserID != "" {
		args = append(args, q.UserID)
		conds = append(conds, "d.user_id = $"+strconv.Itoa(len(args)))
	}
	search := strings.TrimSpace(q.Search)
	if search != "" {
		args = append(args, likeSubstring(search))
		conds = append(conds, d.deviceSearch(len(args)))
	}
	var where string
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	// The count needs no owner: every device has one (NOT NULL, ON DELETE CASCADE).
	count = "SELECT count(*) FROM devices d" + where

	var with string
	from, total := " FROM devices d", "("+count+")"
	switch {
	case search != "":
		// A search reads every device, whatever the order: it is cheapest to read them once,
		// in the table's order, keep the matches (m), sort those and count them, rather than
		// walk an index in the page's order and read each device from the table to test it,
		// then read them all again to count.
		with = "WITH m AS MATERIALIZED (SELECT d.id, " + deviceOrders[q.Sort].columns + " FROM devices d" + where + ") "
		from, where, total = " FROM m d", "", "(SELECT count(*) FROM m)"
		if q.Sort == SortByOwner {
			from += " JOIN users u ON u.id = d.user_id"
		}
	case q.Sort == SortByOwner:
		// CROSS JOIN makes SQLite, which has no statistics, read the owners first, in email
		// order, and each one's devices from devices_user_name in name order: a page then
		// reads one page of rows instead of sorting every device. PostgreSQL plans it as any join.
		from = " FROM users u CROSS JOIN devices d"
		where = " WHERE " + strings.Join(append([]string{"u.id = d.user_id"}, conds...), " AND ")
	}
	order := deviceOrders[q.Sort].asc
	if q.Desc {
		order = deviceOrders[q.Sort].desc
	}
	page = with + "SELECT " + deviceColumns + ", " + total + deviceFrom + " WHERE d.id IN (SELECT d.id" + from + where +
		" ORDER BY " + order + fmt.Sprintf(" LIMIT $%d OFFSET $%d)", len(args)+1, len(args)+2) +
		" ORDER BY " + order
	return page, count, args
}

// readDevicePage runs a page query of devicePageQueries, of at most limit devices.
func (s *Store) readDevicePage(ctx context.Context, limit int, query string, args ...any) (devices []Device, total int, err error) {
	scan := func(rows *sql.Rows) (Device, error) { return s.scanDevice(countedRow{rows, []any{&total}}) }
	devices, err = queryRows(ctx, s.reads, make([]Device, 0, limit), scan, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	return devices, total, nil
}

// countedRow is a row of a page query: a device or a user, then the columns the page adds
// (after), the last of which is the number of all matches.
type countedRow struct {
	rows  *sql.Rows
	after []any
}

func (r countedRow) Scan(dest ...any) error { return r.rows.Scan(append(dest, r.after...)...) }

// DevicesByID returns the devices with the given ids that exist, with owners' emails, in no
// particular order. At most 500 ids.
func (s *Store) DevicesByID(ctx context.Context, ids []string) ([]Device, error) {
	if len(ids) > maxDevicePage {
		return nil, fmt.Errorf("devices by id: %d ids, at most %d", len(ids), maxDevicePage)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var in strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			in.WriteString(", ")
		}
		in.WriteString("$" + strconv.Itoa(i+1))
		args[i] = id
	}
	return s.listDevices(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.id IN (`+in.String()+`)`, args...)
}
