package wg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Changes is what one Sync changed. The zero value means nothing.
type Changes struct {
	PeersAdded   int
	PeersRemoved int
	PeersUpdated int
	// LinkCreated: the link was missing and has been created.
	LinkCreated bool
	// SocketRestored: the UAPI socket of the userspace device had been
	// deleted and has been created again.
	SocketRestored bool
	KeySet         bool
	PortSet        bool
	// LinkUp: the link was down and has been brought up.
	LinkUp           bool
	AddressesAdded   int
	AddressesRemoved int
	RoutesAdded      int
	RoutesRemoved    int
	// FirewallWritten: the kernel's table was written, because the rule set changed or
	// because someone else had changed the table; FirewallRepairs counts what they had
	// changed (see GatewayStatus.Drift).
	FirewallWritten bool
	FirewallRepairs int
	// ForwardingSet counts forwarding sysctls switched on or off.
	ForwardingSet int
}

// Empty reports whether nothing was changed.
func (c Changes) Empty() bool { return c == Changes{} }

// LogValue lists the non-zero fields, for slog.
func (c Changes) LogValue() slog.Value {
	var as []slog.Attr
	add := func(key string, n int) {
		if n != 0 {
			as = append(as, slog.Int(key, n))
		}
	}
	flag := func(key string, b bool) {
		if b {
			as = append(as, slog.Bool(key, true))
		}
	}
	add("peers_added", c.PeersAdded)
	add("peers_removed", c.PeersRemoved)
	add("peers_updated", c.PeersUpdated)
	flag("link_created", c.LinkCreated)
	flag("socket_restored", c.SocketRestored)
	flag("key_set", c.KeySet)
	flag("port_set", c.PortSet)
	flag("link_up", c.LinkUp)
	add("addresses_added", c.AddressesAdded)
	add("addresses_removed", c.AddressesRemoved)
	add("routes_added", c.RoutesAdded)
	add("routes_removed", c.RoutesRemoved)
	flag("firewall_written", c.FirewallWritten)
	add("firewall_repairs", c.FirewallRepairs)
	add("forwarding_set", c.ForwardingSet)
	return slog.GroupValue(as...)
}

// Sync makes the interface match want and changes only what differs:
//
//   - the link exists (re-created if someone deleted it) and is up;
//   - private key and listen port;
//   - every address in want is on the link; addresses this Interface added
//     earlier and want no longer lists are removed, others are left alone;
//   - peers: missing ones are added, unknown ones removed, and those whose
//     preshared key or allowed IPs differ, or that have a persistent
//     keepalive, are updated. Identical peers are not touched, so their
//     sessions and handshakes carry on. A peer added with an Endpoint is
//     sent a handshake at once (see Peer.Endpoint);
//   - every route in want goes into the link, and routes marked with
//     RouteProtocol that want no longer lists are removed;
//   - then the gateway: the firewall rule set, compared with the kernel's
//     table and repaired where someone changed it, and forwarding, switched on
//     only while the rule set is in the kernel. Its errors do not fail the
//     pass (the peers are applied either way); Gateway reports them.
//
// It reads the WireGuard device once and writes at most one configuration;
// links, addresses and routes are read through netlink. On error the
// returned Changes holds what was done before the failure.
func (i *Interface) Sync(ctx context.Context, want Config) (Changes, error) {
	return i.sync(ctx, want, true)
}

// Apply is Sync for a change the caller made to the desired state: instead
// of reading the WireGuard device, it diffs want against the device as the
// last Sync read it, with every configuration written since. That saves the
// read, which dominates a pass with many peers, but does not see changes
// that others made to the device since; the next Sync repairs those. It
// reads the device like Sync when that state is unknown: before the first
// Sync, after a failed write, or when the link had to be re-created. Links,
// addresses and routes are checked as in Sync. The firewall is written as the
// last pass left it plus what changed, without reading the kernel's table.
func (i *Interface) Apply(ctx context.Context, want Config) (Changes, error) {
	return i.sync(ctx, want, false)
}

