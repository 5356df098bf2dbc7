package store_test

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"wiregui/migrations"
)

// The two dialects' migrations carry the same version numbers, so that a database of either
// kind at version N has the same schema.
func TestMigrationsOfBothDialectsHaveTheSameVersions(t *testing.T) {
	var dirs []fs.FS
	for _, dialect := range []string{"sqlite", "postgres"} {
		fsys, err := migrations.FS(dialect)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, fsys)
	}
	if err := sameMigrationVersions(dirs[0], dirs[1]); err != nil {
		t.Error(err)
	}
}

func TestSameMigrationVersions(t *testing.T) {
	dir := func(names ...string) fstest.MapFS {
		m := fstest.MapFS{}
		for _, n := range names {
			m[n] = &fstest.MapFile{Data: []byte("-- +goose Up\n")}
		}
		return m
	}
	for _, tc := range []struct {
		name             string
		sqlite, postgres fstest.MapFS
		want             string // in the error; "" for none
	}{
		{"same", dir("00001_init.sql", "00002_more.sql"), dir("00001_init.sql", "00002_more.sql"), ""},
		{"same versions under other names", dir("00001_init.sql"), dir("00001_start.sql"), ""},
		{"one more in postgres", dir("00001_init.sql"), dir("00001_init.sql", "00002_more.sql"),
			"versions only in postgres: [2]"},
		{"one more in sqlite", dir("00001_init.sql", "00003_x.sql"), dir("00001_init.sql"), "versions only in sqlite: [3]"},
		{"a file without a version", dir("00001_init.sql", "init.sql"), dir("00001_init.sql"), "init.sql"},
		{"a version twice", dir("00001_init.sql", "00001_again.sql"), dir("00001_init.sql"), "version 1 twice"},
		{"none", dir(), dir(), "no migrations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sameMigrationVersions(tc.sqlite, tc.postgres)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// sameMigrationVersions returns an error naming the versions that only one of the two
// directories has, or a file whose name goose reads no version from.
func sameMigrationVersions(sqlite, postgres fs.FS) error {
	sv, err := migrationVersions(sqlite)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	pv, err := migrationVersions(postgres)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	onlySQLite := slices.DeleteFunc(slices.Clone(sv), func(v int64) bool { return slices.Contains(pv, v) })
	onlyPostgres := slices.DeleteFunc(slices.Clone(pv), func(v int64) bool { return slices.Contains(sv, v) })
	if len(onlySQLite) > 0 || len(onlyPostgres) > 0 {
		return fmt.Errorf("versions only in sqlite: %v; versions only in postgres: %v", onlySQLite, onlyPostgres)
	}
	return nil
}

// migrationVersions returns the versions of the migrations in fsys, as goose reads them from
// the file names, in order.
func migrationVersions(fsys fs.FS) ([]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no migrations")
	}
	var versions []int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if slices.Contains(versions, v) {
			return nil, fmt.Errorf("version %d twice", v)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions, nil
}
