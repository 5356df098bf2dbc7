package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wiregui/app/text"
	"wiregui/wg"
)

// The parse functions below return errors without the variable name; the loader adds it.
// Functions for secret values never put the value into an error.

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/false, 1/0, yes/no, on/off)", v)
}

func parsePort(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", v)
	}
	return n, nil
}

// formatPort prints a port; 0 (not given) is "".
func formatPort(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

func parseChoice(v string, choices ...string) (string, error) {
	lv := strings.ToLower(v)
	for _, c := range choices {
		if lv == c {
			return c, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %s", v, strings.Join(choices, ", "))
}

func parseInterval(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", v)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is shorter than 1s", v)
	}
	return d, nil
}

// parseOptionalInterval is parseInterval that also takes a zero duration (none): "0", or
// "0s" as formatDuration writes it for the collector's environment.
func parseOptionalInterval(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil && d == 0 {
		return 0, nil
	}
	return parseInterval(v)
}

// formatDuration prints d as time.Duration does, without zero trailing units ("1m", not "1m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func parseSeconds(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of seconds (1 or more)", v)
	}
	return time.Duration(n) * time.Second, nil
}

func parseLogLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", v)
}

func formatLogLevel(l slog.Level) string { return strings.ToLower(l.String()) }

func parseAbsPath(v string) (string, error) {
	p, err := filepath.Abs(v)
	if err != nil {
		return "", fmt.Errorf("%q: %w", v, err)
	}
	return p, nil
}

