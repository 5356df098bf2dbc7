package main

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"wiregui/migrations"
	"wiregui/wg/wglab"
)

// TestFilesArePrivateInASharedDataDir starts from a data directory that already exists with
// mode 0755, as a package or a hand-made directory leaves it, and runs every role that writes
// there: init (config file, keys, database), migrate of an old database (its VACUUM INTO
// backup), serve with its collector, and the CLI. Every file they leave is 0600, and serve
// warns about the directory exactly once.
func TestFilesArePrivateInASharedDataDir(t *testing.T) {
	wglab.Require(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the test's umask
		t.Fatal(err)
	}

	initOut, err := exec.Command(binary, "init", "--non-interactive", "--config", filepath.Join(dir, "wiregui.conf"), "--data-dir", dir,
		"--external-url", "http://vpn.example.com:13000", "--wg-endpoint-host", "vpn.example.com",
		"--admin-email", adminEmail, "--admin-password", adminPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s", err, initOut)
	}
	if want := "warn  " + dir + " is open to other users (mode 0755); restrict it with: chmod 700 " + dir; !strings.Contains(string(initOut), want) {
		t.Errorf("init did not warn %q:\n%s", want, initOut)
	}

	old := filepath.Join(dir, "old.db")
	makeOldDatabase(t, old)
	migrate := exec.Command(binary, "migrate")
	migrate.Env = append(os.Environ(), "WG_DATA_DIR="+dir, "WG_DATABASE_URL="+old)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate the old database: %v\n%s", err, out)
	}
	if backups, _ := filepath.Glob(old + ".v1-*.bak"); len(backups) != 1 {
		t.Fatalf("backups of the old database: %v, want one", backups)
	}

	s := startServer(t, "sqlite", nil, "WG_DATA_DIR="+dir)
	s.createDevice(t, "laptop")
	if _, err := s.cli(t, "device", "add", "--user", adminEmail, "--name", "phone"); err != nil {
		t.Fatal(err)
	}
	// The CLI meets the text rule of the web forms.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "--email", "adm\u202ein@example.com"}, "--email: An email address cannot contain invisible formatting characters such as U+202E."},
		{[]string{"device", "add", "--user", adminEmail, "--name", "gpj\u202e.exe"}, "--name: A device name cannot contain invisible formatting characters such as U+202E."},
	} {
		if _, err := s.cli(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.args, err, tc.want)
		}
	}

	// While serve runs, the database has its WAL and SHM beside it.
	checkPrivate(t, dir, "wiregui.conf", "wiregui.db", "wiregui.db-wal", "wiregui.db-shm", "encryption.key",
		"secret.key", "wiregui.lock", "wiregui.sock", "old.db")
	if err := s.proc.Stop(); err != nil {
		t.Fatalf("stop serve: %v", err)
	}
	checkPrivate(t, dir, "wiregui.db", "encryption.key")
	out := s.proc.Output()
	if n := strings.Count(out, "the data directory is open to other users"); n != 1 {
		t.Errorf("serve warned about the data directory %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, `mode=0755`) || !strings.Contains(out, `fix="chmod 700 `+dir+`"`) {
		t.Errorf("serve's warning names no mode or fix:\n%s", out)
	}
}

// checkPrivate fails unless every file in dir is 0600 (anything else, such as a socket, has
// no permission for group or others) and the files named exist.
func checkPrivate(t *testing.T, dir string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile (a WAL at close)
		}
		rel, _ := filepath.Rel(dir, path)
		seen[rel] = true
		if perm := fi.Mode().Perm(); fi.Mode().IsRegular() && perm != 0o600 || perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want private (0600 for a file)", rel, fi.Mode())
		}
		return nil
	})
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no %s in the data directory; it has %v", name, seen)
		}
	}
}

// makeOldDatabase creates a SQLite database at migration version 1 in path, as an older
// WireGUI left it, so that migrating it makes a backup first. The test makes the file 0600
// itself: only what WireGUI creates is under test.
func makeOldDatabase(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := migrations.FS("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}
