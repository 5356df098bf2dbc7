package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/app"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// dataPlane owns the WireGuard interface and its reconciler. When the interface cannot be
// opened (no TUN, no permission), the web UI keeps serving and shows the cause; opening is
// retried every reconcile interval.
type dataPlane struct {
	cfg   *config.Config
	store *store.Store
	keys  store.ServerKeys
	log   *slog.Logger

	mu    sync.Mutex
	iface *wg.Interface
	rec   *wg.Reconciler
	err   error

	// The desired state last read from the database. Every write path triggers a pass and
	// marks it stale, so a periodic drift-repair pass only reads WireGuard; the database is
	// read again when stale, when a session expires, or after desiredMaxAge.
	cacheMu  sync.Mutex
	cached   *wg.Config
	cachedAt time.Time
	stale    bool
}

// desiredMaxAge bounds how long a desired state read from the database is reused, in case a
// change reached the database by a path that could not signal this process.
const desiredMaxAge = 5 * time.Minute

func (p *dataPlane) run(ctx context.Context) {
	_, serverAddrs, _ := pools(p.cfg)
	for {
		iface, err := wg.OpenInterface(p.cfg.WireGuard.Interface, wg.Mode(p.cfg.WireGuard.Userspace), p.log)
		if err == nil {
			rec := &wg.Reconciler{Interface: iface, Interval: p.cfg.ReconcileInterval, Logger: p.log,
				Desired: p.desired(serverAddrs)}
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
		case <-time.After(p.cfg.ReconcileInterval):
		}
	}
}

// desired computes the interface the database asks for. A device is a live peer exactly
// when it exists, its owner is enabled, and the owner's VPN session (if sessions expire) is
// valid; its relay subnets are routed to it. The state changes by itself when the next
// session expires, so the reconciler is told to look again then.
func (p *dataPlane) desired(serverAddrs []netip.Prefix) func(ctx context.Context) (wg.Config, error) {
	return func(ctx context.Context) (wg.Config, error) {
		now := time.Now()
		p.cacheMu.Lock()
		if c := p.cached; c != nil && !p.stale && now.Sub(p.cachedAt) < desiredMaxAge &&
			(c.RevisitAt.IsZero() || now.Before(c.RevisitAt)) {
			p.cacheMu.Unlock()
			return *c, nil
		}
		p.stale = false // before reading: a change committed during the read marks it again
		p.cacheMu.Unlock()

		want, err := p.readDesired(ctx, serverAddrs, now)
		if err != nil {
			return wg.Config{}, err
		}
		p.cacheMu.Lock()
		p.cached, p.cachedAt = &want, now
		p.cacheMu.Unlock()
		p.notifyExpired(ctx, now)
		return want, nil
	}
}

func (p *dataPlane) readDesired(ctx context.Context, serverAddrs []netip.Prefix, now time.Time) (wg.Config, error) {
	priv, err := wgtypes.ParseKey(p.keys.PrivateKey)
	if err != nil {
		return wg.Config{}, fmt.Errorf("server private key: %w", err)
	}
	live, changesAt, err := p.store.ListLivePeers(ctx, now)
	if err != nil {
		return wg.Config{}, err
	}
	want := wg.Config{PrivateKey: priv, ListenPort: p.cfg.WireGuard.ListenPort, Addresses: serverAddrs,
		Peers: make([]wg.Peer, 0, len(live)), RevisitAt: changesAt}
	for _, lp := range live {
		peer, err := livePeer(lp)
		if err != nil {
			p.log.Warn("device skipped", slog.String("device", lp.DeviceID), slog.Any("err", err))
			continue
		}
		want.Peers = append(want.Peers, peer)
		want.Routes = append(want.Routes, lp.AllowedSubnets...)
	}
	return want, nil
}

// notifyExpired raises one notification per expired VPN session, however many passes see it.
func (p *dataPlane) notifyExpired(ctx context.Context, now time.Time) {
	users, err := p.store.ListExpiredSessions(ctx, now)
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
		added, err := p.store.Notify(ctx, n, key)
		if err != nil {
			p.log.Warn("notify", slog.Any("err", err))
			continue
		}
		if added {
			p.log.Info("vpn session expired", slog.String("user", u.Email))
		}
	}
}

// livePeer is the WireGuard peer of a device: its addresses and relay subnets as allowed
// IPs, and its last known endpoint so the server can reach it first when it comes back.
func livePeer(d store.LivePeer) (wg.Peer, error) {
	pub, err := wgtypes.ParseKey(d.PublicKey)
	if err != nil {
		return wg.Peer{}, fmt.Errorf("public key: %w", err)
	}
	peer := wg.Peer{PublicKey: pub}
	if d.PresharedKey != "" {
		if peer.PresharedKey, err = wgtypes.ParseKey(d.PresharedKey); err != nil {
			return wg.Peer{}, fmt.Errorf("preshared key: %w", err)
		}
	}
	for _, a := range []netip.Addr{d.IPv4, d.IPv6} {
		if a.IsValid() {
			peer.AllowedIPs = append(peer.AllowedIPs, wg.HostPrefix(a))
		}
	}
	peer.AllowedIPs = append(peer.AllowedIPs, d.AllowedSubnets...)
	if ep, err := netip.ParseAddrPort(d.RemoteEndpoint); err == nil {
		peer.Endpoint = ep
	}
	return peer, nil
}

// trigger asks the reconciler to apply the database now.
func (p *dataPlane) trigger() {
	p.cacheMu.Lock()
	p.stale = true
	p.cacheMu.Unlock()
	p.mu.Lock()
	rec := p.rec
	p.mu.Unlock()
	if rec != nil {
		rec.Trigger()
	}
}

func (p *dataPlane) status() app.WireGuardStatus {
	if !p.cfg.WireGuard.Enabled {
		return app.WireGuardStatus{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := app.WireGuardStatus{Enabled: true, Interface: p.cfg.WireGuard.Interface}
	switch {
	case p.err != nil:
		st.Error = p.err.Error()
	case p.iface == nil: // still opening
	default:
		st.Kind = p.iface.Kind()
		rs := p.rec.Status()
		if !rs.At.IsZero() {
			st.Reconcile = &app.ReconcileStatus{At: rs.At, Duration: rs.Duration.String(), Error: rs.Err, Repairs: rs.Repairs}
			if rs.Err != "" {
				st.Error = "reconcile failed: " + rs.Err
			}
		}
	}
	return st
}

func (p *dataPlane) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.iface != nil {
		if err := p.iface.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			p.log.Warn("close wireguard interface", slog.Any("err", err))
		}
	}
}
