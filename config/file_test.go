package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestUnquote(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"plain", "13000", "13000"},
		{"surrounding whitespace", "  a b  \r", "a b"},
		{"hash is not a comment", "abc #def", "abc #def"},
		{"empty", "", ""},
		{"double quoted", `"a b"`, "a b"},
		{"space before quote", `  "x"  `, "x"},
		{"double quoted escapes", `"q\" b\\ d\$ t\` + "`" + ` n\n"`, "q\" b\\ d$ t` n\\n"},
		{"double quoted keeps leading space", `"  x "`, "  x "},
		{"single quoted verbatim", `'a \"$b'`, `a \"$b`},
		{"unquoted backslash", `a\ b\\c`, `a b\c`},
		{"inner quote kept", `a"b`, `a"b`},
		{"empty quotes", `""`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unquote(tt.raw)
			if err != nil || got != tt.want {
				t.Errorf("unquote(%q): got %q, %v, want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

// roundTripValues are awkward values for a KEY=VALUE file; the keys accept any text.
var roundTripValues = [][2]string{
	{"WG_SECRET_KEY", `a "quoted" #hash $HOME \back` + "`tick` 'single' ; semi  end"},
	{"WG_ADMIN_PASSWORD", "  leading and trailing spaces  "},
	{"WG_WG_DNS", "1.1.1.1, 1.0.0.1"},
	{"WG_EXTERNAL_URL", "https://vpn.example.com:8443/path"},
	{"WG_WG_IPV6_NETWORK", ""},
	{"WG_ADMIN_EMAIL", "a+b@example.com"},
}

func TestWriteFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wiregui.conf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, roundTripValues); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %v, want 0600", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("got %d files in the directory, want only the config file", len(entries))
	}

	got, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	want := make(map[string]string)
	for _, kv := range roundTripValues {
		want[kv[0]] = kv[1]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadFile:\ngot  %q\nwant %q", got, want)
	}

	c := mustLoad(t, []string{"--config", path}, nil)
	if c.SecretKey != want["WG_SECRET_KEY"] {
		t.Errorf("SecretKey: got %q, want %q", c.SecretKey, want["WG_SECRET_KEY"])
	}
	if c.AdminPassword != want["WG_ADMIN_PASSWORD"] {
		t.Errorf("AdminPassword: got %q, want %q", c.AdminPassword, want["WG_ADMIN_PASSWORD"])
	}
	if c.WireGuard.IPv6Network.IsValid() {
		t.Errorf("IPv6Network: got %v, want disabled", c.WireGuard.IPv6Network)
	}
	if got, want := c.ExternalURL, "https://vpn.example.com:8443/path"; got != want {
		t.Errorf("ExternalURL: got %q, want %q", got, want)
	}
}

// TestWriteFileShell checks that a POSIX shell reads the written file the same way, as systemd's
// EnvironmentFile does for these quoting rules.
func TestWriteFileShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sh is required under CI")
		}
		t.Skip("no sh")
	}
	path := filepath.Join(t.TempDir(), "wiregui.conf")
	if err := WriteFile(path, roundTripValues); err != nil {
		t.Fatal(err)
	}
	for _, kv := range roundTripValues {
		out, err := exec.Command(sh, "-c", `. "$1" && printf %s "$`+kv[0]+`"`, "sh", path).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != kv[1] {
			t.Errorf("%s: got %q, want %q", kv[0], out, kv[1])
		}
	}
}

func TestLoadEnvThroughFile(t *testing.T) {
	c := mustLoad(t, []string{"--data-dir", t.TempDir(), "--wg-dns", "9.9.9.9, home.lan", "--secret-key", strings.Repeat("x", 31) + "\"#"}, nil)
	var values [][2]string
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		values = append(values, [2]string{k, v})
	}
	path := filepath.Join(t.TempDir(), "wiregui.conf")
	if err := WriteFile(path, values); err != nil {
		t.Fatal(err)
	}
	again := mustLoad(t, []string{"--config", path}, nil)
	if got, want := exported(again), exported(c); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(WriteFile(Env())):\ngot  %+v\nwant %+v", got, want)
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		values [][2]string
		want   string
	}{
		{"unknown key", filepath.Join(dir, "a.conf"), [][2]string{{"WG_NOPE", "1"}}, `"WG_NOPE" is not a config file setting`},
		{"config file key", filepath.Join(dir, "a.conf"), [][2]string{{"WG_CONFIG_FILE", "/x"}}, `"WG_CONFIG_FILE" is not a config file setting`},
		{"newline", filepath.Join(dir, "a.conf"), [][2]string{{"WG_SECRET_KEY", "a\nb"}}, "WG_SECRET_KEY: the value contains a line break"},
		{"NUL", filepath.Join(dir, "a.conf"), [][2]string{{"WG_SECRET_KEY", strings.Repeat("s", 32) + "\x00"}}, "WG_SECRET_KEY: the value contains the control character U+0000"},
		{"not UTF-8", filepath.Join(dir, "a.conf"), [][2]string{{"WG_ADMIN_PASSWORD", "caf\xe9-password"}}, "WG_ADMIN_PASSWORD: the value is not UTF-8 text"},
		{"twice", filepath.Join(dir, "a.conf"), [][2]string{{"WG_PORT", "1"}, {"WG_PORT", "2"}}, "WG_PORT given twice"},
		{"missing directory", filepath.Join(dir, "nope", "a.conf"), [][2]string{{"WG_PORT", "1"}}, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteFile(tt.path, tt.values)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("got %d leftover files, want none", len(entries))
	}
}
