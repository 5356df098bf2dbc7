package store

import "database/sql"

// RawDBForTest exposes the write connection to tests that check what is stored on disk.
func RawDBForTest(s *Store) *sql.DB { return s.write }
