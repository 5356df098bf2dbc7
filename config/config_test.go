package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mapEnv turns a map into a getenv function.
func mapEnv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

// loadIn loads with the data dir defaulting to dir/data (a non-root user whose working
// directory is dir), so no test reads a real /var/lib/wiregui.
func loadIn(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	t.Chdir(t.TempDir())
	return load(args, mapEnv(env), 1000, false)
}

func mustLoad(t *testing.T, args []string, env map[string]string) *Config {
	t.Helper()
	c, err := loadIn(t, args, env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(wd, "data")

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"WG_DATA_DIR", c.DataDir, dataDir},
		{"WG_DATABASE_URL", c.DatabaseURL, filepath.Join(dataDir, "wiregui.db")},
		{"WG_HOST", c.Host, "0.0.0.0"},
		{"WG_PORT", c.Port, 13000},
		{"WG_EXTERNAL_URL", c.ExternalURL, "http://localhost:13000"},
		{"WG_SECRET_KEY", c.SecretKey, ""},
		{"WG_ENCRYPTION_KEY_FILE", c.EncryptionKeyFile, filepath.Join(dataDir, "encryption.key")},
		{"WG_WG_ENABLED", c.WireGuard.Enabled, true},
		{"WG_WG_INTERFACE", c.WireGuard.Interface, "wg0"},
		{"WG_WG_LISTEN_PORT", c.WireGuard.ListenPort, 51820},
		{"WG_WG_ENDPOINT_HOST", c.WireGuard.EndpointHost, ""}, // not localhost: the roles detect it
		{"WG_WG_ENDPOINT_PORT", c.WireGuard.EndpointPort, 51820},
		{"WG_WG_IPV4_NETWORK", c.WireGuard.IPv4Network, netip.MustParsePrefix("10.3.2.0/24")},
		{"WG_WG_IPV6_NETWORK", c.WireGuard.IPv6Network, netip.MustParsePrefix("fd00::3:2:0/120")},
		{"WG_WG_USERSPACE", c.WireGuard.Userspace, "auto"},
		{"WG_WG_FORWARD", c.WireGuard.Forward, true},
		{"WG_WG_MASQUERADE", c.WireGuard.Masquerade, true},
		{"WG_RECONCILE_INTERVAL", c.ReconcileInterval, 30 * time.Second},
		{"WG_WG_DNS", c.ClientDefaults.DNS, []string{"1.1.1.1", "1.0.0.1"}},
		{"WG_WG_MTU", c.ClientDefaults.MTU, 1280},
		{"WG_WG_PERSISTENT_KEEPALIVE", c.ClientDefaults.PersistentKeepalive, 25},
		{"WG_WG_ALLOWED_IPS", c.ClientDefaults.AllowedIPs, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
		{"WG_ADMIN_EMAIL", c.AdminEmail, "admin@localhost"},
		{"WG_ADMIN_PASSWORD", c.AdminPassword, ""},
		{"WG_METRICS_ENABLED", c.Metrics.Enabled, true},
		{"WG_METRICS_POLL_INTERVAL", c.Metrics.PollInterval, 5 * time.Second},
		{"WG_VICTORIAMETRICS_URL", c.Metrics.VictoriaMetricsURL, ""},
		{"WG_STATS_INTERVAL", c.Metrics.StatsInterval, 60 * time.Second},
		{"WG_SMTP_HOST", c.SMTP.Host, ""}, // unset: the Settings page's, else no email
		{"WG_SMTP_PORT", c.SMTP.Port, 0},
		{"WG_SMTP_USERNAME", c.SMTP.Username, ""},
		{"WG_SMTP_PASSWORD", c.SMTP.Password, ""},
		{"WG_SMTP_FROM", c.SMTP.From, ""},
		{"WG_SMTP_TLS", c.SMTP.TLS, ""},
		{"WG_METRICS_BUFFER", c.Metrics.Buffer, time.Hour},
		{"WG_METRICS_TOKEN", c.Metrics.Token, ""},
		{"WG_METRICS_LISTEN", c.Metrics.Listen, "127.0.0.1:13001"},
		{"WG_LOG_LEVEL", c.LogLevel, slog.LevelInfo},
		{"WG_LOG_FORMAT", c.LogFormat, "text"},
		{"WG_CONFIG_FILE", c.ConfigFile, filepath.Join(dataDir, "wiregui.conf")},
	}
	covered := make(map[string]bool)
	for _, tt := range tests {
		covered[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
			if c.IsSet(tt.name) {
				t.Errorf("IsSet(%s) = true for a default", tt.name)
			}
		})
	}
	for _, s := range settings() {
		if !covered[s.name] {
			t.Errorf("%s has no default test", s.name)
		}
	}
	if got := c.DatabaseDriver(); got != "sqlite" {
		t.Errorf("DatabaseDriver: got %q, want sqlite", got)
	}
	if got, want := c.SecretKeyFile(), filepath.Join(dataDir, "secret.key"); got != want {
		t.Errorf("SecretKeyFile: got %q, want %q", got, want)
	}
	if got, want := c.ListenAddr(), "0.0.0.0:13000"; got != want {
		t.Errorf("ListenAddr: got %q, want %q", got, want)
	}
}

func TestDefaultDataDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		euid int
		want string
	}{
		{"root", 0, "/var/lib/wiregui"},
		{"user", 1000, filepath.Join(wd, "data")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaultDataDir(tt.euid)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestDerivedDefaults(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, []string{"--data-dir", dir, "--port", "8080", "--wg-listen-port", "51000"},
		map[string]string{"WG_EXTERNAL_URL": "https://VPN.example.com:8443/wiregui/"})
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"database next to data dir", c.DatabaseURL, filepath.Join(dir, "wiregui.db")},
		{"encryption key in data dir", c.EncryptionKeyFile, filepath.Join(dir, "encryption.key")},
		{"config file in data dir", c.ConfigFile, filepath.Join(dir, "wiregui.conf")},
		{"external URL without trailing slash", c.ExternalURL, "https://VPN.example.com:8443/wiregui"},
		{"endpoint host from external URL", c.WireGuard.EndpointHost, "vpn.example.com"},
		{"endpoint port from listen port", c.WireGuard.EndpointPort, 51000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	c = mustLoad(t, nil, map[string]string{"WG_PORT": "8080"})
	if got, want := c.ExternalURL, "http://localhost:8080"; got != want {
		t.Errorf("external URL from WG_PORT: got %q, want %q", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		flag    bool
		env     bool
		file    bool
		want    int
		wantSet bool
	}{
		{"flag beats env and file", true, true, true, 1001, true},
		{"flag beats file", true, false, true, 1001, true},
		{"env beats file", false, true, true, 1002, true},
		{"file beats default", false, false, true, 1003, true},
		{"default", false, false, false, 13000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"WG_DATA_DIR": dir}
			var args []string
			if tt.flag {
				args = append(args, "--port=1001")
			}
			if tt.env {
				env["WG_PORT"] = "1002"
			}
			if tt.file {
				if err := os.WriteFile(filepath.Join(dir, "wiregui.conf"), []byte("WG_PORT=1003\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := mustLoad(t, args, env)
			if c.Port != tt.want {
				t.Errorf("port: got %d, want %d", c.Port, tt.want)
			}
			if c.IsSet("WG_PORT") != tt.wantSet {
				t.Errorf("IsSet: got %v, want %v", c.IsSet("WG_PORT"), tt.wantSet)
			}
		})
	}
}

func TestEmptyEnvIsUnset(t *testing.T) {
	path := writeTemp(t, "wiregui.conf", "WG_WG_INTERFACE=wgfile\n")
	c := mustLoad(t, []string{"--config", path}, map[string]string{"WG_WG_INTERFACE": ""})
	if got, want := c.WireGuard.Interface, "wgfile"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBooleans(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"yes", true}, {"Yes", true}, {"on", true}, {"ON", true},
		{"false", false}, {"False", false}, {"0", false}, {"no", false}, {"NO", false}, {"off", false}, {"Off", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c := mustLoad(t, nil, map[string]string{"WG_METRICS_ENABLED": tt.value})
			if c.Metrics.Enabled != tt.want {
				t.Errorf("got %v, want %v", c.Metrics.Enabled, tt.want)
			}
		})
	}
	for _, bad := range []string{"2", "y", "enabled", "truee"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			_, err := loadIn(t, nil, map[string]string{"WG_WG_ENABLED": bad})
			if err == nil || !strings.Contains(err.Error(), "WG_WG_ENABLED: ") || !strings.Contains(err.Error(), "is not a boolean") {
				t.Errorf("got %v, want a WG_WG_ENABLED boolean error", err)
			}
		})
	}
	t.Run("bare flag", func(t *testing.T) {
		c := mustLoad(t, []string{"--wg-enabled"}, map[string]string{"WG_WG_ENABLED": "false"})
		if !c.WireGuard.Enabled {
			t.Errorf("got false, want true")
		}
	})
	t.Run("flag false", func(t *testing.T) {
		c := mustLoad(t, []string{"--wg-enabled=no"}, nil)
		if c.WireGuard.Enabled {
			t.Errorf("got true, want false")
		}
	})
}

func TestLists(t *testing.T) {
	tests := []struct {
		name    string
		dns     string
		allowed string
		wantDNS []string
		wantIPs []string
	}{
		{"spaces trimmed", " 9.9.9.9 ,149.112.112.112 ", " 10.0.0.0/8 , 192.168.0.0/16", []string{"9.9.9.9", "149.112.112.112"}, []string{"10.0.0.0/8", "192.168.0.0/16"}},
		{"empty items dropped", "9.9.9.9,,", "10.0.0.0/8,", []string{"9.9.9.9"}, []string{"10.0.0.0/8"}},
		{"search domain and IPv6", "2606:4700:4700::1111, home.lan", "::/0", []string{"2606:4700:4700::1111", "home.lan"}, []string{"::/0"}},
		{"bare address is a host", "1.1.1.1", "192.168.1.7, fd00::1", []string{"1.1.1.1"}, []string{"192.168.1.7/32", "fd00::1/128"}},
		{"duplicates dropped, canonical form", "1.1.1.1, Home.LAN., 1.1.1.1, home.lan", "10.0.0.0/8, FD00::/8, 10.0.0.0/8", []string{"1.1.1.1", "home.lan"}, []string{"10.0.0.0/8", "fd00::/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, nil, map[string]string{"WG_WG_DNS": tt.dns, "WG_WG_ALLOWED_IPS": tt.allowed})
			if !reflect.DeepEqual(c.ClientDefaults.DNS, tt.wantDNS) {
				t.Errorf("DNS: got %q, want %q", c.ClientDefaults.DNS, tt.wantDNS)
			}
			var got []string
			for _, p := range c.ClientDefaults.AllowedIPs {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.wantIPs) {
				t.Errorf("AllowedIPs: got %q, want %q", got, tt.wantIPs)
			}
		})
	}
}

