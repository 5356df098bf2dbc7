// Package storetest runs store tests on both databases: SQLite in a temp file and PostgreSQL in
// a throwaway cluster (initdb + pg_ctl in a temp dir on a free loopback port) that it starts
// on first use and stops in Main. Each test gets a fresh, migrated database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"wiregui/store"
)

// Drivers lists the databases every store test runs on.
var Drivers = []string{"sqlite", "postgres"}

// Main runs the package's tests and stops the PostgreSQL cluster if one was started.
// Call it from TestMain in every package that uses PostgreSQL.
func Main(m *testing.M) {
	code := m.Run()
	if shared.Cluster != nil {
		shared.remove()
	}
	os.Exit(code)
}

// Run runs fn once per driver as subtests named after the driver, each with a fresh store.
func Run(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, driver := range Drivers {
		t.Run(driver, func(t *testing.T) { fn(t, Open(t, driver)) })
	}
}

// Key is the encryption key test stores use.
var Key = []byte("0123456789abcdef0123456789abcdef")

// Open returns a fresh, migrated store on driver, closed when the test ends.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	dsn := DSN(t, driver)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn, Key: Key})
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s store: %v", driver, err)
	}
	return s
}

// DSN returns the address of a fresh, empty database: a file path for SQLite, a URL for PostgreSQL.
func DSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case "sqlite":
		return filepath.Join(t.TempDir(), "wiregui.db")
	case "postgres":
		return PostgresURL(t)
	}
	t.Fatalf("unknown driver %q", driver)
	return ""
}

// PostgresURL creates a new database in the test cluster and returns its URL. It is dropped
// when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if u := os.Getenv("WG_TEST_POSTGRES_URL"); u != "" {
			shared.Cluster = &Cluster{admin: u}
			return
		}
		var err error
		if shared.Cluster, err = startCluster(); err != nil {
			shared.err = err.Error()
		}
	})
	Require(t, shared.err == "", shared.err)
	return shared.NewDatabase(t)
}

// Require skips the test when the tool it needs is missing, except under CI=true, where a
// missing tool fails the test: CI must run everything.
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI: %s", why)
	}
	t.Skipf("skipped outside CI: %s", why)
}

// shared is the one cluster of a test binary that PostgresURL creates databases in, or the
// server named by WG_TEST_POSTGRES_URL (an admin URL of the form …/postgres?…).
var shared struct {
	once sync.Once
	*Cluster
	err string
}

// Cluster is a throwaway PostgreSQL server: initdb and pg_ctl in a temp dir, listening on a
// free loopback port and on a Unix socket in that dir.
type Cluster struct {
	admin string // URL of the postgres database as the superuser
	dir   string // empty for a server the tests did not start
	bin   string
	port  int
}

// NewCluster starts a cluster of the test's own, for tests that stop or restart the server;
// every other test uses PostgresURL's shared one. It is removed when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	Require(t, err == nil, fmt.Sprint(err))
	t.Cleanup(c.remove)
	return c
}

// NewDatabase creates a new database in the cluster and returns its URL. It is dropped when
// the test ends, if the server runs then.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("pgx", c.admin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "wgtest_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", c.admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return strings.Replace(c.admin, "/postgres?", "/"+name+"?", 1)
}

// Stop shuts the server down the way an operator does (pg_ctl stop, fast mode): the server
// ends every session, so its clients see their connections terminated.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.pgctl(t, "stop", "-m", "fast")
}

// Start starts a stopped server again, on the same port and socket.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.pgctl(t, "start", "-o", c.options())
}

// Restart stops and starts the server (pg_ctl restart, fast mode).
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.pgctl(t, "restart", "-m", "fast", "-o", c.options())
}

func (c *Cluster) pgctl(t testing.TB, args ...string) {
	t.Helper()
	if c.dir == "" {
		t.Fatal("the test cluster is not one the tests started")
	}
	if out, err := c.command(args...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl %s: %v: %s", args[0], err, lastLine(out))
	}
}

// command is pg_ctl with args, on the cluster's data dir and log, waiting up to 30 s.
func (c *Cluster) command(args ...string) *exec.Cmd {
	base := []string{"-u", "postgres", "--", c.bin + "/pg_ctl", "-D", filepath.Join(c.dir, "data"),
		"-l", filepath.Join(c.dir, "pg.log"), "-w", "-t", "30"}
	return exec.Command("runuser", append(base, args...)...)
}

func (c *Cluster) options() string {
	return fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", c.port, c.dir)
}

func startCluster() (*Cluster, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, errors.New("PostgreSQL server binaries not installed (apt-get install postgresql)")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a throwaway PostgreSQL needs root (to run initdb as the postgres user)")
	}
	sort.Strings(bins)
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "wiregui-pgtest-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if c.port, err = freePort(); err != nil {
		c.remove()
		return nil, err
	}
	steps := []*exec.Cmd{
		exec.Command("chown", "postgres:postgres", dir),
		exec.Command("chmod", "700", dir),
		exec.Command("runuser", "-u", "postgres", "--", c.bin+"/initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres",
			"-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
		c.command("start", "-o", c.options()),
	}
	for _, cmd := range steps {
		if out, err := cmd.CombinedOutput(); err != nil {
			c.remove()
			return nil, fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Args[len(cmd.Args)-1]), err, lastLine(out))
		}
	}
	// The Unix socket lives on the file system, which every network namespace shares, so a
	// server under test inside a namespace reaches the cluster too.
	c.admin = fmt.Sprintf("postgres://postgres@localhost:%d/postgres?host=%s&sslmode=disable", c.port, dir)
	return c, nil
}

// remove stops the server, if it runs, and deletes its files.
func (c *Cluster) remove() {
	if c.dir == "" {
		return
	}
	c.command("-m", "immediate", "stop").Run()
	os.RemoveAll(c.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
