// Package firewall is WireGUI's gateway firewall: it compiles the access rules, the network
// policies and the default action into one description (a Ruleset), which is applied to the
// kernel as the nftables table inet wiregui, rendered as nft text, and evaluated by Explain.
// The three read the same description, so what Explain says is what the kernel does.
//
// The table, for traffic that WireGuard lets in (a packet from a device's tunnel address or
// one of its relay subnets):
//
//	chain forward (hook forward, priority filter, policy accept)
//	    ct state established,related accept     replies and the rest of allowed connections
//	    ct state invalid drop
//	    iifname != IF oifname IF drop           LAN to peers off: nothing else opens connections to devices
//	    iifname != IF oifname IF accept         LAN to peers on
//	    iifname IF oifname IF drop              peer-to-peer off: a device cannot reach another
//	    iifname IF ip saddr vmap @owners4       one lookup: the chain of the source's owner
//	    iifname IF ip6 saddr vmap @owners6
//	    iifname IF <default action>             a source no device has (WireGuard lets none in)
//	chain global                                global rules by priority; no match: back to the user's chain
//	chain u_<owner>                             jump global, the owner's rules by priority, then the default action
//	chain postrouting (hook postrouting, nat)   masquerade what devices send out by another interface
//
// Rules order by priority, then by creation (Seq); the first that matches decides.
package firewall

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// TableName is the one nftables table WireGUI owns, in the inet family; it touches no other.
const TableName = "wiregui"

// Action is what a rule, a policy or the default does with a new connection.
type Action uint8

const (
	Accept Action = iota
	Drop
)

func (a Action) String() string {
	if a == Drop {
		return "drop"
	}
	return "accept"
}

// ParseAction reads "accept" or "drop".
func ParseAction(s string) (Action, error) {
	switch s {
	case "accept":
		return Accept, nil
	case "drop":
		return Drop, nil
	}
	return 0, fmt.Errorf("action %q is neither accept nor drop", s)
}

// Protocol is what a rule matches of the transport: any, TCP, UDP or ICMP (ICMPv6 for an IPv6
// destination).
type Protocol uint8

const (
	Any Protocol = iota
	TCP
	UDP
	ICMP
)

func (p Protocol) String() string {
	return [...]string{"any", "tcp", "udp", "icmp"}[p]
}

