package store

import (
	"context"
	"database/sql"
)

// RawDBForTest exposes the write connection to tests that check what is stored on disk.
func RawDBForTest(s *Store) *sql.DB { return s.write }

// MigrateToForTest migrates up to version only, as an older binary would have.
func MigrateToForTest(ctx context.Context, s *Store, version int64) error {
	p, err := s.migrations(new([]DeviceRename))
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// SealForTest encrypts a value as the store does at rest.
func SealForTest(s *Store, plaintext string) string { return s.seal.seal(plaintext) }

// IsDiskFullForTest reports whether the store takes err for a full disk.
func IsDiskFullForTest(err error) bool { return isDiskFull(err) }

// OnAdminKeptForTest makes every change of users run fn once it has found an enabled admin
// left, before it commits.
func OnAdminKeptForTest(s *Store, fn func()) { s.adminKept = fn }