func (i *Interface) sync(ctx context.Context, want Config, read bool) (Changes, error) {
	if err := ctx.Err(); err != nil {
		return Changes{}, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return Changes{}, fmt.Errorf("sync %s: interface is closed", i.name)
	}
	ch, err := i.syncLink(want, read)
	i.syncGateway(want, read, &ch)
	return ch, err
}

// syncLink makes the link and its peers, addresses and routes match want. i.mu is held.
func (i *Interface) syncLink(want Config, read bool) (Changes, error) {
	var ch Changes
	want, err := want.normalize()
	if err != nil {
		return ch, fmt.Errorf("sync %s: %w", i.name, err)
	}
	created, link, err := i.ensureLink()
	ch.LinkCreated = created
	if created {
		clear(i.added)
		i.remember(i.known, nil) // the sessions went with the link
		i.known = nil
	}
	if err != nil {
		return ch, fmt.Errorf("sync %s: %w", i.name, err)
	}
	if i.user != nil && !i.user.uapiAlive() {
		if err := i.user.restartUAPI(); err != nil {
			return ch, fmt.Errorf("sync %s: %w", i.name, err)
		}
		ch.SocketRestored = true
	}

	want = i.lastHeardEndpoints(want)
	dev := i.known
	fresh := read || dev == nil
	if fresh {
		i.known = nil
		if dev, err = i.wgc.Device(i.name); err != nil {
			return ch, fmt.Errorf("sync %s: read device: %w", i.name, err)
		}
	}
	cfg, planned := plan(dev, want)
	if planned.PeersRemoved > 0 && !fresh {
		// Where the peers that go are now is remembered (see lastHeard): the device as last
		// read may not know it, or know an older one. One read per pass that removes peers.
		i.known = nil
		if dev, err = i.wgc.Device(i.name); err != nil {
			return ch, fmt.Errorf("sync %s: read device: %w", i.name, err)
		}
		cfg, planned = plan(dev, want)
	}
	if !planned.Empty() {
		if err := i.wgc.ConfigureDevice(i.name, cfg); err != nil {
			// Part of it may have been applied.
			i.known = nil
			return ch, fmt.Errorf("sync %s: configure device: %w", i.name, err)
		}
		ch.KeySet, ch.PortSet = planned.KeySet, planned.PortSet
		ch.PeersAdded, ch.PeersRemoved, ch.PeersUpdated = planned.PeersAdded, planned.PeersRemoved, planned.PeersUpdated
		i.remember(dev, cfg.Peers)
		dev = applyConfig(dev, cfg)
	}
	i.known = dev

	ch.AddressesAdded, ch.AddressesRemoved, err = i.syncAddresses(link, want.Addresses)
	if err != nil {
		return ch, fmt.Errorf("sync %s: %w", i.name, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := i.nl.LinkSetUp(link); err != nil {
			return ch, fmt.Errorf("sync %s: set link up: %w", i.name, err)
		}
		ch.LinkUp = true
	}
	ch.RoutesAdded, ch.RoutesRemoved, err = i.syncRoutes(link, want.Routes)
	if err != nil {
		return ch, fmt.Errorf("sync %s: %w", i.name, err)
	}
	return ch, nil
}

// heard is where a peer was last heard from, and when the peer left the device.
type heard struct {
	endpoint netip.AddrPort
	at       time.Time
	// cached: taken from the device as last read (the link is gone and cannot be read),
	// which does not follow a client that roamed since; an endpoint the caller knows is
	// then as fresh, and is used instead.
	cached bool
}

// rememberEndpointsFor is how long the Interface remembers where a removed peer was: long
// enough for a disabled user to be enabled again, or a session to be renewed; after that
// the endpoint the collector stored serves as well.
const rememberEndpointsFor = time.Hour

// remember notes where the peers of dev were last heard from: those that cfg removes, or
// all of them when cfg is nil (the link, and with it every session, is gone). It forgets
// the peers that cfg adds or updates, as they are on the device again, and what is older
// than rememberEndpointsFor.
func (i *Interface) remember(dev *wgtypes.Device, cfg []wgtypes.PeerConfig) {
	now := time.Now()
	for k, h := range i.lastHeard {
		if now.Sub(h.at) > rememberEndpointsFor {
			delete(i.lastHeard, k)
		}
	}
	if dev == nil {
		return
	}
	gone := make(map[wgtypes.Key]bool, len(cfg))
	for _, pc := range cfg {
		if pc.Remove {
			gone[pc.PublicKey] = true
		} else {
			delete(i.lastHeard, pc.PublicKey)
		}
	}
	for _, p := range dev.Peers {
		if p.Endpoint == nil || (cfg != nil && !gone[p.PublicKey]) {
			continue
		}
		if i.lastHeard == nil {
			i.lastHeard = make(map[wgtypes.Key]heard)
		}
		ep := p.Endpoint.AddrPort()
		i.lastHeard[p.PublicKey] = heard{endpoint: netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port()), at: now, cached: cfg == nil}
	}
}

