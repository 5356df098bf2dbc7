package rules_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"wiregui/app/rules"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var tunnels = []netip.Prefix{netip.MustParsePrefix("10.3.2.0/24"), netip.MustParsePrefix("fd00::3:2:0/120")}

// world is a store with users and devices, and the rule service on it.
type world struct {
	t       *testing.T
	st      *store.Store
	svc     *rules.Service
	changed []string // what the service told the data plane
}

func newWorld(t *testing.T, st *store.Store) *world {
	w := &world{t: t, st: st}
	w.svc = &rules.Service{Store: st, Interface: "wg0", Networks: tunnels,
		Changed: func(userID string) { w.changed = append(w.changed, userID) }}
	return w
}

func (w *world) user(email string) *store.User {
	w.t.Helper()
	u := &store.User{Email: email}
	if err := w.st.CreateUser(context.Background(), u); err != nil {
		w.t.Fatal(err)
	}
	return u
}

func (w *world) device(u *store.User, name string, relay ...string) *store.Device {
	w.t.Helper()
	v4, _ := wg.NewPool(tunnels[0])
	v6, _ := wg.NewPool(tunnels[1])
	d := &store.Device{UserID: u.ID, Name: name, PublicKey: "key-" + u.Email + "-" + name}
	for _, r := range relay {
		d.AllowedSubnets = append(d.AllowedSubnets, netip.MustParsePrefix(r))
	}
	if err := w.st.CreateDevice(context.Background(), d, store.AddressPools{IPv4: v4, IPv6: v6}); err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *world) rule(spec rules.RuleSpec) *store.Rule {
	w.t.Helper()
	r, err := w.svc.Create(context.Background(), spec)
	if err != nil {
		w.t.Fatalf("create %+v: %v", spec, err)
	}
	return r
}

func (w *world) policy() *store.Policy {
	w.t.Helper()
	p, err := w.st.Policy(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// inputErrors returns the fields and messages of the InputErrors that err joins.
func inputErrors(err error) map[string]string {
	out := map[string]string{}
	var walk func(error)
	walk = func(err error) {
		var bad *text.InputError
		if errors.As(err, &bad) {
			out[bad.Field] = bad.Message
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// TestRuleInputIsCheckedFieldByField: each field's message names the field and says what is
// wrong; every bad field is reported at once; nothing is written.
func TestRuleInputIsCheckedFieldByField(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		for _, tc := range []struct {
			name string
			spec rules.RuleSpec
			want map[string]string // field → a part of its message
		}{
			{"no action", rules.RuleSpec{Destination: "10.0.0.0/8"}, map[string]string{"action": "Action must be accept or drop"}},
			{"not a CIDR", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/33"},
				map[string]string{"destination": "Destination must be a CIDR such as 10.0.0.0/24"}},
			{"no destination", rules.RuleSpec{Action: "drop"}, map[string]string{"destination": "Destination must be a CIDR"}},
			{"an IPv4-mapped network", rules.RuleSpec{Action: "drop", Destination: "::ffff:10.0.0.0/104"},
				map[string]string{"destination": "IPv4-mapped"}},
			{"ports without a protocol", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Ports: "22"},
				map[string]string{"ports": "Ports need TCP or UDP"}},
			{"ports with ICMP", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "icmp", Ports: "22"},
				map[string]string{"ports": "Ports need TCP or UDP"}},
			{"port 0", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "tcp", Ports: "0"},
				map[string]string{"ports": "Port range 1–65535"}},
			{"port 65536", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "udp", Ports: "1-65536"},
				map[string]string{"ports": "Port range 1–65535"}},
			{"a range backwards", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "tcp", Ports: "443-80"},
				map[string]string{"ports": "goes backwards; write it from the lower port, as 80-443"}},
			{"ports not a number", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "tcp", Ports: "http"},
				map[string]string{"ports": "Ports must be one port, such as 443, or a range"}},
			{"an unknown protocol", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Protocol: "sctp"},
				map[string]string{"protocol": "Protocol must be any, tcp, udp or icmp"}},
			{"priority not a number", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Priority: "first"},
				map[string]string{"priority": "Priority must be a whole number from 0 to 1000000"}},
			{"a negative priority", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Priority: "-1"},
				map[string]string{"priority": "Priority must be a whole number"}},
			{"a description with a line break", rules.RuleSpec{Action: "drop", Destination: "10.0.0.0/8", Description: "a\nb"},
				map[string]string{"description": "A description cannot contain line breaks"}},
			{"everything wrong at once", rules.RuleSpec{Action: "reject", Destination: "x", Protocol: "icmp", Ports: "1", Priority: "x"},
				map[string]string{"action": "Action", "destination": "Destination", "ports": "Ports need TCP or UDP", "priority": "Priority"}},
			{"a user who is gone", rules.RuleSpec{UserID: "no-such-user", Action: "drop", Destination: "10.0.0.0/8"},
				map[string]string{"user": "There is no such user"}},
		} {
			_, err := w.svc.Create(context.Background(), tc.spec)
			got := inputErrors(err)
			if len(got) != len(tc.want) {
				t.Errorf("%s: got %q (%v), want errors on %v", tc.name, got, err, tc.want)
			}
			for field, want := range tc.want {
				if !strings.Contains(got[field], want) {
					t.Errorf("%s: %s says %q, want %q", tc.name, field, got[field], want)
				}
			}
		}
		if p := w.policy(); len(p.Rules) != 0 {
			t.Errorf("%d rules written by refused input, want none", len(p.Rules))
		}
	})
}

