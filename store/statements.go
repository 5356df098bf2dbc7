package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// statements prepares each query on the read pool once. modernc's SQLite otherwise parses
// the SQL again on every call, about a fifth of a short query's time, and the pages run the
// same few queries on every request. Only texts from a bounded set may go through it: fixed
// queries, and the page queries of the sort and filter shapes.
type statements struct {
	db *sql.DB
	m  sync.Map // query text → *sql.Stmt
}

func (ps *statements) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := ps.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := ps.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := ps.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryRowContext is sql.DB's, with the statement prepared once.
func (ps *statements) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := ps.prepare(ctx, query)
	if err != nil { // let the pool report it, the way callers expect: from Scan
		return ps.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext is sql.DB's, with the statement prepared once.
func (ps *statements) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := ps.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (ps *statements) close() error {
	var errs []error
	ps.m.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(errs...)
}
