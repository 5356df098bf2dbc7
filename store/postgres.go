package store

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
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
