// Package config loads and validates WireGUI's configuration from command-line flags, WG_*
// environment variables, a KEY=VALUE config file and defaults, in that order of precedence.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration. Load fills every field; a zero netip.Prefix network
// means that address family is disabled.
type Config struct {
	DataDir     string // absolute
	DatabaseURL string // a postgres:// URL, or the absolute path of the SQLite file
	Host        string
	Port        int
	ExternalURL string // absolute http(s) URL without a trailing slash
	// SecretKey is "" when unset; the app then generates one into SecretKeyFile().
	SecretKey         string
	EncryptionKeyFile string // absolute

	WireGuard      WireGuard
	ClientDefaults ClientDefaults

	AdminEmail    string // lower case
	AdminPassword string // "" when unset

	Metrics Metrics
	// SMTP are the email settings the environment gives; the Settings page edits those it does
	// not (Given tells which).
	SMTP              SMTP
	ReconcileInterval time.Duration
	LogLevel          slog.Level
	LogFormat         string // "text" or "json"

	// ConfigFile is the config file path that was considered: the one named by --config or
	// WG_CONFIG_FILE, else <data dir>/wiregui.conf. It may not exist.
	ConfigFile string

	set       map[string]bool   // names given by a flag, the environment or the file
	fromFiles map[string]string // name → path of the NAME_FILE the value was read from
}

// WireGuard holds the data-plane settings.
type WireGuard struct {
	Enabled      bool
	Interface    string
	ListenPort   int
	EndpointPort int // the port clients dial
	// EndpointHost is the host clients dial: WG_WG_ENDPOINT_HOST, else the host of
	// WG_EXTERNAL_URL; "" when neither is set, and the roles detect it (app/instance).
	EndpointHost string
	IPv4Network  netip.Prefix
	IPv6Network  netip.Prefix
	Userspace    string // "auto", "always" or "never"
	// Forward switches IP forwarding on once the firewall is in the kernel.
	Forward bool
	// Masquerade hides the tunnel networks behind the host's addresses on other interfaces.
	Masquerade bool
}

// ClientDefaults are the fallbacks for client settings that are not set in the database.
type ClientDefaults struct {
	DNS                 []string
	MTU                 int
	PersistentKeepalive int
	AllowedIPs          []netip.Prefix
}

// Metrics holds the collector settings.
type Metrics struct {
	Enabled            bool
	PollInterval       time.Duration // whole seconds
	VictoriaMetricsURL string        // "" when unset
	StatsInterval      time.Duration // the in-process stats loop, when Enabled is false
	// Buffer is how much poll time of samples is kept while VictoriaMetrics cannot be
	// reached; 0 keeps none.
	Buffer time.Duration
	Token  string // bearer token GET /metrics requires; "" when it is open
	// Listen is the host:port of the listener that serves only /metrics; "" when it is off.
	Listen string
}

// SMTP holds the email settings; each is zero when not given.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string // an address, or a name and <address>
	TLS      string // "starttls", "tls" or "none"
}

