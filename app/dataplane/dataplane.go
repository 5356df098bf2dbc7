// Package dataplane keeps the server's WireGuard interface as the database says: it reads the
// desired state from the store (peers, their routes; the firewall joins them later), caches it
// per user so that a change costs one indexed read, and hands it to wg's reconciler. It owns
// the interface and reports its state for the banner and /healthz.
package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/store"
	"wiregui/wg"
	"wiregui/wg/firewall"
)

// Store is what the data plane reads from storage.
type Store interface {
	PolicyMark(ctx context.Context) (string, error)
	ListLivePeers(ctx context.Context, at time.Time, userID string) ([]store.LivePeer, time.Time, error)
	ListExpiredSessions(ctx context.Context, at time.Time) ([]store.User, error)
	Notify(ctx context.Context, n *store.Notification, dedupeKey string) (bool, error)
}

// Options configure a Plane.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Keys are the server's WireGuard key pair.
	Keys store.ServerKeys
	// Interface is the WireGuard interface's name; Mode chooses kernel or userspace.
	Interface string
	Mode      wg.Mode
	// ListenPort is the UDP port the interface listens on.
	ListenPort int
	// Networks are the tunnel networks (IPv4, IPv6 or both): the interface takes the first
	// address of each, and relay subnets must stay out of them.
	Networks []netip.Prefix
	// Interval is how often the interface is compared with the database and repaired.
	Interval time.Duration
	// Unavailable reports whether an error means the database cannot be reached for now.
	Unavailable func(error) bool
	// Firewall builds the firewall for the live devices (app/rules); nil writes none, and
	// then nothing is forwarded.
	Firewall Firewall
	// Forward switches IP forwarding on for the tunnel networks while the firewall is in the
	// kernel, so that full-tunnel clients reach beyond the server.
	Forward bool
}

// Firewall is what the data plane needs to build the firewall: the policy (rules, network
// policies, default actions), and the firewall's input for given devices under it.
type Firewall interface {
	Policy(ctx context.Context) (*store.Policy, error)
	InputFor(p *store.Policy, sources []firewall.Source) (firewall.Input, []string)
}

// Plane owns the WireGuard interface and its reconciler. When the interface cannot be opened
// (no TUN, no permission), the web UI keeps serving and shows the cause; opening is retried
// every reconcile interval. Create it with New and start it with Run.
type Plane struct {
	opts        Options
	log         *slog.Logger
	serverAddrs []netip.Prefix

	mu    sync.Mutex
	iface *wg.Interface
	rec   *wg.Reconciler
	err   error
	// notApplied is why each live device that is not a peer is left out, by device id, as of
	// the last desired state; replaced whole, never changed in place.
	notApplied map[string]string

	// The desired state last read from the database, by owner. Every write path of this
	// process reports whose devices or session it changed, and the next pass re-reads only
	// those users: a change costs one indexed query. Everyone is read again when a change
	// concerns everyone (settings), at the state's RevisitAt (a session expires), when the
	// database's access mark moved without a report (another process wrote: the CLI in
	// another container), and after desiredMaxAge.
	// Only the reconciler's goroutine touches cache; cacheMu guards the marks.
	cache    *desiredCache
	cacheMu  sync.Mutex
	staleAll bool
	staleFor map[string]bool
	// policy is the firewall's policy as last read; policyStale asks for a fresh read.
	policy      *store.Policy
	policyStale bool
	// reported is what has been logged of notApplied; only the reconciler's goroutine uses it.
	reported map[string]string
	// problems is what has been logged of the firewall's problems (rules or devices left
	// out of it), the same way.
	problems map[string]bool
}

// desiredCache is the live peers of every user, as last read.
type desiredCache struct {
	mark      string // the store's AccessMark before the last read
	readAt    time.Time
	revisitAt time.Time
	byUser    map[string][]livePeer
}

// livePeer is a device that should be a live peer: the peer, or why the device cannot be
// one.
type livePeer struct {
	deviceID  string
	userID    string
	createdAt time.Time
	peer      wg.Peer
	problem   string
}

