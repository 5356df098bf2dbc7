package wg

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestNewPool(t *testing.T) {
	tests := []struct {
		network             string
		wantErr             bool
		wantNet, wantServer string
		wantServerPrefix    string
	}{
		{network: "10.3.2.0/24", wantNet: "10.3.2.0/24", wantServer: "10.3.2.1", wantServerPrefix: "10.3.2.1/24"},
		{network: "10.3.2.77/24", wantNet: "10.3.2.0/24", wantServer: "10.3.2.1", wantServerPrefix: "10.3.2.1/24"},
		{network: "fd00::3:2:0/120", wantNet: "fd00::3:2:0/120", wantServer: "fd00::3:2:1", wantServerPrefix: "fd00::3:2:1/120"},
		{network: "10.9.0.0/30", wantNet: "10.9.0.0/30", wantServer: "10.9.0.1", wantServerPrefix: "10.9.0.1/30"},
		{network: "fd00::/126", wantNet: "fd00::/126", wantServer: "fd00::1", wantServerPrefix: "fd00::1/126"},
		{network: "10.9.0.0/31", wantErr: true},
		{network: "10.9.0.1/32", wantErr: true},
		{network: "fd00::/127", wantErr: true},
		{network: "fd00::1/128", wantErr: true},
		{network: "::ffff:10.0.0.0/120", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			p, err := NewPool(netip.MustParsePrefix(tt.network))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewPool(%s) = %v, want an error", tt.network, p.Network())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Network().String(); got != tt.wantNet {
				t.Errorf("Network() = %s, want %s", got, tt.wantNet)
			}
			if got := p.ServerAddr().String(); got != tt.wantServer {
				t.Errorf("ServerAddr() = %s, want %s", got, tt.wantServer)
			}
			if got := p.ServerPrefix().String(); got != tt.wantServerPrefix {
				t.Errorf("ServerPrefix() = %s, want %s", got, tt.wantServerPrefix)
			}
		})
	}
	if _, err := NewPool(netip.Prefix{}); err == nil {
		t.Error("NewPool(zero prefix): want an error")
	}
}

func mustPool(t testing.TB, network string) Pool {
	t.Helper()
	p, err := NewPool(netip.MustParsePrefix(network))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addrs(ss ...string) []netip.Addr {
	as := make([]netip.Addr, len(ss))
	for i, s := range ss {
		as[i] = netip.MustParseAddr(s)
	}
	return as
}

func TestPoolAllocate(t *testing.T) {
	tests := []struct {
		name, network string
		used          []netip.Addr
		want          string // "" means full
	}{
		{"empty v4", "10.3.2.0/24", nil, "10.3.2.2"},
		{"empty v6", "fd00::3:2:0/120", nil, "fd00::3:2:2"},
		{"unsorted with gap", "10.3.2.0/24", addrs("10.3.2.5", "10.3.2.2", "10.3.2.4"), "10.3.2.3"},
		{"unsorted no gap", "10.3.2.0/24", addrs("10.3.2.4", "10.3.2.3", "10.3.2.2"), "10.3.2.5"},
		{"duplicates", "10.3.2.0/24", addrs("10.3.2.2", "10.3.2.2", "10.3.2.3", "10.3.2.3"), "10.3.2.4"},
		{"server and network in used", "10.3.2.0/24", addrs("10.3.2.0", "10.3.2.1"), "10.3.2.2"},
		{"outside network and other family", "10.3.2.0/24",
			addrs("10.3.3.2", "10.3.1.255", "192.168.0.2", "fd00::3:2:2", "::ffff:10.3.2.2"), "10.3.2.3"},
		{"v4-mapped counts as v4", "10.3.2.0/24", addrs("::ffff:10.3.2.2"), "10.3.2.3"},
		{"full /30 has one client", "10.9.0.0/30", nil, "10.9.0.2"},
		{"full /30", "10.9.0.0/30", addrs("10.9.0.2"), ""},
		{"last before broadcast", "10.3.2.0/29", addrs("10.3.2.2", "10.3.2.3", "10.3.2.4", "10.3.2.5"), "10.3.2.6"},
		{"never broadcast", "10.3.2.0/29", addrs("10.3.2.2", "10.3.2.3", "10.3.2.4", "10.3.2.5", "10.3.2.6"), ""},
		{"v6 /126 last address is usable", "fd00::/126", addrs("fd00::2"), "fd00::3"},
		{"v6 /126 full", "fd00::/126", addrs("fd00::2", "fd00::3"), ""},
		{"v6 gap", "fd00::3:2:0/120", addrs("fd00::3:2:3", "fd00::3:2:2", "fd00::3:2:5"), "fd00::3:2:4"},
		{"top of the v6 space", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126",
			addrs("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPool(t, tt.network)
			got, err := p.Allocate(tt.used)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Allocate = %s, want pool full", got)
				}
				if !errors.Is(err, ErrPoolFull) {
					t.Errorf("error %v does not match ErrPoolFull", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("Allocate = %s, want %s", got, tt.want)
			}
			if err := p.CheckAddr(got); err != nil {
				t.Errorf("CheckAddr(%s) of an allocated address: %v", got, err)
			}
		})
	}
}

func TestPoolFullMessage(t *testing.T) {
	for _, tt := range []struct{ network, used, want string }{
		{"10.3.2.0/30", "10.3.2.2", "no free IPv4 address in 10.3.2.0/30"},
		{"fd00::3:2:0/126", "fd00::3:2:2 fd00::3:2:3", "no free IPv6 address in fd00::3:2:0/126"},
	} {
		p := mustPool(t, tt.network)
		var used []netip.Addr
		for _, s := range strings.Fields(tt.used) {
			used = append(used, netip.MustParseAddr(s))
		}
		_, err := p.Allocate(used)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Allocate in %s: error %v, want %q", tt.network, err, tt.want)
		}
	}
}

func TestPoolCheckAddr(t *testing.T) {
	p := mustPool(t, "10.3.2.0/24")
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"10.3.2.2", true}, {"10.3.2.254", true},
		{"10.3.2.0", false}, {"10.3.2.1", false}, {"10.3.2.255", false}, {"10.3.3.2", false}, {"fd00::2", false},
	} {
		err := p.CheckAddr(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

// TestPoolAllocate10k fills a /16 with 10,000 shuffled addresses minus one
// and checks that the hole is found. BenchmarkPoolAllocate10k measures the
// speed (about 1 ms).
func TestPoolAllocate10k(t *testing.T) {
	p := mustPool(t, "10.50.0.0/16")
	used := make([]netip.Addr, 0, 10000)
	a := p.ServerAddr().Next()
	var hole netip.Addr
	for i := range 10001 {
		if i == 7777 {
			hole = a
		} else {
			used = append(used, a)
		}
		a = a.Next()
	}
	rand.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
	got, err := p.Allocate(used)
	if err != nil {
		t.Fatal(err)
	}
	if got != hole {
		t.Errorf("Allocate = %s, want the hole %s", got, hole)
	}
}

func BenchmarkPoolAllocate10k(b *testing.B) {
	p := mustPool(b, "10.50.0.0/16")
	used := make([]netip.Addr, 10000)
	a := p.ServerAddr().Next()
	for i := range used {
		used[i], a = a, a.Next()
	}
	rand.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
	for b.Loop() {
		if _, err := p.Allocate(used); err != nil {
			b.Fatal(err)
		}
	}
}