// lastHeardEndpoints returns want with the endpoint of every peer the device lost (see
// lastHeard) set to where the device last heard it: fresher than what the caller knows,
// which is what the collector stored at its last poll, if it had polled.
func (i *Interface) lastHeardEndpoints(want Config) Config {
	if len(i.lastHeard) == 0 {
		return want
	}
	cloned := false
	for j, p := range want.Peers {
		if h, ok := i.lastHeard[p.PublicKey]; ok && h.endpoint != p.Endpoint && !(h.cached && p.Endpoint.IsValid()) {
			if !cloned { // the slice is the caller's
				want.Peers, cloned = slices.Clone(want.Peers), true
			}
			want.Peers[j].Endpoint = h.endpoint
		}
	}
	return want
}

// syncAddresses adds the wanted addresses that are missing and removes those
// that this Interface added and are no longer wanted.
func (i *Interface) syncAddresses(link netlink.Link, want []netip.Prefix) (added, removed int, err error) {
	addrs, err := i.nl.AddrList(link, netlink.FAMILY_ALL)
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		addrs, err = i.nl.AddrList(link, netlink.FAMILY_ALL)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("list addresses: %w", err)
	}
	have := make(map[netip.Prefix]bool, len(addrs))
	for _, a := range addrs {
		if p, ok := prefixFromIPNet(a.IPNet, false); ok {
			have[p] = true
		}
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[p] = true
		if have[p] {
			continue
		}
		// NODAD: the address is ours alone; duplicate detection would only
		// keep it unusable for a second.
		addr := &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD}
		if err := i.nl.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return added, removed, fmt.Errorf("add address %s: %w", p, err)
		}
		have[p], i.added[p] = true, true
		added++
	}
	for p := range i.added {
		if wanted[p] {
			continue
		}
		if have[p] {
			if err := i.nl.AddrDel(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return added, removed, fmt.Errorf("remove address %s: %w", p, err)
			}
			removed++
		}
		delete(i.added, p)
	}
	return added, removed, nil
}

// kickKeepalive is the persistent keepalive (seconds) that plan sets on a
// peer it adds with an endpoint, and clears again later in the same
// configuration. Turning a keepalive on makes both wireguard-go (uapi.go,
// handlePostConfig) and the kernel (netlink.c, set_peer) send a keepalive at
// once, and with no session yet, that starts a handshake, retried every 5 s
// for up to 90 s. Clearing it right away leaves no timer behind: a kept
// keepalive would make the server handshake every offline device, to its
// stale endpoint, for as long as it stays a peer. Neither sends anything
// while the link is down, so a cold start, which configures the device
// before setting the link up, does not handshake every device at once.
const kickKeepalive = 25 * time.Second

