package config

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"wiregui/app/text"
	"wiregui/wg"
)

// Variable describes one setting for people: help output, the README table, the settings page.
type Variable struct {
	Name        string // environment variable and config file key, e.g. "WG_PORT"
	Flag        string // command-line flag without the dashes, e.g. "port"
	Default     string // the default as shown to people; "" when there is none
	Description string
	Secret      bool // the value must never be shown
}

// setting defines one configuration variable: its names, its default, and how its value is
// parsed into a Config and printed back from one. settings() is the single source of truth for
// Load, Env, WriteFile, Variables and Usage.
type setting struct {
	name string // WG_PORT
	flag string // port; "" means derived from name
	def  string // literal default, parsed like a value from any other source
	// defDoc is the default shown in help when the default is computed (derive) rather than def.
	defDoc string
	doc    string

	boolean    bool // the flag may be given without a value
	secret     bool // the value is never echoed in errors or help
	fileSuffix bool // NAME_FILE (and --flag-file) reads the value from a file
	// emptyOK: an explicit empty value in a flag or the config file is passed to parse instead of
	// meaning "unset". The environment cannot tell empty from unset, so it never applies there.
	emptyOK bool

	parse  func(c *Config, v string) error
	derive func(c *Config) // computes the default from settings earlier in the table
	format func(c *Config) string
}

func (s setting) flagName() string {
	if s.flag != "" {
		return s.flag
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.name, "WG_")), "_", "-")
}

func (s setting) defaultDoc() string {
	if s.defDoc != "" {
		return s.defDoc
	}
	return s.def
}

const (
	nameConfigFile  = "WG_CONFIG_FILE"
	nameDataDir     = "WG_DATA_DIR"
	nameExternalURL = "WG_EXTERNAL_URL"
	nameIPv4        = "WG_WG_IPV4_NETWORK"
	nameIPv6        = "WG_WG_IPV6_NETWORK"
	fileSuffix      = "_FILE"

	// placeholderSecret is the original's default secret key, refused so that an old .env
	// cannot silently keep signing sessions with a public value.
	placeholderSecret = "change-me-in-production"
	minSecretKeyLen   = 32
	disabledNetwork   = "off"
	disabledListener  = "off"
)