// TestRulesAreNormalisedAndOrdered: a destination is stored masked, one address as its own
// network; a rule without a priority goes after the others of its scope.
func TestRulesAreNormalisedAndOrdered(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		ann := w.user("ann@example.com")
		first := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "Drop", Destination: " 10.1.2.3/16 ", Protocol: "TCP", Ports: "80 - 443"})
		second := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "accept", Destination: "2001:db8::1"})
		global := w.rule(rules.RuleSpec{Action: "accept", Destination: "192.0.2.0/24", Priority: "5", Description: " web "})
		for _, c := range []struct {
			got  *store.Rule
			want string
			prio int
		}{
			{first, "drop tcp 80-443 to 10.1.0.0/16", 10},
			{second, "accept to 2001:db8::1/128", 20},
			{global, "accept to 192.0.2.0/24", 5},
		} {
			if got := rules.RuleWords(*c.got); got != c.want || c.got.Priority != c.prio {
				t.Errorf("got %q at priority %d, want %q at %d", got, c.got.Priority, c.want, c.prio)
			}
		}
		if global.Description != "web" {
			t.Errorf("description %q, want it trimmed", global.Description)
		}
		if want := []string{ann.ID, ann.ID, ""}; !slices.Equal(w.changed, want) {
			t.Errorf("the data plane was told %q, want %q", w.changed, want)
		}
		// An edit keeps the priority unless one is given, and the place in the order of creation.
		edited, err := w.svc.Update(context.Background(), first.ID, rules.RuleSpec{UserID: ann.ID, Action: "accept", Destination: "10.1.0.0/16"})
		if err != nil || edited.Priority != 10 || edited.Seq != first.Seq || rules.RuleWords(*edited) != "accept to 10.1.0.0/16" {
			t.Errorf("edited: %+v, %v", edited, err)
		}
		if _, err := w.svc.Update(context.Background(), "no-such-rule", rules.RuleSpec{Action: "accept", Destination: "10.0.0.0/8"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("editing a rule that is gone: %v, want ErrNotFound", err)
		}
		if _, err := w.svc.Delete(context.Background(), second.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Delete(context.Background(), second.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		if got := len(w.policy().Rules); got != 2 {
			t.Errorf("%d rules left, want 2", got)
		}
	})
}

