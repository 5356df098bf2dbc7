package firewall

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func testInput() Input {
	return Input{
		Interface: "wg0",
		Networks:  prefixes("10.3.2.0/24", "fd00::3:2:0/120"),
		Sources: []Source{
			{DeviceID: "a1", UserID: "ann", Prefixes: prefixes("10.3.2.2/32", "fd00::3:2:2/128", "192.168.50.0/24")},
			{DeviceID: "b1", UserID: "bob", Prefixes: prefixes("10.3.2.3/32", "fd00::3:2:3/128")},
		},
		Rules: []Rule{
			{ID: "g1", Action: Drop, Destination: netip.MustParsePrefix("8.8.8.8/32"), Protocol: TCP, Ports: Ports{53, 53}, Priority: 10},
			{ID: "a2", UserID: "ann", Action: Accept, Destination: netip.MustParsePrefix("1.1.1.1/32"), Priority: 5, Seq: 2},
			{ID: "a1", UserID: "ann", Action: Drop, Destination: netip.MustParsePrefix("1.1.1.0/24"), Protocol: TCP, Ports: Ports{400, 500}, Priority: 5, Seq: 1},
			{ID: "a3", UserID: "ann", Action: Drop, Destination: netip.MustParsePrefix("2001:db8::/32"), Protocol: ICMP, Priority: 1},
			{ID: "x1", UserID: "nobody", Action: Drop, Destination: netip.MustParsePrefix("0.0.0.0/0")},
		},
		Policy: Policy{Default: Accept, UserDefault: map[string]Action{"bob": Drop}},
	}
}

func TestExplain(t *testing.T) {
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name       string
		peerToPeer bool
		p          Packet
		want       Action
		decider    string
		rule       string
	}{
		{"a global rule comes before the user's", false, Packet{addr("10.3.2.2"), addr("8.8.8.8"), TCP, 53}, Drop, "global rule g1", "g1"},
		{"a port outside the global rule", false, Packet{addr("10.3.2.2"), addr("8.8.8.8"), UDP, 53}, Accept, "the default action", ""},
		{"ties go by creation", false, Packet{addr("10.3.2.2"), addr("1.1.1.1"), TCP, 443}, Drop, "rule a1", "a1"},
		{"the port range's ends", false, Packet{addr("10.3.2.2"), addr("1.1.1.1"), TCP, 501}, Accept, "rule a2", "a2"},
		{"a relay subnet's traffic is its owner's", false, Packet{addr("192.168.50.9"), addr("1.1.1.9"), TCP, 400}, Drop, "rule a1", "a1"},
		{"ICMP to IPv6", false, Packet{addr("fd00::3:2:2"), addr("2001:db8::1"), ICMP, 0}, Drop, "rule a3", "a3"},
		{"TCP to IPv6 is no ICMP", false, Packet{addr("fd00::3:2:2"), addr("2001:db8::1"), TCP, 22}, Accept, "the default action", ""},
		{"the user's own default", false, Packet{addr("10.3.2.3"), addr("9.9.9.9"), UDP, 53}, Drop, "the user's default action", ""},
		{"peer-to-peer off", false, Packet{addr("10.3.2.2"), addr("10.3.2.3"), TCP, 22}, Drop, "peer-to-peer policy", ""},
		{"peer-to-peer off, to a relay subnet", false, Packet{addr("10.3.2.3"), addr("192.168.50.1"), TCP, 22}, Drop, "peer-to-peer policy", ""},
		{"peer-to-peer on: the rules decide", true, Packet{addr("10.3.2.2"), addr("10.3.2.3"), TCP, 22}, Accept, "the default action", ""},
		{"a source no device has", false, Packet{addr("10.3.2.99"), addr("1.1.1.1"), TCP, 443}, Accept, "no device has the address", ""},
		{"an IPv4-mapped source is IPv4", false, Packet{addr("::ffff:10.3.2.2"), addr("8.8.8.8"), TCP, 53}, Drop, "global rule g1", "g1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			in.Policy.PeerToPeer = tc.peerToPeer
			rs, err := Compile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := rs.Explain(tc.p)
			if got.Action != tc.want || !strings.Contains(got.Decider, tc.decider) || got.RuleID != tc.rule {
				t.Errorf("Explain(%+v) = %+v, want %s by %q (rule %q)", tc.p, got, tc.want, tc.decider, tc.rule)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(*Input)
	}{
		{"ports without TCP or UDP", "ports need TCP or UDP", func(in *Input) { in.Rules[3].Ports = Ports{1, 2} }},
		{"a port range backwards", "not within 1–65535", func(in *Input) { in.Rules[0].Ports = Ports{60, 50} }},
		{"no destination", "no destination", func(in *Input) { in.Rules[0].Destination = netip.Prefix{} }},
		{"a relay subnet over another's", "overlaps", func(in *Input) {
			in.Sources[1].Prefixes = append(in.Sources[1].Prefixes, netip.MustParsePrefix("192.168.50.128/25"))
		}},
		{"one address, two users", "is both user", func(in *Input) { in.Sources[1].Prefixes[0] = netip.MustParsePrefix("10.3.2.2/32") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			tc.edit(&in)
			if _, err := Compile(in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	rs, err := Compile(Input{Interface: "wg0", Networks: prefixes("10.3.2.0/24"), Masquerade: true,
		Sources: testInput().Sources, Rules: testInput().Rules[:3], Policy: Policy{Default: Drop}})
	if err != nil {
		t.Fatal(err)
	}
	text := rs.Text()
	for _, want := range []string{
		"table inet wiregui {",
		"10.3.2.2/32 : jump " + ChainName("ann"),
		"192.168.50.0/24 : jump " + ChainName("ann"),
		`iifname != "wg0" oifname "wg0" drop`,
		`iifname "wg0" oifname "wg0" drop`,
		`iifname "wg0" ip saddr vmap @owners4`,
		`ip daddr 8.8.8.8/32 tcp dport 53 drop comment "rule g1"`,
		"chain " + ChainName("ann") + " {\n\t\tjump global\n\t\tip daddr 1.1.1.0/24 tcp dport 400-500 drop comment \"rule a1\"\n\t\tip daddr 1.1.1.1/32 accept comment \"rule a2\"\n\t\tdrop\n\t}",
		`ip saddr 10.3.2.0/24 oifname != "wg0" masquerade`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
}
