package firewall

import (
	"fmt"
	"net/netip"
	"slices"
)

// Packet is a new connection from a device, as Explain decides it.
type Packet struct {
	// From is the device's address: its tunnel address, or one in its relay subnets.
	From netip.Addr
	To   netip.Addr
	// Protocol is TCP, UDP or ICMP; Any stands for any other protocol.
	Protocol Protocol
	// Port is the destination port of TCP or UDP.
	Port uint16
}

// Verdict is what the firewall does with a Packet, and what decided it.
type Verdict struct {
	Action Action
	// Decider says what decided, in words for an admin: "rule 12 (priority 10) of the user",
	// "global rule 3 (priority 20)", "the peer-to-peer policy (off)", "the default action".
	Decider string
	// RuleID is the rule that decided; "" when a policy or the default did.
	RuleID string
	// Global tells a global rule from one of the user's.
	Global bool
	// UserID owns the source; "" when no device has the address.
	UserID string
}

// Explain evaluates the compiled description for p, as the kernel does for its first packet.
func (rs *Ruleset) Explain(p Packet) Verdict {
	from, to := p.From.Unmap(), p.To.Unmap()
	owner, ok := rs.ownerOf(from)
	if !ok {
		return Verdict{Action: rs.Policy.Default, Decider: fmt.Sprintf("the default action: no device has the address %s", from)}
	}
	if rs.isPeer(to) && !rs.Policy.PeerToPeer {
		return Verdict{Action: Drop, Decider: "the peer-to-peer policy (off): devices cannot reach each other", UserID: owner}
	}
	for _, r := range rs.Global {
		if r.matches(to, p.Protocol, p.Port) {
			return Verdict{Action: r.Action, Decider: fmt.Sprintf("global rule %s (priority %d)", r.ID, r.Priority),
				RuleID: r.ID, Global: true, UserID: owner}
		}
	}
	chain := rs.chainOf(owner)
	for _, r := range chain.Rules {
		if r.matches(to, p.Protocol, p.Port) {
			return Verdict{Action: r.Action, Decider: fmt.Sprintf("rule %s (priority %d) of the user", r.ID, r.Priority),
				RuleID: r.ID, UserID: owner}
		}
	}
	decider := "the default action"
	if _, ok := rs.Policy.UserDefault[owner]; ok {
		decider = "the user's default action"
	}
	return Verdict{Action: chain.Final, Decider: decider, UserID: owner}
}

// matches reports whether r matches a packet to to with protocol and port.
func (r Rule) matches(to netip.Addr, protocol Protocol, port uint16) bool {
	if !r.Destination.Contains(to) {
		return false
	}
	switch {
	case r.Protocol == Any:
		return true
	case r.Protocol != protocol:
		return false
	case protocol == TCP || protocol == UDP:
		return r.Ports.contains(port)
	}
	return true
}

// ownerOf returns the user whose device has the address a. The source prefixes are apart
// and sorted, so the only one that may contain a is the last that starts at or before it.
func (rs *Ruleset) ownerOf(a netip.Addr) (string, bool) {
	i, _ := slices.BinarySearchFunc(rs.Owners, a, func(o Owner, a netip.Addr) int {
		if o.Prefix.Addr().Compare(a) <= 0 {
			return -1
		}
		return 1
	})
	if i > 0 && rs.Owners[i-1].Prefix.Contains(a) {
		return rs.Owners[i-1].UserID, true
	}
	return "", false
}

func (rs *Ruleset) isPeer(a netip.Addr) bool {
	for _, p := range rs.Peers {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (rs *Ruleset) chainOf(userID string) Chain {
	for _, c := range rs.Chains {
		if c.UserID == userID {
			return c
		}
	}
	return Chain{UserID: userID, Final: rs.defaultFor(userID)}
}