// TestReorderResequencesAndRefusesAStaleOrder: a reorder gives the scope 10, 20, 30 … in the
// new order, in one change; one made on an order that has changed since is refused and
// changes nothing.
func TestReorderResequencesAndRefusesAStaleOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		ann := w.user("ann@example.com")
		a := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "10.0.0.1", Priority: "7"})
		b := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "10.0.0.2", Priority: "7"})
		c := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "10.0.0.3", Priority: "100"})
		g := w.rule(rules.RuleSpec{Action: "drop", Destination: "10.0.0.4", Priority: "50"})
		order := func() (ids []string, priorities []int) {
			for _, r := range rules.ScopeRules(w.policy(), ann.ID) {
				ids, priorities = append(ids, r.ID), append(priorities, r.Priority)
			}
			return ids, priorities
		}
		seen := rules.Version(rules.ScopeRules(w.policy(), ann.ID))
		if err := w.svc.Reorder(ctx, ann.ID, seen, []string{c.ID, a.ID, b.ID}); err != nil {
			t.Fatal(err)
		}
		ids, priorities := order()
		if !slices.Equal(ids, []string{c.ID, a.ID, b.ID}) || !slices.Equal(priorities, []int{10, 20, 30}) {
			t.Errorf("after the reorder: %v at %v, want c, a, b at 10, 20, 30", ids, priorities)
		}
		if p := w.policy(); p.Rules[0].ID != g.ID || p.Rules[0].Priority != 50 {
			t.Errorf("the global rule is %+v, want it untouched", p.Rules[0])
		}
		// A second admin reorders on the page loaded before the first reorder.
		for name, err := range map[string]error{
			"reorder": w.svc.Reorder(ctx, ann.ID, seen, []string{b.ID, a.ID, c.ID}),
			"move":    w.svc.Move(ctx, ann.ID, seen, a.ID, 1),
			"a rule left out": w.svc.Reorder(ctx, ann.ID, rules.Version(rules.ScopeRules(w.policy(), ann.ID)),
				[]string{b.ID, a.ID}),
		} {
			var bad *text.InputError
			if !errors.Is(err, rules.ErrStale) || !errors.As(err, &bad) || !strings.Contains(bad.Message, "Another admin changed these rules") {
				t.Errorf("%s on a stale order: %v, want ErrStale with a message", name, err)
			}
		}
		if ids, _ := order(); !slices.Equal(ids, []string{c.ID, a.ID, b.ID}) {
			t.Errorf("a refused reorder changed the order to %v", ids)
		}
		// Moving, as the keyboard does: a up, then past the top (nothing moves).
		now := rules.Version(rules.ScopeRules(w.policy(), ann.ID))
		if err := w.svc.Move(ctx, ann.ID, now, a.ID, -1); err != nil {
			t.Fatal(err)
		}
		now = rules.Version(rules.ScopeRules(w.policy(), ann.ID))
		if err := w.svc.Move(ctx, ann.ID, now, a.ID, -1); err != nil {
			t.Fatal(err)
		}
		if ids, priorities := order(); !slices.Equal(ids, []string{a.ID, c.ID, b.ID}) || !slices.Equal(priorities, []int{10, 20, 30}) {
			t.Errorf("after moving a up: %v at %v, want a, c, b at 10, 20, 30", ids, priorities)
		}
	})
}

