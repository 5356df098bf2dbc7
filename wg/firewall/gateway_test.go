package firewall

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestMasquerade: the far side (the internet) has no route back to the tunnel networks, so
// a device reaches it, by ping and TCP, over IPv4 and IPv6, exactly while the tunnel networks
// are masqueraded; a host of a relay subnet (a LAN behind the device) likewise.
func TestMasquerade(t *testing.T) {
	l := newGatewayLab(t, false)
	dev := l.devices[0]
	srcs := addrs("10.3.2.2", "fd00::3:2:2")
	dsts := addrs("198.51.100.1", "2001:db8:1::1")
	for _, masquerade := range []bool{true, false, true} {
		t.Run(fmt.Sprintf("masquerade %v", masquerade), func(t *testing.T) {
			in := l.input()
			in.Masquerade = masquerade
			if _, err := l.table.Apply(compile(t, in)); err != nil {
				t.Fatal(err)
			}
			type pcase struct {
				src, dst netip.Addr
				proto    Protocol
				want     bool
			}
			var cases []pcase
			for i := range srcs {
				for _, proto := range []Protocol{ICMP, TCP} {
					cases = append(cases, pcase{srcs[i], dsts[i], proto, masquerade})
				}
			}
			cases = append(cases, pcase{relayAddr, dsts[0], TCP, masquerade})
			var probes []func() (bool, error)
			for _, c := range cases {
				probes = append(probes, func() (bool, error) { return probe(dev, c.src, c.dst, c.proto, 443) })
			}
			for i, got := range probeAll(t, probes) {
				if c := cases[i]; got != c.want {
					t.Errorf("%s → %s %s: answered %v, want %v", c.src, c.dst, c.proto, got, c.want)
				}
			}
		})
	}
}

// TestLANToPeers: hosts on the server's other networks open connections to devices only with
// the policy on; the devices' own connections to them are answered either way.
func TestLANToPeers(t *testing.T) {
	l := newGatewayLab(t, true)
	far := farAddrs[0]
	for _, on := range []bool{false, true, false} {
		t.Run(fmt.Sprintf("lan to peers %v", on), func(t *testing.T) {
			in := l.input()
			in.Policy.LANToPeers = on
			if _, err := l.table.Apply(compile(t, in)); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name string
				run  func() (bool, error)
				want bool
			}{
				{"far → device, TCP", func() (bool, error) { return probe(l.far, far, netip.MustParseAddr("10.3.2.2"), TCP, 22) }, on},
				{"far → device, IPv6 ping", func() (bool, error) {
					return probe(l.far, netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("fd00::3:2:3"), ICMP, 0)
				}, on},
				{"far → relay subnet, UDP", func() (bool, error) { return probe(l.far, far, relayAddr, UDP, 53) }, on},
				{"device → far, TCP", func() (bool, error) { return probe(l.devices[1], netip.MustParseAddr("10.3.2.3"), far, TCP, 22) }, true},
			}
			var probes []func() (bool, error)
			for _, c := range cases {
				probes = append(probes, c.run)
			}
			for i, got := range probeAll(t, probes) {
				if got != cases[i].want {
					t.Errorf("%s: answered %v, want %v", cases[i].name, got, cases[i].want)
				}
			}
		})
	}
}