// DatabaseDriver returns "postgres" or "sqlite".
func (c *Config) DatabaseDriver() string {
	if strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// Given reports whether the setting name (e.g. "WG_WG_ENDPOINT_HOST") was given by a flag,
// the environment or the config file, rather than left to its default.
func (c *Config) Given(name string) bool { return c.set[name] }

// SecretKeyFile is where the app keeps a generated secret key when SecretKey is unset.
func (c *Config) SecretKeyFile() string { return filepath.Join(c.DataDir, "secret.key") }

// ListenAddr is the web server's listen address, host:port.
func (c *Config) ListenAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Env returns the configuration as NAME=value pairs in the order of Variables, such that
// loading them gives the same Config. Secrets appear only where set; a secret read from a file
// is passed as its NAME_FILE path, not its value. WG_CONFIG_FILE is not included.
func (c *Config) Env() []string {
	var env []string
	for _, s := range settings() {
		if s.format == nil {
			continue
		}
		if path, ok := c.fromFiles[s.name]; ok {
			env = append(env, s.name+fileSuffix+"="+path)
			continue
		}
		v := s.format(c)
		if v == "" {
			continue
		}
		env = append(env, s.name+"="+v)
	}
	return env
}

// Load builds the Config from args (flags only, without the program name or role word), the
// environment read through getenv (os.Getenv when nil) and the config file. With -h or --help
// in args it returns an error matching flag.ErrHelp; the caller then prints Usage.
func Load(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return load(args, getenv, os.Geteuid(), false)
}

// LoadForInit is Load for `wiregui init`, which writes the config file: a config file named by
// --config or WG_CONFIG_FILE that does not exist yet reads as empty (serve refuses it), and
// never as the default one.
func LoadForInit(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return load(args, getenv, os.Geteuid(), true)
}

// defaultDataDir is /var/lib/wiregui for root and ./data (made absolute) for anyone else.
func defaultDataDir(euid int) (string, error) {
	if euid == 0 {
		return "/var/lib/wiregui", nil
	}
	return filepath.Abs("data")
}

// source is one place a value can come from, in a loader's precedence order.
type source struct {
	// lookup returns the raw value of name and the prefix for errors about it.
	lookup func(name string) (value, where string, ok bool)
	env    bool // from the environment, where empty cannot be told from unset
}

// load is Load; namedMayBeMissing is LoadForInit's.
func load(args []string, getenv func(string) string, euid int, namedMayBeMissing bool) (*Config, error) {
	table := settings()

	flags, err := parseFlags(table, args)
	if err != nil {
		return nil, err
	}
	flagSource := source{lookup: func(name string) (string, string, bool) {
		f, ok := flags[name]
		if !ok {
			return "", "", false
		}
		return f.value, "--" + f.flag, true
	}}
	envSource := source{env: true, lookup: func(name string) (string, string, bool) {
		v := getenv(name)
		return v, name, v != ""
	}}

	dataDir, err := defaultDataDir(euid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameDataDir, err)
	}
	// The config file may set the data dir, so its default path uses the data dir given by a
	// flag or the environment, else the default one.
	configPath, configWhere := filepath.Join(dataDir, "wiregui.conf"), ""
	for _, src := range []source{flagSource, envSource} {
		if v, where, ok := src.lookup(nameDataDir); ok && v != "" {
			dir, err := parseAbsPath(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			configPath = filepath.Join(dir, "wiregui.conf")
			break
		}
	}
	for _, src := range []source{flagSource, envSource} {
		if v, where, ok := src.lookup(nameConfigFile); ok && v != "" {
			if configPath, err = parseAbsPath(v); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			configWhere = where
			break
		}
	}

	var entries map[string]fileEntry
	data, err := os.ReadFile(configPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && (configWhere == "" || namedMayBeMissing):
		// The default config file is optional.
	case err != nil && configWhere != "":
		return nil, fmt.Errorf("%s: %w", configWhere, err)
	case err != nil:
		return nil, fmt.Errorf("read config file: %w", err)
	default:
		if entries, err = parseFile(configPath, data); err != nil {
			return nil, err
		}
	}
	fileSource := source{lookup: func(name string) (string, string, bool) {
		e, ok := entries[name]
		return e.value, fmt.Sprintf("%s:%d: %s", configPath, e.line, name), ok
	}}

	c := &Config{
		DataDir:    dataDir,
		ConfigFile: configPath,
		set:        make(map[string]bool),
		fromFiles:  make(map[string]string),
	}
	sources := []source{flagSource, envSource, fileSource}
	for _, s := range table {
		if s.parse == nil {
			continue
		}
		value, where, found, err := resolve(c, s, sources)
		if err != nil {
			return nil, err
		}
		switch {
		case found:
			c.set[s.name] = true
			if err := s.parse(c, value); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		case s.def != "":
			if err := s.parse(c, s.def); err != nil {
				return nil, fmt.Errorf("%s: default %q: %w", s.name, s.def, err) // a bug in the table
			}
		case s.derive != nil:
			s.derive(c)
		}
	}

	if !c.WireGuard.IPv4Network.IsValid() && !c.WireGuard.IPv6Network.IsValid() {
		return nil, fmt.Errorf("%s, %s: both address families are disabled; keep at least one", nameIPv4, nameIPv6)
	}
	return c, nil
}

// resolve finds the value of s in the first source that has it (or its NAME_FILE variant).
// An empty value counts as unset unless s.emptyOK and the source can tell the difference.
func resolve(c *Config, s setting, sources []source) (value, where string, found bool, err error) {
	for _, src := range sources {
		v, vWhere, vok := src.lookup(s.name)
		vok = vok && (v != "" || (s.emptyOK && !src.env))
		var path, fWhere string
		var fok bool
		if s.fileSuffix {
			path, fWhere, fok = src.lookup(s.name + fileSuffix)
			fok = fok && path != ""
		}
		switch {
		case vok && fok:
			return "", "", false, fmt.Errorf("%s and %s are both set; use one", vWhere, fWhere)
		case vok:
			return v, vWhere, true, nil
		case fok:
			abs, err := parseAbsPath(path)
			if err != nil {
				return "", "", false, fmt.Errorf("%s: %w", fWhere, err)
			}
			data, err := os.ReadFile(abs)
			if err != nil {
				return "", "", false, fmt.Errorf("%s: %w", fWhere, err)
			}
			v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
			if v == "" {
				return "", "", false, fmt.Errorf("%s: %s is empty", fWhere, abs)
			}
			c.fromFiles[s.name] = abs
			return v, fWhere + " (" + abs + ")", true, nil
		}
	}
	return "", "", false, nil
}

// flagValue records a flag's raw text; values are parsed later, in table order, like values
// from every other source.
type flagValue struct {
	flag    string
	value   string
	set     bool
	boolean bool
}

func (f *flagValue) String() string     { return f.value }
func (f *flagValue) Set(v string) error { f.value, f.set = v, true; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.boolean }

// parseFlags returns the flags given in args, keyed by variable name.
func parseFlags(table []setting, args []string) (map[string]*flagValue, error) {
	fset := flag.NewFlagSet("wiregui", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	byName := make(map[string]*flagValue)
	add := func(name, flagName, usage string, boolean bool) {
		f := &flagValue{flag: flagName, boolean: boolean}
		byName[name] = f
		fset.Var(f, flagName, usage)
	}
	for _, s := range table {
		add(s.name, s.flagName(), s.doc, s.boolean)
		if s.fileSuffix {
			add(s.name+fileSuffix, s.flagName()+"-file", "file holding "+s.name, false)
		}
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fset.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q", fset.Arg(0))
	}
	given := make(map[string]*flagValue)
	for name, f := range byName {
		if f.set {
			given[name] = f
		}
	}
	return given, nil
}
