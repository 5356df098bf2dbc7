package wg

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"wiregui/wg/firewall"
	"wiregui/wg/internal/netnsx"
)

// GatewayStatus is the state of the interface's firewall and IP forwarding after the last
// pass, for /healthz and the admins' banner.
type GatewayStatus struct {
	// Firewall: the desired state has a rule set (Config.Firewall).
	Firewall bool `json:"firewall"`
	// AppliedAt is when the kernel's table was last found or made the desired rule set;
	// zero until it has been.
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// Err is why the last pass could not make the kernel's table the desired rule set, or
	// could not set forwarding; "" when it could.
	Err string `json:"error,omitempty"`
	// Unavailable: nftables cannot be used here (no CAP_NET_ADMIN, no nf_tables; Err says
	// which). Nothing is filtered, and forwarding stays off.
	Unavailable bool `json:"nftables_unavailable,omitempty"`
	// InKernel: a WireGUI rule set filters what the interface forwards: the desired one, or
	// after an error the previous one.
	InKernel bool `json:"in_kernel"`
	// Repairs counts the passes that found the table changed by someone else and repaired
	// it; Drift is what the last of them found, at DriftAt.
	Repairs int       `json:"repairs"`
	Drift   []string  `json:"drift,omitempty"`
	DriftAt time.Time `json:"drift_at,omitzero"`
	// IPv4Forwarding and IPv6Forwarding say whether the host forwards that family: "on",
	// "off", or "on (by the host)" when it forwarded before WireGUI asked; "" for a family
	// the tunnel does not have.
	IPv4Forwarding string `json:"ipv4_forwarding,omitempty"`
	IPv6Forwarding string `json:"ipv6_forwarding,omitempty"`
	// ForeignForwardDrops names other tables' forward chains whose policy is drop (Docker
	// sets one): they drop what the rule set accepts unless they accept it themselves. Read
	// on the passes that compare with the kernel.
	ForeignForwardDrops []string `json:"foreign_forward_drops,omitempty"`
}

// GatewayReporter is an interface that reports its gateway's state, as Interface does.
type GatewayReporter interface {
	Gateway() GatewayStatus
}

// Forwarding states in GatewayStatus.
const (
	ForwardingOn     = "on"
	ForwardingOff    = "off"
	ForwardingByHost = "on (by the host)"
)

// gateway is the Interface's firewall and forwarding; guarded by Interface.mu.
type gateway struct {
	table  *firewall.Table // opened with the first rule set
	want   *firewall.Ruleset
	status GatewayStatus
	// ours are the forwarding sysctls this Interface switched on; only those it switches off.
	ours map[string]bool
	// logged is the error last logged, so that a lasting one is logged once.
	logged string
}

// forwardingSysctl is where each family's forwarding is switched, under /proc/sys.
var forwardingSysctl = [2]string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"}