// plan compares the device with want (normalized) and returns the one
// configuration that turns one into the other. Removals come first, so an
// allowed IP can move from a removed peer to a new one in the same call.
// Endpoints are set only on added peers and never compared.
//
// Peers kicked with a keepalive come after every other entry but their
// unkicks: wireguard-go (uapi.go, ipcSetPeer.pkaOn) carries "the keepalive was
// turned on" from one peer of a write to the next peers that set no
// keepalive, which then start a handshake too. A peer without an endpoint
// cannot send it: it logged "no known endpoint for peer", again every 5 s
// for 90 s, for every such peer after the first kicked one of a restart.
func plan(dev *wgtypes.Device, want Config) (wgtypes.Config, Changes) {
	var cfg wgtypes.Config
	var ch Changes
	if dev.PrivateKey != want.PrivateKey {
		cfg.PrivateKey = &want.PrivateKey
		ch.KeySet = true
	}
	if want.ListenPort != 0 && dev.ListenPort != want.ListenPort {
		port := want.ListenPort
		cfg.ListenPort = &port
		ch.PortSet = true
	}

	current := make(map[wgtypes.Key]int, len(dev.Peers))
	for j := range dev.Peers {
		current[dev.Peers[j].PublicKey] = j
	}
	wanted := make([]bool, len(dev.Peers))
	var updates, adds, kicks, unkicks []wgtypes.PeerConfig
	noKeepalive := time.Duration(0)
	for _, p := range want.Peers {
		j, ok := current[p.PublicKey]
		var cur *wgtypes.Peer
		if ok {
			wanted[j], cur = true, &dev.Peers[j]
		}
		if ok && cur.PresharedKey == p.PresharedKey && cur.PersistentKeepaliveInterval == 0 &&
			sameAllowedIPs(cur.AllowedIPs, p.AllowedIPs) {
			continue
		}
		psk := p.PresharedKey // the zero key clears a preshared key
		pc := wgtypes.PeerConfig{
			PublicKey:         p.PublicKey,
			PresharedKey:      &psk,
			ReplaceAllowedIPs: true,
			AllowedIPs:        make([]net.IPNet, len(p.AllowedIPs)),
		}
		for j, a := range p.AllowedIPs {
			pc.AllowedIPs[j] = *ipNet(a)
		}
		switch {
		case ok:
			if cur.PersistentKeepaliveInterval != 0 {
				// WireGUI never keeps one (see kickKeepalive); this one
				// was set by hand or left by a failed write.
				pc.PersistentKeepaliveInterval = &noKeepalive
			}
			updates = append(updates, pc)
			ch.PeersUpdated++
		case p.Endpoint.IsValid():
			kick := kickKeepalive
			pc.Endpoint = net.UDPAddrFromAddrPort(p.Endpoint)
			pc.PersistentKeepaliveInterval = &kick
			kicks = append(kicks, pc)
			unkicks = append(unkicks, wgtypes.PeerConfig{PublicKey: p.PublicKey, UpdateOnly: true,
				PersistentKeepaliveInterval: &noKeepalive})
			ch.PeersAdded++
		default:
			adds = append(adds, pc)
			ch.PeersAdded++
		}
	}
	for j, p := range dev.Peers {
		if !wanted[j] {
			cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: p.PublicKey, Remove: true})
			ch.PeersRemoved++
		}
	}
	cfg.Peers = append(cfg.Peers, updates...)
	cfg.Peers = append(cfg.Peers, adds...)
	cfg.Peers = append(cfg.Peers, kicks...)
	cfg.Peers = append(cfg.Peers, unkicks...)
	return cfg, ch
}