// parseHTTPURL accepts an absolute http or https URL without query or fragment and returns it
// without a trailing slash. Credentials are allowed only where userinfo is true.
func parseHTTPURL(v string, userinfo bool) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an absolute http:// or https:// URL", redactURL(v))
	}
	shown := u.Redacted()
	switch {
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return "", fmt.Errorf("%q must not have a query or fragment", shown)
	case u.User != nil && !userinfo:
		return "", fmt.Errorf("%q must not contain credentials", shown)
	}
	if _, err := wg.ParseHost(u.Hostname()); err != nil {
		return "", fmt.Errorf("%q has an invalid host", shown)
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return "", fmt.Errorf("%q has an invalid port", shown)
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// redactURL hides what may be a password in a URL that did not parse: everything between
// "://" and the last "@".
func redactURL(v string) string {
	_, rest, ok := strings.Cut(v, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return v[:len(v)-len(rest)] + "xxxxx" + rest[at:]
	}
	return v
}

func urlHostname(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// parseDatabaseURL returns a PostgreSQL URL unchanged, or the absolute path of a SQLite file.
func parseDatabaseURL(v string) (string, error) {
	scheme, rest, hasScheme := cutScheme(v)
	switch {
	case !hasScheme:
		return sqlitePath(v)
	case scheme == "postgres" || scheme == "postgresql":
		if _, err := url.Parse(v); err != nil || !strings.HasPrefix(rest, "//") {
			return "", fmt.Errorf("not a valid %s:// URL", scheme)
		}
		return v, nil
	case scheme == "sqlite" || scheme == "file":
		if strings.ContainsAny(rest, "?#") {
			return "", fmt.Errorf("%s: URLs with options are not supported; wiregui sets its own SQLite options", scheme)
		}
		if strings.HasPrefix(rest, "//") { // sqlite:///abs/path: an empty host, then the path
			rest = rest[2:]
			if !strings.HasPrefix(rest, "/") {
				return "", fmt.Errorf("%s://HOST/... is not supported; use %s:PATH", scheme, scheme)
			}
		}
		return sqlitePath(rest)
	case strings.HasPrefix(scheme, "postgresql+") || strings.HasPrefix(scheme, "postgres+"):
		return "", fmt.Errorf("unsupported scheme %q; use postgres:// (drop the driver suffix)", scheme)
	}
	return "", fmt.Errorf("unsupported scheme %q (use postgres://, postgresql://, sqlite:PATH, file:PATH or a path)", scheme)
}

// cutScheme splits "scheme:rest" when v starts with a URL scheme (RFC 3986 letters). A bare path
// that contains ':' can be written as ./name.
func cutScheme(v string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(v, ':')
	if i < 1 {
		return "", "", false
	}
	for j, r := range v[:i] {
		isLetter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !isLetter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(v[:i]), v[i+1:], true
}

func sqlitePath(p string) (string, error) {
	if p == "" {
		return "", errors.New("SQLite path is empty")
	}
	return parseAbsPath(p)
}

func parseSecretKey(v string) (string, error) {
	if v == placeholderSecret {
		return "", fmt.Errorf("%q is the old placeholder, not a secret; unset it to have a key generated in <data dir>/secret.key", placeholderSecret)
	}
	if n := utf8.RuneCountInString(v); n < minSecretKeyLen {
		return "", fmt.Errorf("must be at least %d characters (got %d)", minSecretKeyLen, n)
	}
	return v, nil
}

// minMetricsTokenLen keeps a bearer token for /metrics from being guessable.
const minMetricsTokenLen = 16

func parseMetricsToken(v string) (string, error) {
	if n := len(v); n < minMetricsTokenLen {
		return "", fmt.Errorf("must be at least %d characters (got %d)", minMetricsTokenLen, n)
	}
	return v, nil
}

// parseListenAddr parses the host:port of a listener; "off" gives "" (no listener). An empty
// host listens on every address.
func parseListenAddr(v string) (string, error) {
	if strings.EqualFold(v, disabledListener) {
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port or %q", v, disabledListener)
	}
	if host != "" {
		if host, err = wg.ParseHost(host); err != nil {
			return "", err
		}
	}
	p, err := parsePort(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

func formatListenAddr(addr string) string {
	if addr == "" {
		return disabledListener
	}
	return addr
}

// parseIfName checks a Linux interface name the way the kernel's dev_valid_name does.
func parseIfName(v string) (string, error) {
	switch {
	case len(v) > 15:
		return "", fmt.Errorf("%q is longer than 15 bytes", v)
	case v == "." || v == "..":
		return "", fmt.Errorf("%q is not a valid interface name", v)
	case strings.ContainsAny(v, "/:") || strings.IndexFunc(v, unicode.IsSpace) >= 0:
		return "", fmt.Errorf("%q must not contain '/', ':' or whitespace", v)
	}
	return v, nil
}

// parseNetwork parses a tunnel network; "off" or "" gives the zero Prefix (family disabled).
// Host bits must be clear so that what the operator wrote is what is used.
func parseNetwork(v string, ipv6 bool) (netip.Prefix, error) {
	if v == "" || strings.EqualFold(v, disabledNetwork) {
		return netip.Prefix{}, nil
	}
	family, maxBits := "IPv4", 30
	if ipv6 {
		family, maxBits = "IPv6", 126
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || p.Addr().Is6() != ipv6 || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not an %s network in CIDR form", v, family)
	}
	if p.Bits() > maxBits {
		return netip.Prefix{}, fmt.Errorf("%q is too small; the prefix length must be at most /%d", v, maxBits)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %q?", v, p.Masked().String())
	}
	return p, nil
}

func formatNetwork(p netip.Prefix) string {
	if !p.IsValid() {
		return disabledNetwork
	}
	return p.String()
}

// parseEndpointHost parses the host clients dial. The port has a variable of its own, so a
// host with a port is refused rather than half used.
func parseEndpointHost(v string) (string, error) {
	host, port, err := wg.ParseEndpoint(v)
	if err != nil {
		return "", err
	}
	if port != 0 {
		return "", fmt.Errorf("%q includes a port; set the port with WG_WG_ENDPOINT_PORT (--wg-endpoint-port)", v)
	}
	return host, nil
}

// parseDNSList parses the default DNS servers and search domains; the list must not be empty.
func parseDNSList(v string) ([]string, error) {
	dns, err := wg.ParseDNS(v)
	if err == nil && len(dns) == 0 {
		err = fmt.Errorf("%q has no entries", v)
	}
	return dns, err
}

// parseAllowedIPs parses the default client AllowedIPs; the list must not be empty.
func parseAllowedIPs(v string) ([]netip.Prefix, error) {
	prefixes, err := wg.ParseAllowedIPs(v)
	if err == nil && len(prefixes) == 0 {
		err = fmt.Errorf("%q has no entries", v)
	}
	return prefixes, err
}

// parseEmail checks an email address by the rule every email field meets and lower-cases it.
func parseEmail(v string) (string, error) {
	e, err := text.Email(v)
	return strings.ToLower(e), err
}
