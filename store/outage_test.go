package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// workload is what the server does to its store all the time: prepared and plain reads, a
// write and a transaction, each from several goroutines, so that the pool holds several
// connections. It returns every error.
func workload(s *store.Store, userID string) []error {
	ctx := context.Background()
	calls := []func() error{
		func() error { _, err := s.UserByID(ctx, userID); return err }, // a prepared statement
		func() error { _, err := s.CountUsers(ctx); return err },
		func() error { _, err := s.AccessMark(ctx); return err },
		func() error { _, err := s.TrackedDevices(ctx); return err },
		func() error { return s.RecordSignIn(ctx, userID, "password", time.Now()) },
		func() error { // a transaction
			_, err := s.UpdateSettings(ctx, func(st *store.Settings) error { st.VPNSessionDuration = time.Hour; return nil })
			return err
		},
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range 4 {
		for _, call := range calls {
			wg.Go(func() {
				if err := call(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errs
}

// The pool keeps connections that the server closed: a restart, or an admin who ended the
// sessions. The queries that follow must all succeed, on fresh connections.
func TestQueriesAfterTheServerClosedTheConnectionsSucceed(t *testing.T) {
	c := storetest.NewCluster(t)
	for _, tc := range []struct {
		name  string
		close func(t *testing.T, dsn string)
	}{
		{"pg_ctl restart", func(t *testing.T, _ string) { c.Restart(t) }},
		{"sessions terminated", func(t *testing.T, dsn string) {
			admin, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			// The timeout makes it wait until the sessions are gone, as pg_ctl does.
			if _, err := admin.Exec(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		for _, network := range []string{"unix socket", "tcp"} {
			t.Run(tc.name+" over "+network, func(t *testing.T) {
				dsn := c.NewDatabase(t)
				if network == "tcp" {
					dsn = overTCP(t, dsn)
				}
				s := openStore(t, dsn)
				u := mustUser(t, s, "pool@example.com")
				if errs := workload(s, u.ID); len(errs) > 0 {
					t.Fatalf("before: %v", errs)
				}
				tc.close(t, dsn)
				if errs := workload(s, u.ID); len(errs) > 0 {
					t.Errorf("got %d errors right after, want none; the first: %v", len(errs), errs[0])
				}
			})
		}
	}
}

// While the server is down every call fails with ErrUnavailable; once it is back the next
// calls succeed, with no new store.
func TestStoppedServerIsUnavailableAndComesBack(t *testing.T) {
	c := storetest.NewCluster(t)
	s := openStore(t, c.NewDatabase(t))
	u := mustUser(t, s, "outage@example.com")
	if errs := workload(s, u.ID); len(errs) > 0 {
		t.Fatalf("before: %v", errs)
	}
	c.Stop(t)
	errs := append(workload(s, u.ID), s.Ping(context.Background()))
	for _, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("while stopped: got %v, want ErrUnavailable", err)
		}
	}
	if len(errs) < 2 {
		t.Errorf("got %d errors while stopped, want every call to fail", len(errs))
	}
	c.Start(t)
	if errs := workload(s, u.ID); len(errs) > 0 {
		t.Errorf("got %d errors after the start, want none; the first: %v", len(errs), errs[0])
	}
}

// Open says whether trying again can help: not with a wrong database, user or URL; yes when
// the server is down or refuses connections.
func TestOpenErrorsSayWhetherToRetry(t *testing.T) {
	c := storetest.NewCluster(t)
	good := c.NewDatabase(t)
	stopped := storetest.NewCluster(t)
	stoppedURL := stopped.NewDatabase(t)
	stopped.Stop(t)
	replace := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	for _, tc := range []struct {
		name, dsn       string
		wantUnavailable bool
	}{
		{"unknown database", replace("/wgtest_", "/nodb_"), false},
		{"unknown user", replace("postgres@", "nobody@"), false},
		{"malformed url", replace("localhost:", "localhost:notaport"), false},
		{"server stopped", stoppedURL, true},
		{"connection refused", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := store.Open(ctx, store.Options{Driver: "postgres", DSN: tc.dsn, Key: storetest.Key})
			if err == nil {
				s.Close()
				t.Fatal("opened, want an error")
			}
			if got := errors.Is(err, store.ErrUnavailable); got != tc.wantUnavailable {
				t.Errorf("got unavailable %v for %q, want %v", got, err, tc.wantUnavailable)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("got %q, want one line", err)
			}
		})
	}
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: "postgres", DSN: dsn, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// overTCP turns a test cluster's URL, which names its Unix socket, into one over loopback TCP.
func overTCP(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = strings.Replace(u.Host, "localhost", "127.0.0.1", 1)
	u.RawQuery = "sslmode=disable"
	return fmt.Sprint(u)
}
