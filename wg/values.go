package wg

// The rules for the WireGuard client settings people type: the configuration loader, the web
// forms and the CLI all parse them here, so a value one of them accepts the others accept too.
//
// Errors are lower-case sentences that say what is wrong and name the offending entry; the web
// UI capitalises them, the configuration loader prefixes the variable name. Raw input is quoted
// (%q) because it may hold anything; values that parsed are printed in their canonical form.
//
// Two address forms are refused everywhere, with a hint at what to write instead:
//   - an IPv6 zone ("fe80::1%eth0"): it names an interface of the machine that parses it, which
//     means nothing on the client;
//   - an IPv4-mapped IPv6 address ("::ffff:10.0.0.1"): WireGuard would take it for IPv6, so an
//     AllowedIPs entry or relay subnet in that form silently never matches IPv4 traffic. It is
//     refused rather than unmapped so that what is stored is what the operator wrote.

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the numeric client settings, for form fields and help texts.
const (
	MinMTU = 1280 // the smallest MTU IPv6 allows, and WireGuard carries IPv6
	MaxMTU = 9000 // jumbo frames
	// MaxKeepalive is the largest persistent keepalive in seconds: wg stores it in 16 bits.
	MaxKeepalive = 65535
)

// Limits of the lists in client settings, so that a pasted file of addresses is refused with
// a message instead of stored and written into every configuration.
const (
	// MaxDNS: resolvers read a handful of servers, and search lists are short (glibc used to
	// take 6).
	MaxDNS = 16
	// MaxAllowedIPs leaves room for the longest split-tunnel lists, such as "everything but
	// the private networks" for both families in a few dozen entries, by far.
	MaxAllowedIPs = 256
	// MaxRelaySubnets: each becomes a kernel route and is compared with every other device's.
	MaxRelaySubnets = 64
)

// ParseAllowedIPs parses a comma-separated list of CIDRs (client AllowedIPs / relay subnets
// input). Entries are trimmed and empty ones dropped, so a trailing comma is fine. Bare IPs
// become /32 or /128. Host bits set are rejected naming the canonical form. Duplicates are
// removed, order kept; more than MaxAllowedIPs different networks are refused. Empty input
// gives nil, nil: callers decide whether empty is allowed.
func ParseAllowedIPs(s string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	seen := make(map[netip.Prefix]bool)
	for _, item := range splitEntries(s) {
		p, err := parsePrefix(item)
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			if len(prefixes) == MaxAllowedIPs {
				return nil, tooManyError(MaxAllowedIPs, "networks")
			}
			seen[p] = true
			prefixes = append(prefixes, p)
		}
	}
	return prefixes, nil
}

func tooManyError(max int, what string) error {
	return fmt.Errorf("the list has more than %d entries; give at most %d %s", max, max, what)
}

func parsePrefix(item string) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(item, "/")
	if !hasBits {
		a, isAddr, err := parseAddr(item)
		switch {
		case err != nil:
			return netip.Prefix{}, err
		case !isAddr:
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", item)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	a, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", item)
	case a.Zone() != "":
		return netip.Prefix{}, zoneError(item, a)
	}
	p, err := netip.ParsePrefix(item)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q has prefix length %q; it must be a number from 0 to %d", item, bits, a.BitLen())
	case p.Addr().Is4In6():
		return netip.Prefix{}, mappedPrefixError(p)
	case p != p.Masked():
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; did you mean %s?", p, p.Masked())
	}
	return p, nil
}

// ParseDNS parses a comma-separated list of DNS servers (IP addresses) or search domains
// (hostnames, RFC 1123, at most 253 characters, labels at most 63). Addresses come back in
// canonical form, domains in lower case without a trailing dot. Entries are trimmed, empty ones
// dropped, duplicates removed, order kept; more than MaxDNS different entries are refused.
// Empty input gives nil, nil.
func ParseDNS(s string) ([]string, error) {
	var entries []string
	seen := make(map[string]bool)
	for _, item := range splitEntries(s) {
		var v string
		a, isAddr, err := parseAddr(item)
		switch {
		case err != nil:
			return nil, err
		case isAddr:
			v = a.String()
		default:
			if err := CheckHostname(item); err != nil {
				return nil, fmt.Errorf("%q is not an IP address or search domain: %w", item, err)
			}
			v = normalizeHostname(item)
		}
		if !seen[v] {
			if len(entries) == MaxDNS {
				return nil, tooManyError(MaxDNS, "DNS servers and search domains")
			}
			seen[v] = true
			entries = append(entries, v)
		}
	}
	return entries, nil
}

// ParseMTU parses a client MTU: a whole number from MinMTU to MaxMTU.
func ParseMTU(s string) (int, error) {
	return parseWholeNumber("MTU", s, MinMTU, MaxMTU, "")
}

// ParseKeepalive parses a persistent keepalive: whole seconds from 0 (off) to MaxKeepalive.
func ParseKeepalive(s string) (int, error) {
	return parseWholeNumber("persistent keepalive", s, 0, MaxKeepalive, " seconds")
}

