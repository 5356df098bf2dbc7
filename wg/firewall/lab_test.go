package firewall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/wg/wglab"
)

// gatewayLab is a gateway in network namespaces, without WireGuard: the kernel matches
// interfaces by name, so a bridge named like the tunnel interface stands in for it.
//
//	dev1 (ann: 10.3.2.2, fd00::3:2:2, relay subnet 192.168.50.0/24) ─┐
//	                                                                 ├─ bridge IF ─ router ─ far
//	dev2 (bob: 10.3.2.3, fd00::3:2:3) ───────────────────────────────┘
//
// The devices hold their addresses alone (/32, /128) and route everything to the router,
// so traffic between them is forwarded by it, in and out of IF, as through WireGuard. The far
// namespace is the LAN or the internet: it holds farAddrs and, when routesBack, routes the
// tunnel networks and the relay subnet back to the router; otherwise only masquerade
// brings its answers back. Every namespace answers on the probe ports (TCP and UDP echo).
type gatewayLab struct {
	router, far *wglab.Namespace
	devices     [2]*wglab.Namespace
	iface       string
	table       *Table
}

var (
	labNetworks = prefixes("10.3.2.0/24", "fd00::3:2:0/120")
	labSources  = []Source{
		{DeviceID: "dev1", UserID: "ann", Prefixes: prefixes("10.3.2.2/32", "fd00::3:2:2/128", "192.168.50.0/24")},
		{DeviceID: "dev2", UserID: "bob", Prefixes: prefixes("10.3.2.3/32", "fd00::3:2:3/128")},
	}
	// relayAddr is the address in ann's relay subnet that dev1 sends from, as a host behind it.
	relayAddr = netip.MustParseAddr("192.168.50.1")
	farAddrs  = addrs("198.51.100.1", "198.51.100.7", "198.51.100.130", "203.0.113.2", "203.0.113.9",
		"2001:db8:1::1", "2001:db8:1::80:1", "2001:db8:2::1")
	probePorts = []uint16{22, 53, 443, 8080}
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func newGatewayLab(t *testing.T, routesBack bool) *gatewayLab {
	t.Helper()
	wglab.RequireRoot(t, "ip", "nft", "ping", "sysctl")
	l := &gatewayLab{router: wglab.NewNamespace(t, "wgt-fr"), far: wglab.NewNamespace(t, "wgt-ff"), iface: wglab.UniqueName("wgx")}
	r := l.router
	r.Run(t, "ip", "link", "add", l.iface, "type", "bridge")
	r.Run(t, "ip", "link", "set", l.iface, "up")
	r.Run(t, "ip", "addr", "add", "10.3.2.1/24", "dev", l.iface)
	r.Run(t, "ip", "addr", "add", "fd00::3:2:1/120", "dev", l.iface, "nodad")
	// Forwarding out of the interface it came in by: no redirects that would send the
	// devices to each other directly.
	r.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf."+l.iface+".send_redirects=0")
	for i, src := range labSources {
		ns := wglab.NewNamespace(t, fmt.Sprintf("wgt-fd%d", i+1))
		l.devices[i] = ns
		rName, dName := wglab.UniqueName("vr"), wglab.UniqueName("vd")
		r.Run(t, "ip", "link", "add", rName, "type", "veth", "peer", "name", dName, "netns", ns.Name)
		r.Run(t, "ip", "link", "set", rName, "master", l.iface, "up")
		ns.Run(t, "ip", "link", "set", dName, "up")
		ns.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0", "net.ipv6.conf.all.accept_redirects=0")
		for _, p := range src.Prefixes[:2] {
			ns.Run(t, "ip", "addr", "add", p.String(), "dev", dName, "nodad")
		}
		ns.Run(t, "ip", "route", "add", "10.3.2.1", "dev", dName)
		ns.Run(t, "ip", "route", "add", "default", "via", "10.3.2.1", "dev", dName)
		ns.Run(t, "ip", "-6", "route", "add", "fd00::3:2:1", "dev", dName)
		ns.Run(t, "ip", "-6", "route", "add", "default", "via", "fd00::3:2:1", "dev", dName)
		local := []netip.Addr{src.Prefixes[0].Addr(), src.Prefixes[1].Addr()}
		if len(src.Prefixes) > 2 {
			ns.Run(t, "ip", "addr", "add", netip.PrefixFrom(relayAddr, 32).String(), "dev", "lo")
			r.Run(t, "ip", "route", "add", src.Prefixes[2].String(), "via", src.Prefixes[0].Addr().String(), "dev", l.iface)
			local = append(local, relayAddr)
		}
		serveProbes(t, ns, local)
	}
	rAddr, fAddr := wglab.Connect(t, r, l.far)
	rAddr6, fAddr6 := netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:ffff::2")
	link := strings.TrimSpace(r.Run(t, "sh", "-c", "ip -o addr show to "+rAddr.String()+" | awk '{print $2}'"))
	farLink := strings.TrimSpace(l.far.Run(t, "sh", "-c", "ip -o addr show to "+fAddr.String()+" | awk '{print $2}'"))
	r.Run(t, "ip", "addr", "add", rAddr6.String()+"/64", "dev", link, "nodad")
	l.far.Run(t, "ip", "addr", "add", fAddr6.String()+"/64", "dev", farLink, "nodad")
	for _, a := range farAddrs {
		l.far.Run(t, "ip", "addr", "add", netip.PrefixFrom(a, a.BitLen()).String(), "dev", "lo")
		via := fAddr
		if a.Is6() {
			via = fAddr6
		}
		r.Run(t, "ip", "route", "add", netip.PrefixFrom(a, a.BitLen()).String(), "via", via.String())
	}
	if routesBack {
		l.far.Run(t, "ip", "route", "add", "default", "via", rAddr.String())
		l.far.Run(t, "ip", "-6", "route", "add", "default", "via", rAddr6.String())
	}
	serveProbes(t, l.far, farAddrs)
	tb, err := Open(WithNetNS(r.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	l.table = tb
	if !routesBack { // only masquerade brings answers back
		in := l.input()
		in.Masquerade = true
		if _, err := tb.Apply(compile(t, in)); err != nil {
			t.Fatal(err)
		}
	}
	// Every device reaches every far address before any rule: what the tests then see is
	// the rules, and neighbour discovery is done.
	var warm []func() (bool, error)
	for i, src := range labSources {
		for _, p := range src.Prefixes[:2] {
			for _, dst := range farAddrs {
				if dst.Is4() == p.Addr().Is4() {
					warm = append(warm, func() (bool, error) {
						for range 10 { // a fresh link's addresses take a moment
							if ok, err := probe(l.devices[i], p.Addr(), dst, ICMP, 0); ok || err != nil {
								return ok, err
							}
						}
						return false, nil
					})
				}
			}
		}
	}
	for i, ok := range probeAll(t, warm) {
		if !ok {
			t.Fatalf("the lab does not work: warm-up ping %d went unanswered", i)
		}
	}
	return l
}

// input is a rule set's input for the lab.
func (l *gatewayLab) input() Input {
	return Input{Interface: l.iface, Networks: labNetworks, Sources: labSources}
}

// serveProbes answers TCP connections on the probe ports on every address of ns, and echoes
// UDP datagrams on them at each of local, until the test ends. A UDP socket per address
// answers from the address that was asked: from any other, the answer would be no reply to
// connection tracking, and the client's connected socket would not take it.
func serveProbes(t *testing.T, ns *wglab.Namespace, local []netip.Addr) {
	t.Helper()
	var closers []io.Closer
	err := ns.Do(func() error {
		for _, port := range probePorts {
			ln, err := net.Listen("tcp", fmt.Sprintf("[::]:%d", port))
			if err != nil {
				return err
			}
			closers = append(closers, ln)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			for _, a := range local {
				pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
				if err != nil {
					return err
				}
				closers = append(closers, pc)
				go func() {
					buf := make([]byte, 1500)
					for {
						n, from, err := pc.ReadFrom(buf)
						if err != nil {
							return
						}
						pc.WriteTo(buf[:n], from)
					}
				}()
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	if err != nil {
		t.Fatalf("serve probes in %s: %v", ns.Name, err)
	}
}

// probeWait is how long a probe waits for an answer: the router drops silently.
const probeWait = time.Second

// probe sends a new connection's first packet from src in ns to dst, and reports whether it
// was answered: a TCP connect, a UDP datagram echoed, or a ping.
func probe(ns *wglab.Namespace, src, dst netip.Addr, proto Protocol, port uint16) (bool, error) {
	if proto == ICMP {
		args := []string{"ping", "-n", "-c", "1", "-W", "1", "-I", src.String(), dst.String()}
		out, err := ns.Exec(args...)
		if err != nil && !strings.Contains(out, "0 received") {
			return false, err
		}
		return err == nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeWait)
	defer cancel()
	var answered bool
	err := ns.Do(func() error {
		to := netip.AddrPortFrom(dst, port).String()
		if proto == TCP {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
			c, err := d.DialContext(ctx, "tcp", to)
			if err == nil {
				c.Close()
				answered = true
			} else if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				err = nil
			}
			return err
		}
		d := net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		c, err := d.DialContext(ctx, "udp", to)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(probeWait))
		if _, err := c.Write([]byte("probe")); err != nil {
			return err
		}
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		answered = err == nil && string(buf[:n]) == "probe"
		return nil
	})
	return answered, err
}

// probeAll runs probes concurrently; each returns whether it was answered.
func probeAll(t *testing.T, probes []func() (bool, error)) []bool {
	t.Helper()
	got := make([]bool, len(probes))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i, p := range probes {
		wg.Go(func() {
			ok, err := p()
			mu.Lock()
			defer mu.Unlock()
			got[i] = ok
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return got
}
