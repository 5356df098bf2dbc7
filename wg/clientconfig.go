package wg

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// ClientConfig is the wg-quick configuration file handed to a device.
type ClientConfig struct {
	// PrivateKey is the device's base64 private key. When empty (the user
	// brought their own key pair) a commented placeholder line is written.
	PrivateKey string
	// Addresses are the device's tunnel addresses (/32, /128).
	Addresses []netip.Prefix
	// DNS servers and search domains; the line is omitted when empty.
	DNS []string
	// MTU is omitted when 0.
	MTU int

	ServerPublicKey string
	// PresharedKey is omitted when empty.
	PresharedKey string
	// AllowedIPs are the networks the client routes into the tunnel; the
	// line is omitted when empty.
	AllowedIPs []netip.Prefix
	// Endpoint is "host:port" with an IPv6 host in brackets; see JoinEndpoint.
	Endpoint string
	// PersistentKeepalive in seconds; omitted when 0.
	PersistentKeepalive int
}

// placeholderPrivateKey replaces the PrivateKey line when the server does not
// know the device's private key.
const placeholderPrivateKey = "# PrivateKey = <your private key>"

// Render writes the configuration in wg-quick format. Lines whose value would
// be empty are left out; no value is ever written as "None" or "".
func (c ClientConfig) Render() []byte {
	var b bytes.Buffer
	b.WriteString("[Interface]\n")
	if c.PrivateKey != "" {
		line(&b, "PrivateKey", c.PrivateKey)
	} else {
		b.WriteString(placeholderPrivateKey + "\n")
	}
	line(&b, "Address", FormatPrefixes(c.Addresses))
	var dns []string
	for _, d := range c.DNS {
		if d = strings.TrimSpace(d); d != "" && !strings.ContainsFunc(d, unicode.IsControl) {
			dns = append(dns, d)
		}
	}
	line(&b, "DNS", strings.Join(dns, ", "))
	if c.MTU > 0 {
		line(&b, "MTU", strconv.Itoa(c.MTU))
	}

	b.WriteString("\n[Peer]\n")
	line(&b, "PublicKey", c.ServerPublicKey)
	line(&b, "PresharedKey", c.PresharedKey)
	line(&b, "AllowedIPs", FormatPrefixes(c.AllowedIPs))
	line(&b, "Endpoint", c.Endpoint)
	if c.PersistentKeepalive > 0 {
		line(&b, "PersistentKeepalive", strconv.Itoa(c.PersistentKeepalive))
	}
	return b.Bytes()
}

// Validate reports what is missing for the configuration to bring a tunnel
// up: the server key, an address and an endpoint.
func (c ClientConfig) Validate() error {
	var errs []error
	if c.ServerPublicKey == "" {
		errs = append(errs, errors.New("server public key is missing"))
	}
	if len(c.Addresses) == 0 {
		errs = append(errs, errors.New("device has no tunnel address"))
	}
	if c.Endpoint == "" {
		errs = append(errs, errors.New("server endpoint is missing"))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("server endpoint %q: %w", c.Endpoint, err))
	}
	return errors.Join(errs...)
}

// JoinEndpoint returns host:port for an Endpoint line, putting an IPv6 host in
// brackets ("[2001:db8::1]:51820"). A host that is already bracketed is kept.
func JoinEndpoint(host string, port int) string {
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// line writes "key = value". An empty value writes nothing, and so does a
// value with a control character: a newline smuggled into, say, a DNS setting
// must never become a line of its own (wg-quick runs PostUp lines as shell).
func line(b *bytes.Buffer, key, value string) {
	if value == "" || strings.ContainsFunc(value, unicode.IsControl) {
		return
	}
	b.WriteString(key)
	b.WriteString(" = ")
	b.WriteString(value)
	b.WriteByte('\n')
}

// FormatPrefixes writes networks as a configuration file and the forms write them:
// "10.0.0.0/8, fd00::/64". ParseAllowedIPs reads it back.
func FormatPrefixes(ps []netip.Prefix) string {
	s := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			s = append(s, p.String())
		}
	}
	return strings.Join(s, ", ")
}