// TestPolicyTestsGuardEveryChange: with an expectation saved, a rule, a reorder, a policy or
// a default action that would break it is refused with the test and what would decide it;
// what keeps it is saved.
func TestPolicyTestsGuardEveryChange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		ann, bob := w.user("ann@example.com"), w.user("bob@example.com")
		laptop := w.device(ann, "laptop")
		bobPhone := w.device(bob, "phone")
		test, err := w.svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: laptop.ID,
			Destination: "192.0.2.10", Port: "443"}, Expect: "accept", Description: "intranet"})
		if err != nil {
			t.Fatal(err)
		}
		if test.Protocol != store.ProtocolTCP || test.UserEmail != "ann@example.com" || test.DeviceName != "laptop" {
			t.Errorf("the test was saved as %+v", test)
		}
		refused := func(what string, err error, says ...string) {
			t.Helper()
			var bad *text.InputError
			if !errors.Is(err, rules.ErrBreaksTest) || !errors.As(err, &bad) {
				t.Errorf("%s: got %v, want it refused for breaking a test", what, err)
				return
			}
			for _, s := range append(says, `"intranet": laptop of ann@example.com → 192.0.2.10 tcp/443 must be accepted`) {
				if !strings.Contains(bad.Message, s) {
					t.Errorf("%s: the refusal %q does not say %q", what, bad.Message, s)
				}
			}
		}
		_, err = w.svc.Create(ctx, rules.RuleSpec{Action: "drop", Destination: "192.0.2.0/24", Protocol: "tcp", Description: "no intranet"})
		refused("a global drop", err, `dropped by global rule "drop tcp to 192.0.2.0/24" (priority 10, "no intranet")`)
		_, err = w.svc.UpdateSettings(ctx, func(s *store.Settings) error { s.Firewall.DefaultAction = store.ActionDrop; return nil })
		refused("the default action drop", err, "dropped by the default action (drop)")
		refused("ann's own default drop", w.svc.SetUserDefault(ctx, ann.ID, "drop"), "dropped by the user's default action (drop)")
		if p := w.policy(); len(p.Rules) != 0 || p.Settings.Firewall.DefaultAction != store.ActionAccept || len(p.UserDefaults) != 0 {
			t.Fatalf("refused changes were written: %+v", p)
		}

		// Bob's default and rules do not concern ann's laptop.
		if err := w.svc.SetUserDefault(ctx, bob.ID, "drop"); err != nil {
			t.Errorf("bob's default drop: %v", err)
		}
		// An accept for ann first, then the default may drop.
		allow := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "accept", Destination: "192.0.2.10", Protocol: "tcp", Ports: "443"})
		if _, err := w.svc.UpdateSettings(ctx, func(s *store.Settings) error { s.Firewall.DefaultAction = store.ActionDrop; return nil }); err != nil {
			t.Errorf("the default action drop once ann's rule accepts: %v", err)
		}
		_, err = w.svc.Delete(ctx, allow.ID)
		refused("deleting ann's accept", err, "dropped by the default action (drop)")
		_, err = w.svc.Update(ctx, allow.ID, rules.RuleSpec{UserID: ann.ID, Action: "accept", Destination: "192.0.2.10", Protocol: "udp", Ports: "443"})
		refused("changing ann's accept to UDP", err)
		// A drop of equal priority comes after the accept, created before it, and changes
		// nothing; moved before it, it breaks the test.
		block := w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "192.0.2.0/24", Priority: "10"})
		scope := rules.ScopeRules(w.policy(), ann.ID)
		err = w.svc.Reorder(ctx, ann.ID, rules.Version(scope), []string{block.ID, allow.ID})
		refused("a reorder that puts the drop first", err, `dropped by rule "drop to 192.0.2.0/24" (priority 10) of ann@example.com`)

		// Peer-to-peer: a test that the laptop reaches bob's phone fails now, so it is not saved.
		_, err = w.svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: laptop.ID,
			Destination: bobPhone.IPv4.String(), Protocol: "icmp"}, Expect: "accept"})
		var bad *text.InputError
		if !errors.As(err, &bad) || !strings.Contains(bad.Message, "This test fails now") || !strings.Contains(bad.Message, "peer-to-peer policy") {
			t.Errorf("a test that fails now: %v", err)
		}
		if _, err := w.svc.UpdateSettings(ctx, func(s *store.Settings) error { s.Firewall.PeerToPeer = true; return nil }); err != nil {
			t.Fatal(err)
		}
		// The laptop is ann's: ann's rules and the default action decide, not bob's default.
		ping, err := w.svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: laptop.ID,
			Destination: bobPhone.IPv4.String(), Protocol: "icmp"}, Expect: "drop"})
		if err != nil {
			t.Fatalf("a test that passes: %v", err)
		}
		results, err := w.svc.Results(ctx)
		if err != nil || len(results) != 2 || !results[0].Pass || !results[1].Pass {
			t.Errorf("results: %+v, %v; want both passing", results, err)
		}
		if _, err := w.svc.DeleteTest(ctx, ping.ID); err != nil {
			t.Error(err)
		}
		if _, err := w.svc.DeleteTest(ctx, ping.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a test twice: %v, want ErrNotFound", err)
		}
	})
}

