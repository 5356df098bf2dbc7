// Package store is WireGUI's storage layer: one SQL text over database/sql for SQLite
// (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). The few differences are the methods of
// dialect (dialect.go).
//
// store.go opens the database and runs reads, writes and transactions; migrate.go migrates
// it; errors.go classifies the drivers' errors; postgres.go wraps pgx. Each entity has a file
// of its own, its type next to the methods that store it: settings.go, serverkeys.go,
// notifications.go, users.go, sessions.go, mfa.go (second factors and recovery codes), and
// devices.go with devicepage.go (the device tables), devicestats.go (the collector's
// counters) and livepeers.go (who is connected).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Options says which database to open.
type Options struct {
	Driver string // "sqlite" or "postgres"
	DSN    string // a file path for SQLite, a postgres:// URL for PostgreSQL
	// Key is the 32-byte AES key that encrypts secrets at rest (preshared keys, the server private key).
	Key    []byte
	Logger *slog.Logger
}

// Store is the one concrete storage implementation. It is safe for concurrent use.
type Store struct {
	read    *sql.DB     // queries
	reads   *statements // the hot queries on read, prepared once
	write   *sql.DB     // transactions and writes; a single connection on SQLite
	dialect dialect
	seal    *sealer
	log     *slog.Logger
	path    string // SQLite file, for backups
	// diskFull is set by a write that failed because the disk is full and cleared by the next
	// write that succeeds.
	diskFull atomic.Bool
	// adminKept, if set, runs in a change of users once it has found an enabled admin left,
	// before it commits: the tests make two changes meet there.
	adminKept func()
}

// Open connects to the database and checks that it answers. It does not migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	seal, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	s := &Store{seal: seal, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch opts.Driver {
	case "sqlite":
		err = s.openSQLite(opts.DSN)
	case "postgres":
		err = s.openPostgres(opts.DSN)
	default:
		err = fmt.Errorf("unknown database driver %q", opts.Driver)
	}
	if err != nil {
		return nil, err
	}
	s.reads = &statements{db: s.read}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openSQLite(path string) error {
	if path == "" {
		return errors.New("sqlite: empty database path")
	}
	s.dialect = sqliteDialect
	s.path = path
	const pragmas = "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	var err error
	s.write, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetConnMaxIdleTime(0)
	// An 8 MiB page cache per reader (the default is 2 MiB) holds 10,000 devices, so a page that
	// sorts them all reads no file pages again.
	s.read, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)&_pragma=cache_size(-8192)")
	if err != nil {
		s.write.Close()
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.read.SetMaxOpenConns(4)
	return nil
}

func (s *Store) openPostgres(url string) error {
	s.dialect = postgresDialect
	db, err := openPostgresDB(url)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	s.read, s.write = db, db
	return nil
}

// Driver names the database in use: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.dialect.name }

// Ping checks that the database answers a query (and, for SQLite, that the file is a database).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int
	if err := s.write.QueryRowContext(ctx, s.dialect.pingQuery()).Scan(&n); err != nil {
		return fmt.Errorf("%s: %w", s.dialect.name, cleanDBError(err))
	}
	return nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	err := s.reads.close()
	err = errors.Join(err, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// inTx runs fn in one write transaction: committed when fn returns nil, rolled back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.wrote(fmt.Errorf("begin: %w", cleanDBError(err)))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.wrote(err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrote(fmt.Errorf("commit: %w", cleanDBError(err)))
	}
	return s.wrote(nil)
}

// exec runs one write statement outside a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := s.write.ExecContext(ctx, query, args...)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			return res, nil // it wrote nothing, so it says nothing of the disk (the periodic session expiry)
		}
	}
	return res, s.wrote(err)
}

// wrote classifies the outcome of every write: a full disk becomes ErrDiskFull, wrapped
// around the driver's error, and is remembered until a write succeeds again.
func (s *Store) wrote(err error) error {
	switch {
	case err == nil:
		s.diskFull.Store(false)
	case isDiskFull(err):
		s.diskFull.Store(true)
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// DiskFull reports whether the last write failed because the disk is full, and no write has
// succeeded since.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }

// now returns the current time in UTC at microsecond precision, which both databases keep exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// queryer runs reads: the read pool, its prepared statements, or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a row to read: a *sql.Row, or *sql.Rows at a row. A call through it costs the
// arguments of Scan an allocation, so a function that reads only lists takes *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryRows runs query on q and reads every row with scan, appended to list. Errors are
// returned as they are, for the caller to say what failed.
func queryRows[T any](ctx context.Context, q queryer, list []T, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

// scanText reads a row of one text column.
func scanText(rows *sql.Rows) (text string, err error) {
	err = rows.Scan(&text)
	return text, err
}

// lookupError names the error of reading the one row of what (a "device", a "user") by key:
// no row is ErrNotFound.
func lookupError(err error, what, key string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", what, key, ErrNotFound)
	}
	return fmt.Errorf("get %s: %w", what, err)
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// expectOne turns the result of an UPDATE or DELETE of one row into an error: ErrNotFound when
// no row matched.
func expectOne(res sql.Result, err error, what, id string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}
