package wg

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/wg/firewall"
	"wiregui/wg/wglab"
)

// ruleset compiles the firewall for the lab's peers, one user each.
func (l *lab) ruleset(t *testing.T) *firewall.Ruleset {
	t.Helper()
	in := firewall.Input{Interface: l.iface.Name(), Masquerade: true,
		Networks: []netip.Prefix{l.pool4.Network(), l.pool6.Network()}}
	for j, p := range l.peers {
		in.Sources = append(in.Sources, firewall.Source{DeviceID: p.pub.String(), UserID: string(rune('a' + j)),
			Prefixes: []netip.Prefix{HostPrefix(p.v4), HostPrefix(p.v6)}})
	}
	rs, err := firewall.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// refused is a rule set the kernel refuses: a source jumps to a chain that does not exist.
func (l *lab) refused() *firewall.Ruleset {
	return &firewall.Ruleset{Interface: l.iface.Name(), Networks: []netip.Prefix{l.pool4.Network(), l.pool6.Network()},
		Owners: []firewall.Owner{{Prefix: netip.MustParsePrefix("10.3.2.200/32"), UserID: "ghost"}}}
}

// forwarding reads the namespace's forwarding sysctls.
func (l *lab) forwarding(t *testing.T) string {
	t.Helper()
	return strings.Join(strings.Fields(l.ns.Run(t, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")), " ")
}

func (l *lab) hasTable(t *testing.T) bool {
	t.Helper()
	_, err := l.ns.Exec("nft", "list", "table", "inet", firewall.TableName)
	return err == nil
}

func (l *lab) syncGateway(t *testing.T) (Changes, GatewayStatus) {
	t.Helper()
	ch, err := l.iface.Sync(context.Background(), l.want)
	if err != nil {
		t.Fatalf("Sync: %v (a firewall error must not fail the pass)", err)
	}
	checkDump(t, showDump(t, l.ns, l.iface.Name()), l.want) // the peers, whatever the firewall did
	return ch, l.iface.Gateway()
}

// TestForwardingFailsClosed: forwarding is switched on only once the rule set is in the
// kernel, switched off again when the rule set is gone and cannot be put back, and never
// touched when the host had it on already; the peers are applied in every case.
func TestForwardingFailsClosed(t *testing.T) {
	wglab.RequireRoot(t, "nft", "sysctl")
	l := newLab(t, 2)
	l.want.Forward = true

	t.Run("a rule set the kernel refuses: no forwarding", func(t *testing.T) {
		l.want.Firewall = l.refused()
		_, st := l.syncGateway(t)
		if got := l.forwarding(t); got != "0 0" {
			t.Errorf("forwarding %s without a rule set in the kernel, want 0 0", got)
		}
		// The kernel refuses a jump to a chain that is not there with EINVAL or ENOENT, depending on
		// the order it checks the batch in.
		if st.InKernel || !strings.Contains(st.Err, "write table inet wiregui: netlink receive: ") || st.IPv4Forwarding != ForwardingOff {
			t.Errorf("Gateway() = %+v; want the kernel's refusal, no rule set, forwarding off", st)
		}
	})
	t.Run("the rule set in the kernel, then forwarding", func(t *testing.T) {
		l.want.Firewall = l.ruleset(t)
		ch, st := l.syncGateway(t)
		if !l.hasTable(t) || l.forwarding(t) != "1 1" {
			t.Errorf("table %v, forwarding %s; want the table and 1 1", l.hasTable(t), l.forwarding(t))
		}
		if !ch.FirewallWritten || ch.ForwardingSet != 2 || !st.InKernel || st.Err != "" ||
			st.IPv4Forwarding != ForwardingOn || st.IPv6Forwarding != ForwardingOn || st.AppliedAt.IsZero() {
			t.Errorf("changes %+v, Gateway() = %+v", ch, st)
		}
	})
	t.Run("a refused change keeps the previous rule set, and forwarding", func(t *testing.T) {
		good := l.want.Firewall
		l.want.Firewall = l.refused()
		_, st := l.syncGateway(t)
		if !strings.Contains(st.Err, "the previous rule set stays in place") || !st.InKernel || l.forwarding(t) != "1 1" {
			t.Errorf("Gateway() = %+v, forwarding %s; want the previous rule set and forwarding kept", st, l.forwarding(t))
		}
		l.want.Firewall = good
	})
	t.Run("the table deleted and not restorable: forwarding off", func(t *testing.T) {
		l.ns.Run(t, "nft", "delete", "table", "inet", firewall.TableName)
		good := l.want.Firewall
		l.want.Firewall = l.refused()
		_, st := l.syncGateway(t)
		if got := l.forwarding(t); got != "0 0" || st.InKernel || st.IPv4Forwarding != ForwardingOff {
			t.Errorf("forwarding %s, Gateway() = %+v; want it off without a rule set", got, st)
		}
		l.want.Firewall = good
		ch, st := l.syncGateway(t)
		if got := l.forwarding(t); got != "1 1" || !st.InKernel || st.Err != "" || ch.ForwardingSet != 2 {
			t.Errorf("forwarding %s, Gateway() = %+v, changes %+v; want it back on with the rule set", got, st, ch)
		}
	})
	t.Run("someone switches forwarding off: on again", func(t *testing.T) {
		l.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=0")
		ch, _ := l.syncGateway(t)
		if got := l.forwarding(t); got != "1 1" || ch.ForwardingSet != 1 {
			t.Errorf("forwarding %s, changes %+v", got, ch)
		}
	})
	t.Run("Forward off: ours goes off", func(t *testing.T) {
		l.want.Forward = false
		_, st := l.syncGateway(t)
		if got := l.forwarding(t); got != "0 0" || st.IPv4Forwarding != ForwardingOff || !st.InKernel {
			t.Errorf("forwarding %s, Gateway() = %+v; want off, the rule set still filtering", got, st)
		}
		l.want.Forward = true
	})
	t.Run("the host's own forwarding is left alone", func(t *testing.T) {
		l.ns.Run(t, "nft", "delete", "table", "inet", firewall.TableName)
		l.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
		good := l.want.Firewall
		l.want.Firewall = l.refused()
		_, st := l.syncGateway(t)
		if got := l.forwarding(t); got != "1 1" || st.IPv4Forwarding != ForwardingByHost || st.InKernel {
			t.Errorf("forwarding %s, Gateway() = %+v; want the host's forwarding reported and kept", got, st)
		}
		l.want.Firewall = good
	})
}

// TestReconcilerReportsTheGateway: the reconciler's status carries the gateway's, and a pass
// on the timer repairs a table someone deleted.
func TestReconcilerReportsTheGateway(t *testing.T) {
	wglab.RequireRoot(t, "nft", "sysctl")
	l := newLab(t, 1)
	l.want.Forward = true
	l.want.Firewall = l.ruleset(t)
	r := &Reconciler{
		Interface: l.iface,
		Desired:   func(context.Context) (Config, error) { return l.want, nil },
		Interval:  200 * time.Millisecond,
		Logger:    testLogger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	st, err := r.Wait(wctx, time.Time{})
	if err != nil || !st.Gateway.InKernel || st.Gateway.IPv4Forwarding != ForwardingOn || !st.Changes.FirewallWritten {
		t.Fatalf("first pass = %+v, %v", st, err)
	}
	l.ns.Run(t, "nft", "delete", "table", "inet", firewall.TableName)
	t0 := time.Now()
	for st.Gateway.Repairs == 0 {
		if st, err = r.Wait(wctx, t0); err != nil {
			t.Fatalf("no pass repaired the deleted table: %+v, %v", st, err)
		}
		t0 = time.Now()
	}
	if st.Changes.FirewallRepairs != 1 || len(st.Gateway.Drift) != 1 || !strings.Contains(st.Gateway.Drift[0], "is missing") || !l.hasTable(t) {
		t.Errorf("repair pass = %+v", st)
	}
	if text, matches, err := l.iface.FirewallKernel(); err != nil || !matches || text != l.want.Firewall.Text() {
		t.Errorf("FirewallKernel() = matches %v, %v:\n%s", matches, err, text)
	}
}

// logTo makes the lab's interface log into a buffer as well as the test's output, for tests
// that count lines.
func (l *lab) logTo(t *testing.T) *lockedLog {
	b := &lockedLog{}
	l.iface.logger = slog.New(slog.NewTextHandler(io.MultiWriter(b, &gatedWriter{w: t.Output()}), nil)).
		With(slog.String("interface", l.iface.Name()))
	return b
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain msg.
func (l *lockedLog) lines(msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, msg) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

const (
	gatewayUndone = `msg="userspace wireguard link gone with the process; its gateway is undone"`
	gatewayKept   = `msg="kernel wireguard link stays up after exit: its firewall and forwarding are kept"`
)

// TestCloseUndoesTheGateway: a userspace link goes with the process, so Close switches off the
// forwarding the Interface switched on and deletes table inet wiregui, and says so in one line;
// forwarding the host had on before stays on.
func TestCloseUndoesTheGateway(t *testing.T) {
	wglab.RequireRoot(t, "nft", "sysctl")
	t.Run("forwarding switched on by us: off after Close, the table gone", func(t *testing.T) {
		l := newLab(t, 1)
		log := l.logTo(t)
		l.want.Forward, l.want.Firewall = true, l.ruleset(t)
		l.syncGateway(t)
		if !l.hasTable(t) || l.forwarding(t) != "1 1" {
			t.Fatalf("before Close: table %v, forwarding %s; want the table and 1 1", l.hasTable(t), l.forwarding(t))
		}
		if err := l.iface.Close(); err != nil {
			t.Fatal(err)
		}
		if got := l.forwarding(t); got != "0 0" {
			t.Errorf("forwarding %s after Close, want 0 0", got)
		}
		if l.hasTable(t) {
			t.Error("table inet wiregui is still in the kernel after Close")
		}
		lines := log.lines(gatewayUndone)
		if len(lines) != 1 || !strings.Contains(lines[0], "forwarding_off=net.ipv4.ip_forward,net.ipv6.conf.all.forwarding") ||
			!strings.Contains(lines[0], `table_removed="inet wiregui"`) {
			t.Errorf("log lines %q; want one naming both sysctls and the table", lines)
		}
		if err := l.iface.Close(); err != nil || len(log.lines(gatewayUndone)) != 1 {
			t.Errorf("a second Close: %v, %d lines; want nil and nothing more said", err, len(log.lines(gatewayUndone)))
		}
	})
	t.Run("forwarding the host had on: still on after Close", func(t *testing.T) {
		l := newLab(t, 1)
		log := l.logTo(t)
		l.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
		l.want.Forward, l.want.Firewall = true, l.ruleset(t)
		if _, st := l.syncGateway(t); st.IPv4Forwarding != ForwardingByHost || st.IPv6Forwarding != ForwardingByHost || !l.hasTable(t) {
			t.Fatalf("before Close: Gateway() = %+v, table %v; want the host's forwarding and the table", st, l.hasTable(t))
		}
		if err := l.iface.Close(); err != nil {
			t.Fatal(err)
		}
		if got := l.forwarding(t); got != "1 1" {
			t.Errorf("forwarding %s after Close, want the host's 1 1 kept", got)
		}
		if l.hasTable(t) {
			t.Error("table inet wiregui is still in the kernel after Close")
		}
		if lines := log.lines(gatewayUndone); len(lines) != 1 || strings.Contains(lines[0], "forwarding_off") {
			t.Errorf("log lines %q; want one, naming no forwarding switched off", lines)
		}
	})
	t.Run("a kernel link: forwarding and the table kept, and said", func(t *testing.T) {
		// No kernel WireGuard here: the decision is checked on a userspace link that the
		// Interface is told is a kernel one.
		l := newLab(t, 1)
		log := l.logTo(t)
		l.want.Forward, l.want.Firewall = true, l.ruleset(t)
		l.syncGateway(t)
		l.iface.mu.Lock()
		l.iface.kind = KindKernel
		l.iface.mu.Unlock()
		if err := l.iface.Close(); err != nil {
			t.Fatal(err)
		}
		if got := l.forwarding(t); got != "1 1" || !l.hasTable(t) {
			t.Errorf("forwarding %s, table %v after Close; want both kept for a kernel link", got, l.hasTable(t))
		}
		if lines := log.lines(gatewayKept); len(lines) != 1 || len(log.lines(gatewayUndone)) != 0 {
			t.Errorf("log lines %q; want one saying both are kept", lines)
		}
	})
}
