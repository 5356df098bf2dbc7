package wg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/firewall"
	"wiregui/wg/internal/netnsx"
)

// Mode chooses between kernel WireGuard and the embedded userspace
// implementation (WG_WG_USERSPACE).
type Mode string

const (
	// ModeAuto uses kernel WireGuard when the kernel can create a wireguard
	// link, and the embedded wireguard-go otherwise.
	ModeAuto Mode = "auto"
	// ModeAlways always uses the embedded wireguard-go.
	ModeAlways Mode = "always"
	// ModeNever requires kernel WireGuard.
	ModeNever Mode = "never"
)

// ParseMode parses the WG_WG_USERSPACE setting; "" means auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeAlways, ModeNever:
		return m, nil
	}
	return "", fmt.Errorf("userspace mode %q: want auto, always or never", s)
}

// Kinds reported by Interface.Kind.
const (
	KindKernel    = "kernel"
	KindUserspace = "userspace"
)

// Config is the desired state of the server interface, computed from the
// database by the caller.
type Config struct {
	PrivateKey wgtypes.Key
	// ListenPort is the UDP port; 0 leaves the port to the device.
	ListenPort int
	// Addresses of the interface, such as 10.3.2.1/24 and fd00::3:2:1/120.
	Addresses []netip.Prefix
	// Routes are further destinations routed into the interface. The tunnel
	// networks need no route here: the kernel routes them with Addresses;
	// the relay subnets behind a peer are its Peer.Routes. See RouteProtocol.
	Routes []netip.Prefix
	// Peers in order of precedence: when two claim the same public key or
	// allowed IP, the first one is applied and the other left out (Check).
	Peers []Peer
	// RevisitAt is when this state will change by itself, such as when the
	// next VPN session expires: the Reconciler runs a pass then. Zero means
	// never. Sync ignores it.
	RevisitAt time.Time
	// Firewall is the rule set for what the interface's traffic may reach, written to
	// the kernel as the nftables table inet wiregui after the peers on every pass (see
	// firewall.Table). Nil leaves the kernel's firewall as it is.
	Firewall *firewall.Ruleset
	// Forward switches IP forwarding on for the families of Firewall's networks
	// (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding, in the interface's network
	// namespace), but only while Firewall is in the kernel: without it nothing is
	// forwarded (fail closed). Forwarding the host had on already is left on.
	Forward bool

	// Skipped lists the peers that Check left out, and why.
	Skipped []SkippedPeer
	// checked: Check has run, and its result needs no second look.
	checked bool
}

// Peer is one device allowed to connect.
type Peer struct {
	PublicKey wgtypes.Key
	// PresharedKey is the zero key when the peer has none.
	PresharedKey wgtypes.Key
	AllowedIPs   []netip.Prefix
	// Endpoint is the peer's last known address, zero when unknown. It is
	// used only when Sync adds the peer: the server then sends the first
	// handshake there, so that a client still holding the session from
	// before the peer was removed resumes at once instead of after its own
	// 15 s retry. When the interface itself removed the peer within the last
	// hour, where it last heard the peer from is used instead: the caller's
	// may be older, or missing (after the link itself was lost, the caller's
	// is used when it has one). The endpoint of a peer already on the
	// interface is never changed (the real one roams), and a different one is
	// not drift. An endpoint without an address or port is ignored.
	Endpoint netip.AddrPort
	// Routes are networks behind the peer (relay subnets) that are routed
	// into the interface while the peer is applied. Each must be one of its
	// AllowedIPs.
	Routes []netip.Prefix
}

// PeerStats is what the interface reports about one peer.
type PeerStats struct {
	PublicKey wgtypes.Key
	// Endpoint is the zero AddrPort until the peer has been heard from.
	Endpoint netip.AddrPort
	RxBytes  int64
	TxBytes  int64
	// LastHandshake is the zero time when there has been no handshake.
	LastHandshake time.Time
}

// defaultMTU is the MTU of a link the Interface creates; wg-quick uses the
// same value.
const defaultMTU = device.DefaultMTU

// Option changes how OpenInterface and OpenReader work.
type Option func(*options)

type options struct {
	netnsPath string
}