func parseWholeNumber(what, s string, lo, hi int, unit string) (int, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return 0, fmt.Errorf("%s is empty", what)
	}
	if !isDigits(v) {
		return 0, fmt.Errorf("%s %q is not a whole number", what, v)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi { // err: too many digits for an int
		return 0, fmt.Errorf("%s %q is not between %d and %d%s", what, v, lo, hi, unit)
	}
	return n, nil
}

// ParseEndpoint parses "host", "host:port", "[v6]:port" or a bare IPv6 literal. host is a
// hostname (lower case, no trailing dot) or an IP address in canonical form, never bracketed;
// port is 1–65535, or 0 when s gives none. An IPv6 address with a port needs brackets.
func ParseEndpoint(s string) (host string, port int, err error) {
	v := strings.TrimSpace(s)
	hostPart, portPart, hasPort := v, "", false
	switch {
	case v == "":
		return "", 0, errors.New("endpoint is empty")
	case strings.Contains(v, "://"):
		return "", 0, fmt.Errorf("%q is a URL; give only the host and, optionally, the port", v)
	case strings.HasPrefix(v, "["):
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%q has no closing bracket", v)
		}
		hostPart = v[1:end]
		switch rest := v[end+1:]; {
		case strings.HasPrefix(rest, ":"):
			portPart, hasPort = rest[1:], true
		case rest != "":
			return "", 0, fmt.Errorf("%q has %q after the closing bracket; expected :port", v, rest)
		}
	case strings.Count(v, ":") == 1:
		hostPart, portPart, hasPort = strings.Cut(v, ":")
	case strings.Count(v, ":") > 1:
		// Only an IPv6 address: "2001:db8::1:51820" is one too, so a port needs brackets.
		if _, isAddr, _ := parseAddr(v); !isAddr {
			return "", 0, fmt.Errorf("%q is not an IPv6 address; an IPv6 endpoint with a port is written [2001:db8::1]:51820", v)
		}
	}
	if host, err = ParseHost(hostPart); err != nil {
		return "", 0, err
	}
	if !hasPort {
		return host, 0, nil
	}
	switch n, err := strconv.Atoi(portPart); {
	case portPart == "":
		return "", 0, fmt.Errorf("%q has an empty port", v)
	case !isDigits(portPart):
		return "", 0, fmt.Errorf("port %q in %q is not a number", portPart, v)
	case err != nil || n < 1 || n > 65535:
		return "", 0, fmt.Errorf("port %q in %q is not between 1 and 65535", portPart, v)
	default:
		return host, n, nil
	}
}

// Endpoint returns the Endpoint line for s as ParseEndpoint reads it: the port given with the
// host wins over defaultPort, and an IPv6 host is bracketed ("[2001:db8::1]:51820").
func Endpoint(s string, defaultPort int) (string, error) {
	host, port, err := ParseEndpoint(s)
	if err != nil {
		return "", err
	}
	if port == 0 {
		if defaultPort < 1 || defaultPort > 65535 {
			return "", fmt.Errorf("%q names no port and the default port %d is not between 1 and 65535", s, defaultPort)
		}
		port = defaultPort
	}
	return JoinEndpoint(host, port), nil
}

// CheckRelaySubnets validates the relay (site-to-site) subnets of one device: at most
// MaxRelaySubnets, each a specific network (no default route, no host bits, no IPv4-mapped
// form) that a router may stand in front of (none of the reservedNetworks) and that overlaps
// none of the tunnel networks, none of the others in subnets and none of another device's
// relay subnets. others maps a device name, used in the message, to its relay subnets.
// Invalid (zero) tunnel prefixes are disabled families and are skipped. It returns the first
// problem found.
func CheckRelaySubnets(subnets, tunnels []netip.Prefix, others map[string][]netip.Prefix) error {
	if len(subnets) > MaxRelaySubnets {
		return fmt.Errorf("%d relay subnets given; a device has at most %d", len(subnets), MaxRelaySubnets)
	}
	names := slices.Sorted(maps.Keys(others)) // the same input gives the same message
	for i, p := range subnets {
		switch {
		case !p.IsValid():
			return fmt.Errorf("relay subnet %d is not a valid network", i+1)
		case p.Addr().Is4In6():
			return mappedPrefixError(p)
		case p.Bits() == 0:
			return fmt.Errorf("%s is a default route; relay subnets must be specific networks", p)
		case p != p.Masked():
			return fmt.Errorf("%s has host bits set; did you mean %s?", p, p.Masked())
		}
		for _, r := range reservedNetworks {
			if p.Overlaps(r.prefix) {
				return fmt.Errorf("%s overlaps %s, the %s; relay subnets are networks behind a device", p, r.prefix, r.kind)
			}
		}
		for _, t := range tunnels {
			if t.IsValid() && p.Overlaps(t) {
				return fmt.Errorf("%s overlaps the tunnel network %s", p, t.Masked())
			}
		}
		for _, q := range subnets[:i] {
			switch {
			case p == q:
				return fmt.Errorf("%s is listed twice", p)
			case p.Overlaps(q):
				return fmt.Errorf("%s overlaps %s, also in the list", p, q)
			}
		}
		for _, name := range names {
			for _, q := range others[name] {
				if q.IsValid() && p.Overlaps(q) {
					return fmt.Errorf("%s overlaps %s, routed to device %q", p, q, name)
				}
			}
		}
	}
	return nil
}

