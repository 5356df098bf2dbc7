package firewall

import (
	"fmt"
	"net/netip"
)

// SkippedSource is a source that Sound left out, and why.
type SkippedSource struct {
	DeviceID string
	Reason   string
}

// Sound returns the sources that Compile takes: without a source of which a
// prefix is invalid, or overlaps a prefix of an earlier source (or another of its own), except
// where the same user has the same prefix twice. WireGuard keeps the older of two such
// devices too. The checks against relay subnets, which are few, are linear; host addresses,
// the many, are looked up. The data plane leaves such a device out of WireGuard too, and
// the rule service out of what Explain evaluates: one rule for both.
func Sound(sources []Source) (kept []Source, skipped []SkippedSource) {
	hosts := map[netip.Addr]string{} // a host address → its owner
	var nets []Owner                 // the relay subnets so far
	for _, src := range sources {
		why := ""
		var mine []netip.Prefix
		for _, p := range src.Prefixes {
			if why = overlap(p.Masked(), src.UserID, hosts, nets, mine); why != "" {
				break
			}
			mine = append(mine, p.Masked())
		}
		if why != "" {
			skipped = append(skipped, SkippedSource{DeviceID: src.DeviceID, Reason: why})
			continue
		}
		for _, p := range mine {
			if p.IsSingleIP() {
				hosts[p.Addr()] = src.UserID
			} else {
				nets = append(nets, Owner{Prefix: p, UserID: src.UserID})
			}
		}
		kept = append(kept, src)
	}
	return kept, skipped
}

// overlap says why p, of user userID, cannot join the hosts and nets of earlier sources and
// the source's own earlier prefixes mine, or "" when it can.
func overlap(p netip.Prefix, userID string, hosts map[netip.Addr]string, nets []Owner, mine []netip.Prefix) string {
	if !p.IsValid() {
		return fmt.Sprintf("its address %s is invalid", p)
	}
	for _, q := range mine {
		if q != p && q.Overlaps(p) {
			return fmt.Sprintf("%s overlaps its own %s", p, q)
		}
	}
	for _, n := range nets {
		if n.Prefix.Overlaps(p) && (n.Prefix != p || n.UserID != userID) {
			return fmt.Sprintf("%s overlaps %s, another device's", p, n.Prefix)
		}
	}
	if p.IsSingleIP() {
		if owner, ok := hosts[p.Addr()]; ok && owner != userID {
			return fmt.Sprintf("%s is another user's device's too", p.Addr())
		}
		return ""
	}
	for h := range hosts {
		if p.Contains(h) {
			return fmt.Sprintf("%s contains %s, another device's address", p, h)
		}
	}
	return ""
}
