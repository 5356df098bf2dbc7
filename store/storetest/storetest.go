// Package storetest runs store tests on both databases: SQLite in a temp file and PostgreSQL in
// a throwaway cluster (initdb + pg_ctl in a temp dir on a free loopback port) that it starts
// on first use and stops in Main. Each test gets a fresh, migrated database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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
	cluster.stop()
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
	admin := cluster.url(t)
	db, err := sql.Open("pgx", admin)
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
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
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

var cluster pgCluster

// pgCluster is one throwaway PostgreSQL server per test binary, or the one named by
// WG_TEST_POSTGRES_URL (an admin URL of the form …/postgres?…).
type pgCluster struct {
	once  sync.Once
	admin string
	dir   string
	bin   string
	err   string
}

func (c *pgCluster) url(t testing.TB) string {
	t.Helper()
	c.once.Do(c.start)
	Require(t, c.err == "", c.err)
	return c.admin
}

func (c *pgCluster) start() {
	if u := os.Getenv("WG_TEST_POSTGRES_URL"); u != "" {
		c.admin = u
		return
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		c.err = "PostgreSQL server binaries not installed (apt-get install postgresql)"
		return
	}
	if os.Geteuid() != 0 {
		c.err = "a throwaway PostgreSQL needs root (to run initdb as the postgres user)"
		return
	}
	sort.Strings(bins)
	c.bin = filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "wiregui-pgtest-")
	if err != nil {
		c.err = err.Error()
		return
	}
	c.dir = dir
	port, err := freePort()
	if err != nil {
		c.err = err.Error()
		return
	}
	data := filepath.Join(dir, "data")
	steps := [][]string{
		{"chown", "postgres:postgres", dir},
		{"chmod", "700", dir},
		{"runuser", "-u", "postgres", "--", c.bin + "/initdb", "-D", data, "-U", "postgres", "-A", "trust",
			"-E", "UTF8", "--locale=C.UTF-8", "--no-sync"},
		{"runuser", "-u", "postgres", "--", c.bin + "/pg_ctl", "-D", data, "-l", filepath.Join(dir, "pg.log"), "-w", "-t", "30",
			"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, dir),
			"start"},
	}
	for _, args := range steps {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			c.err = fmt.Sprintf("%s: %v: %s", filepath.Base(args[len(args)-1]), err, lastLine(out))
			return
		}
	}
	// The Unix socket lives on the file system, which every network namespace shares, so a
	// server under test inside a namespace reaches the cluster too.
	c.admin = fmt.Sprintf("postgres://postgres@localhost:%d/postgres?host=%s&sslmode=disable", port, dir)
}

func (c *pgCluster) stop() {
	if c.dir == "" {
		return
	}
	exec.Command("runuser", "-u", "postgres", "--", c.bin+"/pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop").Run()
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