// applyConfig returns dev as it is after cfg was written to it, as far as
// plan looks: key, port, and each peer's preshared key, keepalive and
// allowed IPs. dev itself is not modified.
func applyConfig(dev *wgtypes.Device, cfg wgtypes.Config) *wgtypes.Device {
	out := *dev
	if cfg.PrivateKey != nil {
		out.PrivateKey = *cfg.PrivateKey
		out.PublicKey = cfg.PrivateKey.PublicKey()
	}
	if cfg.ListenPort != nil {
		out.ListenPort = *cfg.ListenPort
	}
	if len(cfg.Peers) == 0 {
		return &out
	}
	peers := make([]wgtypes.Peer, len(dev.Peers), len(dev.Peers)+len(cfg.Peers))
	copy(peers, dev.Peers)
	index := make(map[wgtypes.Key]int, len(peers))
	for j := range peers {
		index[peers[j].PublicKey] = j
	}
	gone := make(map[int]bool)
	for _, pc := range cfg.Peers {
		j, ok := index[pc.PublicKey]
		switch {
		case pc.Remove:
			if ok {
				gone[j] = true
				delete(index, pc.PublicKey)
			}
			continue
		case !ok && pc.UpdateOnly:
			continue
		case !ok:
			j = len(peers)
			peers = append(peers, wgtypes.Peer{PublicKey: pc.PublicKey})
			index[pc.PublicKey] = j
		}
		p := &peers[j]
		if pc.Endpoint != nil { // where the server sent the first handshake: all it knows until a read
			p.Endpoint = pc.Endpoint
		}
		if pc.PresharedKey != nil {
			p.PresharedKey = *pc.PresharedKey
		}
		if pc.PersistentKeepaliveInterval != nil {
			p.PersistentKeepaliveInterval = *pc.PersistentKeepaliveInterval
		}
		if pc.ReplaceAllowedIPs {
			p.AllowedIPs = nil
		}
		if len(pc.AllowedIPs) > 0 {
			// A fresh slice: the old one is shared with dev.
			p.AllowedIPs = append(p.AllowedIPs[:len(p.AllowedIPs):len(p.AllowedIPs)], pc.AllowedIPs...)
		}
	}
	if len(gone) > 0 {
		kept := peers[:0]
		for j, p := range peers {
			if !gone[j] {
				kept = append(kept, p)
			}
		}
		peers = kept
	}
	out.Peers = peers
	return &out
}

// sameAllowedIPs compares the device's allowed IPs with wanted ones (masked
// and without duplicates), ignoring order.
func sameAllowedIPs(have []net.IPNet, want []netip.Prefix) bool {
	if len(have) != len(want) {
		return false
	}
	if len(want) <= 8 {
	next:
		for _, w := range want {
			for _, h := range have {
				if p, ok := prefixFromIPNet(&h, true); ok && p == w {
					continue next
				}
			}
			return false
		}
		return true
	}
	set := make(map[netip.Prefix]bool, len(have))
	for _, h := range have {
		if p, ok := prefixFromIPNet(&h, true); ok {
			set[p] = true
		}
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// normalize checks want and returns a copy with masked, de-duplicated
// allowed IPs and routes, so that it compares equal to what the device
// reports. A peer that Check would leave out is an error here: the
// Reconciler checks before it syncs, so such a peer reaches Sync only from a
// caller that should hear about it.
func (c Config) normalize() (Config, error) {
	if c.PrivateKey == (wgtypes.Key{}) {
		return c, errors.New("private key is not set")
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		return c, fmt.Errorf("listen port %d is out of range", c.ListenPort)
	}
	for _, a := range c.Addresses {
		if !a.IsValid() || a.Addr().Is4In6() {
			return c, fmt.Errorf("invalid interface address %s", a)
		}
	}
	if !c.checked {
		if c = c.Check(); len(c.Skipped) > 0 {
			s := c.Skipped[0]
			return c, fmt.Errorf("peer %s: %s", s.PublicKey, s.Reason)
		}
	}
	routes := make([]netip.Prefix, 0, len(c.Routes))
	seenRoute := make(map[netip.Prefix]bool, len(c.Routes))
	addRoute := func(r netip.Prefix) error {
		m, ok := maskPrefix(r)
		if !ok {
			return fmt.Errorf("invalid route %s", r)
		}
		if !seenRoute[m] {
			seenRoute[m] = true
			routes = append(routes, m)
		}
		return nil
	}
	for _, r := range c.Routes {
		if err := addRoute(r); err != nil {
			return c, err
		}
	}
	for _, p := range c.Peers {
		for _, r := range p.Routes {
			addRoute(r) // checked
		}
	}
	c.Routes = routes
	return c, nil
}

// maskPrefix checks a prefix and returns it masked, an IPv4-mapped IPv6
// prefix as IPv4.
func maskPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		if !p.IsValid() {
			return p, false
		}
	}
	return p.Masked(), true
}

// prefixFromIPNet converts a netlink or wgctrl network; masked drops host
// bits (allowed IPs), unmasked keeps them (interface addresses).
func prefixFromIPNet(n *net.IPNet, masked bool) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	p := netip.PrefixFrom(a.Unmap(), ones)
	if masked {
		p = p.Masked()
	}
	return p, p.IsValid()
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}
