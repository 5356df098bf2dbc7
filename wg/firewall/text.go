package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// Text renders the rule set as nft(8) would list the table: what the Rules page's
// troubleshooting card shows and what an operator can read or load with `nft -f`.
func (rs *Ruleset) Text() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("table inet %s {\n", TableName)
	for _, fam := range []struct{ name, typ string }{{"owners4", "ipv4_addr"}, {"owners6", "ipv6_addr"}} {
		w("\tmap %s {\n\t\ttype %s : verdict\n\t\tflags interval\n", fam.name, fam.typ)
		var elems []string
		for _, o := range rs.Owners {
			if o.Prefix.Addr().Is4() == (fam.name == "owners4") {
				elems = append(elems, fmt.Sprintf("%s : jump %s", o.Prefix, ChainName(o.UserID)))
			}
		}
		if len(elems) > 0 {
			w("\t\telements = { %s }\n", strings.Join(elems, ",\n\t\t\t     "))
		}
		w("\t}\n\n")
	}
	w("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	for _, line := range rs.forwardRules() {
		w("\t\t%s\n", line)
	}
	w("\t}\n\n\tchain global {\n")
	for _, r := range rs.Global {
		w("\t\t%s\n", r.text())
	}
	w("\t}\n")
	for _, c := range rs.Chains {
		w("\n\tchain %s {\n\t\tjump global\n", c.Name)
		for _, r := range c.Rules {
			w("\t\t%s\n", r.text())
		}
		w("\t\t%s\n\t}\n", c.Final)
	}
	w("\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	for _, line := range rs.natRules() {
		w("\t\t%s\n", line)
	}
	w("\t}\n}\n")
	return b.String()
}

// forwardRules are the forward chain's rules, as nft text, in order.
func (rs *Ruleset) forwardRules() []string {
	iface := quote(rs.Interface)
	lan := "drop"
	if rs.Policy.LANToPeers {
		lan = "accept"
	}
	lines := []string{
		"ct state established,related accept",
		"ct state invalid drop",
		fmt.Sprintf("iifname != %s oifname %s %s", iface, iface, lan),
	}
	if !rs.Policy.PeerToPeer {
		lines = append(lines, fmt.Sprintf("iifname %s oifname %s drop", iface, iface))
	}
	return append(lines,
		fmt.Sprintf("iifname %s ip saddr vmap @owners4", iface),
		fmt.Sprintf("iifname %s ip6 saddr vmap @owners6", iface),
		fmt.Sprintf("iifname %s %s", iface, rs.Policy.Default))
}

// natRules are the postrouting chain's rules: one masquerade per tunnel network.
func (rs *Ruleset) natRules() []string {
	if !rs.Masquerade {
		return nil
	}
	var lines []string
	for _, n := range rs.Networks {
		lines = append(lines, fmt.Sprintf("%s saddr %s oifname != %s masquerade", family(n), n, quote(rs.Interface)))
	}
	return lines
}

// text is the rule as nft text.
func (r Rule) text() string {
	parts := []string{fmt.Sprintf("%s daddr %s", family(r.Destination), r.Destination)}
	switch r.Protocol {
	case TCP, UDP:
		if r.Ports.Any() {
			parts = append(parts, "meta l4proto "+r.Protocol.String())
		} else {
			parts = append(parts, fmt.Sprintf("%s dport %s", r.Protocol, r.Ports))
		}
	case ICMP:
		if r.Destination.Addr().Is4() {
			parts = append(parts, "meta l4proto icmp")
		} else {
			parts = append(parts, "meta l4proto ipv6-icmp")
		}
	}
	parts = append(parts, r.Action.String())
	return strings.Join(parts, " ") + fmt.Sprintf(` comment "rule %s"`, r.ID)
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "ip"
	}
	return "ip6"
}

func quote(s string) string { return `"` + s + `"` }
