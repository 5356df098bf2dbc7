package rules_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/app/rules"
	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg/firewall"
)

// TestInputIsWhatTheStoreSays: the builder turns the stored rules, policies and defaults into
// the firewall's input, which compiles, with the global rules before each user's.
func TestInputIsWhatTheStoreSays(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		w.svc.Masquerade = true
		ann := w.user("ann@example.com")
		laptop := w.device(ann, "laptop", "192.168.50.0/24")
		w.rule(rules.RuleSpec{UserID: ann.ID, Action: "accept", Destination: "10.8.0.0/16", Protocol: "udp", Ports: "500-4500"})
		w.rule(rules.RuleSpec{Action: "drop", Destination: "10.8.1.0/24"})
		if err := w.svc.SetUserDefault(ctx, ann.ID, "drop"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UpdateSettings(ctx, func(s *store.Settings) error {
			s.Firewall = store.FirewallSettings{LANToPeers: true, DefaultAction: store.ActionAccept}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		devices, err := st.ListDeviceSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in, problems, err := w.svc.Input(ctx, rules.Sources(devices))
		if err != nil || len(problems) > 0 {
			t.Fatalf("Input: %v, problems %q", err, problems)
		}
		want := firewall.Policy{LANToPeers: true, Default: firewall.Accept, UserDefault: map[string]firewall.Action{ann.ID: firewall.Drop}}
		if in.Interface != "wg0" || !in.Masquerade || !slices.Equal(in.Networks, tunnels) || in.Policy.PeerToPeer != want.PeerToPeer ||
			in.Policy.LANToPeers != want.LANToPeers || in.Policy.Default != want.Default || in.Policy.UserDefault[ann.ID] != firewall.Drop {
			t.Errorf("input %+v, want the interface, networks, masquerade and policy %+v", in, want)
		}
		wantSource := []netip.Prefix{netip.PrefixFrom(laptop.IPv4, 32), netip.PrefixFrom(laptop.IPv6, 128), netip.MustParsePrefix("192.168.50.0/24")}
		if len(in.Sources) != 1 || in.Sources[0].UserID != ann.ID || !slices.Equal(in.Sources[0].Prefixes, wantSource) {
			t.Errorf("sources %+v, want the laptop's %v", in.Sources, wantSource)
		}
		rs, err := firewall.Compile(in)
		if err != nil {
			t.Fatal(err)
		}
		text := rs.Text()
		for _, s := range []string{"ip daddr 10.8.1.0/24 drop", "ip daddr 10.8.0.0/16 udp dport 500-4500 accept",
			`iifname != "wg0" oifname "wg0" accept`, "192.168.50.0/24 : jump " + firewall.ChainName(ann.ID)} {
			if !strings.Contains(text, s) {
				t.Errorf("the compiled rule set lacks %q:\n%s", s, text)
			}
		}
	})
}

// fakePolicy is a store that holds a policy as given: for rows the service never writes.
type fakePolicy struct{ p store.Policy }

func (f *fakePolicy) Policy(context.Context) (*store.Policy, error) { return &f.p, nil }
func (f *fakePolicy) UpdatePolicy(context.Context, func(*store.Policy) error) (*store.Policy, error) {
	panic("not for this test")
}
func (f *fakePolicy) ListDeviceSources(context.Context) ([]store.DeviceSource, error) {
	return nil, nil
}
func (f *fakePolicy) PolicyMark(context.Context) (string, error) { return "", nil }
func (f *fakePolicy) AccessMark(context.Context) (string, error) { return "", nil }

// TestInputLeavesOutWhatCannotCompile: a damaged rule, a damaged device, and a device whose
// prefixes overlap an older device's are left out and named, and the rest compiles: one bad
// row never takes the firewall from everyone else.
func TestInputLeavesOutWhatCannotCompile(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	good := store.Rule{ID: "good", UserID: "ann", Action: store.ActionDrop, Destination: p("10.0.0.0/8"), Protocol: store.ProtocolAny, Priority: 1}
	svc := &rules.Service{Interface: "wg0", Networks: tunnels, Store: &fakePolicy{store.Policy{
		Settings: store.Settings{Firewall: store.FirewallSettings{DefaultAction: store.ActionAccept}},
		Rules: []store.Rule{good,
			{ID: "unread", Action: store.ActionDrop, Protocol: store.ProtocolAny, Problem: `its destination "x" is not a network`},
			{ID: "mapped", Action: store.ActionDrop, Destination: p("::ffff:10.0.0.0/104"), Protocol: store.ProtocolAny},
		}}}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	device := func(id, user string, age int, v4 string, relay ...string) store.DeviceSource {
		d := store.DeviceSource{ID: id, UserID: user, IPv4: netip.MustParseAddr(v4), CreatedAt: at.Add(time.Duration(age) * time.Hour)}
		for _, r := range relay {
			d.AllowedSubnets = append(d.AllowedSubnets, p(r))
		}
		return d
	}
	devices := []store.DeviceSource{
		device("late", "bob", 5, "10.3.2.9", "192.168.50.128/25"),                 // inside ann's older subnet
		device("router", "ann", 1, "10.3.2.2", "192.168.50.0/24"),                 // the oldest
		device("wide", "carl", 6, "10.3.2.10", "10.3.2.0/30"),                     // holds ann's address
		device("twice", "dora", 7, "10.3.2.11", "172.16.0.0/16", "172.16.1.0/24"), // overlaps its own
		device("fine", "bob", 2, "10.3.2.3", "172.17.0.0/16"),
		{ID: "damaged", UserID: "eve", Problem: "its IPv4 address is invalid"},
	}
	in, problems, err := svc.Input(context.Background(), rules.Sources(devices))
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, s := range in.Sources {
		sources = append(sources, s.DeviceID)
	}
	if want := []string{"router", "fine"}; !slices.Equal(sources, want) {
		t.Errorf("sources %q, want %q (the oldest of overlapping ones, and none damaged)", sources, want)
	}
	if len(in.Rules) != 1 || in.Rules[0].ID != "good" {
		t.Errorf("rules %+v, want only the good one", in.Rules)
	}
	for _, want := range []string{"rule unread is left out", "rule mapped is left out: destination ::ffff:10.0.0.0/104 is an IPv4-mapped",
		"device late is left out of the firewall: 192.168.50.128/25 overlaps 192.168.50.0/24",
		"device wide is left out of the firewall: 10.3.2.0/30 contains 10.3.2.", // .2 or .3, both older
		"device twice is left out of the firewall: 172.16.1.0/24 overlaps its own 172.16.0.0/16"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problems %q lack %q", problems, want)
		}
	}
	if _, err := firewall.Compile(in); err != nil {
		t.Errorf("what is left does not compile: %v", err)
	}
}