// settings returns the configuration table in resolution order: a setting's derive may read
// only fields set by settings above it.
func settings() []setting {
	return []setting{
		{
			name: nameConfigFile, flag: "config",
			defDoc: "<data dir>/wiregui.conf",
			doc:    "Config file of KEY=VALUE lines with these names (also a systemd EnvironmentFile). A missing default file is fine; a missing named file is an error.",
		},
		{
			name:   nameDataDir,
			defDoc: "/var/lib/wiregui as root, else ./data",
			doc:    "Directory for the SQLite database, the keys and the config file.",
			// The default is filled in by the loader before the table runs (it depends on the euid).
			parse:  func(c *Config, v string) (err error) { c.DataDir, err = parseAbsPath(v); return err },
			format: func(c *Config) string { return c.DataDir },
		},
		{
			name: "WG_DATABASE_URL", secret: true, fileSuffix: true,
			defDoc: "<data dir>/wiregui.db",
			doc:    "postgres:// or postgresql:// for PostgreSQL; sqlite:PATH, file:PATH or a path for SQLite.",
			parse:  func(c *Config, v string) (err error) { c.DatabaseURL, err = parseDatabaseURL(v); return err },
			derive: func(c *Config) { c.DatabaseURL = filepath.Join(c.DataDir, "wiregui.db") },
			format: func(c *Config) string { return c.DatabaseURL },
		},
		{
			name: "WG_HOST", def: "0.0.0.0",
			doc:    "Address (IP or hostname) the web server listens on.",
			parse:  func(c *Config, v string) (err error) { c.Host, err = wg.ParseHost(v); return err },
			format: func(c *Config) string { return c.Host },
		},
		{
			name: "WG_PORT", def: "13000",
			doc:    "Port the web server listens on.",
			parse:  func(c *Config, v string) (err error) { c.Port, err = parsePort(v); return err },
			format: func(c *Config) string { return strconv.Itoa(c.Port) },
		},
		{
			name:   nameExternalURL,
			defDoc: "http://localhost:<port>",
			doc:    "URL users reach the web UI at; used for SSO redirects, WebAuthn and links in emails.",
			parse:  func(c *Config, v string) (err error) { c.ExternalURL, err = parseHTTPURL(v, false); return err },
			derive: func(c *Config) { c.ExternalURL = "http://localhost:" + strconv.Itoa(c.Port) },
			// The default is left out of Env: passed on, it would count as given, and the
			// endpoint host derives from a given URL only.
			format: func(c *Config) string {
				if !c.set[nameExternalURL] {
					return ""
				}
				return c.ExternalURL
			},
		},
		{
			name: "WG_SECRET_KEY", secret: true, fileSuffix: true,
			defDoc: "generated into <data dir>/secret.key",
			doc:    "Secret that keys the sign-in form's CSRF token and the hashes of the tokens in sign-in links and invitations; at least 32 characters.",
			parse:  func(c *Config, v string) (err error) { c.SecretKey, err = parseSecretKey(v); return err },
			format: func(c *Config) string { return c.SecretKey },
		},
		{
			name:   "WG_ENCRYPTION_KEY_FILE",
			defDoc: "<data dir>/encryption.key",
			doc:    "AES key file for secrets stored in the database; created on first start.",
			parse:  func(c *Config, v string) (err error) { c.EncryptionKeyFile, err = parseAbsPath(v); return err },
			derive: func(c *Config) { c.EncryptionKeyFile = filepath.Join(c.DataDir, "encryption.key") },
			format: func(c *Config) string { return c.EncryptionKeyFile },
		},
		{
			name: "WG_WG_ENABLED", def: "true", boolean: true,
			doc:    "Manage the WireGuard interface, routes and firewall; false runs the UI only.",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.Enabled, err = parseBool(v); return err },
			format: func(c *Config) string { return strconv.FormatBool(c.WireGuard.Enabled) },
		},
		{
			name: "WG_WG_INTERFACE", def: "wg0",
			doc:    "WireGuard interface name.",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.Interface, err = parseIfName(v); return err },
			format: func(c *Config) string { return c.WireGuard.Interface },
		},
		{
			name: "WG_WG_LISTEN_PORT", def: "51820",
			doc:    "UDP port the WireGuard interface listens on.",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.ListenPort, err = parsePort(v); return err },
			format: func(c *Config) string { return strconv.Itoa(c.WireGuard.ListenPort) },
		},
		{
			name:   "WG_WG_ENDPOINT_HOST",
			defDoc: "host of WG_EXTERNAL_URL when set, else this host's address on its default route",
			doc:    "Host (IP or hostname) clients dial, written into client configs.",
			parse: func(c *Config, v string) (err error) {
				c.WireGuard.EndpointHost, err = parseEndpointHost(v)
				return err
			},
			// Without either, the default external URL's "localhost" is no host a client can
			// dial: the endpoint is left for the roles to detect (app/instance).
			derive: func(c *Config) {
				if c.set[nameExternalURL] {
					c.WireGuard.EndpointHost = urlHostname(c.ExternalURL)
				}
			},
			format: func(c *Config) string { return c.WireGuard.EndpointHost },
		},
		{
			name:   "WG_WG_ENDPOINT_PORT",
			defDoc: "WG_WG_LISTEN_PORT",
			doc:    "UDP port clients dial (differs from the listen port behind port forwarding).",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.EndpointPort, err = parsePort(v); return err },
			derive: func(c *Config) { c.WireGuard.EndpointPort = c.WireGuard.ListenPort },
			format: func(c *Config) string { return strconv.Itoa(c.WireGuard.EndpointPort) },
		},
		{
			name: nameIPv4, def: "10.3.2.0/24", emptyOK: true,
			doc: `Tunnel IPv4 network (prefix at most /30); "off" (or empty in a flag or the file) disables IPv4.`,
			parse: func(c *Config, v string) (err error) {
				c.WireGuard.IPv4Network, err = parseNetwork(v, false)
				return err
			},
			format: func(c *Config) string { return formatNetwork(c.WireGuard.IPv4Network) },
		},
		{
			name: nameIPv6, def: "fd00::3:2:0/120", emptyOK: true,
			doc: `Tunnel IPv6 network (prefix at most /126); "off" (or empty in a flag or the file) disables IPv6.`,
			parse: func(c *Config, v string) (err error) {
				c.WireGuard.IPv6Network, err = parseNetwork(v, true)
				return err
			},
			format: func(c *Config) string { return formatNetwork(c.WireGuard.IPv6Network) },
		},
		{
			name: "WG_WG_USERSPACE", def: "auto",
			doc: "Userspace WireGuard: auto (when the kernel lacks it), always or never.",
			parse: func(c *Config, v string) (err error) {
				c.WireGuard.Userspace, err = parseChoice(v, "auto", "always", "never")
				return err
			},
			format: func(c *Config) string { return c.WireGuard.Userspace },
		},
		{
			name: "WG_WG_FORWARD", def: "true", boolean: true,
			doc:    "Forward the tunnel's traffic (IP forwarding on), switched on only once the firewall is in the kernel; false leaves forwarding as the host has it.",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.Forward, err = parseBool(v); return err },
			format: func(c *Config) string { return strconv.FormatBool(c.WireGuard.Forward) },
		},
		{
			name: "WG_WG_MASQUERADE", def: "true", boolean: true,
			doc:    "Masquerade what leaves the tunnel networks by another interface, so that full-tunnel clients reach the internet.",
			parse:  func(c *Config, v string) (err error) { c.WireGuard.Masquerade, err = parseBool(v); return err },
			format: func(c *Config) string { return strconv.FormatBool(c.WireGuard.Masquerade) },
		},
		{
			name: "WG_RECONCILE_INTERVAL", def: "30s",
			doc:    "How often the kernel state is compared with the database and repaired (Go duration, at least 1s).",
			parse:  func(c *Config, v string) (err error) { c.ReconcileInterval, err = parseInterval(v); return err },
			format: func(c *Config) string { return formatDuration(c.ReconcileInterval) },
		},
		{
			name: "WG_WG_DNS", def: "1.1.1.1, 1.0.0.1",
			doc:    "Default DNS servers (or search domains) for clients, comma separated.",
			parse:  func(c *Config, v string) (err error) { c.ClientDefaults.DNS, err = parseDNSList(v); return err },
			format: func(c *Config) string { return strings.Join(c.ClientDefaults.DNS, ", ") },
		},
		{
			name: "WG_WG_MTU", def: "1280",
			doc:    fmt.Sprintf("Default client MTU (%d-%d).", wg.MinMTU, wg.MaxMTU),
			parse:  func(c *Config, v string) (err error) { c.ClientDefaults.MTU, err = wg.ParseMTU(v); return err },
			format: func(c *Config) string { return strconv.Itoa(c.ClientDefaults.MTU) },
		},
		{
			name: "WG_WG_PERSISTENT_KEEPALIVE", def: "25",
			doc: "Default client persistent keepalive in seconds (0 disables).",
			parse: func(c *Config, v string) (err error) {
				c.ClientDefaults.PersistentKeepalive, err = wg.ParseKeepalive(v)
				return err
			},
			format: func(c *Config) string { return strconv.Itoa(c.ClientDefaults.PersistentKeepalive) },
		},
		{
			name: "WG_WG_ALLOWED_IPS", def: "0.0.0.0/0, ::/0",
			doc: "Default client AllowedIPs, comma separated CIDRs.",
			parse: func(c *Config, v string) (err error) {
				c.ClientDefaults.AllowedIPs, err = parseAllowedIPs(v)
				return err
			},
			format: func(c *Config) string { return wg.FormatPrefixes(c.ClientDefaults.AllowedIPs) },
		},
		{
			name: "WG_ADMIN_EMAIL", def: "admin@localhost",
			doc:    "Email of the admin account created on first start.",
			parse:  func(c *Config, v string) (err error) { c.AdminEmail, err = parseEmail(v); return err },
			format: func(c *Config) string { return c.AdminEmail },
		},
		{
			name: "WG_ADMIN_PASSWORD", secret: true, fileSuffix: true,
			// Checked when the admin is created, by the password policy (users.CheckPassword),
			// which needs the admin's email too; a start that creates nobody does not read it.
			doc:    "Password of the admin account created on first start: at least 10 characters, not the email, not one of the 10,000 most common passwords.",
			parse:  func(c *Config, v string) error { c.AdminPassword = v; return nil },
			format: func(c *Config) string { return c.AdminPassword },
		},
		{
			name: "WG_METRICS_ENABLED", def: "true", boolean: true,
			doc:    "Run the metrics collector process; false uses a slower in-process stats loop.",
			parse:  func(c *Config, v string) (err error) { c.Metrics.Enabled, err = parseBool(v); return err },
			format: func(c *Config) string { return strconv.FormatBool(c.Metrics.Enabled) },
		},
		{
			name: "WG_METRICS_POLL_INTERVAL", def: "5",
			doc:    "Collector poll interval in whole seconds (at least 1).",
			parse:  func(c *Config, v string) (err error) { c.Metrics.PollInterval, err = parseSeconds(v); return err },
			format: func(c *Config) string { return strconv.FormatInt(int64(c.Metrics.PollInterval/time.Second), 10) },
		},
		{
			name: "WG_VICTORIAMETRICS_URL",
			doc:  "VictoriaMetrics base URL to push metrics to, e.g. http://localhost:8428.",
			parse: func(c *Config, v string) (err error) {
				c.Metrics.VictoriaMetricsURL, err = parseHTTPURL(v, true)
				return err
			},
			format: func(c *Config) string { return c.Metrics.VictoriaMetricsURL },
		},
		{
			name: "WG_METRICS_BUFFER", def: "1h",
			doc:    "How much poll time of samples to keep while VictoriaMetrics is unreachable, sent with their own timestamps when it is back; the oldest go first (Go duration, 0 keeps none).",
			parse:  func(c *Config, v string) (err error) { c.Metrics.Buffer, err = parseOptionalInterval(v); return err },
			format: func(c *Config) string { return formatDuration(c.Metrics.Buffer) },
		},
		{
			name: "WG_METRICS_LISTEN", def: "127.0.0.1:13001",
			doc: `Address (host:port) of a listener of its own that serves only GET /metrics, for a scraper on this host; "off" disables it.`,
			parse: func(c *Config, v string) (err error) {
				c.Metrics.Listen, err = parseListenAddr(v)
				return err
			},
			format: func(c *Config) string { return formatListenAddr(c.Metrics.Listen) },
		},
		{
			name: "WG_METRICS_TOKEN", secret: true, fileSuffix: true,
			doc:    "Bearer token (at least 16 characters) that GET /metrics then requires on WG_METRICS_LISTEN, and on the web UI's port, which serves /metrics only when it is set.",
			parse:  func(c *Config, v string) (err error) { c.Metrics.Token, err = parseMetricsToken(v); return err },
			format: func(c *Config) string { return c.Metrics.Token },
		},
		{
			name:   "WG_SMTP_HOST",
			doc:    "SMTP server that sends email (sign-in links, invitations); unset, the Settings page sets it.",
			parse:  func(c *Config, v string) (err error) { c.SMTP.Host, err = wg.ParseHost(v); return err },
			format: func(c *Config) string { return c.SMTP.Host },
		},
		{
			name:   "WG_SMTP_PORT",
			defDoc: "587 for starttls, 465 for tls, 25 for none",
			doc:    "SMTP server port.",
			parse:  func(c *Config, v string) (err error) { c.SMTP.Port, err = parsePort(v); return err },
			format: func(c *Config) string { return formatPort(c.SMTP.Port) },
		},
		{
			name: "WG_SMTP_USERNAME",
			doc:  "SMTP user name; unset, email is sent without signing in to the server.",
			parse: func(c *Config, v string) (err error) {
				c.SMTP.Username, err = text.Field{Name: "an SMTP user name", Max: 254}.Clean(v)
				return err
			},
			format: func(c *Config) string { return c.SMTP.Username },
		},
		{
			name: "WG_SMTP_PASSWORD", secret: true, fileSuffix: true,
			doc:    "SMTP password.",
			parse:  func(c *Config, v string) error { c.SMTP.Password = v; return nil },
			format: func(c *Config) string { return c.SMTP.Password },
		},
		{
			name:   "WG_SMTP_FROM",
			doc:    `Sender of the emails: an address, or a name and <address> ("WireGUI <vpn@example.com>").`,
			parse:  func(c *Config, v string) (err error) { c.SMTP.From, err = text.Mailbox(v); return err },
			format: func(c *Config) string { return c.SMTP.From },
		},
		{
			name:   "WG_SMTP_TLS",
			defDoc: "starttls",
			doc:    "How the connection to the SMTP server is encrypted: starttls (required, certificate checked), tls (from the start) or none.",
			parse: func(c *Config, v string) (err error) {
				c.SMTP.TLS, err = parseChoice(v, "starttls", "tls", "none")
				return err
			},
			format: func(c *Config) string { return c.SMTP.TLS },
		},
		{
			name: "WG_STATS_INTERVAL", def: "60s",
			doc:    "Stats loop interval when metrics are disabled (Go duration, at least 1s).",
			parse:  func(c *Config, v string) (err error) { c.Metrics.StatsInterval, err = parseInterval(v); return err },
			format: func(c *Config) string { return formatDuration(c.Metrics.StatsInterval) },
		},
		{
			name: "WG_LOG_LEVEL", def: "info",
			doc:    "Log level: debug, info, warn or error.",
			parse:  func(c *Config, v string) (err error) { c.LogLevel, err = parseLogLevel(v); return err },
			format: func(c *Config) string { return formatLogLevel(c.LogLevel) },
		},
		{
			name: "WG_LOG_FORMAT", def: "text",
			doc:    "Log format: text or json.",
			parse:  func(c *Config, v string) (err error) { c.LogFormat, err = parseChoice(v, "text", "json"); return err },
			format: func(c *Config) string { return c.LogFormat },
		},
	}
}

// Variables lists every setting, including the NAME_FILE variants of secrets, in the order of
// the help output.
func Variables() []Variable {
	var vars []Variable
	for _, s := range settings() {
		vars = append(vars, Variable{
			Name:        s.name,
			Flag:        s.flagName(),
			Default:     s.defaultDoc(),
			Description: s.doc,
			Secret:      s.secret,
		})
		if s.fileSuffix {
			vars = append(vars, Variable{
				Name:        s.name + fileSuffix,
				Flag:        s.flagName() + "-file",
				Description: "File holding " + s.name + " (one trailing newline is removed).",
			})
		}
	}
	return vars
}

// Usage prints the flags, environment variables and defaults.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Settings: a flag wins over the WG_* environment variable of the same name, which wins")
	fmt.Fprintln(w, "over the config file, which wins over the default.")
	fmt.Fprintln(w)
	for _, v := range Variables() {
		fmt.Fprintf(w, "  --%s, %s\n", v.Flag, v.Name)
		line := v.Description
		if v.Default != "" {
			line += " (default: " + v.Default + ")"
		}
		fmt.Fprintf(w, "        %s\n", line)
	}
}