// reservedNetworks are the networks no router stands in front of: a kernel route for one of
// them through the tunnel would take over the machine's own loopback, link-local or multicast
// traffic, or send a broadcast into a tunnel.
var reservedNetworks = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" range`},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback network"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local network"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast range"},
	{netip.MustParsePrefix("255.255.255.255/32"), "limited broadcast address"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped range"},
	{netip.MustParsePrefix("fe80::/10"), "link-local network"},
	{netip.MustParsePrefix("ff00::/8"), "multicast range"},
}

// parseAddr parses s as an IP address the way every client setting takes one. isAddr is false
// when s is no IP address at all; err is set when it is one in a form refused here.
func parseAddr(s string) (a netip.Addr, isAddr bool, err error) {
	a, perr := netip.ParseAddr(s)
	switch {
	case perr != nil:
		return netip.Addr{}, false, nil
	case a.Zone() != "":
		return netip.Addr{}, true, zoneError(s, a)
	case a.Is4In6():
		return netip.Addr{}, true, fmt.Errorf("%q is an IPv4-mapped IPv6 address, which WireGuard treats as IPv6; write %s", s, a.Unmap())
	}
	return a, true, nil
}

func zoneError(s string, a netip.Addr) error {
	return fmt.Errorf("%q has an IPv6 zone (%%%s); a zone names a local interface and means nothing to the client", s, a.Zone())
}

func mappedPrefixError(p netip.Prefix) error {
	if p.Bits() < 96 {
		return fmt.Errorf("%s is an IPv4-mapped IPv6 network, which WireGuard treats as IPv6; write it as IPv4", p)
	}
	return fmt.Errorf("%s is an IPv4-mapped IPv6 network, which WireGuard treats as IPv6; write %s",
		p, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
}

// parseHost parses the host of an endpoint: an IP address or a hostname.
// ParseHost reads an IP address or a hostname (see CheckHostname) and returns it in one
// form: the address as netip writes it, the name in lower case without a trailing dot.
func ParseHost(s string) (string, error) {
	a, isAddr, err := parseAddr(s)
	switch {
	case err != nil:
		return "", err
	case isAddr:
		return a.String(), nil
	}
	if err := CheckHostname(s); err != nil {
		return "", fmt.Errorf("%q is not an IP address or hostname: %w", s, err)
	}
	return normalizeHostname(s), nil
}

// CheckHostname says why s is not a hostname, or nil when it is one: labels of ASCII
// letters, digits, hyphens and underscores (DNS names may have them, Docker's service names
// do), neither starting nor ending with a hyphen, at most 63 characters each and 253 in all,
// one trailing dot allowed. A last label of digits only is refused so that a mistyped address
// ("300.1.1.1") is not taken for a name. It is the one rule for every name WireGUI takes: an
// endpoint, a DNS search domain, the web server's host, an email's domain.
func CheckHostname(s string) error {
	if why := hostnameProblem(s); why != "" {
		return errors.New(why)
	}
	return nil
}

func hostnameProblem(s string) string {
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return "it is empty"
	}
	if len(name) > 253 {
		return fmt.Sprintf("it is %d characters long; a hostname has at most 253", len(name))
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return "it has an empty label"
		}
		if i := strings.IndexFunc(l, func(r rune) bool { return !isNameChar(r) }); i >= 0 {
			r, _ := utf8.DecodeRuneInString(l[i:])
			return fmt.Sprintf("it contains %s; a hostname has only letters, digits, hyphens, underscores and dots", charName(r))
		}
		if len(l) > 63 {
			return fmt.Sprintf("label %q is %d characters long; a label has at most 63", l, len(l))
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("label %q starts or ends with a hyphen", l)
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return "its last label is all digits, as only an IPv4 address has"
	}
	return ""
}

func normalizeHostname(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

func isNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// splitEntries splits a comma-separated list, trims the entries and drops empty ones.
func splitEntries(s string) []string {
	var entries []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	return entries
}

// charName names a character for a message: the invisible ones in words ("a space"), the
// others quoted.
func charName(r rune) string {
	switch {
	case r == ' ':
		return "a space"
	case r == '\t':
		return "a tab"
	case unicode.IsSpace(r):
		return fmt.Sprintf("a space character (%U)", r)
	case !unicode.IsPrint(r):
		return fmt.Sprintf("an invisible character (%U)", r)
	}
	return fmt.Sprintf("%q", r)
}