// TestAFailingTestDoesNotBlockOtherChanges: a test that fails already (its device lost its
// relay subnet; a hand edit) blocks no change, so that the change that mends it can be made.
func TestAFailingTestDoesNotBlockOtherChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		ann := w.user("ann@example.com")
		laptop := w.device(ann, "laptop")
		if _, err := w.svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: laptop.ID,
			Destination: "198.51.100.1", Port: "22"}, Expect: "drop"}); err == nil {
			t.Fatal("a test that fails now was saved")
		}
		w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "198.51.100.0/24"})
		if _, err := w.svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: laptop.ID,
			Destination: "198.51.100.1", Port: "22"}, Expect: "drop"}); err != nil {
			t.Fatal(err)
		}
		// The rule is changed past the service (a hand edit, a restore): the test fails.
		if _, err := st.UpdatePolicy(ctx, func(p *store.Policy) error {
			p.Rules[0].Destination = netip.MustParsePrefix("203.0.113.0/24")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if res, err := w.svc.Results(ctx); err != nil || len(res) != 1 || res[0].Pass || !strings.Contains(res[0].Outcome(), "accepted by the default action") {
			t.Fatalf("results %+v, %v; want the test failing", res, err)
		}
		if _, err := w.svc.Create(ctx, rules.RuleSpec{Action: "accept", Destination: "10.9.0.0/16"}); err != nil {
			t.Errorf("an unrelated change while a test fails: %v", err)
		}
		if _, err := w.svc.Create(ctx, rules.RuleSpec{Action: "drop", Destination: "198.51.100.1"}); err != nil {
			t.Errorf("the change that mends it: %v", err)
		}
		if res, _ := w.svc.Results(ctx); len(res) != 1 || !res[0].Pass {
			t.Errorf("after the mend: %+v", res)
		}
	})
}

// TestExplainNamesWhatDecides: Explain answers from the compiled description, naming the rule
// (global or the user's), the policy or the default that decided.
func TestExplainNamesWhatDecides(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		ann, bob := w.user("ann@example.com"), w.user("bob@example.com")
		laptop := w.device(ann, "laptop", "192.168.50.0/24")
		phone := w.device(bob, "phone")
		w.rule(rules.RuleSpec{Action: "drop", Destination: "8.8.8.8", Protocol: "udp", Ports: "53", Description: "own DNS only"})
		w.rule(rules.RuleSpec{UserID: ann.ID, Action: "drop", Destination: "2001:db8::/32", Protocol: "icmp"})
		if err := w.svc.SetUserDefault(ctx, bob.ID, "drop"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			spec rules.ConnectionSpec
			want string // action
			says string
		}{
			{"a global rule", rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "8.8.8.8", Protocol: "udp", Port: "53"},
				"drop", `global rule "drop udp 53 to 8.8.8.8/32" (priority 10, "own DNS only")`},
			{"a port the rule leaves", rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "8.8.8.8", Protocol: "tcp", Port: "53"},
				"accept", "the default action (accept)"},
			{"the user's rule, over IPv6", rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "2001:db8::1"},
				"drop", `rule "drop icmp to 2001:db8::/32" (priority 10) of ann@example.com`},
			{"the user's own default", rules.ConnectionSpec{DeviceID: phone.ID, Destination: "9.9.9.9", Port: "443"},
				"drop", "the user's default action (drop)"},
			{"peer-to-peer off", rules.ConnectionSpec{DeviceID: phone.ID, Destination: "192.168.50.7", Port: "22"},
				"drop", "peer-to-peer policy (off)"},
		} {
			c, err := rules.ParseConnection(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.svc.Explain(ctx, c)
			if err != nil || got.Action != tc.want || !strings.Contains(got.Decider, tc.says) {
				t.Errorf("%s: %+v, %v; want %s by %q", tc.name, got, err, tc.want, tc.says)
			}
		}
		for _, tc := range []struct {
			spec  rules.ConnectionSpec
			field string
			says  string
		}{
			{rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "example.com"}, "destination", "Destination must be an IP address"},
			{rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "10.0.0.1", Protocol: "icmp", Port: "7"}, "port", "ICMP has no ports"},
			{rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "10.0.0.1", Protocol: "udp"}, "port", "TCP and UDP need a port"},
			{rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "10.0.0.1", Port: "70000"}, "port", "Port range 1–65535"},
			{rules.ConnectionSpec{DeviceID: laptop.ID, Destination: "10.0.0.1", Protocol: "gre"}, "protocol", "Protocol must be tcp, udp or icmp"},
			{rules.ConnectionSpec{Destination: "10.0.0.1"}, "device", "Choose a device"},
		} {
			_, err := rules.ParseConnection(tc.spec)
			if got := inputErrors(err)[tc.field]; !strings.Contains(got, tc.says) {
				t.Errorf("%+v: %s says %q (%v), want %q", tc.spec, tc.field, got, err, tc.says)
			}
		}
		_, err := w.svc.Explain(ctx, rules.Connection{DeviceID: "gone", To: netip.MustParseAddr("10.0.0.1"), Protocol: "icmp"})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("explain for a device that is gone: %v, want ErrNotFound", err)
		}
	})
}

