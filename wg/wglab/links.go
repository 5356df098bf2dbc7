package wglab

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// linkNet is where Connect and ConnectRoot take their /30 networks from.
var linkNet = netip.MustParsePrefix("10.213.0.0/16")

// lockPath serializes ConnectRoot across test processes: go test runs
// packages in parallel, and every package shares the root namespace.
const lockPath = "/run/wglab.lock"

var (
	usedMu sync.Mutex
	used   = map[netip.Prefix]bool{}
)

// Connect joins two namespaces with a veth pair on a fresh /30 and returns
// the address on each side.
func Connect(t testing.TB, a, b *Namespace) (addrA, addrB netip.Addr) {
	t.Helper()
	net30 := allocate(t)
	addrA, addrB = net30.Addr().Next(), net30.Addr().Next().Next()
	nameA, nameB := UniqueName("va"), UniqueName("vb")
	run(t, "ip", "link", "add", nameA, "netns", a.Name, "type", "veth", "peer", "name", nameB, "netns", b.Name)
	a.Run(t, "ip", "addr", "add", netip.PrefixFrom(addrA, 30).String(), "dev", nameA)
	b.Run(t, "ip", "addr", "add", netip.PrefixFrom(addrB, 30).String(), "dev", nameB)
	a.Run(t, "ip", "link", "set", nameA, "up")
	b.Run(t, "ip", "link", "set", nameB, "up")
	return addrA, addrB
}

// ConnectRoot joins a namespace to the test process's (root) namespace with
// a veth pair on a fresh /30, so that the test can reach a server inside ns,
// and returns the root side's and the namespace side's addresses.
func ConnectRoot(t testing.TB, ns *Namespace) (rootAddr, nsAddr netip.Addr) {
	t.Helper()
	unlock := lockFile(t)
	defer unlock()
	net30 := allocate(t)
	rootAddr, nsAddr = net30.Addr().Next(), net30.Addr().Next().Next()
	rootName, nsName := UniqueName("wlr"), UniqueName("wln")
	run(t, "ip", "link", "add", rootName, "type", "veth", "peer", "name", nsName, "netns", ns.Name)
	// Deleting the namespace deletes the pair, unless something still holds
	// the namespace open; do not leave an address behind in the host.
	t.Cleanup(func() { exec.Command("ip", "link", "del", rootName).Run() })
	run(t, "ip", "addr", "add", netip.PrefixFrom(rootAddr, 30).String(), "dev", rootName)
	ns.Run(t, "ip", "addr", "add", netip.PrefixFrom(nsAddr, 30).String(), "dev", nsName)
	run(t, "ip", "link", "set", rootName, "up")
	ns.Run(t, "ip", "link", "set", nsName, "up")
	return rootAddr, nsAddr
}

// allocate picks a random /30 of linkNet that this process has not handed
// out and that overlaps no address of the root namespace.
func allocate(t testing.TB) netip.Prefix {
	t.Helper()
	taken := rootNetworks(t)
	usedMu.Lock()
	defer usedMu.Unlock()
	base := binary.BigEndian.Uint32(linkNet.Addr().AsSlice())
	count := uint32(1) << (32 - linkNet.Bits() - 2)
	for range 1000 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+rand.Uint32N(count)*4)
		p := netip.PrefixFrom(netip.AddrFrom4(b), 30)
		if used[p] || overlapsAny(p, taken) {
			continue
		}
		used[p] = true
		return p
	}
	t.Fatalf("no free /30 left in %s", linkNet)
	return netip.Prefix{}
}

func rootNetworks(t testing.TB) []netip.Prefix {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("list host addresses: %v", err)
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			addr, _ := netip.AddrFromSlice(n.IP)
			ones, _ := n.Mask.Size()
			if addr.Unmap().Is4() {
				ps = append(ps, netip.PrefixFrom(addr.Unmap(), ones).Masked())
			}
		}
	}
	return ps
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// lockFile takes an exclusive lock shared by all test processes.
func lockFile(t testing.TB) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("open lab lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", lockPath, err)
	}
	return func() { f.Close() }
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}
