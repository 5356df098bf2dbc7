package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftTable is the table inet wiregui as WireGUI writes it, and as a Table reads it back: the
// owners maps' elements and every chain's rules. Each rule is built from terms that carry both
// its nft text (what Text shows) and its expressions (what the kernel gets), so the two cannot
// disagree; the expressions are those nft(8) itself generates for the text, so `nft list`
// shows the same rules.
type nftTable struct {
	maps   [2]nftMap // owners4, owners6
	chains []nftChain
	// strangers are what a read found in the table that WireGUI does not write there: a set
	// of someone else's, a map of the wrong type.
	strangers []string
}

// The names of the fixed parts of the table.
const (
	mapOwners4  = "owners4"
	mapOwners6  = "owners6"
	chainFwd    = "forward" // not "fwd": nft 1.0.6 takes that for a keyword and cannot load it
	chainGlobal = "global"
	chainNAT    = "postrouting"
)

// nftMap is an interval verdict map from source addresses to the owner's chain.
type nftMap struct {
	name  string
	v6    bool
	elems []interval // sorted, apart
}

// interval is one element of an interval map: the addresses from..to (inclusive) and the
// chain they jump to.
type interval struct {
	from, to netip.Addr
	chain    string
}

// nftChain is a chain and its rules in order.
type nftChain struct {
	name  string
	base  *baseChain // nil for a regular chain (one that is jumped to)
	rules []nftRule
}

// baseChain is what hooks a chain into the kernel's packet path.
type baseChain struct {
	typ  nftables.ChainType
	hook nftables.ChainHook
	prio nftables.ChainPriority
	// policyDrop: someone set the chain's policy to drop (ours accept).
	policyDrop bool
}

var (
	forwardHook = &baseChain{typ: nftables.ChainTypeFilter, hook: *nftables.ChainHookForward, prio: *nftables.ChainPriorityFilter}
	natHook     = &baseChain{typ: nftables.ChainTypeNAT, hook: *nftables.ChainHookPostrouting, prio: *nftables.ChainPriorityNATSource}
)

// text is the chain's declaration line as nft lists it.
func (b *baseChain) text() string {
	hook := fmt.Sprint(uint32(b.hook))
	if int(b.hook) < len(hookNames) {
		hook = hookNames[b.hook]
	}
	prio := fmt.Sprint(int32(b.prio))
	switch {
	case b.typ == nftables.ChainTypeFilter && b.prio == *nftables.ChainPriorityFilter:
		prio = "filter"
	case b.typ == nftables.ChainTypeNAT && b.prio == *nftables.ChainPriorityNATSource:
		prio = "srcnat"
	}
	policy := "accept"
	if b.policyDrop {
		policy = "drop"
	}
	return fmt.Sprintf("type %s hook %s priority %s; policy %s;", b.typ, hook, prio, policy)
}

var hookNames = []string{"prerouting", "input", "forward", "output", "postrouting"}

// nftRule is one rule: its text without the comment, its comment, and its expressions.
type nftRule struct {
	text    string
	comment string
	exprs   []expr.Any
	// foreign: read back from the kernel without our user data, so someone else added it;
	// text then names its handle.
	foreign bool
}

// term is a part of a rule: its nft text and the expressions that say it.
type term struct {
	text  string
	exprs []expr.Any
}

func rule(comment string, terms ...term) nftRule {
	r := nftRule{comment: comment}
	texts := make([]string, len(terms))
	for i, t := range terms {
		texts[i] = t.text
		r.exprs = append(r.exprs, t.exprs...)
	}
	r.text = strings.Join(texts, " ")
	return r
}

// nft is the table that applies rs.
func (rs *Ruleset) nft() *nftTable {
	t := &nftTable{maps: rs.maps()}
	t.chains = append(t.chains, rs.forwardChain(), rs.globalChain())
	for _, c := range rs.Chains {
		t.chains = append(t.chains, c.nft())
	}
	t.chains = append(t.chains, rs.natChain())
	return t
}

// maps are the owners maps: every source prefix to its user's chain.
func (rs *Ruleset) maps() [2]nftMap {
	maps := [2]nftMap{{name: mapOwners4}, {name: mapOwners6, v6: true}}
	names := make(map[string]string, len(rs.Chains))
	for _, c := range rs.Chains {
		names[c.UserID] = c.Name
	}
	for _, o := range rs.Owners {
		m := &maps[0]
		if o.Prefix.Addr().Is6() {
			m = &maps[1]
		}
		m.elems = append(m.elems, interval{from: o.Prefix.Masked().Addr(), to: lastAddr(o.Prefix), chain: names[o.UserID]})
	}
	for i := range maps {
		slices.SortFunc(maps[i].elems, func(a, b interval) int { return a.from.Compare(b.from) })
	}
	return maps
}

func (rs *Ruleset) forwardChain() nftChain {
	return nftChain{name: chainFwd, base: forwardHook, rules: rs.forwardRules()}
}

func (rs *Ruleset) globalChain() nftChain {
	c := nftChain{name: chainGlobal}
	for _, r := range rs.Global {
		c.rules = append(c.rules, r.nft())
	}
	return c
}