// ParseProtocol reads any, tcp, udp or icmp.
func ParseProtocol(s string) (Protocol, error) {
	for p := Any; p <= ICMP; p++ {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("protocol %q is none of any, tcp, udp and icmp", s)
}

// Ports is a destination port range; the zero value is every port.
type Ports struct{ From, To uint16 }

// Any reports whether r is every port.
func (r Ports) Any() bool { return r == Ports{} }

func (r Ports) String() string {
	switch {
	case r.Any():
		return ""
	case r.From == r.To:
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

func (r Ports) contains(port uint16) bool { return r.Any() || r.From <= port && port <= r.To }

// Rule is one access rule.
type Rule struct {
	ID string
	// UserID is the user whose devices the rule is for; "" for a global rule, which is for
	// everyone and comes before every user's own.
	UserID      string
	Action      Action
	Destination netip.Prefix
	Protocol    Protocol
	Ports       Ports // only with TCP or UDP
	Priority    int
	// Seq orders rules of equal priority: the one created first comes first.
	Seq int64
}

// Source is where one device's traffic comes from: its tunnel addresses and relay subnets,
// and the user it belongs to.
type Source struct {
	DeviceID string
	UserID   string
	Prefixes []netip.Prefix
}

// Policy is what applies besides the rules.
type Policy struct {
	// PeerToPeer lets devices reach other devices (their tunnel addresses and relay subnets)
	// through the server; off, such traffic is dropped before any rule.
	PeerToPeer bool
	// LANToPeers lets hosts on the server's other networks open connections to devices.
	LANToPeers bool
	// Default is what happens to a device's new connection that no rule matches.
	Default Action
	// UserDefault overrides Default for some users.
	UserDefault map[string]Action
}

// Input is what a Ruleset is compiled from.
type Input struct {
	// Interface is the WireGuard interface: traffic from it is the devices'.
	Interface string
	// Networks are the tunnel networks.
	Networks []netip.Prefix
	// Masquerade hides the tunnel networks and relay subnets behind the server's address
	// on every other interface, so that full-tunnel clients reach the internet.
	Masquerade bool
	Sources    []Source
	Rules      []Rule
	Policy     Policy
}

// Ruleset is a compiled rule set: the description that a Table writes to the kernel, Text
// renders and Explain evaluates. Nothing changes it after Compile.
type Ruleset struct {
	Interface  string
	Networks   []netip.Prefix
	Masquerade bool
	Policy     Policy
	// Owners maps every source prefix to its user's chain; no two overlap, and they are
	// sorted by address (IPv4 first).
	Owners []Owner
	// Peers are the destinations that are devices: the tunnel networks and relay subnets.
	Peers []netip.Prefix
	// Global are the global rules, in order.
	Global []Rule
	// Chains are the users' chains, one per user with a device, by user id.
	Chains []Chain
}

// Owner is a source prefix and the user its traffic belongs to.
type Owner struct {
	Prefix netip.Prefix
	UserID string
}

// Chain is one user's rules, in order, and what happens when none matches.
type Chain struct {
	UserID string
	Name   string // ChainName(UserID)
	Rules  []Rule
	Final  Action
}

// Compile checks in and compiles it. It fails on what no kernel could take (a rule without a
// valid destination, ports without TCP or UDP, a source prefix two users claim); the data
// plane has checked rows before, so such an error is a bug, not a bad row.
func Compile(in Input) (*Ruleset, error) {
	if in.Interface == "" {
		return nil, errors.New("firewall: no interface")
	}
	rs := &Ruleset{Interface: in.Interface, Masquerade: in.Masquerade, Policy: in.Policy}
	for _, n := range in.Networks {
		rs.Networks = append(rs.Networks, n.Masked())
	}
	rs.Peers = slices.Clone(rs.Networks)
	n := 0
	for _, s := range in.Sources {
		n += len(s.Prefixes)
	}
	byPrefix := make(map[netip.Prefix]string, n)
	rs.Owners = make([]Owner, 0, n)
	hasSources := map[string]bool{}
	for _, s := range in.Sources {
		for _, p := range s.Prefixes {
			p = p.Masked()
			if !p.IsValid() {
				return nil, fmt.Errorf("firewall: device %s has an invalid address %s", s.DeviceID, p)
			}
			if other, ok := byPrefix[p]; ok && other != s.UserID {
				return nil, fmt.Errorf("firewall: %s is both user %s's and user %s's", p, other, s.UserID)
			}
			if _, ok := byPrefix[p]; !ok {
				byPrefix[p] = s.UserID
				rs.Owners = append(rs.Owners, Owner{Prefix: p, UserID: s.UserID})
				if !inAny(p, rs.Networks) {
					rs.Peers = append(rs.Peers, p)
				}
			}
		}
		hasSources[s.UserID] = true
	}
	slices.SortFunc(rs.Owners, func(a, b Owner) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	if err := checkOverlaps(rs.Owners); err != nil {
		return nil, err
	}
	userRules := map[string][]Rule{}
	for _, r := range in.Rules {
		if err := CheckRule(r); err != nil {
			return nil, fmt.Errorf("firewall: rule %s: %w", r.ID, err)
		}
		r.Destination = r.Destination.Masked()
		if r.UserID == "" {
			rs.Global = append(rs.Global, r)
		} else {
			userRules[r.UserID] = append(userRules[r.UserID], r)
		}
	}
	byOrder := func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Seq, b.Seq), strings.Compare(a.ID, b.ID))
	}
	slices.SortFunc(rs.Global, byOrder)
	// A chain for every user with a device; a user with rules but no device needs none.
	for _, id := range sortedKeys(hasSources) {
		rules := userRules[id]
		slices.SortFunc(rules, byOrder)
		rs.Chains = append(rs.Chains, Chain{UserID: id, Name: ChainName(id), Rules: rules, Final: rs.defaultFor(id)})
	}
	return rs, nil
}

// CheckRule refuses a rule that nftables could not take, as Compile does: a builder leaves
// such a rule out (a damaged row) rather than fail the whole rule set.
func CheckRule(r Rule) error {
	switch {
	case !r.Destination.IsValid():
		return errors.New("no destination")
	case r.Destination.Addr().Is4In6():
		return fmt.Errorf("destination %s is an IPv4-mapped IPv6 network", r.Destination)
	case !r.Ports.Any() && r.Protocol != TCP && r.Protocol != UDP:
		return errors.New("ports need TCP or UDP")
	case !r.Ports.Any() && (r.Ports.From == 0 || r.Ports.From > r.Ports.To):
		return fmt.Errorf("port range %d-%d is not within 1–65535 in order", r.Ports.From, r.Ports.To)
	case r.Action > Drop || r.Protocol > ICMP:
		return errors.New("unknown action or protocol")
	}
	return nil
}

// checkOverlaps refuses two source prefixes of which one contains the other: the kernel's
// interval map could not hold both, and whose traffic it is would be a guess. sorted is by
// address, then by length.
func checkOverlaps(sorted []Owner) error {
	// Prefixes nest or are apart: one overlaps an earlier one exactly when it starts before
	// the furthest end so far (of its family).
	var furthest *Owner
	for i := range sorted {
		o := &sorted[i]
		if furthest != nil && furthest.Prefix.Addr().Is4() == o.Prefix.Addr().Is4() &&
			o.Prefix.Addr().Compare(lastAddr(furthest.Prefix)) <= 0 {
			return fmt.Errorf("firewall: %s (user %s) overlaps %s (user %s)", o.Prefix, o.UserID, furthest.Prefix, furthest.UserID)
		}
		if furthest == nil || furthest.Prefix.Addr().Is4() != o.Prefix.Addr().Is4() ||
			lastAddr(o.Prefix).Compare(lastAddr(furthest.Prefix)) > 0 {
			furthest = o
		}
	}
	return nil
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	last := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		return last.Unmap()
	}
	return last
}

func (rs *Ruleset) defaultFor(userID string) Action {
	if a, ok := rs.Policy.UserDefault[userID]; ok {
		return a
	}
	return rs.Policy.Default
}

// ChainName is the name of the chain of userID's rules: stable across applies, so that a
// change to one user's rules replaces that chain only.
func ChainName(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "u_" + hex.EncodeToString(sum[:8])
}

func inAny(p netip.Prefix, nets []netip.Prefix) bool {
	return slices.ContainsFunc(nets, func(n netip.Prefix) bool { return n.Bits() <= p.Bits() && n.Contains(p.Addr()) })
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