// TestExplainSeesEveryChange: the compiled description Explain reuses is compiled again after
// any change of what it is made of, whoever made it (another process writing to the store).
func TestExplainSeesEveryChange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		ann, bob := w.user("ann@example.com"), w.user("bob@example.com")
		laptop := w.device(ann, "laptop")
		c := rules.Connection{DeviceID: laptop.ID, To: netip.MustParseAddr("192.168.7.7"), Protocol: "tcp", Port: 80}
		explain := func() string {
			t.Helper()
			ex, err := w.svc.Explain(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			return ex.Action + " by " + ex.Decider
		}
		for _, step := range []struct {
			name   string
			change func()
			want   string
		}{
			{"nothing yet", func() {}, "accept by the default action (accept)"},
			{"a rule written past the service", func() {
				st.UpdatePolicy(ctx, func(p *store.Policy) error {
					p.Rules = append(p.Rules, store.Rule{UserID: ann.ID, Action: store.ActionDrop, Protocol: store.ProtocolAny,
						Destination: netip.MustParsePrefix("192.168.7.0/24"), Priority: 10})
					return nil
				})
			}, `drop by rule "drop to 192.168.7.0/24" (priority 10) of ann@example.com`},
			{"the rule edited", func() {
				st.UpdatePolicy(ctx, func(p *store.Policy) error { p.Rules[0].Protocol = store.ProtocolUDP; return nil })
			}, "accept by the default action (accept)"},
			{"the default action", func() {
				st.UpdatePolicy(ctx, func(p *store.Policy) error { p.Settings.Firewall.DefaultAction = store.ActionDrop; return nil })
			}, "drop by the default action (drop)"},
			{"ann's own default", func() {
				st.UpdatePolicy(ctx, func(p *store.Policy) error { p.UserDefaults[ann.ID] = store.ActionAccept; return nil })
			}, "accept by the user's default action (accept)"},
			{"bob's device becomes the destination", func() {
				w.device(bob, "router", "192.168.7.0/24")
			}, "drop by the peer-to-peer policy (off): devices cannot reach each other"},
			{"the rule deleted", func() {
				st.UpdatePolicy(ctx, func(p *store.Policy) error { p.Rules = nil; p.Settings.Firewall.PeerToPeer = true; return nil })
			}, "accept by the user's default action (accept)"},
		} {
			step.change()
			if got := explain(); got != step.want {
				t.Errorf("after %s: %q, want %q", step.name, got, step.want)
			}
		}
	})
}