func (rs *Ruleset) natChain() nftChain {
	return nftChain{name: chainNAT, base: natHook, rules: rs.natRules()}
}

// nft is the user's chain: the global rules, the user's, then the user's default.
func (c Chain) nft() nftChain {
	uc := nftChain{name: c.Name, rules: make([]nftRule, 0, len(c.Rules)+2)}
	uc.rules = append(uc.rules, rule("", jump(chainGlobal)))
	for _, r := range c.Rules {
		uc.rules = append(uc.rules, r.nft())
	}
	uc.rules = append(uc.rules, rule("", verdict(c.Final)))
	return uc
}

// forwardRules are the forward chain's rules, in order.
func (rs *Ruleset) forwardRules() []nftRule {
	lan := Drop
	if rs.Policy.LANToPeers {
		lan = Accept
	}
	rules := []nftRule{
		rule("", ctState(ctEstablished|ctRelated, "established,related"), verdict(Accept)),
		rule("", ctState(ctInvalid, "invalid"), verdict(Drop)),
		rule("", ifname(expr.MetaKeyIIFNAME, rs.Interface, true), ifname(expr.MetaKeyOIFNAME, rs.Interface, false), verdict(lan)),
	}
	if !rs.Policy.PeerToPeer {
		rules = append(rules, rule("", ifname(expr.MetaKeyIIFNAME, rs.Interface, false), ifname(expr.MetaKeyOIFNAME, rs.Interface, false), verdict(Drop)))
	}
	return append(rules,
		rule("", ifname(expr.MetaKeyIIFNAME, rs.Interface, false), sourceVmap(false)),
		rule("", ifname(expr.MetaKeyIIFNAME, rs.Interface, false), sourceVmap(true)),
		rule("", ifname(expr.MetaKeyIIFNAME, rs.Interface, false), verdict(rs.Policy.Default)))
}

// natRules are the postrouting chain's rules: one masquerade per tunnel network and per relay
// subnet outside them, so that a LAN behind a device reaches the internet as the device does.
func (rs *Ruleset) natRules() []nftRule {
	if !rs.Masquerade {
		return nil
	}
	var rules []nftRule
	for _, n := range rs.Peers {
		rules = append(rules, rule("", address(source, n), ifname(expr.MetaKeyOIFNAME, rs.Interface, true), masquerade()))
	}
	return rules
}

// nft is the rule as a rule of its chain.
func (r Rule) nft() nftRule {
	terms := []term{address(destination, r.Destination)}
	switch r.Protocol {
	case TCP, UDP:
		if r.Ports.Any() {
			terms = append(terms, l4proto(r.Protocol.number(r.Destination), r.Protocol.String()))
		} else {
			terms = append(terms, dport(r.Protocol, r.Ports))
		}
	case ICMP:
		name := "icmp"
		if r.Destination.Addr().Is6() {
			name = "ipv6-icmp"
		}
		terms = append(terms, l4proto(r.Protocol.number(r.Destination), name))
	}
	return rule("rule "+r.ID, append(terms, verdict(r.Action))...)
}

// number is the protocol's IP protocol number for a destination of the family of dst.
func (p Protocol) number(dst netip.Prefix) byte {
	switch p {
	case TCP:
		return unix.IPPROTO_TCP
	case UDP:
		return unix.IPPROTO_UDP
	case ICMP:
		if dst.Addr().Is6() {
			return unix.IPPROTO_ICMPV6
		}
		return unix.IPPROTO_ICMP
	}
	return 0
}

// Connection tracking states, as the kernel's ct state bits.
const (
	ctInvalid     = 1
	ctEstablished = 2
	ctRelated     = 4
)

func ctState(bits uint32, names string) term {
	return term{"ct state " + names, []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}}
}

// ifname matches the input or output interface by its name.
func ifname(key expr.MetaKey, name string, not bool) term {
	word := "iifname"
	if key == expr.MetaKeyOIFNAME {
		word = "oifname"
	}
	op := expr.CmpOpEq
	if not {
		word += " !="
		op = expr.CmpOpNeq
	}
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return term{fmt.Sprintf("%s %q", word, name), []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: data},
	}}
}

type direction bool

const (
	source      direction = false
	destination direction = true
)

// offset is where the address of direction d sits in an IPv4 or IPv6 header.
func (d direction) offset(v6 bool) uint32 {
	switch {
	case v6 && d == destination:
		return 24
	case v6:
		return 8
	case d == destination:
		return 16
	}
	return 12
}

func (d direction) String() string {
	if d == destination {
		return "daddr"
	}
	return "saddr"
}

