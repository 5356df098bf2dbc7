package wg

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrPoolFull is matched (errors.Is) by the error Allocate returns when every
// address of the network is taken.
var ErrPoolFull = errors.New("address pool is full")

// Pool hands out tunnel addresses inside one network. The first host address
// belongs to the server; clients get the lowest free address after it. For
// IPv4 the network and broadcast addresses are never handed out; for IPv6 the
// network (subnet-router anycast) address is not.
//
// A Pool holds no state: the caller passes the addresses in use, which the
// database already knows.
type Pool struct {
	network netip.Prefix
}

// NewPool returns the pool of network. Host bits in network are ignored
// (10.3.2.1/24 means 10.3.2.0/24). The network must hold the server and at
// least one client, so IPv4 /31 and /32 and IPv6 /127 and /128 are rejected.
func NewPool(network netip.Prefix) (Pool, error) {
	if !network.IsValid() {
		return Pool{}, errors.New("tunnel network is not a valid CIDR prefix")
	}
	if network.Addr().Is4In6() {
		return Pool{}, fmt.Errorf("tunnel network %s: use the plain IPv4 form", network)
	}
	network = network.Masked()
	// Two addresses are reserved (network + server, and the IPv4 broadcast),
	// and one client must fit.
	maxBits := 126
	if network.Addr().Is4() {
		maxBits = 30
	}
	if network.Bits() > maxBits {
		return Pool{}, fmt.Errorf("tunnel network %s is too small: it must hold the server and at least one client (at most /%d)", network, maxBits)
	}
	return Pool{network: network}, nil
}

// Network returns the masked tunnel network.
func (p Pool) Network() netip.Prefix { return p.network }

// ServerAddr returns the first host address, which the server interface uses.
func (p Pool) ServerAddr() netip.Addr { return p.network.Addr().Next() }

// ServerPrefix returns ServerAddr with the network's length (10.3.2.1/24),
// the form an interface address takes.
func (p Pool) ServerPrefix() netip.Prefix {
	return netip.PrefixFrom(p.ServerAddr(), p.network.Bits())
}

// HostPrefix returns a as a single-address prefix (/32 or /128), the form a
// device's address takes in AllowedIPs and in its client config.
func HostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}

// family names the address family for messages.
func (p Pool) family() string {
	if p.network.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// broadcast returns the IPv4 broadcast address; ok is false for IPv6.
func (p Pool) broadcast() (a netip.Addr, ok bool) {
	if !p.network.Addr().Is4() {
		return netip.Addr{}, false
	}
	b := p.network.Addr().As4()
	hostBits := 32 - p.network.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<hostBits - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// Allocate returns the lowest address that may be given to a client and is
// not in used. used may be in any order and may contain addresses of other
// networks or families, which are ignored. It costs O(n log n) in len(used).
func (p Pool) Allocate(used []netip.Addr) (netip.Addr, error) {
	first := p.ServerAddr().Next()
	inside := make([]netip.Addr, 0, len(used))
	for _, a := range used {
		a = a.Unmap()
		if p.network.Contains(a) && !a.Less(first) {
			inside = append(inside, a)
		}
	}
	slices.SortFunc(inside, netip.Addr.Compare)
	candidate := first
	for _, a := range inside {
		if a == candidate {
			candidate = candidate.Next()
		} else if candidate.Less(a) {
			break
		}
		// a < candidate: a duplicate of an address already passed.
	}
	b, isV4 := p.broadcast()
	if !candidate.IsValid() || !p.network.Contains(candidate) || (isV4 && candidate == b) {
		return netip.Addr{}, poolFullError{p}
	}
	return candidate, nil
}

type poolFullError struct{ p Pool }

func (e poolFullError) Error() string {
	return fmt.Sprintf("no free %s address in %s", e.p.family(), e.p.network)
}

func (e poolFullError) Is(target error) bool { return target == ErrPoolFull }
