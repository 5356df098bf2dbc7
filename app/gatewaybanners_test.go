package app

import (
	"strings"
	"testing"

	"wiregui/wg"
)

// TestGatewayBanners: what the admins' banner says of the gateway: why the firewall is not in
// the kernel, that forwarding is off by setting (full-tunnel clients get no internet), and
// each foreign forward chain that drops.
func TestGatewayBanners(t *testing.T) {
	for _, tc := range []struct {
		name string
		gw   *wg.GatewayStatus
		want []string // a part of each banner, in order
	}{
		{"no gateway", nil, nil},
		{"all well", &wg.GatewayStatus{Firewall: true, InKernel: true, IPv4Forwarding: "on"}, nil},
		{"nftables refused", &wg.GatewayStatus{Firewall: true, Err: "nftables unavailable: permission denied (the server needs CAP_NET_ADMIN"},
			[]string{"nothing new is forwarded while it is not in the kernel: nftables unavailable: permission denied (the server needs CAP_NET_ADMIN"}},
		{"forwarding off", &wg.GatewayStatus{Firewall: true, InKernel: true, IPv4Forwarding: "off"},
			[]string{"IP forwarding is off (WG_WG_FORWARD=false): full-tunnel clients reach the server, but nothing beyond it."}},
		{"docker", &wg.GatewayStatus{Firewall: true, InKernel: true, IPv4Forwarding: "on", ForeignForwardDrops: []string{"table ip filter, chain FORWARD"}},
			[]string{"The forward chain table ip filter, chain FORWARD drops what it does not accept itself"}},
	} {
		got := gatewayBanners(tc.gw)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q, want %d banners", tc.name, got, len(tc.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tc.want[i]) {
				t.Errorf("%s: banner %q, want it to say %q", tc.name, got[i], tc.want[i])
			}
		}
	}
}
