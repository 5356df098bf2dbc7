package wg

import (
	"fmt"
	"net/netip"
	"slices"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// SkippedPeer is a peer of a desired Config that Check left out, and why.
type SkippedPeer struct {
	// Index is the peer's position in the Peers that Check was given.
	Index     int
	PublicKey wgtypes.Key
	// Reason completes "not applied: …", e.g. "the public key is the server's own".
	Reason string
}

// Check returns c without the peers that WireGuard cannot take, listed with the reason in
// Skipped, so that one bad peer never keeps the interface, or any other peer, from its
// desired state. A peer is left out when its public key is missing, a low-order point, the
// server's own or an earlier peer's; when one of its allowed IPs is invalid or already an
// earlier peer's; or when one of its routes is not one of its allowed IPs or is a default
// route. Earlier peers win, so the caller lists the peer to keep first.
//
// What remains has masked, de-duplicated allowed IPs and routes, and endpoints without an
// address or port cleared, so that it compares equal to what the device reports. Check is
// cheap to call again on its own result.
func (c Config) Check() Config {
	if c.checked {
		return c
	}
	own := c.PrivateKey.PublicKey()
	ipCount := 0
	for _, p := range c.Peers {
		ipCount += len(p.AllowedIPs)
	}
	owner := make(map[netip.Prefix]wgtypes.Key, ipCount)
	seen := make(map[wgtypes.Key]bool, len(c.Peers))
	peers := make([]Peer, 0, len(c.Peers))
	var skipped []SkippedPeer
	for i, p := range c.Peers {
		p, reason := checkPeer(p, own, seen, owner)
		if reason != "" {
			skipped = append(skipped, SkippedPeer{Index: i, PublicKey: p.PublicKey, Reason: reason})
			continue
		}
		seen[p.PublicKey] = true
		for _, a := range p.AllowedIPs {
			owner[a] = p.PublicKey
		}
		peers = append(peers, p)
	}
	c.Peers, c.Skipped, c.checked = peers, skipped, true
	return c
}

// checkPeer returns p normalised, or why it cannot be applied after the peers in seen and
// owner.
func checkPeer(p Peer, own wgtypes.Key, seen map[wgtypes.Key]bool, owner map[netip.Prefix]wgtypes.Key) (Peer, string) {
	switch {
	case p.PublicKey == (wgtypes.Key{}):
		return p, "it has no public key"
	case IsLowOrder(p.PublicKey):
		return p, "the public key is a low-order point, which no WireGuard peer can use"
	case p.PublicKey == own:
		return p, "the public key is the server's own"
	case seen[p.PublicKey]:
		return p, "the public key is also another peer's"
	}
	ips := make([]netip.Prefix, 0, len(p.AllowedIPs))
	for _, a := range p.AllowedIPs {
		m, ok := maskPrefix(a)
		switch {
		case !ok:
			return p, fmt.Sprintf("allowed IP %s is invalid", a)
		case slices.Contains(ips, m): // a peer has a few; a map would cost more
			continue
		}
		if _, taken := owner[m]; taken {
			// WireGuard gives an allowed IP to one peer only; both would flap on every pass.
			return p, fmt.Sprintf("allowed IP %s is also another peer's", m)
		}
		ips = append(ips, m)
	}
	var routes []netip.Prefix
	for _, r := range p.Routes {
		m, ok := maskPrefix(r)
		switch {
		case !ok || !slices.Contains(ips, m):
			return p, fmt.Sprintf("route %s is not one of its allowed IPs", r)
		case m.Bits() == 0:
			return p, fmt.Sprintf("route %s would take the server's default route", m)
		}
		routes = append(routes, m)
	}
	p.AllowedIPs, p.Routes = ips, routes
	if ep := p.Endpoint; ep.IsValid() {
		p.Endpoint = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
	}
	if a := p.Endpoint.Addr(); !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || p.Endpoint.Port() == 0 {
		p.Endpoint = netip.AddrPort{}
	}
	return p, ""
}
