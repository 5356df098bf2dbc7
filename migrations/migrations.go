// Package migrations embeds the goose SQL migrations, one directory per database dialect.
// Both directories carry the same version numbers. A migration that needs Go (00007, which
// computes the device name keys) is written once for both in package store, and its version
// has no SQL file.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// FS returns the migrations for dialect ("sqlite" or "postgres").
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "sqlite", "postgres":
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("no migrations for dialect %q", dialect)
	}
}
