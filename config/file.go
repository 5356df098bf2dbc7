package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The config file is a subset of the systemd EnvironmentFile syntax that means the same to
// systemd, to a POSIX shell (". wiregui.conf") and to this parser:
//
//	# comment (also ;), blank lines
//	KEY=value             unquoted; surrounding whitespace dropped, \x means x
//	KEY="value"           \" \\ \$ \` are escapes, any other backslash is kept
//	KEY='value'           verbatim
//
// Line continuations and multi-line quoted values are refused rather than half-supported.

// fileEntry is one KEY=VALUE line.
type fileEntry struct {
	value string
	line  int
}

// ReadFile reads a config file into a map of keys to values. Unknown keys, duplicates and
// malformed lines are errors that name the file and line.
func ReadFile(path string) (map[string]string, error) {
	entries, err := readFile(path)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(entries))
	for k, e := range entries {
		m[k] = e.value
	}
	return m, nil
}

func readFile(path string) (map[string]fileEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	return parseFile(path, data)
}

func parseFile(path string, data []byte) (map[string]fileEntry, error) {
	known := knownKeys()
	entries := make(map[string]fileEntry)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' || line[0] == ';' || strings.TrimSpace(line) == "" {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		key = strings.TrimRight(key, " \t")
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		switch {
		case !ok:
			return nil, fail("expected KEY=VALUE")
		case key == nameConfigFile:
			return nil, fail("%s cannot be set inside the config file", key)
		case !known[key]:
			if known["WG_"+strings.ToUpper(key)] {
				return nil, fail("unknown setting %q (did you mean %s?)", key, "WG_"+strings.ToUpper(key))
			}
			return nil, fail("unknown setting %q", key)
		}
		if prev, dup := entries[key]; dup {
			return nil, fail("%s is already set on line %d", key, prev.line)
		}
		value, err := unquote(raw)
		if err == nil {
			err = checkValue(value)
		}
		if err != nil {
			return nil, fail("%s: %v", key, err)
		}
		entries[key] = fileEntry{value: value, line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	return entries, nil
}

// knownKeys returns every name allowed in a config file (plus WG_CONFIG_FILE, refused apart).
func knownKeys() map[string]bool {
	known := make(map[string]bool)
	for _, v := range Variables() {
		known[v.Name] = true
	}
	return known
}

func unquote(raw string) (string, error) {
	v := strings.Trim(raw, " \t\r")
	if v == "" {
		return "", nil
	}
	switch v[0] {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", errors.New("missing closing ' (multi-line values are not supported)")
		}
		if 1+end+1 != len(v) {
			return "", errors.New("unexpected text after the closing '")
		}
		return v[1 : 1+end], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				if i != len(v)-1 {
					return "", errors.New(`unexpected text after the closing "`)
				}
				return b.String(), nil
			case '\\':
				if i+1 == len(v) {
					return "", errors.New("line continuations are not supported")
				}
				i++
				if !strings.ContainsRune("\"\\$`", rune(v[i])) {
					b.WriteByte('\\')
				}
				b.WriteByte(v[i])
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New(`missing closing " (multi-line values are not supported)`)
	}
	if !strings.Contains(v, `\`) {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			if i+1 == len(v) {
				return "", errors.New("line continuations are not supported")
			}
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

// checkValue refuses what no config file value may be, in the file read or written: the file
// is UTF-8 text with one setting a line, and its values go on into the collector's
// environment, which cannot hold a NUL.
func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("the value is not UTF-8 text")
	}
	for _, r := range v {
		switch {
		case r == '\n' || r == '\r':
			return errors.New("the value contains a line break")
		case r != '\t' && unicode.IsControl(r):
			return fmt.Errorf("the value contains the control character %U", r)
		}
	}
	return nil
}

// quote returns v as written to a config file: bare when every byte is plainly safe for
// systemd and a shell, else double-quoted with \ " $ ` escaped.
func quote(v string) string {
	safe := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:/@+%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if strings.ContainsRune("\"\\$`", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// render returns the text of a config file that sets values, each known key with its
// description as a comment, values quoted where needed.
func render(values [][2]string) ([]byte, error) {
	docs := make(map[string]string)
	for _, v := range Variables() {
		docs[v.Name] = v.Description
	}
	var buf bytes.Buffer
	buf.WriteString("# WireGUI configuration. Settings here are overridden by WG_* environment variables and flags.\n")
	seen := make(map[string]bool)
	for _, kv := range values {
		key, value := kv[0], kv[1]
		doc, ok := docs[key]
		switch {
		case !ok || key == nameConfigFile:
			return nil, fmt.Errorf("%q is not a config file setting", key)
		case seen[key]:
			return nil, fmt.Errorf("%s given twice", key)
		}
		if err := checkValue(value); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		seen[key] = true
		fmt.Fprintf(&buf, "\n# %s\n%s=%s\n", doc, key, quote(value))
	}
	return buf.Bytes(), nil
}

// WriteFile writes values as a config file, as render makes it. It writes a temporary file
// (mode 0600) in the same directory and renames it over path, so a reader sees the old file or
// the new one, never half of one. The directory must exist.
func WriteFile(path string, values [][2]string) (err error) {
	data, err := render(values)
	if err != nil {
		return fmt.Errorf("write config file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write config file: %w", err)
	}
	// Make the rename durable; failure here leaves a correct file, so it is not reported.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