// family is the check nft puts before a match on an IPv4 or IPv6 header in an inet table.
func family(v6 bool) (string, []expr.Any) {
	word, proto := "ip", byte(unix.NFPROTO_IPV4)
	if v6 {
		word, proto = "ip6", unix.NFPROTO_IPV6
	}
	return word, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// address matches the source or destination address against p, as nft does: a prefix on a
// byte boundary compares only its bytes, any other is masked first.
func address(d direction, p netip.Prefix) term {
	v6 := p.Addr().Is6()
	word, exprs := family(v6)
	bytes := p.Masked().Addr().AsSlice()
	size := uint32(len(bytes))
	bits := p.Bits()
	if bits > 0 && bits%8 == 0 {
		exprs = append(exprs,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: d.offset(v6), Len: uint32(bits / 8)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: bytes[:bits/8]})
	} else {
		mask := netip.PrefixFrom(netip.IPv6Unspecified(), bits)
		if !v6 {
			mask = netip.PrefixFrom(netip.IPv4Unspecified(), bits)
		}
		exprs = append(exprs,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: d.offset(v6), Len: size},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: maskBytes(mask), Xor: make([]byte, size)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: bytes})
	}
	return term{fmt.Sprintf("%s %s %s", word, d, p.Masked()), exprs}
}

// maskBytes is the network mask of p's length, in p's family.
func maskBytes(p netip.Prefix) []byte {
	b := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		b[i/8] |= 1 << (7 - i%8)
	}
	return b
}

// sourceVmap jumps to the chain the owners map gives for the source address.
func sourceVmap(v6 bool) term {
	word, exprs := family(v6)
	name, size := mapOwners4, uint32(4)
	if v6 {
		name, size = mapOwners6, 16
	}
	exprs = append(exprs,
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: source.offset(v6), Len: size},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: name})
	return term{fmt.Sprintf("%s saddr vmap @%s", word, name), exprs}
}

func l4proto(number byte, name string) term {
	return term{"meta l4proto " + name, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{number}},
	}}
}

// dport matches a TCP or UDP destination port or range.
func dport(p Protocol, ports Ports) term {
	t := l4proto(p.number(netip.Prefix{}), "")
	t.text = fmt.Sprintf("%s dport %s", p, ports)
	t.exprs = append(t.exprs, &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if ports.From == ports.To {
		t.exprs = append(t.exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(ports.From)})
	} else {
		t.exprs = append(t.exprs,
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: binaryutil.BigEndian.PutUint16(ports.From)},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: binaryutil.BigEndian.PutUint16(ports.To)})
	}
	return t
}

func verdict(a Action) term {
	if a == Drop {
		return term{"drop", []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}}
	}
	return term{"accept", []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}}
}

func jump(chain string) term {
	return term{"jump " + chain, []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}
}

func masquerade() term { return term{"masquerade", []expr.Any{&expr.Masq{}}} }

// chain returns the chain named name, or nil.
func (t *nftTable) chain(name string) *nftChain {
	for i := range t.chains {
		if t.chains[i].name == name {
			return &t.chains[i]
		}
	}
	return nil
}

// text renders the table as nft(8) lists it.
func (t *nftTable) text() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("table inet %s {\n", TableName)
	for _, m := range t.maps {
		typ := "ipv4_addr"
		if m.v6 {
			typ = "ipv6_addr"
		}
		w("\tmap %s {\n\t\ttype %s : verdict\n\t\tflags interval\n", m.name, typ)
		if len(m.elems) > 0 {
			elems := make([]string, len(m.elems))
			for i, e := range m.elems {
				elems[i] = e.String()
			}
			w("\t\telements = { %s }\n", strings.Join(elems, ",\n\t\t\t     "))
		}
		w("\t}\n\n")
	}
	for i, c := range t.chains {
		if i > 0 {
			w("\n")
		}
		w("\tchain %s {\n", c.name)
		if c.base != nil {
			w("\t\t%s\n", c.base.text())
		}
		for _, r := range c.rules {
			w("\t\t%s\n", r)
		}
		w("\t}\n")
	}
	w("}\n")
	return b.String()
}

func (r nftRule) String() string {
	if r.comment == "" {
		return r.text
	}
	return fmt.Sprintf("%s comment %q", r.text, r.comment)
}

// String is the element as nft lists it: a prefix, or a range that is none.
func (e interval) String() string {
	keys := e.from.String()
	if e.from != e.to {
		keys += "-" + e.to.String()
		for bits := 0; bits <= e.from.BitLen(); bits++ {
			if p := netip.PrefixFrom(e.from, bits); p.Masked().Addr() == e.from && lastAddr(p) == e.to {
				keys = p.String()
				break
			}
		}
	} else {
		keys = netip.PrefixFrom(e.from, e.from.BitLen()).String()
	}
	return fmt.Sprintf("%s : jump %s", keys, e.chain)
}

// sortChains orders chains as Text lists them: the forward chain, the global chain, the
// users' chains in the order of want (others after them, by name), and the NAT chain.
func sortChains(chains []nftChain, want *nftTable) {
	rank := make(map[string]int, len(want.chains))
	for i, c := range want.chains {
		rank[c.name] = i
	}
	last := len(want.chains)
	rank[chainNAT] = last + 1 // after the chains want does not know
	slices.SortStableFunc(chains, func(a, b nftChain) int {
		ra, oka := rank[a.name]
		rb, okb := rank[b.name]
		if !oka {
			ra = last
		}
		if !okb {
			rb = last
		}
		return cmp.Or(cmp.Compare(ra, rb), strings.Compare(a.name, b.name))
	})
}