func TestEndpointHost(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"hostname lower-cased", "VPN.Example.com", "vpn.example.com"},
		{"IPv4", "203.0.113.10", "203.0.113.10"},
		{"bare IPv6 canonical", "2001:DB8:0::1", "2001:db8::1"},
		{"bracketed IPv6", "[2001:db8::1]", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, nil, map[string]string{"WG_WG_ENDPOINT_HOST": tt.in})
			if got := c.WireGuard.EndpointHost; got != tt.want {
				t.Errorf("WG_WG_ENDPOINT_HOST=%q: got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// The endpoint host is WG_WG_ENDPOINT_HOST, else the host of WG_EXTERNAL_URL, else left for
// the roles to detect: the default URL's localhost is no host a client can dial. Passing the
// configuration on through Env keeps it so.
func TestEndpointHostSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"neither", nil, ""},
		{"external URL", map[string]string{"WG_EXTERNAL_URL": "https://VPN.example.com:8443"}, "vpn.example.com"},
		{"external URL on localhost", map[string]string{"WG_EXTERNAL_URL": "http://localhost:13000"}, "localhost"},
		{"both", map[string]string{"WG_EXTERNAL_URL": "https://ui.example.com", "WG_WG_ENDPOINT_HOST": "wg.example.com"}, "wg.example.com"},
		{"port only", map[string]string{"WG_PORT": "8080"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, nil, tc.env)
			if got := c.WireGuard.EndpointHost; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			env := map[string]string{}
			for _, kv := range c.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			if got := mustLoad(t, nil, env).WireGuard.EndpointHost; got != tc.want {
				t.Errorf("loaded again from Env(): got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMetricsListen(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"loopback", "127.0.0.1:9100", "127.0.0.1:9100"},
		{"IPv6 canonical", "[0:0::1]:9100", "[::1]:9100"},
		{"every address", ":9100", ":9100"},
		{"hostname", "localhost:9100", "localhost:9100"},
		{"off", "off", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, nil, map[string]string{"WG_METRICS_LISTEN": tt.in})
			if got := c.Metrics.Listen; got != tt.want {
				t.Errorf("WG_METRICS_LISTEN=%q: got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	tests := []struct {
		name       string
		value      string
		wantURL    string
		wantDriver string
	}{
		{"postgres", "postgres://u:p%40ss@db:5432/wiregui?sslmode=disable", "postgres://u:p%40ss@db:5432/wiregui?sslmode=disable", "postgres"},
		{"postgresql", "postgresql://u@db/wiregui", "postgresql://u@db/wiregui", "postgres"},
		{"sqlite relative", "sqlite:wg.db", filepath.Join(wd, "wg.db"), "sqlite"},
		{"sqlite absolute", "sqlite:/srv/wg.db", "/srv/wg.db", "sqlite"},
		{"sqlite url form", "sqlite:///srv/wg.db", "/srv/wg.db", "sqlite"},
		{"file", "file:/srv/wg.db", "/srv/wg.db", "sqlite"},
		{"bare absolute path", "/srv/wg.db", "/srv/wg.db", "sqlite"},
		{"bare relative path", "./db/wg.db", filepath.Join(wd, "db", "wg.db"), "sqlite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(nil, mapEnv(map[string]string{"WG_DATA_DIR": wd, "WG_DATABASE_URL": tt.value}), 1000, false)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if c.DatabaseURL != tt.wantURL {
				t.Errorf("url: got %q, want %q", c.DatabaseURL, tt.wantURL)
			}
			if got := c.DatabaseDriver(); got != tt.wantDriver {
				t.Errorf("driver: got %q, want %q", got, tt.wantDriver)
			}
		})
	}
}

func TestNetworks(t *testing.T) {
	t.Run("off in env disables IPv6", func(t *testing.T) {
		c := mustLoad(t, nil, map[string]string{"WG_WG_IPV6_NETWORK": "off"})
		if c.WireGuard.IPv6Network.IsValid() {
			t.Errorf("got %v, want disabled", c.WireGuard.IPv6Network)
		}
	})
	t.Run("empty flag disables IPv4", func(t *testing.T) {
		c := mustLoad(t, []string{"--wg-ipv4-network="}, nil)
		if c.WireGuard.IPv4Network.IsValid() {
			t.Errorf("got %v, want disabled", c.WireGuard.IPv4Network)
		}
	})
	t.Run("empty in file disables IPv6", func(t *testing.T) {
		path := writeTemp(t, "c.conf", "WG_WG_IPV6_NETWORK=\n")
		c := mustLoad(t, []string{"--config", path}, nil)
		if c.WireGuard.IPv6Network.IsValid() {
			t.Errorf("got %v, want disabled", c.WireGuard.IPv6Network)
		}
		if !strings.Contains(strings.Join(c.Env(), "\n"), "WG_WG_IPV6_NETWORK=off") {
			t.Errorf("Env: got %q, want WG_WG_IPV6_NETWORK=off", c.Env())
		}
	})
	t.Run("custom", func(t *testing.T) {
		c := mustLoad(t, nil, map[string]string{"WG_WG_IPV4_NETWORK": "172.16.0.0/16", "WG_WG_IPV6_NETWORK": "fd12:3456::/64"})
		if got, want := c.WireGuard.IPv4Network.String()+" "+c.WireGuard.IPv6Network.String(), "172.16.0.0/16 fd12:3456::/64"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // the whole error must contain this
	}{
		{"data dir", nil, []string{"--data-dir="}, ""}, // empty flag is unset: no error
		{"database scheme", map[string]string{"WG_DATABASE_URL": "mysql://u:secretpw@h/db"}, nil, `WG_DATABASE_URL: unsupported scheme "mysql"`},
		{"database asyncpg", map[string]string{"WG_DATABASE_URL": "postgresql+asyncpg://u@h/db"}, nil, `WG_DATABASE_URL: unsupported scheme "postgresql+asyncpg"; use postgres://`},
		{"database sqlite options", map[string]string{"WG_DATABASE_URL": "file:x.db?mode=memory"}, nil, "WG_DATABASE_URL: file: URLs with options are not supported"},
		{"database postgres no slashes", map[string]string{"WG_DATABASE_URL": "postgres:db"}, nil, "WG_DATABASE_URL: not a valid postgres:// URL"},
		{"host", map[string]string{"WG_HOST": "not a host"}, nil, `WG_HOST: "not a host" is not an IP address or hostname`},
		{"port", map[string]string{"WG_PORT": "abc"}, nil, `WG_PORT: "abc" is not a port number (1-65535)`},
		{"port zero", map[string]string{"WG_PORT": "0"}, nil, `WG_PORT: "0" is not a port number (1-65535)`},
		{"port flag", nil, []string{"--port", "70000"}, `--port: "70000" is not a port number (1-65535)`},
		{"external url scheme", map[string]string{"WG_EXTERNAL_URL": "ftp://x"}, nil, `WG_EXTERNAL_URL: "ftp://x" is not an absolute http:// or https:// URL`},
		{"external url relative", map[string]string{"WG_EXTERNAL_URL": "vpn.example.com"}, nil, "WG_EXTERNAL_URL: "},
		{"external url query", map[string]string{"WG_EXTERNAL_URL": "https://x/?a=1"}, nil, "WG_EXTERNAL_URL: \"https://x/?a=1\" must not have a query or fragment"},
		{"external url fragment", map[string]string{"WG_EXTERNAL_URL": "https://x/#top"}, nil, "must not have a query or fragment"},
		{"external url credentials", map[string]string{"WG_EXTERNAL_URL": "https://u:pw@x/"}, nil, "WG_EXTERNAL_URL: \"https://u:xxxxx@x/\" must not contain credentials"},
		{"secret placeholder", map[string]string{"WG_SECRET_KEY": "change-me-in-production"}, nil, `WG_SECRET_KEY: "change-me-in-production" is the old placeholder`},
		{"secret short", map[string]string{"WG_SECRET_KEY": "tooshort"}, nil, "WG_SECRET_KEY: must be at least 32 characters (got 8)"},
		{"wg enabled", map[string]string{"WG_WG_ENABLED": "maybe"}, nil, `WG_WG_ENABLED: "maybe" is not a boolean`},
		{"interface long", map[string]string{"WG_WG_INTERFACE": "wireguard0123456"}, nil, `WG_WG_INTERFACE: "wireguard0123456" is longer than 15 bytes`},
		{"interface slash", map[string]string{"WG_WG_INTERFACE": "wg/0"}, nil, "WG_WG_INTERFACE: \"wg/0\" must not contain '/', ':' or whitespace"},
		{"interface space", map[string]string{"WG_WG_INTERFACE": "wg 0"}, nil, "WG_WG_INTERFACE: "},
		{"listen port", map[string]string{"WG_WG_LISTEN_PORT": "-1"}, nil, `WG_WG_LISTEN_PORT: "-1" is not a port number`},
		{"endpoint port", map[string]string{"WG_WG_ENDPOINT_PORT": "x"}, nil, `WG_WG_ENDPOINT_PORT: "x" is not a port number`},
		{"endpoint host", map[string]string{"WG_WG_ENDPOINT_HOST": "vpn..example"}, nil, `WG_WG_ENDPOINT_HOST: "vpn..example" is not an IP address or hostname: it has an empty label`},
		{"endpoint host with port", map[string]string{"WG_WG_ENDPOINT_HOST": "vpn.example.com:443"}, nil, `WG_WG_ENDPOINT_HOST: "vpn.example.com:443" includes a port; set the port with WG_WG_ENDPOINT_PORT`},
		{"endpoint host zone", map[string]string{"WG_WG_ENDPOINT_HOST": "fe80::1%eth0"}, nil, `WG_WG_ENDPOINT_HOST: "fe80::1%eth0" has an IPv6 zone`},
		{"ipv4 family", map[string]string{"WG_WG_IPV4_NETWORK": "fd00::/64"}, nil, `WG_WG_IPV4_NETWORK: "fd00::/64" is not an IPv4 network`},
		{"ipv4 host bits", map[string]string{"WG_WG_IPV4_NETWORK": "10.3.2.5/24"}, nil, `WG_WG_IPV4_NETWORK: "10.3.2.5/24" has host bits set; did you mean "10.3.2.0/24"?`},
		{"ipv4 too small", map[string]string{"WG_WG_IPV4_NETWORK": "10.3.2.0/31"}, nil, "WG_WG_IPV4_NETWORK: \"10.3.2.0/31\" is too small; the prefix length must be at most /30"},
		{"ipv6 family", map[string]string{"WG_WG_IPV6_NETWORK": "10.0.0.0/8"}, nil, `WG_WG_IPV6_NETWORK: "10.0.0.0/8" is not an IPv6 network`},
		{"ipv6 too small", map[string]string{"WG_WG_IPV6_NETWORK": "fd00::/127"}, nil, "WG_WG_IPV6_NETWORK: \"fd00::/127\" is too small"},
		{"ipv6 host bits", map[string]string{"WG_WG_IPV6_NETWORK": "fd00::1/64"}, nil, `did you mean "fd00::/64"?`},
		{"both networks off", map[string]string{"WG_WG_IPV4_NETWORK": "off", "WG_WG_IPV6_NETWORK": "OFF"}, nil, "WG_WG_IPV4_NETWORK, WG_WG_IPV6_NETWORK: both address families are disabled"},
		{"userspace", map[string]string{"WG_WG_USERSPACE": "sometimes"}, nil, `WG_WG_USERSPACE: "sometimes" is not one of auto, always, never`},
		{"reconcile not duration", map[string]string{"WG_RECONCILE_INTERVAL": "30"}, nil, `WG_RECONCILE_INTERVAL: "30" is not a duration`},
		{"reconcile too short", map[string]string{"WG_RECONCILE_INTERVAL": "500ms"}, nil, `WG_RECONCILE_INTERVAL: "500ms" is shorter than 1s`},
		{"dns", map[string]string{"WG_WG_DNS": "1.1.1.1, bad host"}, nil, `WG_WG_DNS: "bad host" is not an IP address or search domain: it contains a space;`},
		{"dns bad label", map[string]string{"WG_WG_DNS": "-bad-.example"}, nil, `WG_WG_DNS: "-bad-.example" is not an IP address or search domain: label "-bad-" starts or ends with a hyphen`},
		{"dns empty list", map[string]string{"WG_WG_DNS": " , "}, nil, "WG_WG_DNS: \" , \" has no entries"},
		{"mtu low", map[string]string{"WG_WG_MTU": "1279"}, nil, `WG_WG_MTU: MTU "1279" is not between 1280 and 9000`},
		{"mtu high", map[string]string{"WG_WG_MTU": "9001"}, nil, `WG_WG_MTU: MTU "9001" is not between 1280 and 9000`},
		{"keepalive", map[string]string{"WG_WG_PERSISTENT_KEEPALIVE": "65536"}, nil, `WG_WG_PERSISTENT_KEEPALIVE: persistent keepalive "65536" is not between 0 and 65535 seconds`},
		{"allowed ips", map[string]string{"WG_WG_ALLOWED_IPS": "0.0.0.0/0, nope"}, nil, `WG_WG_ALLOWED_IPS: "nope" is not a CIDR`},
		{"allowed ips host bits", map[string]string{"WG_WG_ALLOWED_IPS": "192.168.1.5/24"}, nil, `WG_WG_ALLOWED_IPS: 192.168.1.5/24 has host bits set; did you mean 192.168.1.0/24?`},
		{"allowed ips empty list", map[string]string{"WG_WG_ALLOWED_IPS": ","}, nil, `WG_WG_ALLOWED_IPS: "," has no entries`},
		{"allowed ips mapped", map[string]string{"WG_WG_ALLOWED_IPS": "::ffff:10.0.0.0/104"}, nil, "WG_WG_ALLOWED_IPS: ::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 network, which WireGuard treats as IPv6; write 10.0.0.0/8"},
		{"admin email", map[string]string{"WG_ADMIN_EMAIL": "admin"}, nil, `WG_ADMIN_EMAIL: "admin" is not an email address`},
		{"admin email two at", map[string]string{"WG_ADMIN_EMAIL": "a@b@c"}, nil, "WG_ADMIN_EMAIL: "},
		{"admin email bidi", map[string]string{"WG_ADMIN_EMAIL": "adm\u202ein@example.com"}, nil, "WG_ADMIN_EMAIL: an email address cannot contain invisible formatting characters such as U+202E"},
		{"dns too many", map[string]string{"WG_WG_DNS": strings.Repeat("9.9.9.9, 1.1.1.1, 8.8.8.8, ", 6) + "a.example, b.example, c.example, d.example, e.example, f.example, g.example, h.example, i.example, j.example, k.example, l.example, m.example, n.example"}, nil, "WG_WG_DNS: the list has more than 16 entries"},
		{"allowed ips too many", map[string]string{"WG_WG_ALLOWED_IPS": manyPrefixes(257)}, nil, "WG_WG_ALLOWED_IPS: the list has more than 256 entries"},
		{"metrics enabled", map[string]string{"WG_METRICS_ENABLED": "enabled"}, nil, `WG_METRICS_ENABLED: "enabled" is not a boolean`},
		{"poll interval duration", map[string]string{"WG_METRICS_POLL_INTERVAL": "500ms"}, nil, `WG_METRICS_POLL_INTERVAL: "500ms" is not a whole number of seconds (1 or more)`},
		{"poll interval zero", map[string]string{"WG_METRICS_POLL_INTERVAL": "0"}, nil, "WG_METRICS_POLL_INTERVAL: "},
		{"victoriametrics", map[string]string{"WG_VICTORIAMETRICS_URL": "localhost:8428"}, nil, `WG_VICTORIAMETRICS_URL: "localhost:8428" is not an absolute http:// or https:// URL`},
		{"victoriametrics password hidden", map[string]string{"WG_VICTORIAMETRICS_URL": "ftp://u:secretpw@vm:8428"}, nil, `WG_VICTORIAMETRICS_URL: "ftp://xxxxx@vm:8428" is not an absolute`},
		{"victoriametrics query", map[string]string{"WG_VICTORIAMETRICS_URL": "http://u:secretpw@vm/?x=1"}, nil, `WG_VICTORIAMETRICS_URL: "http://u:xxxxx@vm/?x=1" must not have a query`},
		{"stats interval", map[string]string{"WG_STATS_INTERVAL": "soon"}, nil, `WG_STATS_INTERVAL: "soon" is not a duration`},
		{"metrics buffer", map[string]string{"WG_METRICS_BUFFER": "500ms"}, nil, `WG_METRICS_BUFFER: "500ms" is shorter than 1s`},
		{"metrics token", map[string]string{"WG_METRICS_TOKEN": "short-secret"}, nil, `WG_METRICS_TOKEN: must be at least 16 characters (got 12)`},
		{"metrics listen no port", map[string]string{"WG_METRICS_LISTEN": "127.0.0.1"}, nil, `WG_METRICS_LISTEN: "127.0.0.1" is not host:port or "off"`},
		{"metrics listen port", map[string]string{"WG_METRICS_LISTEN": "127.0.0.1:0"}, nil, `WG_METRICS_LISTEN: "0" is not a port number (1-65535)`},
		{"metrics listen host", map[string]string{"WG_METRICS_LISTEN": "not a host:9100"}, nil, `WG_METRICS_LISTEN: "not a host" is not an IP address or hostname`},
		{"log level", map[string]string{"WG_LOG_LEVEL": "verbose"}, nil, `WG_LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{"log format", map[string]string{"WG_LOG_FORMAT": "xml"}, nil, `WG_LOG_FORMAT: "xml" is not one of text, json`},
		{"unknown flag", nil, []string{"--prot", "1"}, "flag provided but not defined: -prot"},
		{"positional argument", nil, []string{"--port", "1", "extra"}, `unexpected argument "extra"`},
		{"missing config file", map[string]string{"WG_CONFIG_FILE": "/nonexistent/wiregui.conf"}, nil, "WG_CONFIG_FILE: open /nonexistent/wiregui.conf: no such file or directory"},
		{"missing config file flag", nil, []string{"--config=/nonexistent/x.conf"}, "--config: open /nonexistent/x.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadIn(t, tt.args, tt.env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("got a multi-line error %q", msg)
			}
			if strings.Contains(msg, "secretpw") {
				t.Errorf("error %q leaks a password", msg)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		_, err := loadIn(t, []string{arg}, nil)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: got %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	secret := strings.Repeat("k", 40)
	secretFile := writeTemp(t, "secret", secret+"\n")
	password := "hunter22 with spaces"
	passwordFile := writeTemp(t, "password", password+"\r\n")
	dbFile := writeTemp(t, "db", "postgres://u:pw@db/wiregui")

	t.Run("read and trimmed", func(t *testing.T) {
		c := mustLoad(t, nil, map[string]string{
			"WG_SECRET_KEY_FILE":     secretFile,
			"WG_ADMIN_PASSWORD_FILE": passwordFile,
			"WG_DATABASE_URL_FILE":   dbFile,
		})
		if c.SecretKey != secret {
			t.Errorf("secret: got %q, want %q", c.SecretKey, secret)
		}
		if c.AdminPassword != password {
			t.Errorf("password: got %q, want %q", c.AdminPassword, password)
		}
		if c.DatabaseURL != "postgres://u:pw@db/wiregui" || c.DatabaseDriver() != "postgres" {
			t.Errorf("database: got %q (%s), want the postgres URL", c.DatabaseURL, c.DatabaseDriver())
		}
		env := strings.Join(c.Env(), "\n")
		for _, want := range []string{"WG_SECRET_KEY_FILE=" + secretFile, "WG_ADMIN_PASSWORD_FILE=" + passwordFile, "WG_DATABASE_URL_FILE=" + dbFile} {
			if !strings.Contains(env, want) {
				t.Errorf("Env: got %q, want it to contain %q", env, want)
			}
		}
		if strings.Contains(env, secret) && !strings.Contains(env, "WG_SECRET_KEY_FILE") {
			t.Errorf("Env leaks the secret read from a file")
		}
	})
	t.Run("flag", func(t *testing.T) {
		c := mustLoad(t, []string{"--secret-key-file", secretFile}, nil)
		if c.SecretKey != secret {
			t.Errorf("got %q, want %q", c.SecretKey, secret)
		}
	})
	t.Run("env file beats config file value", func(t *testing.T) {
		conf := writeTemp(t, "c.conf", "WG_SECRET_KEY="+strings.Repeat("f", 32)+"\n")
		c := mustLoad(t, []string{"--config", conf}, map[string]string{"WG_SECRET_KEY_FILE": secretFile})
		if c.SecretKey != secret {
			t.Errorf("got %q, want %q", c.SecretKey, secret)
		}
	})
	t.Run("config file may name a secret file", func(t *testing.T) {
		conf := writeTemp(t, "c.conf", "WG_ADMIN_PASSWORD_FILE="+passwordFile+"\n")
		c := mustLoad(t, []string{"--config", conf}, nil)
		if c.AdminPassword != password {
			t.Errorf("got %q, want %q", c.AdminPassword, password)
		}
	})

	errTests := []struct {
		name string
		args []string
		env  map[string]string
		conf string
		want string
	}{
		{"both in env", nil, map[string]string{"WG_SECRET_KEY": secret, "WG_SECRET_KEY_FILE": secretFile}, "", "WG_SECRET_KEY and WG_SECRET_KEY_FILE are both set; use one"},
		{"both as flags", []string{"--admin-password=abcdefgh", "--admin-password-file=" + passwordFile}, nil, "", "--admin-password and --admin-password-file are both set; use one"},
		{"both in config file", nil, nil, "WG_DATABASE_URL=/x.db\nWG_DATABASE_URL_FILE=" + dbFile + "\n", ":1: WG_DATABASE_URL and "},
		{"missing file", nil, map[string]string{"WG_SECRET_KEY_FILE": "/nonexistent/secret"}, "", "WG_SECRET_KEY_FILE: open /nonexistent/secret: no such file or directory"},
		{"empty file", nil, map[string]string{"WG_ADMIN_PASSWORD_FILE": writeTemp(t, "empty", "\n")}, "", "WG_ADMIN_PASSWORD_FILE: "},
		{"invalid content", nil, map[string]string{"WG_SECRET_KEY_FILE": writeTemp(t, "short", "short\n")}, "", "): must be at least 32 characters (got 5)"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.conf != "" {
				args = append(args, "--config", writeTemp(t, "c.conf", tt.conf))
			}
			_, err := loadIn(t, args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigFileLocation(t *testing.T) {
	t.Run("data dir from env finds its config file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "wiregui.conf"), []byte("WG_LOG_FORMAT=json\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := mustLoad(t, nil, map[string]string{"WG_DATA_DIR": dir})
		if c.LogFormat != "json" {
			t.Errorf("got %q, want json", c.LogFormat)
		}
	})
	t.Run("flag beats WG_CONFIG_FILE", func(t *testing.T) {
		a := writeTemp(t, "a.conf", "WG_LOG_FORMAT=json\n")
		b := writeTemp(t, "b.conf", "WG_LOG_FORMAT=text\n")
		c := mustLoad(t, []string{"--config", a}, map[string]string{"WG_CONFIG_FILE": b})
		if c.LogFormat != "json" || c.ConfigFile != a {
			t.Errorf("got %q from %q, want json from %q", c.LogFormat, c.ConfigFile, a)
		}
	})
	t.Run("missing default file is fine", func(t *testing.T) {
		c := mustLoad(t, nil, map[string]string{"WG_DATA_DIR": t.TempDir()})
		if c.LogFormat != "text" {
			t.Errorf("got %q, want text", c.LogFormat)
		}
	})
	t.Run("file sets the data dir", func(t *testing.T) {
		conf := writeTemp(t, "c.conf", "WG_DATA_DIR=/srv/wiregui\n")
		c := mustLoad(t, []string{"--config", conf}, nil)
		if c.DataDir != "/srv/wiregui" || c.DatabaseURL != "/srv/wiregui/wiregui.db" {
			t.Errorf("got %q and %q, want /srv/wiregui and its wiregui.db", c.DataDir, c.DatabaseURL)
		}
	})
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // after "<path>:"
	}{
		{"unknown key", "# ok\n\nWG_PORT=1\nWG_NOPE=2\n", `4: unknown setting "WG_NOPE"`},
		{"key without prefix", "port=1\n", `1: unknown setting "port" (did you mean WG_PORT?)`},
		{"no equals", "WG_PORT\n", "1: expected KEY=VALUE"},
		{"duplicate", "WG_PORT=1\nWG_HOST=::\nWG_PORT=2\n", "3: WG_PORT is already set on line 1"},
		{"unterminated quote", "WG_WG_DNS=\"1.1.1.1\n", `1: WG_WG_DNS: missing closing "`},
		{"text after quote", "WG_WG_DNS=\"1.1.1.1\" # comment\n", `1: WG_WG_DNS: unexpected text after the closing "`},
		{"continuation", "WG_WG_DNS=1.1.1.1,\\\n1.0.0.1\n", "1: WG_WG_DNS: line continuations are not supported"},
		{"config file inside", "WG_CONFIG_FILE=/x\n", "1: WG_CONFIG_FILE cannot be set inside the config file"},
		{"invalid value", "\n\n; comment\nWG_PORT=abc\n", `4: WG_PORT: "abc" is not a port number (1-65535)`},
		{"NUL", "WG_SECRET_KEY=" + strings.Repeat("s", 32) + "\x00\n", "1: WG_SECRET_KEY: the value contains the control character U+0000"},
		{"carriage return inside", "WG_HOST=a\rb\r\n", "1: WG_HOST: the value contains a line break"},
		{"not UTF-8", "WG_ADMIN_PASSWORD=caf\xe9-password\n", "1: WG_ADMIN_PASSWORD: the value is not UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "wiregui.conf", tt.content)
			_, err := loadIn(t, []string{"--config", path}, nil)
			want := path + ":" + tt.want
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want an error containing %q", err, want)
			}
		})
	}
}

func TestVariables(t *testing.T) {
	flags := make(map[string]bool)
	names := make(map[string]bool)
	for _, v := range Variables() {
		if flags[v.Flag] || names[v.Name] {
			t.Errorf("%s (--%s) is defined twice", v.Name, v.Flag)
		}
		flags[v.Flag], names[v.Name] = true, true
		if !strings.HasPrefix(v.Name, "WG_") || v.Description == "" {
			t.Errorf("%s: want a WG_ name and a description", v.Name)
		}
	}
	for name, flag := range map[string]string{
		"WG_WG_LISTEN_PORT": "wg-listen-port", "WG_DATA_DIR": "data-dir", "WG_PORT": "port",
		"WG_CONFIG_FILE": "config", "WG_SECRET_KEY_FILE": "secret-key-file",
	} {
		found := false
		for _, v := range Variables() {
			if v.Name == name {
				found = true
				if v.Flag != flag {
					t.Errorf("%s: got flag %q, want %q", name, v.Flag, flag)
				}
			}
		}
		if !found {
			t.Errorf("%s missing from Variables", name)
		}
	}

	var b strings.Builder
	Usage(&b)
	for _, v := range Variables() {
		if !strings.Contains(b.String(), "--"+v.Flag+", "+v.Name+"\n") {
			t.Errorf("Usage lacks --%s, %s", v.Flag, v.Name)
		}
	}
}

// exported returns c without its unexported bookkeeping, for comparisons.
func exported(c *Config) Config {
	e := *c
	e.set, e.fromFiles, e.ConfigFile = nil, nil, ""
	return e
}

func TestEnvRoundTrip(t *testing.T) {
	c := mustLoad(t, []string{"--data-dir", t.TempDir(), "--wg-ipv6-network=", "--metrics-enabled=false"}, map[string]string{
		"WG_DATABASE_URL":          "postgres://u:pw@db/wiregui",
		"WG_HOST":                  "::",
		"WG_EXTERNAL_URL":          "https://vpn.example.com",
		"WG_SECRET_KEY":            strings.Repeat("s", 32),
		"WG_WG_ENDPOINT_PORT":      "443",
		"WG_WG_DNS":                "9.9.9.9, home.lan",
		"WG_WG_ALLOWED_IPS":        "10.0.0.0/8",
		"WG_ADMIN_EMAIL":           "Root@Example.COM",
		"WG_ADMIN_PASSWORD":        "correct horse",
		"WG_METRICS_POLL_INTERVAL": "10",
		"WG_VICTORIAMETRICS_URL":   "http://vm:8428/",
		"WG_STATS_INTERVAL":        "2m",
		"WG_RECONCILE_INTERVAL":    "1h30m",
		"WG_LOG_LEVEL":             "DEBUG",
		"WG_METRICS_BUFFER":        "0", // none: the collector child must read it back
		"WG_METRICS_TOKEN":         "a-token-of-16-chars",
		"WG_METRICS_LISTEN":        "OFF",
	})
	env := make(map[string]string)
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	again := mustLoad(t, nil, env)
	if got, want := exported(again), exported(c); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(Env()):\ngot  %+v\nwant %+v", got, want)
	}
	if got, want := env["WG_STATS_INTERVAL"]+" "+env["WG_RECONCILE_INTERVAL"], "2m 1h30m"; got != want {
		t.Errorf("durations: got %q, want %q", got, want)
	}

	t.Run("secrets only where set", func(t *testing.T) {
		env := strings.Join(mustLoad(t, nil, nil).Env(), "\n")
		for _, name := range []string{"WG_SECRET_KEY", "WG_ADMIN_PASSWORD", "WG_VICTORIAMETRICS_URL", "WG_CONFIG_FILE"} {
			if strings.Contains(env, name) {
				t.Errorf("Env of defaults contains %s", name)
			}
		}
	})
}

// manyPrefixes returns a list of n different host networks.
func manyPrefixes(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("10.0.%d.%d/32", i/256, i%256)
	}
	return strings.Join(ps, ",")
}

