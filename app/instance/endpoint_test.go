package instance

import (
	"net/netip"
	"strings"
	"testing"

	"wiregui/config"
	"wiregui/wg/wglab"
)

// routes builds a namespace whose links and routes are set up by the ip commands in setup,
// each a line of arguments.
func routes(t *testing.T, setup string) *wglab.Namespace {
	t.Helper()
	ns := wglab.NewNamespace(t, "wgt-ep")
	for _, line := range strings.Split(strings.TrimSpace(setup), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			ns.Run(t, append([]string{"ip"}, strings.Fields(line)...)...)
		}
	}
	return ns
}

// detect runs ChooseEndpoint with the settings env inside ns.
func detect(t *testing.T, ns *wglab.Namespace, env map[string]string) Endpoint {
	t.Helper()
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var got Endpoint
	if err := ns.Do(func() error { got = ChooseEndpoint(cfg); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestChooseEndpointFromTheDefaultRoute(t *testing.T) {
	wglab.RequireRoot(t, "ip")
	const twoLinks = `
		link add d0 type veth peer name p0
		link add d1 type veth peer name p1
		link set d0 up
		link set p0 up
		link set d1 up
		link set p1 up
		addr add 203.0.113.5/24 dev d0
		addr add 198.51.100.7/24 dev d1`
	for _, tc := range []struct {
		name, setup string
		env         map[string]string
		want        Endpoint
	}{
		{"the lowest metric wins", twoLinks + `
			route add default via 203.0.113.1 dev d0 metric 100
			route add default via 198.51.100.1 dev d1 metric 50`, nil,
			Endpoint{Host: "198.51.100.7", Detected: true, Why: "the IPv4 address of d1, the interface of the default route"}},
		{"the route's source address", twoLinks + `
			addr add 203.0.113.9/24 dev d0
			route add default via 203.0.113.1 dev d0 src 203.0.113.9`, nil,
			Endpoint{Host: "203.0.113.9", Detected: true, Why: "the IPv4 address of d0, the interface of the default route"}},
		{"IPv4 before IPv6", twoLinks + `
			addr add 2001:db8::5/64 dev d0 nodad
			route add default via 2001:db8::1 dev d0
			route add default via 198.51.100.1 dev d1`, nil,
			Endpoint{Host: "198.51.100.7", Detected: true, Why: "the IPv4 address of d1, the interface of the default route"}},
		{"IPv6 alone", `
			link add d0 type veth peer name p0
			link set d0 up
			link set p0 up
			addr add 2001:db8::5/64 dev d0 nodad
			route add default via 2001:db8::1 dev d0`, nil,
			Endpoint{Host: "2001:db8::5", Detected: true, Why: "the IPv6 address of d0, the interface of the default route"}},
		{"a private address is still the best guess", `
			link add d0 type veth peer name p0
			link set d0 up
			link set p0 up
			addr add 192.168.1.5/24 dev d0
			route add default via 192.168.1.1 dev d0`, nil,
			Endpoint{Host: "192.168.1.5", Detected: true, Why: "the IPv4 address of d0, the interface of the default route"}},
		{"no default route", twoLinks, nil,
			Endpoint{Host: "localhost", Detected: true, Why: "no address on a default route (no default route)"}},
		{"WG_WG_ENDPOINT_HOST", twoLinks + `
			route add default via 198.51.100.1 dev d1`, map[string]string{"WG_WG_ENDPOINT_HOST": "vpn.example.com"},
			Endpoint{Host: "vpn.example.com", Why: "WG_WG_ENDPOINT_HOST"}},
		{"WG_EXTERNAL_URL", twoLinks + `
			route add default via 198.51.100.1 dev d1`, map[string]string{"WG_EXTERNAL_URL": "https://ui.example.com"},
			Endpoint{Host: "ui.example.com", Why: "the host of WG_EXTERNAL_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := detect(t, routes(t, tc.setup), tc.env)
			if got.Detected && tc.want.Host != "localhost" {
				tc.want.Why += "; neither WG_WG_ENDPOINT_HOST nor WG_EXTERNAL_URL is set"
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.Detected && got.Host != "localhost" {
				if _, err := netip.ParseAddr(got.Host); err != nil {
					t.Errorf("detected host %q is not an address", got.Host)
				}
			}
		})
	}
}
