package firewall

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestExplainAgreesWithTheKernel generates rule sets (random rules, actions, protocols,
// ports, priorities, default actions and the peer-to-peer policy), applies each to the
// kernel, and sends real packets (TCP connects, UDP datagrams, pings) from random devices,
// and from a relay subnet, to random destinations on the far side and on the other device:
// each is answered exactly when Explain says accept. EXPLAIN_SEED repeats a run.
func TestExplainAgreesWithTheKernel(t *testing.T) {
	l := newGatewayLab(t, true)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("EXPLAIN_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("EXPLAIN_SEED=%d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	type source struct {
		dev  int
		addr netip.Addr
	}
	sources := []source{
		{0, netip.MustParseAddr("10.3.2.2")}, {0, netip.MustParseAddr("fd00::3:2:2")}, {0, relayAddr},
		{1, netip.MustParseAddr("10.3.2.3")}, {1, netip.MustParseAddr("fd00::3:2:3")},
	}
	// The other device's addresses, reached through the router.
	peerAddrs := [2][]netip.Addr{addrs("10.3.2.3", "fd00::3:2:3"), addrs("10.3.2.2", "fd00::3:2:2", "192.168.50.1")}
	const sets, probesPerSet = 10, 16
	cases, accepted := 0, 0
	for set := range sets {
		in := l.input()
		in.Rules = randomRules(rnd, 4+rnd.IntN(9))
		in.Policy = Policy{Default: Action(rnd.IntN(2)), PeerToPeer: rnd.IntN(2) == 0}
		if rnd.IntN(2) == 0 {
			in.Policy.UserDefault = map[string]Action{"bob": Action(rnd.IntN(2))}
		}
		rs := compile(t, in)
		if _, err := l.table.Apply(rs); err != nil {
			t.Fatalf("set %d: %v", set, err)
		}
		type pcase struct {
			src      source
			dst      netip.Addr
			protocol Protocol
			port     uint16
			want     Verdict
		}
		var pcases []pcase
		var probes []func() (bool, error)
		for len(pcases) < probesPerSet {
			src := sources[rnd.IntN(len(sources))]
			candidates := append(append([]netip.Addr(nil), farAddrs...), peerAddrs[src.dev]...)
			dst := candidates[rnd.IntN(len(candidates))]
			if dst.Is4() != src.addr.Is4() {
				continue
			}
			c := pcase{src: src, dst: dst, protocol: Protocol(1 + rnd.IntN(3))}
			if c.protocol != ICMP {
				c.port = probePorts[rnd.IntN(len(probePorts))]
			}
			c.want = rs.Explain(Packet{From: src.addr, To: dst, Protocol: c.protocol, Port: c.port})
			pcases = append(pcases, c)
			probes = append(probes, func() (bool, error) {
				return probe(l.devices[c.src.dev], c.src.addr, c.dst, c.protocol, c.port)
			})
		}
		got := probeAll(t, probes)
		for i, c := range pcases {
			cases++
			if got[i] {
				accepted++
			}
			if got[i] != (c.want.Action == Accept) {
				t.Errorf("set %d: %s → %s %s/%d: Explain says %s (%s), the kernel %s it\nrule set:\n%s",
					set, c.src.addr, c.dst, c.protocol, c.port, c.want.Action, c.want.Decider, map[bool]string{true: "accepted", false: "dropped"}[got[i]], rs.Text())
			}
		}
	}
	t.Logf("%d cases, %d accepted, %d dropped", cases, accepted, cases-accepted)
	if accepted == 0 || accepted == cases {
		t.Errorf("all %d cases had one outcome: the generator tests nothing", cases)
	}
}

// ruleDestinations are what generated rules match: the far side's addresses, the tunnel
// networks, the other device's addresses and relay subnet, everything.
var ruleDestinations = prefixes(
	"198.51.100.0/24", "198.51.100.0/25", "198.51.100.4/30", "198.51.100.7/32", "198.51.100.128/25",
	"203.0.113.0/24", "203.0.113.8/29", "0.0.0.0/0", "10.3.2.0/24", "10.3.2.3/32", "192.168.50.0/24",
	"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::80:0/112", "2001:db8:2::1/128", "::/0", "fd00::3:2:0/120")

func randomRules(rnd *rand.Rand, n int) []Rule {
	users := []string{"", "ann", "bob"}
	rules := make([]Rule, n)
	for i := range rules {
		r := Rule{ID: fmt.Sprint(i + 1), UserID: users[rnd.IntN(len(users))], Action: Action(rnd.IntN(2)),
			Destination: ruleDestinations[rnd.IntN(len(ruleDestinations))], Protocol: Protocol(rnd.IntN(4)),
			Priority: rnd.IntN(4), Seq: int64(i)}
		if r.Protocol == TCP || r.Protocol == UDP {
			switch rnd.IntN(4) {
			case 0:
				p := probePorts[rnd.IntN(len(probePorts))]
				r.Ports = Ports{p, p}
			case 1: // ranges that end on probe ports
				r.Ports = Ports{22, 53}
			case 2:
				r.Ports = Ports{443, 8080}
			}
		}
		rules[i] = r
	}
	return rules
}
