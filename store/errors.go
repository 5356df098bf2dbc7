package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors, wrapped with %w by every method that returns them.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrDiskFull: a write failed because the database's disk is full. Nothing of it was
	// written; reads still work. See Store.DiskFull.
	ErrDiskFull = errors.New("disk full")
	// ErrUnavailable means the database cannot be reached or talked to for now: the server
	// refuses connections, is starting up or shutting down, or a connection broke. The same
	// call may succeed later; the callers wait and say so, they do not stop.
	ErrUnavailable = errors.New("database unavailable")
	// ErrLastAdmin: a change to users would leave no enabled admin, and nobody could then
	// manage the server. Nothing of it was written.
	ErrLastAdmin = errors.New("it would leave no enabled admin")
)

// errorCodes returns the codes of the database error in err's chain: SQLite's extended
// result code, or PostgreSQL's SQLSTATE; 0 and "" for an error from neither.
func errorCodes(err error) (sqliteCode int, sqlState string) {
	var le *sqlite.Error
	if errors.As(err, &le) {
		return le.Code(), ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return 0, pe.Code
	}
	return 0, ""
}

// isDiskFull reports whether err is SQLite's SQLITE_FULL (or one of its extended codes) or
// PostgreSQL's disk_full (SQLSTATE 53100).
func isDiskFull(err error) bool {
	code, state := errorCodes(err)
	return code&0xff == sqlite3.SQLITE_FULL || state == "53100"
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY violation on either database.
func isUniqueViolation(err error) bool {
	code, state := errorCodes(err)
	return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY ||
		state == "23505"
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY violation on either database: a
// row that refers to one that does not exist.
func isForeignKeyViolation(err error) bool {
	code, state := errorCodes(err)
	return code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY || state == "23503"
}

// unavailable reports whether err means that the server cannot be reached or talked to at the
// moment: it refuses connections, is starting up or shutting down, or the connection broke.
// Errors the server answers with for a bad request or bad credentials are not: retrying them
// gives the same answer.
func unavailable(err error) bool {
	if err == nil || err == io.EOF || errors.Is(err, context.Canceled) {
		return false // io.EOF alone is the end of the rows; a cancelled caller gave up
	}
	if _, state := errorCodes(err); state != "" {
		switch {
		case strings.HasPrefix(state, "08"), // connection exception
			state == "57P01", // admin_shutdown: the server is stopping or ended the session
			state == "57P02", // crash_shutdown
			state == "57P03", // cannot_connect_now: starting up, shutting down, recovering
			state == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}

// classify wraps err with ErrUnavailable when the server cannot be reached.
func classify(err error) error {
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return unavailableError{err}
	}
	return err
}

// unavailableError is an error that means ErrUnavailable. Its text is the cause's alone: the
// callers name what failed, and the cause says why.
type unavailableError struct{ error }

func (e unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.error} }

// cleanDBError turns driver errors that users see at start-up into one readable line. The
// error keeps its chain, so that errors.Is still finds ErrUnavailable in it.
func cleanDBError(err error) error {
	if code, _ := errorCodes(err); code == sqlite3.SQLITE_NOTADB {
		return errors.New("file is not a database (corrupt or not SQLite)")
	}
	msg := err.Error()
	if !strings.Contains(msg, "\n") {
		return err
	}
	// pgx puts the attempt at each address of a host name on a line of its own.
	msg = strings.ReplaceAll(msg, ":\n\t", ": ")
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\n\t", "; "), "\n", "; ")
	return oneLineError{msg, err}
}

// oneLineError is an error with a shorter text than its cause's.
type oneLineError struct {
	msg   string
	cause error
}

func (e oneLineError) Error() string { return e.msg }
func (e oneLineError) Unwrap() error { return e.cause }
