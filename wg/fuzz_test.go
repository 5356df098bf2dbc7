package wg

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The fuzz targets of the parsers people type into: each checks that what is accepted obeys
// the rules and parses again to the same value. Their seed corpora are in testdata/fuzz.

// FuzzParsePublicKey: an accepted key is the input itself, trimmed (a 32-byte key has one
// strict base64 form), and not all zeros.
func FuzzParsePublicKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		key, err := ParsePublicKey(in)
		if err != nil {
			return
		}
		if key == (wgtypes.Key{}) {
			t.Fatalf("ParsePublicKey(%q) accepted the zero key", in)
		}
		if got := key.String(); got != strings.TrimSpace(in) {
			t.Fatalf("ParsePublicKey(%q) = %s, not the input", in, got)
		}
		if again, err := ParsePublicKey(key.String()); err != nil || again != key {
			t.Fatalf("ParsePublicKey(%q) = %s, which parses to %s, %v", in, key, again, err)
		}
	})
}

// FuzzParseAllowedIPs: at most MaxAllowedIPs different networks, each valid, masked, without
// a zone or the IPv4-mapped form; written out they parse to the same list.
func FuzzParseAllowedIPs(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseAllowedIPs(in)
		if err != nil {
			return
		}
		checkPrefixes(t, "ParseAllowedIPs("+strconv.Quote(in)+")", got, MaxAllowedIPs)
		again, err := ParseAllowedIPs(prefixList(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseAllowedIPs(%q) = %v, which parses to %v, %v", in, got, again, err)
		}
	})
}

// FuzzRelaySubnets runs the relay subnets field as the forms do, parse then check: accepted
// subnets are specific, overlap no reserved network, tunnel network, each other or another
// device's subnet, and there are at most MaxRelaySubnets.
func FuzzRelaySubnets(f *testing.F) {
	tunnels := []netip.Prefix{netip.MustParsePrefix("10.3.2.0/24"), netip.MustParsePrefix("fd00::3:2:0/120")}
	others := map[string][]netip.Prefix{"office": {netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd10:50::/64")}}
	f.Fuzz(func(t *testing.T, in string) {
		subnets, err := ParseAllowedIPs(in)
		if err != nil || CheckRelaySubnets(subnets, tunnels, others) != nil {
			return
		}
		call := "relay subnets " + strconv.Quote(in)
		checkPrefixes(t, call, subnets, MaxRelaySubnets)
		var taken []netip.Prefix
		for _, r := range reservedNetworks {
			taken = append(taken, r.prefix)
		}
		taken = append(append(taken, tunnels...), others["office"]...)
		for i, p := range subnets {
			if p.Bits() == 0 {
				t.Fatalf("%s: accepted the default route %s", call, p)
			}
			for _, q := range append(taken, subnets[:i]...) {
				if p.Overlaps(q) {
					t.Fatalf("%s: accepted %s, which overlaps %s", call, p, q)
				}
			}
		}
	})
}

func checkPrefixes(t *testing.T, call string, ps []netip.Prefix, max int) {
	t.Helper()
	if len(ps) > max {
		t.Fatalf("%s: %d networks, more than %d", call, len(ps), max)
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range ps {
		switch {
		case !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6():
			t.Fatalf("%s: accepted %s", call, p)
		case seen[p]:
			t.Fatalf("%s: %s twice", call, p)
		}
		seen[p] = true
	}
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// FuzzParseDNS: at most MaxDNS different entries, each an IP address in canonical form or a
// lower-case hostname without a trailing dot; written out they parse to the same list.
func FuzzParseDNS(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseDNS(in)
		if err != nil {
			return
		}
		if len(got) > MaxDNS {
			t.Fatalf("ParseDNS(%q): %d entries, more than %d", in, len(got), MaxDNS)
		}
		for i, e := range got {
			a, err := netip.ParseAddr(e)
			switch {
			case slices.Contains(got[:i], e):
				t.Fatalf("ParseDNS(%q): %q twice", in, e)
			case err == nil && (a.String() != e || a.Zone() != "" || a.Is4In6()):
				t.Fatalf("ParseDNS(%q): accepted the address %q", in, e)
			case err != nil && (hostnameProblem(e) != "" || e != normalizeHostname(e)):
				t.Fatalf("ParseDNS(%q): accepted the name %q", in, e)
			}
		}
		again, err := ParseDNS(strings.Join(got, ", "))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseDNS(%q) = %q, which parses to %q, %v", in, got, again, err)
		}
	})
}

// FuzzParseEndpoint: an accepted endpoint has a host in canonical form and a port from 0
// (none) to 65535; the Endpoint line written from it reads back as the same host and port.
func FuzzParseEndpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		host, port, err := ParseEndpoint(in)
		if err != nil {
			return
		}
		if host == "" || port < 0 || port > 65535 || strings.ContainsAny(host, "[]% \t") {
			t.Fatalf("ParseEndpoint(%q) = %q, %d", in, host, port)
		}
		if p, err := ParseHost(host); err != nil || p != host {
			t.Fatalf("ParseEndpoint(%q): host %q is not canonical (%q, %v)", in, host, p, err)
		}
		line, err := Endpoint(in, 51820)
		if err != nil {
			t.Fatalf("Endpoint(%q): %v, though ParseEndpoint accepted it", in, err)
		}
		wantPort := port
		if port == 0 {
			wantPort = 51820
		}
		if h, p, err := ParseEndpoint(line); err != nil || h != host || p != wantPort {
			t.Fatalf("Endpoint(%q) = %q, which parses to %q, %d, %v; want %q, %d", in, line, h, p, err, host, wantPort)
		}
	})
}

// FuzzParseWholeNumbers: an accepted MTU or keepalive is in its range and is the number
// written, leading zeros aside.
func FuzzParseWholeNumbers(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		for _, c := range []struct {
			name   string
			parse  func(string) (int, error)
			lo, hi int
		}{
			{"ParseMTU", ParseMTU, MinMTU, MaxMTU},
			{"ParseKeepalive", ParseKeepalive, 0, MaxKeepalive},
		} {
			n, err := c.parse(in)
			if err != nil {
				continue
			}
			if n < c.lo || n > c.hi {
				t.Fatalf("%s(%q) = %d, outside %d–%d", c.name, in, n, c.lo, c.hi)
			}
			if digits := strings.TrimLeft(strings.TrimSpace(in), "0"); digits != strconv.Itoa(n) && !(n == 0 && digits == "") {
				t.Fatalf("%s(%q) = %d, not the number written", c.name, in, n)
			}
		}
	})
}
