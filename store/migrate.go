package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"

	"wiregui/migrations"
)

// Migrate applies pending migrations. A non-empty SQLite database is first copied with
// VACUUM INTO next to the file, so a failed upgrade can be undone by hand.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	var renamed []DeviceRename
	p, err := s.migrations(&renamed)
	if err != nil {
		return 0, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", cleanDBError(err))
	}
	if !pending {
		return 0, nil
	}
	if s.dialect == sqliteDialect {
		if err := s.backupBeforeMigrate(ctx, p); err != nil {
			return 0, err
		}
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("migration applied", slog.Int64("version", r.Source.Version), slog.String("file", filepath.Base(r.Source.Path)))
	}
	// Said once it has committed: an admin may have to tell the owners.
	for _, r := range renamed {
		s.log.Warn("device renamed: a user's device names now differ in more than letter case",
			slog.String("user", r.UserEmail), slog.String("from", r.From), slog.String("to", r.To))
	}
	return len(results), nil
}

func (s *Store) backupBeforeMigrate(ctx context.Context, p *goose.Provider) error {
	version, err := p.GetDBVersion(ctx)
	if err != nil || version == 0 {
		return nil // a new database: nothing to keep
	}
	dst := fmt.Sprintf("%s.v%d-%s.bak", s.path, version, time.Now().UTC().Format("20060102T150405"))
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if _, err := s.write.ExecContext(ctx, "VACUUM INTO $1", dst); err != nil {
		return fmt.Errorf("back up %s before migrating: %w", s.path, err)
	}
	s.log.Info("database backed up before migration", slog.String("backup", dst))
	return nil
}

// migrations returns the migrations of the store's database, ready to run on it: the SQL
// files of its dialect, and the migrations written in Go for both (devicenames.go), which
// report the devices they rename to renamed.
func (s *Store) migrations(renamed *[]DeviceRename) (*goose.Provider, error) {
	fsys, err := migrations.FS(s.dialect.name)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(s.dialect.goose, s.write, fsys, goose.WithGoMigrations(uniqueDeviceNames(renamed)))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
