package wg

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol is the routing protocol number (rtm_protocol; `proto 87` in
// ip-route(8)) that marks the routes WireGUI adds. Sync removes a route only
// when it carries this mark, so routes an operator added (proto boot or
// static) or the kernel added (proto kernel) are never touched, and the
// ownership survives a restart. 87 ('W') is assigned neither in the kernel's
// rtnetlink.h nor in iproute2's rt_protos; the kernel does not interpret
// numbers above RTPROT_STATIC. An operator may name it, for example with
// "87 wiregui" in /etc/iproute2/rt_protos.d/wiregui.conf.
const RouteProtocol = netlink.RouteProtocol(87)

// syncRoutes routes every prefix of want (normalized) into link, in the main
// table, and removes the routes on link that carry RouteProtocol and are no
// longer wanted. A wanted destination that already has a route on this link,
// whoever added it, is left as it is. The link must be up: the kernel refuses
// IPv4 routes through a link that is down, and flushes them when it goes
// down.
func (i *Interface) syncRoutes(link netlink.Link, want []netip.Prefix) (added, removed int, err error) {
	index := link.Attrs().Index
	filter := &netlink.Route{LinkIndex: index, Table: unix.RT_TABLE_MAIN}
	mask := netlink.RT_FILTER_OIF | netlink.RT_FILTER_TABLE
	routes, err := i.nl.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		routes, err = i.nl.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("list routes: %w", err)
	}
	have := make(map[netip.Prefix]bool, len(routes))
	for _, r := range routes {
		if p, ok := routeDst(r); ok {
			have[p] = true
		}
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	var errs []error
	for _, p := range want {
		wanted[p] = true
		if have[p] {
			continue
		}
		r := &netlink.Route{LinkIndex: index, Dst: ipNet(p), Protocol: RouteProtocol}
		if p.Addr().Is4() {
			r.Scope = netlink.SCOPE_LINK // as ip-route(8) does for a route without a gateway
		}
		if err := i.nl.RouteAdd(r); err != nil {
			if errors.Is(err, unix.EEXIST) {
				err = errors.New("another link already has a route to it")
			}
			errs = append(errs, fmt.Errorf("add route %s: %w", p, err))
			continue
		}
		have[p] = true
		added++
	}
	for _, r := range routes {
		p, ok := routeDst(r)
		if !ok || r.Protocol != RouteProtocol || wanted[p] {
			continue
		}
		if err := i.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", p, err))
			continue
		}
		removed++
	}
	return added, removed, errors.Join(errs...)
}

// routeDst returns the destination of a listed route; a default route may
// come without one.
func routeDst(r netlink.Route) (netip.Prefix, bool) {
	if r.Dst == nil {
		switch r.Family {
		case netlink.FAMILY_V4:
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
		case netlink.FAMILY_V6:
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0), true
		}
		return netip.Prefix{}, false
	}
	return prefixFromIPNet(r.Dst, true)
}