// WithNetNS puts the link in the network namespace at path (for example
// /var/run/netns/NAME) instead of the caller's. WireGUI itself always runs in
// its own namespace; tests use this to keep the server apart from the host.
func WithNetNS(path string) Option {
	return func(o *options) { o.netnsPath = path }
}

// Interface is the server's WireGuard link. It holds one wgctrl client and
// one netlink handle for its whole life. Its methods are safe for concurrent
// use.
type Interface struct {
	name   string
	mode   Mode
	logger *slog.Logger

	mu     sync.Mutex
	closed bool
	kind   string
	nsFile *os.File // nil: the caller's namespace
	nl     *netlink.Handle
	wgc    wgClient
	user   *userspaceDevice // nil for a kernel link
	// added holds the addresses this Interface put on the link, the only ones
	// Sync removes when they are no longer wanted.
	added map[netip.Prefix]bool
	// known is the WireGuard device as last read by Sync, with every
	// configuration written since applied to it; nil when unknown (before
	// the first Sync, after a failed write, after the link was re-created).
	// Apply diffs against it instead of reading the device.
	known *wgtypes.Device
	// lastHeard is where each peer that left the device was last heard from:
	// removed by a pass (its user disabled, its session expired), or gone with
	// the link. When the peer comes back, the server sends it a handshake there
	// at once (see Peer.Endpoint), whatever the caller knows of its endpoint.
	lastHeard map[wgtypes.Key]heard
	// The gateway: the firewall and forwarding (see gateway.go).
	netnsPath string
	gw        gateway
}

// OpenInterface opens the WireGuard interface name in the current network
// namespace (or the one given WithNetNS), creating the link if it does not
// exist: a kernel wireguard link, or a TUN driven by the embedded wireguard-go
// with a UAPI socket in /var/run/wireguard so that wg(8) works. The link is
// configured and brought up by Sync.
func OpenInterface(name string, mode Mode, logger *slog.Logger, opts ...Option) (*Interface, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	switch mode {
	case "":
		mode = ModeAuto
	case ModeAuto, ModeAlways, ModeNever:
	default:
		return nil, fmt.Errorf("open interface %s: unknown userspace mode %q", name, mode)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	i := &Interface{
		name:      name,
		mode:      mode,
		logger:    logger.With(slog.String("interface", name)),
		added:     make(map[netip.Prefix]bool),
		netnsPath: o.netnsPath,
	}
	if err := i.open(o); err != nil {
		i.closeLocked()
		return nil, fmt.Errorf("open interface %s: %w", name, err)
	}
	return i, nil
}

func (i *Interface) open(o options) error {
	var err error
	if o.netnsPath != "" {
		if i.nsFile, err = netnsx.Open(o.netnsPath); err != nil {
			return err
		}
		i.nl, err = netlink.NewHandleAt(netns.NsHandle(i.nsFile.Fd()))
	} else {
		i.nl, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	created, _, err := i.ensureLink()
	if err != nil {
		return err
	}
	if created {
		i.logger.Info("created wireguard link", slog.String("kind", i.kind))
	}
	// After the link: creating a kernel link may load the module, and wgctrl
	// looks for the kernel's generic netlink family when it starts.
	i.wgc, err = newWgctrl(i.nsFD())
	return err
}

// wgClient is what the package uses of wgctrl: one read, one write.
type wgClient interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
	Close() error
}

// newWgctrl opens a wgctrl client whose kernel (generic netlink) socket
// lives in the namespace nsFD; userspace devices are reached through their
// socket files from anywhere.
func newWgctrl(nsFD int) (wgClient, error) {
	var c *wgctrl.Client
	err := netnsx.Do(nsFD, func() error {
		var err error
		c, err = wgctrl.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open wgctrl: %w", err)
	}
	return c, nil
}

// checkName applies the kernel's rules for interface names.
func checkName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q: 1 to 15 characters without '/', ':' or spaces", name)
	}
	return nil
}

// nsFD returns the namespace descriptor for netnsx.Do, -1 for the caller's.
func (i *Interface) nsFD() int {
	if i.nsFile == nil {
		return -1
	}
	return int(i.nsFile.Fd())
}

// Name returns the interface name.
func (i *Interface) Name() string { return i.name }

// Kind returns "kernel" or "userspace".
func (i *Interface) Kind() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.kind
}

