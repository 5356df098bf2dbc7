package store

import (
	"database/sql"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Conversions between Go values and the columns that store them.

// openPresharedKey, readAddr and readPrefixes read one column of a device row; a value that
// does not read is added to problems, in words for an admin, and read as empty.
func (s *Store) openPresharedKey(sealed string, problems []string) (string, []string) {
	psk, err := s.seal.open(sealed)
	if err != nil {
		return "", append(problems, "its preshared key cannot be decrypted with this server's encryption key")
	}
	return psk, problems
}

func readAddr(what string, v sql.NullString, problems []string) (netip.Addr, []string) {
	a, err := parseAddr(v)
	if err != nil {
		return netip.Addr{}, append(problems, fmt.Sprintf("its %s %q is invalid", what, v.String))
	}
	return a, problems
}

func readPrefixes(what, v string, problems []string) ([]netip.Prefix, []string) {
	ps, err := parsePrefixes(v)
	if err != nil {
		return nil, append(problems, fmt.Sprintf("its %s %q are invalid", what, v))
	}
	return ps, problems
}

// parsePrefixes reads a list stored by joinPrefixes.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func parseAddr(s sql.NullString) (netip.Addr, error) {
	if !s.Valid || s.String == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s.String)
}

func nullAddr(a netip.Addr) sql.NullString {
	if !a.IsValid() {
		return sql.NullString{}
	}
	return sql.NullString{String: a.String(), Valid: true}
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}