// The SMTP settings are validated like every other; each given one is Given, which pins it
// on the Settings page.
func TestSMTPSettings(t *testing.T) {
	pw := writeTemp(t, "smtp-password", "from-a-file\n")
	c := mustLoad(t, []string{"--smtp-tls", "TLS"}, map[string]string{"WG_SMTP_HOST": "smtp.example.com",
		"WG_SMTP_PORT": "2525", "WG_SMTP_USERNAME": "mailer", "WG_SMTP_PASSWORD_FILE": pw,
		"WG_SMTP_FROM": "WireGUI <vpn@example.com>"})
	want := SMTP{Host: "smtp.example.com", Port: 2525, Username: "mailer", Password: "from-a-file",
		From: "WireGUI <vpn@example.com>", TLS: "tls"}
	if c.SMTP != want {
		t.Errorf("got %+v, want %+v", c.SMTP, want)
	}
	for _, name := range []string{"WG_SMTP_HOST", "WG_SMTP_PORT", "WG_SMTP_USERNAME", "WG_SMTP_PASSWORD", "WG_SMTP_FROM", "WG_SMTP_TLS"} {
		if !c.Given(name) {
			t.Errorf("Given(%s) = false, want true", name)
		}
	}
	for env, msg := range map[string]string{
		"WG_SMTP_HOST=smtp example.com": "WG_SMTP_HOST",
		"WG_SMTP_PORT=0":                "WG_SMTP_PORT: \"0\" is not a port number",
		"WG_SMTP_FROM=WireGUI":          "WG_SMTP_FROM: \"WireGUI\" is not an email address",
		"WG_SMTP_TLS=ssl":               "WG_SMTP_TLS: \"ssl\" is not one of starttls, tls, none",
	} {
		name, value, _ := strings.Cut(env, "=")
		_, err := loadIn(t, nil, map[string]string{name: value})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want an error with %q", env, err, msg)
		}
	}
}
