package wglab

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Client is an independent WireGuard client in a namespace, run by Debian's
// wireguard-go and configured by wg(8) from a wg-quick file, the way a user
// would.
type Client struct {
	NS    *Namespace
	Iface string
	// Addresses and AllowedIPs as read from the configuration file.
	Addresses  []netip.Prefix
	AllowedIPs []netip.Prefix
	Proc       *Process
}

// StartClient brings up iface in ns from a wg-quick configuration: it runs
// `wireguard-go -f iface` inside ns, loads `wg-quick strip` of the file with
// `wg setconf`, adds each Address, applies MTU, sets the link up and routes
// each AllowedIPs network into the tunnel (a default route as two /1 halves,
// as wg-quick does, so the underlay stays reachable). iface must be unique on
// the machine (see UniqueName). Everything goes away at cleanup.
func StartClient(t testing.TB, ns *Namespace, iface string, conf []byte) *Client {
	t.Helper()
	dir := t.TempDir()
	// wg-quick wants FILE named after a valid interface name.
	confPath := filepath.Join(dir, iface+".conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	stripped, err := Strip(confPath)
	if err != nil {
		t.Fatal(err)
	}
	strippedPath := filepath.Join(dir, iface+".wg")
	if err := os.WriteFile(strippedPath, stripped, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Client{NS: ns, Iface: iface}
	var mtu string
	c.Addresses, c.AllowedIPs, mtu = parseQuick(t, conf)

	cmd := ns.Command(context.Background(), "wireguard-go", "-f", iface)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	c.Proc = ns.StartCmd(t, cmd)
	c.waitSocket(t)

	ns.Run(t, "wg", "setconf", iface, strippedPath)
	for _, a := range c.Addresses {
		ns.Run(t, "ip", "addr", "add", a.String(), "dev", iface)
	}
	if mtu != "" {
		ns.Run(t, "ip", "link", "set", iface, "mtu", mtu)
	}
	ns.Run(t, "ip", "link", "set", iface, "up")
	for _, p := range c.AllowedIPs {
		for _, r := range routesFor(p) {
			ns.Run(t, "ip", "route", "replace", r.String(), "dev", iface)
		}
	}
	return c
}

// waitSocket waits for wireguard-go's UAPI socket to answer.
func (c *Client) waitSocket(t testing.TB) {
	t.Helper()
	sock := filepath.Join("/var/run/wireguard", c.Iface+".sock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return
		}
		select {
		case <-c.Proc.Done():
			t.Fatalf("wireguard-go %s exited: %v: %s", c.Iface, c.Proc.Err(), c.Proc.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wireguard-go %s: no UAPI socket after 10s: %s", c.Iface, c.Proc.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ping pings addr through the client's namespace until it answers (at most
// 15 s: a first handshake can take one 5 s retry).
func (c *Client) Ping(t testing.TB, addr netip.Addr) error {
	t.Helper()
	return c.NS.Ping(addr, 15*time.Second)
}

// Show returns `wg show IFACE dump`.
func (c *Client) Show(t testing.TB) string {
	t.Helper()
	return c.NS.Run(t, "wg", "show", c.Iface, "dump")
}

// Strip runs Debian's `wg-quick strip FILE`, which removes the wg-quick-only
// keys (Address, DNS, MTU, ...) and is wg-quick's own parser. FILE must be
// named IFACE.conf.
func Strip(path string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("wg-quick", "strip", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &stripError{path: path, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return out, nil
}

type stripError struct {
	path, stderr string
	err          error
}

func (e *stripError) Error() string {
	return "wg-quick strip " + e.path + ": " + e.err.Error() + ": " + e.stderr
}

func (e *stripError) Unwrap() error { return e.err }

// parseQuick reads Address and MTU from [Interface] and AllowedIPs from the
// [Peer] sections, the keys wg-quick itself acts on.
func parseQuick(t testing.TB, conf []byte) (addrs, allowed []netip.Prefix, mtu string) {
	t.Helper()
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(line)
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, value = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(value)
		switch {
		case section == "[interface]" && key == "address":
			addrs = append(addrs, parsePrefixes(t, value)...)
		case section == "[interface]" && key == "mtu":
			if _, err := strconv.Atoi(value); err != nil {
				t.Fatalf("config MTU %q: %v", value, err)
			}
			mtu = value
		case section == "[peer]" && key == "allowedips":
			allowed = append(allowed, parsePrefixes(t, value)...)
		}
	}
	return addrs, allowed, mtu
}

func parsePrefixes(t testing.TB, list string) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			// wg-quick accepts a bare address as a host prefix.
			a, err2 := netip.ParseAddr(f)
			if err2 != nil {
				t.Fatalf("config prefix %q: %v", f, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p)
	}
	return ps
}

// routesFor splits a default route into halves that beat the namespace's
// own default route without replacing it.
func routesFor(p netip.Prefix) []netip.Prefix {
	if p.Bits() != 0 {
		return []netip.Prefix{p.Masked()}
	}
	if p.Addr().Is4() {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	}
	return []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
}
