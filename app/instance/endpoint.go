package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"wiregui/app/devices"
	"wiregui/config"
)

// Endpoint is the host clients dial unless a device or the Settings page names another, and
// why it is that host.
type Endpoint struct {
	Host string
	// Why says, for the log and for admins, where Host comes from.
	Why string
	// Detected: no setting names the host; it is this host's own address (or localhost).
	Detected bool
}

// ChooseEndpoint returns the host clients dial: WG_WG_ENDPOINT_HOST, else the host of
// WG_EXTERNAL_URL, else this host's address on its default route (IPv4, else IPv6), else
// localhost. A client elsewhere can dial none of localhost's, so without either setting the
// address that reaches the world is the best guess; on a VPS it is the public one.
func ChooseEndpoint(cfg *config.Config) Endpoint {
	switch {
	case cfg.Given("WG_WG_ENDPOINT_HOST"):
		return Endpoint{Host: cfg.WireGuard.EndpointHost, Why: "WG_WG_ENDPOINT_HOST"}
	case cfg.WireGuard.EndpointHost != "":
		return Endpoint{Host: cfg.WireGuard.EndpointHost, Why: "the host of WG_EXTERNAL_URL"}
	}
	r, err := DefaultRoute()
	if err != nil {
		return Endpoint{Host: "localhost", Why: "no address on a default route (" + err.Error() + ")", Detected: true}
	}
	family := "IPv4"
	if r.Addr.Is6() {
		family = "IPv6"
	}
	return Endpoint{Host: r.Addr.String(), Detected: true,
		Why: fmt.Sprintf("the %s address of %s, the interface of the default route; neither WG_WG_ENDPOINT_HOST nor WG_EXTERNAL_URL is set", family, r.Interface)}
}

// Route is this host's address on a default route, and the route's interface.
type Route struct {
	Addr      netip.Addr
	Interface string
}

// errNoDefaultRoute: the main routing table has no default route with an address to use.
var errNoDefaultRoute = errors.New("no default route")

// DefaultRoute returns this host's address on its default route, in the network namespace of
// the calling thread: of the IPv4 default route with the lowest metric, else of the IPv6 one;
// the route's preferred source address when it names one, else the first global address of
// its interface that is neither tentative nor deprecated.
func DefaultRoute() (Route, error) {
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return Route{}, fmt.Errorf("list routes: %w", err)
		}
		// The kernel lists the routes of one destination by metric, lowest first: the one it
		// uses comes first.
		for _, r := range routes {
			if !isDefault(r) {
				continue
			}
			if found, ok := routeAddress(r, family); ok {
				return found, nil
			}
		}
	}
	return Route{}, errNoDefaultRoute
}

// isDefault reports whether r is a default route that forwards (not "unreachable default").
func isDefault(r netlink.Route) bool {
	if r.Type != unix.RTN_UNICAST {
		return false
	}
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// routeAddress returns the address this host sends from on r, and r's interface.
func routeAddress(r netlink.Route, family int) (Route, bool) {
	index := r.LinkIndex
	if index == 0 && len(r.MultiPath) > 0 {
		index = r.MultiPath[0].LinkIndex
	}
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return Route{}, false
	}
	name := link.Attrs().Name
	if a, ok := netip.AddrFromSlice(r.Src); ok && a.Unmap().IsGlobalUnicast() {
		return Route{Addr: a.Unmap(), Interface: name}, true
	}
	addrs, err := netlink.AddrList(link, family)
	if err != nil {
		return Route{}, false
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Unmap().IsGlobalUnicast() || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DEPRECATED) != 0 {
			continue
		}
		return Route{Addr: ip.Unmap(), Interface: name}, true
	}
	return Route{}, false
}

// LogEndpoint says once, at start, which endpoint clients get by default and why; a warning,
// with how to set it, when clients elsewhere cannot dial it.
func LogEndpoint(ctx context.Context, log *slog.Logger, svc *devices.Service) {
	res, err := svc.Defaults(ctx)
	if err != nil {
		log.Warn("read the default endpoint", slog.Any("err", err))
		return
	}
	why := svc.Client.EndpointWhy
	if res.Endpoint.Source == "database" {
		why = "the Endpoint default on the Settings page"
	}
	attrs := []any{slog.String("endpoint", res.Endpoint.Value), slog.String("from", why)}
	if local := devices.LocalEndpoint(res.Endpoint.Value); local != "" {
		log.Warn("clients elsewhere cannot reach the endpoint: it is "+local,
			append(attrs, slog.String("fix", devices.EndpointFix))...)
		return
	}
	log.Info("clients dial the endpoint", attrs...)
}
