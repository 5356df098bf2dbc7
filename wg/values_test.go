package wg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// checkValueErr reports a mismatch between err and wantErr: "" wants no error, anything else is a
// substring the message must contain.
func checkValueErr(t *testing.T, call string, err error, wantErr string) (ok bool) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%s: got error %q, want none", call, err)
	case wantErr != "" && err == nil:
		t.Errorf("%s: got no error, want one containing %q", call, wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("%s: got error %q, want it to contain %q", call, err, wantErr)
	default:
		return wantErr == ""
	}
	return false
}

// hostList returns n different IPv4 hosts, comma separated, each formatted from format with
// the address's last two bytes.
func hostList(format string, n int) string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf(format, i/256, i%256)
	}
	return strings.Join(hosts, ",")
}

func TestParseAllowedIPs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "only commas and spaces", in: " , ,", want: nil},
		{name: "default routes", in: "0.0.0.0/0, ::/0", want: []string{"0.0.0.0/0", "::/0"}},
		{name: "whitespace trimmed", in: "  10.0.0.0/8 ,\t192.168.0.0/16  ", want: []string{"10.0.0.0/8", "192.168.0.0/16"}},
		{name: "trailing comma", in: "10.0.0.0/8,", want: []string{"10.0.0.0/8"}},
		{name: "bare IPv4 is a host", in: "192.168.1.7", want: []string{"192.168.1.7/32"}},
		{name: "bare IPv6 is a host", in: "fd00::1", want: []string{"fd00::1/128"}},
		{name: "IPv6 canonical form", in: "FD00:0:0::/64", want: []string{"fd00::/64"}},
		{name: "duplicates removed, order kept", in: "10.0.0.0/8, 172.16.0.0/12, 10.0.0.0/8, 10.0.0.1, 10.0.0.1/32", want: []string{"10.0.0.0/8", "172.16.0.0/12", "10.0.0.1/32"}},
		{name: "host bits", in: "10.0.0.5/8", wantErr: "10.0.0.5/8 has host bits set; did you mean 10.0.0.0/8?"},
		{name: "IPv6 host bits", in: "fd00::1/64", wantErr: "fd00::1/64 has host bits set; did you mean fd00::/64?"},
		{name: "not a CIDR", in: "0.0.0.0/0, nope", wantErr: `"nope" is not a CIDR`},
		{name: "prefix too long", in: "10.0.0.0/33", wantErr: `"10.0.0.0/33" has prefix length "33"; it must be a number from 0 to 32`},
		{name: "prefix not a number", in: "fd00::/x", wantErr: "from 0 to 128"},
		{name: "IPv6 zone on address", in: "fe80::1%eth0", wantErr: `"fe80::1%eth0" has an IPv6 zone (%eth0)`},
		{name: "IPv6 zone on prefix", in: "fe80::%eth0/64", wantErr: `"fe80::%eth0/64" has an IPv6 zone (%eth0)`},
		{name: "IPv4-mapped address", in: "::ffff:10.0.0.1", wantErr: `"::ffff:10.0.0.1" is an IPv4-mapped IPv6 address, which WireGuard treats as IPv6; write 10.0.0.1`},
		{name: "IPv4-mapped prefix", in: "::ffff:10.0.0.0/104", wantErr: "::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 network, which WireGuard treats as IPv6; write 10.0.0.0/8"},
		{name: "space inside entry", in: "10.0.0.0 /8", wantErr: `"10.0.0.0 /8" is not a CIDR`},
		{name: "as many as allowed", in: hostList("10.0.%d.%d", MaxAllowedIPs), want: strings.Split(hostList("10.0.%d.%d/32", MaxAllowedIPs), ",")},
		{name: "duplicates do not count", in: hostList("10.0.%d.%d", MaxAllowedIPs) + ",10.0.0.0", want: strings.Split(hostList("10.0.%d.%d/32", MaxAllowedIPs), ",")},
		{name: "too many", in: hostList("10.0.%d.%d", MaxAllowedIPs+1), wantErr: "the list has more than 256 entries; give at most 256 networks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAllowedIPs(tt.in)
			if !checkValueErr(t, "ParseAllowedIPs("+tt.in+")", err, tt.wantErr) {
				return
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !slices.Equal(gotS, tt.want) {
				t.Errorf("ParseAllowedIPs(%q): got %q, want %q", tt.in, gotS, tt.want)
			}
		})
	}
}

