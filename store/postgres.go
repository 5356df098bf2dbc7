package store

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sys/unix"
)

// openPostgresDB opens the pool of connections to PostgreSQL at url. Two things differ from
// sql.Open("pgx", url):
//
//   - A pooled connection that the server has closed (it restarted, or an admin ended the
//     session) is discarded before it is used, so database/sql runs the query on another or a
//     fresh connection and the first query after a restart succeeds. Without this check only a
//     connection idle for over a second is pinged; one used just before the restart fails its
//     next query.
//   - Every error that means the server cannot be reached or talked to wraps ErrUnavailable.
func openPostgresDB(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	c := stdlib.GetConnector(*cfg, stdlib.OptionResetSession(func(_ context.Context, conn *pgx.Conn) error {
		if !connOpen(conn.PgConn().Conn()) {
			return driver.ErrBadConn
		}
		return nil
	}))
	return sql.OpenDB(pgConnector{c}), nil
}

// connOpen reports whether an idle connection to the server is still open. The server sends
// nothing to an idle session, so bytes waiting to be read (its last words, "terminating
// connection due to administrator command") or the end of the stream mean it has gone. It
// peeks without blocking: one system call, no round trip to the server. It must not wait for
// the connection's read lock either: pgx's background reader, started by a slow write, may
// still sit in a read on an idle connection until the server next sends something.
func connOpen(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true // cannot tell: let the query find out
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	err = raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		open = errors.Is(err, unix.EAGAIN) // nothing to read: the session waits for us
	})
	return open && err == nil
}

// unavailable reports whether err means that the server cannot be reached or talked to at the
// moment: it refuses connections, is starting up or shutting down, or the connection broke.
// Errors the server answers with for a bad request or bad credentials are not: retrying them
// gives the same answer.
func unavailable(err error) bool {
	if err == nil || err == io.EOF || errors.Is(err, context.Canceled) {
		return false // io.EOF alone is the end of the rows; a cancelled caller gave up
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", // admin_shutdown: the server is stopping or ended the session
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now: starting up, shutting down, recovering
			pe.Code == "53300": // too_many_connections
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

// The driver's types, with every error classified. They embed pgx's, so database/sql finds
// the same optional interfaces (session reset, column types, named value checks).
type (
	pgConnector struct{ driver.Connector }
	pgConn      struct{ *stdlib.Conn }
	pgStmt      struct{ *stdlib.Stmt }
	pgTx        struct{ driver.Tx }
	pgRows      struct{ *stdlib.Rows }
)

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	return pgStmt{st.(*stdlib.Stmt)}, nil
}

func (c pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(err)
	}
	return pgTx{tx}, nil
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.ExecContext(ctx, query, args)
	return res, classify(err)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return rows(c.Conn.QueryContext(ctx, query, args))
}

func (c pgConn) Ping(ctx context.Context) error { return classify(c.Conn.Ping(ctx)) }

func (s pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.Stmt.ExecContext(ctx, args)
	return res, classify(err)
}

func (s pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return rows(s.Stmt.QueryContext(ctx, args))
}

func (tx pgTx) Commit() error   { return classify(tx.Tx.Commit()) }
func (tx pgTx) Rollback() error { return classify(tx.Tx.Rollback()) }

func (r pgRows) Next(dest []driver.Value) error { return classify(r.Rows.Next(dest)) }

func rows(r driver.Rows, err error) (driver.Rows, error) {
	if err != nil {
		return nil, classify(err)
	}
	return pgRows{r.(*stdlib.Rows)}, nil
}