// desiredMaxAge bounds how long a desired state read from the database is reused, in case a
// change reached the database by a path that could not signal this process.
const desiredMaxAge = 5 * time.Minute

// New returns a plane for opts; its interface opens when Run starts.
func New(opts Options) (*Plane, error) {
	p := &Plane{opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, n := range opts.Networks {
		pool, err := wg.NewPool(n)
		if err != nil {
			return nil, err
		}
		p.serverAddrs = append(p.serverAddrs, pool.ServerPrefix())
	}
	return p, nil
}

// Run opens the interface and keeps it as the database says until ctx ends.
func (p *Plane) Run(ctx context.Context) {
	for {
		iface, err := wg.OpenInterface(p.opts.Interface, p.opts.Mode, p.log)
		if err == nil {
			rec := &wg.Reconciler{Interface: iface, Interval: p.opts.Interval, Logger: p.log,
				Desired: p.desired(p.serverAddrs), Unavailable: p.opts.Unavailable}
			p.mu.Lock()
			p.iface, p.rec, p.err = iface, rec, nil
			p.mu.Unlock()
			p.log.Info("wireguard interface up", slog.String("interface", iface.Name()), slog.String("kind", iface.Kind()))
			rec.Run(ctx)
			return
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		p.log.Error("wireguard unavailable", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.opts.Interval):
		}
	}
}

// desired computes the interface the database asks for. A device is a live peer exactly
// when it exists, its owner is enabled, and the owner's VPN session (if sessions expire) is
// valid; its relay subnets are routed to it. The state changes by itself when the next
// session expires, so the reconciler is told to look again then.
func (p *Plane) desired(serverAddrs []netip.Prefix) func(ctx context.Context) (wg.Config, error) {
	return func(ctx context.Context) (wg.Config, error) {
		priv, err := wgtypes.ParseKey(p.opts.Keys.PrivateKey)
		if err != nil {
			return wg.Config{}, fmt.Errorf("server private key: %w", err)
		}
		now := time.Now()
		p.cacheMu.Lock()
		all, users, policyStale := p.staleAll, p.staleFor, p.policyStale
		p.staleAll, p.staleFor, p.policyStale = false, nil, false // a change reported during the read marks again
		p.cacheMu.Unlock()

		c := p.cache
		p.cache = nil // until the read succeeds
		// Read before the rows, so that a write during the read moves it again. With reports
		// pending the mark moved anyway; what else moved is left to the next mark or max age.
		mark, err := p.opts.Store.PolicyMark(ctx)
		if err != nil {
			return wg.Config{}, err
		}
		readAll := all || c == nil || now.Sub(c.readAt) >= desiredMaxAge || (!c.revisitAt.IsZero() && !now.Before(c.revisitAt)) ||
			(len(users) == 0 && !policyStale && mark != c.mark)
		if readAll {
			if c, err = p.readEveryone(ctx, now); err != nil {
				return wg.Config{}, err
			}
			p.notifyExpired(ctx, now)
		} else if err := p.reread(ctx, c, users, now); err != nil {
			return wg.Config{}, err
		}
		if p.opts.Firewall != nil && (readAll || policyStale || p.policy == nil) {
			p.policy = nil // until the read succeeds
			if p.policy, err = p.opts.Firewall.Policy(ctx); err != nil {
				return wg.Config{}, err
			}
		}
		c.mark = mark
		p.cache = c
		want, notApplied, applied := c.config(priv, p.opts.ListenPort, serverAddrs)
		if p.opts.Firewall != nil {
			want = p.withFirewall(want, applied, notApplied)
		}
		p.report(notApplied)
		return want, nil
	}
}

// withFirewall adds the firewall of the applied devices to want, and forwarding. A device
// whose addresses overlap an older device's is left out of both the firewall and WireGuard
// (firewall.Sound), so that no device's traffic escapes its owner's rules; a rule that
// cannot be compiled is left out and logged once. When the firewall cannot be compiled at
// all, want has none, and nothing is forwarded (fail closed).
func (p *Plane) withFirewall(want wg.Config, applied []*livePeer, notApplied map[string]string) wg.Config {
	sources := make([]firewall.Source, len(applied))
	for i, lp := range applied {
		sources[i] = firewall.Source{DeviceID: lp.deviceID, UserID: lp.userID, Prefixes: lp.peer.AllowedIPs}
	}
	kept, skipped := firewall.Sound(sources)
	if len(skipped) > 0 {
		left := make(map[wgtypes.Key]bool, len(skipped))
		byDevice := make(map[string]wgtypes.Key, len(applied))
		for _, lp := range applied {
			byDevice[lp.deviceID] = lp.peer.PublicKey
		}
		for _, s := range skipped {
			notApplied[s.DeviceID] = s.Reason
			left[byDevice[s.DeviceID]] = true
		}
		want.Peers = slices.DeleteFunc(slices.Clone(want.Peers), func(peer wg.Peer) bool { return left[peer.PublicKey] })
	}
	in, problems := p.opts.Firewall.InputFor(p.policy, kept)
	p.reportProblems(problems)
	rs, err := firewall.Compile(in)
	if err != nil {
		p.reportProblems([]string{"the firewall cannot be compiled: " + err.Error()})
		return want
	}
	want.Firewall, want.Forward = rs, p.opts.Forward
	return want
}

// reportProblems logs each problem of the firewall once, and once more when it comes back.
func (p *Plane) reportProblems(problems []string) {
	now := make(map[string]bool, len(problems))
	for _, pr := range problems {
		if !p.problems[pr] {
			p.log.Warn("firewall", slog.String("problem", pr))
		}
		now[pr] = true
	}
	p.problems = now
}

// readEveryone reads the live peers of every user.
func (p *Plane) readEveryone(ctx context.Context, now time.Time) (*desiredCache, error) {
	live, revisitAt, err := p.opts.Store.ListLivePeers(ctx, now, "")
	if err != nil {
		return nil, err
	}
	c := &desiredCache{readAt: now, revisitAt: revisitAt, byUser: make(map[string][]livePeer)}
	tunnels := p.opts.Networks
	for _, lp := range live {
		c.add(lp, tunnels)
	}
	return c, nil
}

// reread replaces the share of every user in users with a fresh read.
func (p *Plane) reread(ctx context.Context, c *desiredCache, users map[string]bool, now time.Time) error {
	tunnels := p.opts.Networks
	for id := range users {
		live, revisitAt, err := p.opts.Store.ListLivePeers(ctx, now, id)
		if err != nil {
			return err
		}
		delete(c.byUser, id)
		for _, lp := range live {
			c.add(lp, tunnels)
		}
		// A later expiry leaves an earlier revisitAt in place: that pass then reads everyone.
		if !revisitAt.IsZero() && (c.revisitAt.IsZero() || revisitAt.Before(c.revisitAt)) {
			c.revisitAt = revisitAt
		}
	}
	return nil
}

func (c *desiredCache) add(lp store.LivePeer, tunnels []netip.Prefix) {
	peer, err := peerOf(lp, tunnels)
	lpr := livePeer{deviceID: lp.DeviceID, userID: lp.UserID, createdAt: lp.CreatedAt, peer: peer}
	if err != nil {
		lpr.problem = err.Error()
	}
	c.byUser[lp.UserID] = append(c.byUser[lp.UserID], lpr)
}

// config is the desired state of the interface, and why each device that is not in it is
// left out. Older devices come first, so that of two that claim the same key or address
// the one that was there first stays.
func (c *desiredCache) config(priv wgtypes.Key, port int, addrs []netip.Prefix) (want wg.Config, notApplied map[string]string, applied []*livePeer) {
	n := 0
	for _, lps := range c.byUser {
		n += len(lps)
	}
	all := make([]*livePeer, 0, n)
	notApplied = make(map[string]string)
	for _, lps := range c.byUser {
		for i := range lps {
			if lps[i].problem != "" {
				notApplied[lps[i].deviceID] = lps[i].problem
				continue
			}
			all = append(all, &lps[i])
		}
	}
	slices.SortFunc(all, func(a, b *livePeer) int {
		return cmp.Or(a.createdAt.Compare(b.createdAt), cmp.Compare(a.deviceID, b.deviceID))
	})
	want = wg.Config{PrivateKey: priv, ListenPort: port, Addresses: addrs, RevisitAt: c.revisitAt,
		Peers: make([]wg.Peer, len(all))}
	for i, lp := range all {
		want.Peers[i] = lp.peer
	}
	want = want.Check()
	skipped := make(map[int]bool, len(want.Skipped))
	for _, s := range want.Skipped {
		notApplied[all[s.Index].deviceID] = s.Reason
		skipped[s.Index] = true
	}
	applied = make([]*livePeer, 0, len(want.Peers))
	for i, lp := range all {
		if !skipped[i] {
			lp.peer = want.Peers[len(applied)] // as Check made it: allowed IPs masked
			applied = append(applied, lp)
		}
	}
	return want, notApplied, applied
}

// notifyExpired raises one notification per expired VPN session, however many passes see it.
func (p *Plane) notifyExpired(ctx context.Context, now time.Time) {
	users, err := p.opts.Store.ListExpiredSessions(ctx, now)
	if err != nil {
		p.log.Warn("list expired sessions", slog.Any("err", err))
		return
	}
	for _, u := range users {
		if u.LastSignedInAt == nil {
			continue // never signed in: there was no session to expire
		}
		n := &store.Notification{Kind: "vpn_session_expired", UserID: u.ID,
			Message: fmt.Sprintf("VPN session expired for %s; their devices are disconnected until they sign in again", u.Email)}
		key := fmt.Sprintf("vpn_session_expired:%s:%d", u.ID, u.LastSignedInAt.Unix())
		added, err := p.opts.Store.Notify(ctx, n, key)
		if err != nil {
			p.log.Warn("notify", slog.Any("err", err))
			continue
		}
		if added {
			p.log.Info("vpn session expired", slog.String("user", u.Email))
		}
	}
}

// peerOf is the WireGuard peer of a device: its addresses and relay subnets as allowed IPs,
// the subnets routed to it, and its last known endpoint so the server can reach it first
// when it comes back. Whatever reached the database is checked as the forms check it, so a
// row written by an older version, a restore or a hand edit is refused with the reason.
func peerOf(d store.LivePeer, tunnels []netip.Prefix) (wg.Peer, error) {
	if d.Problem != "" {
		return wg.Peer{}, errors.New(d.Problem)
	}
	pub, err := wg.ParsePublicKey(d.PublicKey)
	if err != nil {
		return wg.Peer{}, err
	}
	peer := wg.Peer{PublicKey: pub}
	if d.PresharedKey != "" {
		if peer.PresharedKey, err = wgtypes.ParseKey(d.PresharedKey); err != nil {
			return wg.Peer{}, errors.New("its preshared key is not a WireGuard key")
		}
	}
	if len(d.AllowedSubnets) > 0 {
		if err := wg.CheckRelaySubnets(d.AllowedSubnets, tunnels, nil); err != nil {
			return wg.Peer{}, err
		}
	}
	for _, a := range []netip.Addr{d.IPv4, d.IPv6} {
		if a.IsValid() {
			peer.AllowedIPs = append(peer.AllowedIPs, wg.HostPrefix(a))
		}
	}
	peer.AllowedIPs = append(peer.AllowedIPs, d.AllowedSubnets...)
	peer.Routes = d.AllowedSubnets
	if ep, err := netip.ParseAddrPort(d.RemoteEndpoint); err == nil {
		peer.Endpoint = ep
	}
	return peer, nil
}

// report publishes why devices are not applied, and logs each device once when it is left
// out and once when it is back.
func (p *Plane) report(notApplied map[string]string) {
	p.mu.Lock()
	p.notApplied = notApplied
	p.mu.Unlock()
	for id, reason := range notApplied {
		if p.reported[id] != reason {
			p.log.Warn("device not applied", slog.String("device", id), slog.String("reason", reason))
		}
	}
	for id := range p.reported {
		if _, still := notApplied[id]; !still {
			p.log.Info("device applied again", slog.String("device", id))
		}
	}
	p.reported = notApplied
}

// PolicyChanged asks the reconciler to apply the firewall's policy now: the rules, the network
// policies or the default actions changed. The devices are not read again.
func (p *Plane) PolicyChanged() {
	p.cacheMu.Lock()
	p.policyStale = true
	p.cacheMu.Unlock()
	p.mu.Lock()
	rec := p.rec
	p.mu.Unlock()
	if rec != nil {
		rec.Trigger()
	}
}

// Kernel reads the firewall's table back from the kernel as nft text, and says whether it is
// the rule set of the last pass: the Rules page's troubleshooting card.
func (p *Plane) Kernel() (string, bool, error) {
	p.mu.Lock()
	iface := p.iface
	p.mu.Unlock()
	if iface == nil {
		return "", false, errors.New("the WireGuard interface is not open")
	}
	return iface.FirewallKernel()
}

// Trigger asks the reconciler to apply the database now: what changed for userID, or for
// everyone when userID is "".
func (p *Plane) Trigger(userID string) {
	p.cacheMu.Lock()
	if userID == "" {
		p.staleAll = true
	} else {
		if p.staleFor == nil {
			p.staleFor = make(map[string]bool)
		}
		p.staleFor[userID] = true
	}
	p.cacheMu.Unlock()
	p.mu.Lock()
	rec := p.rec
	p.mu.Unlock()
	if rec != nil {
		rec.Trigger()
	}
}

// Status is the state of the WireGuard interface, for the banner and /healthz.
type Status struct {
	Enabled   bool             `json:"enabled"`
	Interface string           `json:"interface,omitempty"`
	Kind      string           `json:"kind,omitempty"` // kernel or userspace
	Error     string           `json:"error,omitempty"`
	Reconcile *ReconcileStatus `json:"last_reconcile,omitempty"`
	// NotApplied says why each device that should be a live peer is not one, by device id:
	// its row is bad (a hand edit, a restore, an older version). Admins see it.
	NotApplied map[string]string `json:"-"`
	// DevicesNotApplied counts them; /healthz fills it in.
	DevicesNotApplied int `json:"devices_not_applied,omitempty"`
	// Gateway is the firewall and forwarding; nil until the interface is open.
	Gateway *wg.GatewayStatus `json:"gateway,omitempty"`
}

// ReconcileStatus is the outcome of the reconciler's last pass.
type ReconcileStatus struct {
	At       time.Time `json:"at"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
	Repairs  int       `json:"repairs"`
}

// Status reports the interface's state now.
func (p *Plane) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Enabled: true, Interface: p.opts.Interface, NotApplied: p.notApplied}
	switch {
	case p.err != nil:
		st.Error = p.err.Error()
	case p.iface == nil: // still opening
	default:
		st.Kind = p.iface.Kind()
		gw := p.iface.Gateway()
		st.Gateway = &gw
		rs := p.rec.Status()
		if !rs.At.IsZero() {
			st.Reconcile = &ReconcileStatus{At: rs.At, Duration: rs.Duration.String(), Error: rs.Err, Repairs: rs.Repairs}
			switch {
			case rs.Unavailable: // WireGuard is fine, with the last state applied; the database part says the rest
				st.Reconcile.Error = store.ErrUnavailable.Error()
			case rs.Err != "":
				st.Error = "reconcile failed: " + rs.Err
			}
		}
	}
	return st
}

// Close closes the interface; call it after Run has returned.
func (p *Plane) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.iface != nil {
		if err := p.iface.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			p.log.Warn("close wireguard interface", slog.Any("err", err))
		}
	}
}