// syncGateway writes want's firewall to the kernel (comparing with the kernel's table first
// when compare is set, to repair drift), then sets forwarding: on only while a rule set of
// ours is in the kernel. Its errors go to the status and the log, never to the pass: the
// peers are applied either way. Interface.mu is held.
func (i *Interface) syncGateway(want Config, compare bool, ch *Changes) {
	g := &i.gw
	st := &g.status
	st.Firewall, g.want = want.Firewall != nil, want.Firewall
	var errs []error
	if rs := want.Firewall; rs != nil {
		if err := i.syncFirewall(rs, compare, ch); err != nil {
			errs = append(errs, err)
		}
	}
	st.InKernel = st.Firewall && g.table != nil && g.table.InKernel()
	var families [2]bool
	if want.Firewall != nil {
		for _, n := range want.Firewall.Networks {
			families[boolInt(n.Addr().Is6())] = true
		}
	}
	for fam, sysctl := range forwardingSysctl {
		state, err := i.syncForwarding(sysctl, want.Forward && st.InKernel && families[fam], ch)
		if !families[fam] {
			state = ""
		}
		if fam == 0 {
			st.IPv4Forwarding = state
		} else {
			st.IPv6Forwarding = state
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if compare && g.table != nil {
		drops, err := g.table.ForeignForwardDrops()
		st.ForeignForwardDrops = st.ForeignForwardDrops[:0]
		for _, c := range drops {
			st.ForeignForwardDrops = append(st.ForeignForwardDrops, c.String())
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	st.Err, st.Unavailable = "", errors.Is(err, firewall.ErrUnavailable)
	if err != nil {
		st.Err = err.Error()
	}
	switch {
	case st.Err != "" && st.Err != g.logged:
		i.logger.Error("firewall or forwarding not applied", slog.String("err", st.Err),
			slog.Bool("rule_set_in_kernel", st.InKernel))
	case st.Err == "" && g.logged != "":
		i.logger.Info("firewall and forwarding applied again")
	}
	g.logged = st.Err
}

// syncFirewall makes the kernel's table rs.
func (i *Interface) syncFirewall(rs *firewall.Ruleset, compare bool, ch *Changes) error {
	g := &i.gw
	if rs.Interface != i.name {
		return fmt.Errorf("firewall: the rule set is for interface %s, not %s", rs.Interface, i.name)
	}
	if g.table == nil {
		var opts []firewall.Option
		if i.netnsPath != "" {
			opts = append(opts, firewall.WithNetNS(i.netnsPath))
		}
		t, err := firewall.Open(opts...)
		if err != nil {
			return fmt.Errorf("firewall: %w", err)
		}
		g.table = t
	}
	apply := g.table.Apply
	if compare {
		apply = g.table.Sync
	}
	res, err := apply(rs)
	ch.FirewallWritten = res.Written
	if len(res.Drift) > 0 {
		g.status.Drift, g.status.DriftAt = res.Drift, time.Now()
		if err != nil {
			return fmt.Errorf("firewall: someone changed the table (%s), and repairing it failed: %w", strings.Join(res.Drift, "; "), err)
		}
		ch.FirewallRepairs = len(res.Drift)
		g.status.Repairs++
		i.logger.Warn("firewall changed by someone else; repaired", slog.Any("drift", res.Drift))
	}
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	g.status.AppliedAt = time.Now()
	return nil
}

// syncForwarding switches one forwarding sysctl on when on is set, or off when it is not
// and this Interface switched it on, and returns the state it leaves.
func (i *Interface) syncForwarding(sysctl string, on bool, ch *Changes) (string, error) {
	g := &i.gw
	cur, err := i.readSysctl(sysctl)
	if err != nil {
		return "", err
	}
	switch {
	case on && cur != "1":
		if err := i.writeSysctl(sysctl, "1"); err != nil {
			return ForwardingOff, err
		}
		if g.ours == nil {
			g.ours = make(map[string]bool)
		}
		g.ours[sysctl] = true
		ch.ForwardingSet++
		return ForwardingOn, nil
	case on && !g.ours[sysctl]:
		return ForwardingByHost, nil
	case on:
		return ForwardingOn, nil
	case g.ours[sysctl] && cur == "1":
		// Ours, and no longer allowed: fail closed.
		if err := i.writeSysctl(sysctl, "0"); err != nil {
			return ForwardingOn, err
		}
		delete(g.ours, sysctl)
		ch.ForwardingSet++
		return ForwardingOff, nil
	case cur == "1":
		delete(g.ours, sysctl)
		return ForwardingByHost, nil
	}
	delete(g.ours, sysctl)
	return ForwardingOff, nil
}

// closeGateway undoes the gateway as the Interface closes, when the link goes with the process
// (userspace: the TUN closes with wireguard-go): the forwarding sysctls this Interface switched
// on are switched off (a host that forwarded before keeps forwarding), then table inet wiregui
// is deleted, so that the host does not go on forwarding between its other interfaces with a
// table that filters nothing of ours. A kernel link outlives the process and goes on carrying
// its tunnels, so both stay for it, filtering and forwarding as they did. Either way one log
// line says what happened; a failure is in that line too and does not fail Close. Interface.mu
// is held.
func (i *Interface) closeGateway() {
	g := &i.gw
	var ours []string
	for _, sysctl := range forwardingSysctl {
		if g.ours[sysctl] {
			ours = append(ours, sysctl)
		}
	}
	if g.table == nil && len(ours) == 0 {
		return // nothing of ours to undo or keep
	}
	table := "inet " + firewall.TableName
	forwarding := func(key string, names []string) []any {
		if len(names) == 0 {
			return nil
		}
		return []any{slog.String(key, strings.ReplaceAll(strings.Join(names, ","), "/", "."))}
	}
	if i.kind != KindUserspace {
		i.logger.Info("kernel wireguard link stays up after exit: its firewall and forwarding are kept",
			append([]any{slog.String("table", table)}, forwarding("forwarding_kept", ours)...)...)
		return
	}
	var errs []error
	var off []string
	for _, sysctl := range ours {
		if err := i.writeSysctl(sysctl, "0"); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(g.ours, sysctl)
		off = append(off, sysctl)
	}
	attrs := forwarding("forwarding_off", off)
	if g.table != nil {
		if err := g.table.Remove(); err != nil {
			errs = append(errs, err)
		} else {
			attrs = append(attrs, slog.String("table_removed", table))
		}
	}
	if err := errors.Join(errs...); err != nil {
		i.logger.Error("userspace wireguard link gone with the process; undoing its gateway failed",
			append(attrs, slog.String("err", err.Error()))...)
		return
	}
	i.logger.Info("userspace wireguard link gone with the process; its gateway is undone", attrs...)
}

// readSysctl reads /proc/sys/<name> in the interface's network namespace: the files under
// /proc/sys/net are those of the namespace of the thread that opens them.
func (i *Interface) readSysctl(name string) (string, error) {
	var v string
	err := netnsx.Do(i.nsFD(), func() error {
		b, err := os.ReadFile("/proc/sys/" + name)
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", strings.ReplaceAll(name, "/", "."), err)
	}
	return v, nil
}

func (i *Interface) writeSysctl(name, value string) error {
	err := netnsx.Do(i.nsFD(), func() error {
		return os.WriteFile("/proc/sys/"+name, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("set %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

// Gateway returns the state of the firewall and forwarding after the last pass.
func (i *Interface) Gateway() GatewayStatus {
	i.mu.Lock()
	defer i.mu.Unlock()
	st := i.gw.status
	st.Drift = slices.Clone(st.Drift)
	st.ForeignForwardDrops = slices.Clone(st.ForeignForwardDrops)
	return st
}

// FirewallKernel reads the kernel's table back and renders it as nft text, and reports
// whether it is the rule set of the last pass: the Rules page's troubleshooting card.
func (i *Interface) FirewallKernel() (text string, matches bool, err error) {
	i.mu.Lock()
	t, rs := i.gw.table, i.gw.want
	i.mu.Unlock()
	if t == nil || rs == nil {
		return "", false, errors.New("firewall: no rule set has been applied")
	}
	return t.Kernel(rs)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