func TestParseDNS(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	label64 := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "servers", in: "1.1.1.1, 1.0.0.1", want: []string{"1.1.1.1", "1.0.0.1"}},
		{name: "whitespace and trailing comma", in: " 9.9.9.9 ,, home.lan ,", want: []string{"9.9.9.9", "home.lan"}},
		{name: "IPv6 canonical", in: "2606:4700:4700:0:0:0:0:1111", want: []string{"2606:4700:4700::1111"}},
		{name: "domain lower-cased, trailing dot dropped", in: "Corp.Example.COM.", want: []string{"corp.example.com"}},
		{name: "duplicates removed", in: "1.1.1.1, lan, 1.1.1.1, LAN", want: []string{"1.1.1.1", "lan"}},
		{name: "63-char label", in: label63 + ".example", want: []string{label63 + ".example"}},
		{name: "digits inside labels", in: "1password.example, a-1.b2", want: []string{"1password.example", "a-1.b2"}},
		{name: "64-char label", in: label64 + ".example", wantErr: `label "` + label64 + `" is 64 characters long; a label has at most 63`},
		{name: "253 characters", in: strings.Repeat(label63+".", 3) + strings.Repeat("b", 61), want: []string{strings.Repeat(label63+".", 3) + strings.Repeat("b", 61)}},
		{name: "254 characters", in: strings.Repeat(label63+".", 3) + strings.Repeat("b", 62), wantErr: "is 254 characters long; a hostname has at most 253"},
		{name: "hyphen at label edge", in: "-bad-.example", wantErr: `"-bad-.example" is not an IP address or search domain: label "-bad-" starts or ends with a hyphen`},
		{name: "space", in: "1.1.1.1, bad host", wantErr: `"bad host" is not an IP address or search domain: it contains a space;`},
		{name: "tab", in: "bad\thost", wantErr: `it contains a tab;`},
		{name: "invisible", in: "bad\u200bhost", wantErr: `it contains an invisible character (U+200B);`},
		{name: "underscore", in: "my_host.lan", want: []string{"my_host.lan"}},
		{name: "empty label", in: "vpn..example", wantErr: "it has an empty label"},
		{name: "bad IPv4", in: "300.1.1.1", wantErr: `"300.1.1.1" is not an IP address or search domain: its last label is all digits`},
		{name: "non-ASCII", in: "bücher.example", wantErr: `it contains 'ü'`},
		{name: "zone", in: "fe80::1%eth0", wantErr: `"fe80::1%eth0" has an IPv6 zone`},
		{name: "IPv4-mapped", in: "::ffff:1.1.1.1", wantErr: "write 1.1.1.1"},
		{name: "as many as allowed", in: hostList("10.0.%d.%d", MaxDNS), want: strings.Split(hostList("10.0.%d.%d", MaxDNS), ",")},
		{name: "too many", in: hostList("10.0.%d.%d", MaxDNS) + ", search.example", wantErr: "the list has more than 16 entries; give at most 16 DNS servers and search domains"},
		{name: "500 entries", in: hostList("10.0.%d.%d", 500), wantErr: "the list has more than 16 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDNS(tt.in)
			if checkValueErr(t, "ParseDNS("+tt.in+")", err, tt.wantErr) && !slices.Equal(got, tt.want) {
				t.Errorf("ParseDNS(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMTUAndKeepalive(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (int, error)
		in      string
		want    int
		wantErr string
	}{
		{"MTU lowest", ParseMTU, "1280", 1280, ""},
		{"MTU highest", ParseMTU, "9000", 9000, ""},
		{"MTU whitespace", ParseMTU, " 1420 ", 1420, ""},
		{"MTU too low", ParseMTU, "1279", 0, `MTU "1279" is not between 1280 and 9000`},
		{"MTU too high", ParseMTU, "70000", 0, `MTU "70000" is not between 1280 and 9000`},
		{"MTU beyond int", ParseMTU, "99999999999999999999999", 0, "is not between 1280 and 9000"},
		{"MTU not a number", ParseMTU, "1420b", 0, `MTU "1420b" is not a whole number`},
		{"MTU sign", ParseMTU, "+1420", 0, `MTU "+1420" is not a whole number`},
		{"MTU empty", ParseMTU, " ", 0, "MTU is empty"},
		{"keepalive off", ParseKeepalive, "0", 0, ""},
		{"keepalive usual", ParseKeepalive, "25", 25, ""},
		{"keepalive highest", ParseKeepalive, "65535", 65535, ""},
		{"keepalive too high", ParseKeepalive, "65536", 0, `persistent keepalive "65536" is not between 0 and 65535 seconds`},
		{"keepalive negative", ParseKeepalive, "-1", 0, `persistent keepalive "-1" is not a whole number`},
		{"keepalive duration", ParseKeepalive, "25s", 0, `persistent keepalive "25s" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if checkValueErr(t, tt.name, err, tt.wantErr) && got != tt.want {
				t.Errorf("%s(%q): got %d, want %d", tt.name, tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantHost string
		wantPort int
		wantErr  string
	}{
		{name: "hostname", in: "vpn.example.com", wantHost: "vpn.example.com"},
		{name: "hostname lower-cased", in: " VPN.Example.com. ", wantHost: "vpn.example.com"},
		{name: "hostname and port", in: "vpn.example.com:443", wantHost: "vpn.example.com", wantPort: 443},
		{name: "IPv4", in: "203.0.113.10", wantHost: "203.0.113.10"},
		{name: "IPv4 and port", in: "203.0.113.10:51820", wantHost: "203.0.113.10", wantPort: 51820},
		{name: "bare IPv6", in: "::1", wantHost: "::1"},
		{name: "bare IPv6 canonical", in: "2001:DB8:0::10", wantHost: "2001:db8::10"},
		{name: "bracketed IPv6 and port", in: "[::1]:51820", wantHost: "::1", wantPort: 51820},
		{name: "bracketed IPv6 without port", in: "[2001:db8::1]", wantHost: "2001:db8::1"},
		{name: "highest port", in: "host:65535", wantHost: "host", wantPort: 65535},
		{name: "empty", in: "  ", wantErr: "endpoint is empty"},
		{name: "port zero", in: "host:0", wantErr: `port "0" in "host:0" is not between 1 and 65535`},
		{name: "port too high", in: "host:70000", wantErr: `port "70000" in "host:70000" is not between 1 and 65535`},
		{name: "port not a number", in: "host:http", wantErr: `port "http" in "host:http" is not a number`},
		{name: "port negative", in: "host:-1", wantErr: `port "-1" in "host:-1" is not a number`},
		{name: "empty port", in: "host:", wantErr: `"host:" has an empty port`},
		{name: "empty host", in: ":51820", wantErr: `"" is not an IP address or hostname: it is empty`},
		{name: "IPv6 with port, no brackets", in: "2001:db8::1:51820", wantErr: "is not an IPv6 address; an IPv6 endpoint with a port is written [2001:db8::1]:51820"},
		{name: "no closing bracket", in: "[::1:51820", wantErr: `"[::1:51820" has no closing bracket`},
		{name: "junk after bracket", in: "[::1]51820", wantErr: `has "51820" after the closing bracket`},
		{name: "zone", in: "[fe80::1%eth0]:51820", wantErr: `"fe80::1%eth0" has an IPv6 zone (%eth0)`},
		{name: "bare zone", in: "fe80::1%eth0", wantErr: "has an IPv6 zone"},
		{name: "IPv4-mapped", in: "[::ffff:203.0.113.10]:51820", wantErr: "write 203.0.113.10"},
		{name: "bad hostname", in: "-bad-.example:51820", wantErr: `"-bad-.example" is not an IP address or hostname: label "-bad-" starts or ends with a hyphen`},
		{name: "64-char label", in: strings.Repeat("x", 64) + ".example", wantErr: "a label has at most 63"},
		{name: "empty label", in: "vpn..example", wantErr: `"vpn..example" is not an IP address or hostname: it has an empty label`},
		{name: "URL", in: "https://vpn.example.com", wantErr: `"https://vpn.example.com" is a URL; give only the host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := ParseEndpoint(tt.in)
			if !checkValueErr(t, "ParseEndpoint("+tt.in+")", err, tt.wantErr) {
				return
			}
			if host != tt.wantHost || port != tt.wantPort {
				t.Errorf("ParseEndpoint(%q): got %q, %d, want %q, %d", tt.in, host, port, tt.wantHost, tt.wantPort)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		defaultPort int
		want        string
		wantErr     string
	}{
		{"default port added", "vpn.example.com", 51820, "vpn.example.com:51820", ""},
		{"given port wins", "vpn.example.com:443", 51820, "vpn.example.com:443", ""},
		{"bare IPv6 bracketed", "2001:db8::1", 51820, "[2001:db8::1]:51820", ""},
		{"bracketed IPv6 port wins", "[2001:db8::1]:443", 51820, "[2001:db8::1]:443", ""},
		{"no port at all", "vpn.example.com", 0, "", "names no port and the default port 0 is not between 1 and 65535"},
		{"invalid endpoint", "host:70000", 51820, "", "is not between 1 and 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Endpoint(tt.in, tt.defaultPort)
			if checkValueErr(t, "Endpoint("+tt.in+")", err, tt.wantErr) && got != tt.want {
				t.Errorf("Endpoint(%q, %d): got %q, want %q", tt.in, tt.defaultPort, got, tt.want)
			}
		})
	}
}

func TestCheckRelaySubnets(t *testing.T) {
	nets := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	tunnels := nets("10.3.2.0/24", "fd00::3:2:0/120")
	others := map[string][]netip.Prefix{
		"office": nets("10.20.0.0/16"),
		"lab":    nets("192.168.50.0/24", "fd10:50::/64"),
	}
	tests := []struct {
		name    string
		subnets []netip.Prefix
		tunnels []netip.Prefix
		wantErr string
	}{
		{name: "none", subnets: nil},
		{name: "specific networks", subnets: nets("192.168.1.0/24", "10.21.0.0/16", "fd10:51::/64")},
		{name: "single host", subnets: nets("192.168.1.10/32")},
		{name: "adjacent networks", subnets: nets("192.168.0.0/24", "192.168.1.0/24")},
		{name: "IPv4 default route", subnets: nets("192.168.1.0/24", "0.0.0.0/0"), wantErr: "0.0.0.0/0 is a default route; relay subnets must be specific networks"},
		{name: "IPv6 default route", subnets: nets("::/0"), wantErr: "::/0 is a default route"},
		{name: "contains a tunnel network", subnets: nets("10.0.0.0/8"), wantErr: "10.0.0.0/8 overlaps the tunnel network 10.3.2.0/24"},
		{name: "inside a tunnel network", subnets: nets("10.3.2.128/25"), wantErr: "10.3.2.128/25 overlaps the tunnel network 10.3.2.0/24"},
		{name: "IPv6 inside the tunnel network", subnets: nets("fd00::3:2:80/121"), wantErr: "fd00::3:2:80/121 overlaps the tunnel network fd00::3:2:0/120"},
		{name: "IPv6 containing the tunnel network", subnets: nets("fd00::/16"), wantErr: "fd00::/16 overlaps the tunnel network fd00::3:2:0/120"},
		{name: "disabled family skipped", subnets: nets("fd00::/16"), tunnels: []netip.Prefix{netip.MustParsePrefix("10.3.2.0/24"), {}}},
		{name: "contains another of the list", subnets: nets("192.168.1.0/24", "192.168.0.0/16"), wantErr: "192.168.0.0/16 overlaps 192.168.1.0/24, also in the list"},
		{name: "inside another of the list", subnets: nets("fd20::/48", "fd20:0:0:1::/64"), wantErr: "fd20:0:0:1::/64 overlaps fd20::/48, also in the list"},
		{name: "listed twice", subnets: nets("192.168.1.0/24", "192.168.1.0/24"), wantErr: "192.168.1.0/24 is listed twice"},
		{name: "inside another device's", subnets: nets("10.20.0.0/24"), wantErr: `10.20.0.0/24 overlaps 10.20.0.0/16, routed to device "office"`},
		{name: "contains another device's", subnets: nets("192.168.0.0/16"), wantErr: `192.168.0.0/16 overlaps 192.168.50.0/24, routed to device "lab"`},
		{name: "same as another device's", subnets: nets("10.20.0.0/16"), wantErr: `routed to device "office"`},
		{name: "IPv6 inside another device's", subnets: nets("fd10:50::/80"), wantErr: `fd10:50::/80 overlaps fd10:50::/64, routed to device "lab"`},
		{name: "IPv6 containing another device's", subnets: nets("fd10::/16"), wantErr: `fd10::/16 overlaps fd10:50::/64, routed to device "lab"`},
		{name: "host bits", subnets: []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24")}, wantErr: "192.168.1.5/24 has host bits set; did you mean 192.168.1.0/24?"},
		{name: "IPv4-mapped", subnets: nets("::ffff:192.168.1.0/120"), wantErr: "write 192.168.1.0/24"},
		{name: "zero prefix", subnets: []netip.Prefix{{}}, wantErr: "relay subnet 1 is not a valid network"},
		{name: "loopback", subnets: nets("127.0.0.0/8"), wantErr: "127.0.0.0/8 overlaps 127.0.0.0/8, the loopback network; relay subnets are networks behind a device"},
		{name: "inside loopback", subnets: nets("192.168.1.0/24", "127.1.2.0/24"), wantErr: "127.1.2.0/24 overlaps 127.0.0.0/8, the loopback network"},
		{name: "this network", subnets: nets("0.0.0.0/8"), wantErr: `0.0.0.0/8 overlaps 0.0.0.0/8, the "this network" range`},
		{name: "half of IPv4", subnets: nets("0.0.0.0/1"), wantErr: `0.0.0.0/1 overlaps 0.0.0.0/8, the "this network" range`},
		{name: "link-local", subnets: nets("169.254.0.0/16"), wantErr: "169.254.0.0/16 overlaps 169.254.0.0/16, the link-local network"},
		{name: "inside link-local", subnets: nets("169.254.169.254/32"), wantErr: "the link-local network"},
		{name: "multicast", subnets: nets("224.0.0.0/4"), wantErr: "224.0.0.0/4 overlaps 224.0.0.0/4, the multicast range"},
		{name: "inside multicast", subnets: nets("239.255.0.0/16"), wantErr: "the multicast range"},
		{name: "limited broadcast", subnets: nets("255.255.255.255/32"), wantErr: "overlaps 255.255.255.255/32, the limited broadcast address"},
		{name: "reserved range with the broadcast", subnets: nets("240.0.0.0/4"), wantErr: "240.0.0.0/4 overlaps 255.255.255.255/32, the limited broadcast address"},
		{name: "IPv6 unspecified", subnets: nets("::/128"), wantErr: "::/128 overlaps ::/128, the unspecified address"},
		{name: "IPv6 loopback", subnets: nets("::1/128"), wantErr: "::1/128 overlaps ::1/128, the loopback address"},
		{name: "IPv6 start of the space", subnets: nets("::/8"), wantErr: "::/8 overlaps ::/128, the unspecified address"},
		{name: "around the IPv4-mapped range", subnets: nets("::fffe:0:0/95"), wantErr: "::fffe:0:0/95 overlaps ::ffff:0.0.0.0/96, the IPv4-mapped range"},
		{name: "IPv6 link-local", subnets: nets("fe80::/10"), wantErr: "fe80::/10 overlaps fe80::/10, the link-local network"},
		{name: "inside IPv6 link-local", subnets: nets("fe80::/64"), wantErr: "fe80::/64 overlaps fe80::/10, the link-local network"},
		{name: "IPv6 multicast", subnets: nets("ff02::/16"), wantErr: "ff02::/16 overlaps ff00::/8, the multicast range"},
		{name: "upper half of IPv6", subnets: nets("8000::/1"), wantErr: "8000::/1 overlaps fe80::/10, the link-local network"},
		{name: "next to the reserved networks", subnets: nets("1.0.0.0/8", "126.0.0.0/8", "128.0.0.0/3", "169.253.0.0/16", "223.255.255.0/24", "fe00::/9", "fec0::/10")},
		{name: "as many as allowed", subnets: nets(strings.Split(hostList("172.16.%d.%d/32", MaxRelaySubnets), ",")...)},
		{name: "too many", subnets: nets(strings.Split(hostList("172.16.%d.%d/32", MaxRelaySubnets+1), ",")...), wantErr: "65 relay subnets given; a device has at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := tunnels
			if tt.tunnels != nil {
				tun = tt.tunnels
			}
			err := CheckRelaySubnets(tt.subnets, tun, others)
			checkValueErr(t, "CheckRelaySubnets", err, tt.wantErr)
		})
	}
}

// TestValuesRoundTrip checks that what the parsers return parses again to itself, so a value
// stored after parsing is accepted when it is read back.
func TestValuesRoundTrip(t *testing.T) {
	ips, err := ParseAllowedIPs("10.0.0.1, FD00::/8, 0.0.0.0/0")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range ips {
		s = append(s, p.String())
	}
	again, err := ParseAllowedIPs(strings.Join(s, ","))
	if err != nil || !slices.Equal(again, ips) {
		t.Errorf("ParseAllowedIPs round trip: got %v, %v, want %v", again, err, ips)
	}
	dns, err := ParseDNS("2606:4700:4700:0::1111, Home.Lan.")
	if err != nil {
		t.Fatal(err)
	}
	dnsAgain, err := ParseDNS(strings.Join(dns, ","))
	if err != nil || !slices.Equal(dnsAgain, dns) {
		t.Errorf("ParseDNS round trip: got %q, %v, want %q", dnsAgain, err, dns)
	}
	for _, in := range []string{"[2001:DB8::1]:51820", "VPN.example.com:443", "2001:db8::1"} {
		e, err := Endpoint(in, 51820)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := Endpoint(e, 1); err != nil || again != e {
			t.Errorf("Endpoint(%q) round trip: got %q, %v, want %q", in, again, err, e)
		}
	}
}