// ensureLink makes sure the link exists, creating it (and, for userspace, the
// wireguard-go device) when it is missing. It returns the link as netlink
// sees it now.
func (i *Interface) ensureLink() (created bool, link netlink.Link, err error) {
	if i.user != nil && !i.user.alive() {
		// wireguard-go closes itself when its TUN goes away.
		i.logger.Warn("embedded wireguard device stopped; recreating it")
		if err := i.user.close(); err != nil {
			i.logger.Warn("close stopped wireguard device", slog.Any("err", err))
		}
		i.user = nil
	}
	link, err = i.nl.LinkByName(i.name)
	var notFound netlink.LinkNotFoundError
	switch {
	case err == nil:
		return false, link, i.checkExisting(link)
	case !errors.As(err, &notFound):
		return false, nil, fmt.Errorf("look up link %s: %w", i.name, err)
	}

	if i.user != nil {
		// Our TUN is gone but wireguard-go has not noticed yet.
		if err := i.user.close(); err != nil {
			i.logger.Warn("close wireguard device of deleted link", slog.Any("err", err))
		}
		i.user = nil
	}
	if err := i.createLink(); err != nil {
		return false, nil, err
	}
	link, err = i.nl.LinkByName(i.name)
	if err != nil {
		return true, nil, fmt.Errorf("look up created link %s: %w", i.name, err)
	}
	return true, link, nil
}

// checkExisting accepts a link found by name: our own TUN, or a kernel
// wireguard link.
func (i *Interface) checkExisting(link netlink.Link) error {
	if i.user != nil {
		return nil // our TUN, and its device is alive
	}
	switch link.Type() {
	case "wireguard":
	case "tuntap":
		return fmt.Errorf("link %s exists and is a tuntap link, not wireguard (is another wireguard-go or WireGUI using it?)", i.name)
	default:
		return fmt.Errorf("link %s exists and is a %s link, not wireguard", i.name, link.Type())
	}
	switch {
	case i.kind == KindUserspace:
		return fmt.Errorf("link %s was replaced by a kernel wireguard link", i.name)
	case i.mode == ModeAlways:
		return fmt.Errorf("link %s is a kernel wireguard link but userspace mode is %q; delete it or change the mode", i.name, i.mode)
	}
	i.kind = KindKernel
	return nil
}

// createLink creates the link of the kind chosen at open, or chooses one.
func (i *Interface) createLink() error {
	kind := i.kind
	if kind == "" && i.mode == ModeAlways {
		kind = KindUserspace
	}
	if kind == "" || kind == KindKernel {
		err := i.nl.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: i.name, MTU: defaultMTU}})
		if err == nil {
			i.kind = KindKernel
			return nil
		}
		err = fmt.Errorf("create kernel wireguard link %s: %w", i.name, err)
		if kind == KindKernel || i.mode == ModeNever {
			return err
		}
		i.logger.Info("kernel wireguard unavailable; using embedded wireguard-go", slog.Any("reason", err))
	}
	u, err := startUserspace(i.name, i.nsFD(), i.logger)
	if err != nil {
		return err
	}
	i.user, i.kind = u, KindUserspace
	return nil
}

// Peers returns the statistics of every peer, read in one call.
func (i *Interface) Peers(ctx context.Context) ([]PeerStats, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, fmt.Errorf("read peers of %s: interface is closed", i.name)
	}
	return readPeers(ctx, i.wgc, i.name)
}

// Close releases the interface. A userspace link disappears with its
// wireguard-go device, and its gateway with it: the forwarding this Interface
// switched on goes off and table inet wiregui is deleted (closeGateway). A
// kernel link stays up, so tunnels survive a restart, and so do its firewall
// and forwarding.
func (i *Interface) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil
	}
	return i.closeLocked()
}

func (i *Interface) closeLocked() error {
	i.closed, i.known = true, nil
	i.closeGateway() // while the namespace and the table are open, before the link goes
	var errs []error
	if i.user != nil {
		errs = append(errs, i.user.close())
		i.user = nil
	}
	if i.wgc != nil {
		errs = append(errs, i.wgc.Close())
	}
	if i.nl != nil {
		i.nl.Close()
	}
	if i.gw.table != nil {
		errs = append(errs, i.gw.table.Close())
	}
	if i.nsFile != nil {
		errs = append(errs, i.nsFile.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close interface %s: %w", i.name, err)
	}
	return nil
}
