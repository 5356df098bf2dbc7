package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pressly/goose/v3"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxDeviceName is the most characters (code points) a device name has: app/devices checks
// it, and the migration that makes names unique keeps to it when it renames.
const MaxDeviceName = 64

// DeviceNameKey is the one place that decides when two device names of a user are the same
// name: trimmed, in NFC, and compared without letter case by Unicode case folding ("Émile"
// and "ÉMILE", "Straße" and "STRASSE"). It is stored in devices.name_key, and a unique index
// on (user_id, name_key) keeps the names of each user unique. The key is computed here rather
// than by an index on lower(name) because the two databases' lower() differ beyond ASCII:
// SQLite's folds ASCII only, PostgreSQL's follows the database's locale.
func DeviceNameKey(name string) string {
	// A Caser keeps state between calls: one per call.
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(strings.TrimSpace(name))))
}

// DeviceNameTakenError is the answer to a device name that its user already has (compared by
// DeviceNameKey). It is an ErrConflict.
type DeviceNameTakenError struct {
	Name string // the name asked for
	// Existing is the name of the device that has it, which may differ in letter case; ""
	// when a concurrent write took the name between the check and the write.
	Existing string
}

func (e *DeviceNameTakenError) Error() string {
	return fmt.Sprintf("device name %q: the user has a device named %q", e.Name, cmp.Or(e.Existing, e.Name))
}

// Is makes the error an ErrConflict for errors.Is.
func (e *DeviceNameTakenError) Is(target error) bool { return target == ErrConflict }

// checkDeviceName returns a *DeviceNameTakenError when user userID has a device other than id
// whose name is the same as name. Inside the transaction that writes the name, so that the
// answer holds when it commits; the unique index catches the writer that races it on
// PostgreSQL (uniqueNameViolation).
func checkDeviceName(ctx context.Context, tx *sql.Tx, userID, id, name string) error {
	var existing string
	err := tx.QueryRowContext(ctx, `SELECT name FROM devices WHERE user_id = $1 AND name_key = $2 AND id <> $3`,
		userID, DeviceNameKey(name), id).Scan(&existing)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check device name: %w", err)
	}
	return &DeviceNameTakenError{Name: name, Existing: existing}
}

// uniqueNameViolation reports whether err is the unique index on (user_id, name_key)
// refusing a row: SQLite names the column, PostgreSQL the index.
func uniqueNameViolation(err error) bool {
	return isUniqueViolation(err) && strings.Contains(err.Error(), "name_key")
}

// DeviceRename is a device that the migration to unique names renamed.
type DeviceRename struct {
	UserEmail string
	From, To  string
}

// uniqueDeviceNamesVersion is migration 00007. It is written in Go, for both databases alike,
// because it computes DeviceNameKey, which SQL cannot.
const uniqueDeviceNamesVersion = 7

// uniqueDeviceNames is migration 00007: device names become unique per user. It adds
// devices.name_key, renames each user's devices whose names are the same but for letter case
// or surrounding space, the oldest keeping its name and the others getting " (2)", " (3)" …
// (a number no other device of that user has), and adds the unique index. It reports each
// rename to renamed, for the log once the migration has committed.
func uniqueDeviceNames(renamed *[]DeviceRename) *goose.Migration {
	up := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE devices ADD COLUMN name_key TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("add devices.name_key: %w", err)
		}
		type row struct{ id, userID, email, name string }
		rows, err := queryRows(ctx, tx, nil, func(r *sql.Rows) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.userID, &x.email, &x.name)
		}, `SELECT d.id, d.user_id, u.email, d.name FROM devices d JOIN users u ON u.id = d.user_id
			ORDER BY d.user_id, d.created_at, d.id`)
		if err != nil {
			return fmt.Errorf("read device names: %w", err)
		}
		// Every name a user's devices have, so that a new name never takes one of them.
		names := map[string]map[string]bool{}
		for _, r := range rows {
			if names[r.userID] == nil {
				names[r.userID] = map[string]bool{}
			}
			names[r.userID][DeviceNameKey(r.name)] = true
		}
		kept := map[[2]string]bool{} // user id, key: the device that keeps its name was seen
		for _, r := range rows {
			name, key := r.name, DeviceNameKey(r.name)
			if kept[[2]string{r.userID, key}] {
				name = numberedName(r.name, names[r.userID])
				key = DeviceNameKey(name)
				names[r.userID][key] = true
				*renamed = append(*renamed, DeviceRename{UserEmail: r.email, From: r.name, To: name})
			}
			kept[[2]string{r.userID, key}] = true
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET name = $1, name_key = $2 WHERE id = $3`, name, key, r.id); err != nil {
				return fmt.Errorf("rename device %s: %w", r.id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX devices_user_name_key ON devices (user_id, name_key)`); err != nil {
			return fmt.Errorf("add the unique index on device names: %w", err)
		}
		return nil
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{`DROP INDEX devices_user_name_key`, `ALTER TABLE devices DROP COLUMN name_key`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}
	m := goose.NewGoMigration(uniqueDeviceNamesVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
	m.Source = "00007_unique_device_names.go"
	return m
}

// numberedName returns name with the first suffix " (2)", " (3)" … whose key is not in taken,
// shortening name so that the result has at most MaxDeviceName characters.
func numberedName(name string, taken map[string]bool) string {
	for n := 2; ; n++ {
		suffix := " (" + strconv.Itoa(n) + ")"
		base := []rune(name)
		if room := MaxDeviceName - utf8.RuneCountInString(suffix); len(base) > room {
			base = base[:room]
		}
		candidate := strings.TrimSpace(string(base)) + suffix
		if !taken[DeviceNameKey(candidate)] {
			return candidate
		}
	}
}
