package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

func mustDevice(t *testing.T, s *store.Store, u *store.User, name string) *store.Device {
	t.Helper()
	d := &store.Device{UserID: u.ID, Name: name, PublicKey: "key-" + u.ID + name}
	if err := s.CreateDevice(context.Background(), d, pools(50)); err != nil {
		t.Fatal(err)
	}
	return d
}

func updatePolicy(t *testing.T, s *store.Store, fn func(*store.Policy) error) *store.Policy {
	t.Helper()
	p, err := s.UpdatePolicy(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readPolicy(t *testing.T, s *store.Store) *store.Policy {
	t.Helper()
	p, err := s.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rule(userID, action, destination string, priority int) store.Rule {
	return store.Rule{UserID: userID, Action: action, Destination: netip.MustParsePrefix(destination),
		Protocol: store.ProtocolAny, Priority: priority}
}

// ruleWords is each rule as "email action destination/priority", in order.
func ruleWords(rules []store.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, fmt.Sprintf("%s %s %s/%d", r.UserEmail, r.Action, r.Destination, r.Priority))
	}
	return out
}

// TestPolicyRoundTrip: rules, settings, users' defaults and tests are stored and read back in
// order: the global rules first, then each user's, by priority and then by creation.
func TestPolicyRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")
		laptop := mustDevice(t, s, ann, "laptop")
		p := readPolicy(t, s)
		if want := (store.FirewallSettings{DefaultAction: store.ActionAccept}); p.Settings.Firewall != want ||
			len(p.Rules) != 0 || len(p.Tests) != 0 || len(p.UserDefaults) != 0 {
			t.Fatalf("a new database's policy: %+v, want no rules, no tests, %+v", p, want)
		}
		web := store.Rule{UserID: ann.ID, Action: store.ActionDrop, Destination: netip.MustParsePrefix("10.0.0.0/24"),
			Protocol: store.ProtocolTCP, PortFrom: 80, PortTo: 443, Priority: 10, Description: "no web"}
		written := updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules = append(p.Rules, rule(bob.ID, store.ActionAccept, "10.9.0.0/16", 5), web,
				rule("", store.ActionDrop, "2001:db8::/32", 20), rule(ann.ID, store.ActionAccept, "10.0.0.7/32", 10),
				rule("", store.ActionAccept, "192.0.2.0/24", 20))
			p.Settings.Firewall = store.FirewallSettings{PeerToPeer: true, LANToPeers: true, DefaultAction: store.ActionDrop}
			p.UserDefaults[bob.ID] = store.ActionAccept
			p.Tests = append(p.Tests, store.PolicyTest{DeviceID: laptop.ID, Destination: netip.MustParseAddr("10.0.0.5"),
				Protocol: store.ProtocolTCP, Port: 443, Expect: store.ActionDrop, Description: "web stays shut"})
			return nil
		})
		for i, r := range written.Rules {
			if r.ID == "" || r.Seq != int64(i+1) || r.CreatedAt.IsZero() {
				t.Errorf("added rule %d: id %q seq %d created %v; want an id, seq %d and a time", i, r.ID, r.Seq, r.CreatedAt, i+1)
			}
		}
		p = readPolicy(t, s)
		want := []string{" drop 2001:db8::/32/20", " accept 192.0.2.0/24/20", "ann@example.com drop 10.0.0.0/24/10",
			"ann@example.com accept 10.0.0.7/32/10", "bob@example.com accept 10.9.0.0/16/5"}
		if got := ruleWords(p.Rules); !slices.Equal(got, want) {
			t.Errorf("rules in order:\n got %q\nwant %q", got, want)
		}
		got := p.Rules[2]
		if got.PortFrom != 80 || got.PortTo != 443 || got.Protocol != store.ProtocolTCP || got.Description != "no web" ||
			got.UserID != ann.ID || got.Problem != "" {
			t.Errorf("the web rule read back as %+v", got)
		}
		if want := (store.FirewallSettings{PeerToPeer: true, LANToPeers: true, DefaultAction: store.ActionDrop}); p.Settings.Firewall != want {
			t.Errorf("firewall settings %+v, want %+v", p.Settings.Firewall, want)
		}
		if len(p.UserDefaults) != 1 || p.UserDefaults[bob.ID] != store.ActionAccept {
			t.Errorf("user defaults %v, want bob's accept", p.UserDefaults)
		}
		if len(p.Tests) != 1 || p.Tests[0].DeviceName != "laptop" || p.Tests[0].UserEmail != "ann@example.com" ||
			p.Tests[0].Destination != netip.MustParseAddr("10.0.0.5") || p.Tests[0].Port != 443 || p.Tests[0].Expect != store.ActionDrop {
			t.Errorf("tests read back as %+v", p.Tests)
		}

		// Change one rule, delete another, add a third of equal priority: it comes after the
		// older ones. A rule moves from a user to everyone.
		before := readPolicy(t, s)
		updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules[2].Action, p.Rules[2].UserID = store.ActionAccept, ""
			p.Rules = slices.Delete(p.Rules, 4, 5)
			p.Rules = append(p.Rules, rule("", store.ActionDrop, "198.51.100.0/24", 20))
			delete(p.UserDefaults, bob.ID)
			p.Tests = nil
			return nil
		})
		p = readPolicy(t, s)
		want = []string{" accept 10.0.0.0/24/10", " drop 2001:db8::/32/20", " accept 192.0.2.0/24/20", " drop 198.51.100.0/24/20",
			"ann@example.com accept 10.0.0.7/32/10"}
		if got := ruleWords(p.Rules); !slices.Equal(got, want) {
			t.Errorf("after the change:\n got %q\nwant %q", got, want)
		}
		if p.Rules[0].UpdatedAt.Equal(before.Rules[2].UpdatedAt) || !p.Rules[1].UpdatedAt.Equal(before.Rules[0].UpdatedAt) {
			t.Errorf("updated_at moved for %v → %v (changed) and %v → %v (unchanged); want only the changed rule's to move",
				before.Rules[2].UpdatedAt, p.Rules[0].UpdatedAt, before.Rules[0].UpdatedAt, p.Rules[1].UpdatedAt)
		}
		if len(p.UserDefaults) != 0 || len(p.Tests) != 0 {
			t.Errorf("user defaults %v and tests %v left, want none", p.UserDefaults, p.Tests)
		}
	})
}

// TestUpdatePolicyWritesNothingOnError: a change that fails, in fn or in the database, leaves
// the policy as it was; one for a user or device that does not exist is ErrNotFound.
func TestUpdatePolicyWritesNothingOnError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann := mustUser(t, s, "ann@example.com")
		laptop := mustDevice(t, s, ann, "laptop")
		updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules = append(p.Rules, rule(ann.ID, store.ActionDrop, "10.0.0.0/8", 10))
			return nil
		})
		before := readPolicy(t, s)
		refused := errors.New("refused")
		for _, tc := range []struct {
			name string
			fn   func(p *store.Policy) error
			is   error // nil: any error
		}{
			{"fn fails", func(p *store.Policy) error {
				p.Rules = append(p.Rules, rule("", store.ActionDrop, "0.0.0.0/0", 1))
				p.Settings.Firewall.DefaultAction = store.ActionDrop
				return refused
			}, refused},
			{"a rule for nobody", func(p *store.Policy) error {
				p.Rules[0].Action = store.ActionAccept
				p.Rules = append(p.Rules, rule("no-such-user", store.ActionDrop, "10.1.0.0/16", 10))
				return nil
			}, store.ErrNotFound},
			{"a test of no device", func(p *store.Policy) error {
				p.Rules = nil
				p.Tests = append(p.Tests, store.PolicyTest{DeviceID: "no-such-device", Destination: netip.MustParseAddr("10.0.0.1"),
					Protocol: store.ProtocolICMP, Expect: store.ActionDrop})
				return nil
			}, store.ErrNotFound},
			{"a default for nobody", func(p *store.Policy) error {
				p.UserDefaults["no-such-user"] = store.ActionDrop
				return nil
			}, store.ErrNotFound},
			{"ports without TCP or UDP (the database's own check)", func(p *store.Policy) error {
				r := rule("", store.ActionDrop, "10.2.0.0/16", 10)
				r.PortFrom, r.PortTo = 22, 22
				p.Rules = append(p.Rules, r)
				return nil
			}, nil},
			{"an unknown action (the database's own check)", func(p *store.Policy) error {
				p.Rules = append(p.Rules, rule("", "reject", "10.2.0.0/16", 10))
				return nil
			}, nil},
			{"an ICMP test with a port (the database's own check)", func(p *store.Policy) error {
				p.Tests = append(p.Tests, store.PolicyTest{DeviceID: laptop.ID, Destination: netip.MustParseAddr("10.0.0.1"),
					Protocol: store.ProtocolICMP, Port: 7, Expect: store.ActionDrop})
				return nil
			}, nil},
		} {
			_, err := s.UpdatePolicy(ctx, tc.fn)
			if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%s: got %v, want an error (is %v)", tc.name, err, tc.is)
			}
			if after := readPolicy(t, s); !slices.Equal(ruleWords(after.Rules), ruleWords(before.Rules)) ||
				after.Settings.Firewall != before.Settings.Firewall || len(after.Tests) != 0 || len(after.UserDefaults) != 0 {
				t.Errorf("%s: the policy changed to %+v", tc.name, after)
			}
		}
	})
}

// TestDeletedUserOrDeviceLeavesNoRuleOrTest: a user's rules and default, and a device's
// tests, go with them; the global rules and everyone else's stay.
func TestDeletedUserOrDeviceLeavesNoRuleOrTest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")
		annPhone, bobPhone, bobLaptop := mustDevice(t, s, ann, "phone"), mustDevice(t, s, bob, "phone"), mustDevice(t, s, bob, "laptop")
		test := func(d *store.Device) store.PolicyTest {
			return store.PolicyTest{DeviceID: d.ID, Destination: netip.MustParseAddr("192.0.2.1"), Protocol: store.ProtocolUDP,
				Port: 53, Expect: store.ActionAccept}
		}
		updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules = append(p.Rules, rule(ann.ID, store.ActionDrop, "10.0.0.0/8", 10), rule(bob.ID, store.ActionDrop, "10.0.0.0/8", 10),
				rule("", store.ActionDrop, "192.0.2.0/24", 10))
			p.UserDefaults[ann.ID], p.UserDefaults[bob.ID] = store.ActionDrop, store.ActionDrop
			p.Tests = append(p.Tests, test(annPhone), test(bobPhone), test(bobLaptop))
			return nil
		})
		if err := s.DeleteUser(ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDevice(ctx, bobPhone.ID); err != nil {
			t.Fatal(err)
		}
		p := readPolicy(t, s)
		if got, want := ruleWords(p.Rules), []string{" drop 192.0.2.0/24/10", "bob@example.com drop 10.0.0.0/8/10"}; !slices.Equal(got, want) {
			t.Errorf("rules left: %q, want %q", got, want)
		}
		if len(p.Tests) != 1 || p.Tests[0].DeviceID != bobLaptop.ID {
			t.Errorf("tests left: %+v, want only the one of bob's laptop", p.Tests)
		}
		if len(p.UserDefaults) != 1 || p.UserDefaults[bob.ID] != store.ActionDrop {
			t.Errorf("user defaults left: %v, want bob's", p.UserDefaults)
		}
		for table, n := range map[string]int{"rules": 2, "policy_tests": 1} {
			var got int
			if err := store.RawDBForTest(s).QueryRow(`SELECT count(*) FROM ` + table).Scan(&got); err != nil || got != n {
				t.Errorf("%d rows in %s (%v), want %d", got, table, err, n)
			}
		}
	})
}

// TestUpdateSettingsKeepsTheFirewallSettings: the Settings page's save cannot change the
// firewall's settings, which only the rule service changes (checked against the policy tests).
func TestUpdateSettingsKeepsTheFirewallSettings(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		updatePolicy(t, s, func(p *store.Policy) error { p.Settings.Firewall.PeerToPeer = true; return nil })
		st, err := s.UpdateSettings(ctx, func(st *store.Settings) error {
			st.VPNSessionDuration = time.Hour
			st.Firewall = store.FirewallSettings{DefaultAction: store.ActionDrop}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := store.FirewallSettings{PeerToPeer: true, DefaultAction: store.ActionAccept}
		if got, _ := s.Settings(ctx); got.Firewall != want || st.Firewall != want || got.VPNSessionDuration != time.Hour {
			t.Errorf("settings after the save: %+v (returned %+v), want the firewall's %+v kept and the session changed", got, st, want)
		}
	})
}

// TestUpgradeKeepsTrafficFlowing: a database from before the firewall gets no rule, both
// policies off and the default action accept.
func TestUpgradeKeepsTrafficFlowing(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Driver: driver, DSN: storetest.DSN(t, driver), Key: storetest.Key})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := store.MigrateToForTest(ctx, s, 6); err != nil {
				t.Fatal(err)
			}
			execRaw(t, s, `INSERT INTO configuration (id, created_at, updated_at, vpn_session_duration) VALUES (1, $1, $1, 3600)`,
				time.Now().UTC())
			execRaw(t, s, `INSERT INTO users (id, email, created_at, updated_at) VALUES ('u1', 'old@example.com', $1, $1)`,
				time.Now().UTC())
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			p := readPolicy(t, s)
			if want := (store.FirewallSettings{DefaultAction: store.ActionAccept}); p.Settings.Firewall != want ||
				p.Settings.VPNSessionDuration != time.Hour || len(p.Rules) != 0 || len(p.UserDefaults) != 0 {
				t.Errorf("after the upgrade: %+v, want %+v, the session kept, no rules and no user defaults", p, want)
			}
		})
	}
}

// TestADamagedRuleRowIsListedWithItsProblem: a rule whose destination does not read (a hand
// edit) is listed with what is wrong, and the policy still reads.
func TestADamagedRuleRowIsListedWithItsProblem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		p := updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules = append(p.Rules, rule("", store.ActionDrop, "10.0.0.0/8", 10), rule("", store.ActionDrop, "10.1.0.0/16", 20))
			return nil
		})
		execRaw(t, s, `UPDATE rules SET destination = 'ten dot one' WHERE id = $1`, p.Rules[1].ID)
		got := readPolicy(t, s)
		if len(got.Rules) != 2 || got.Rules[0].Problem != "" || !strings.Contains(got.Rules[1].Problem, `"ten dot one" is not a network`) {
			t.Errorf("rules %+v, want the second with its problem named", got.Rules)
		}
		// The damaged row can be deleted.
		updatePolicy(t, s, func(p *store.Policy) error { p.Rules = p.Rules[:1]; return nil })
		if got := readPolicy(t, s); len(got.Rules) != 1 {
			t.Errorf("%d rules after deleting the damaged one, want 1", len(got.Rules))
		}
	})
}

// TestConcurrentPolicyChangesAreSerialised: changes made at once each see the one before, so
// none is lost and each new rule gets its own place in the order of creation.
func TestConcurrentPolicyChangesAreSerialised(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.UpdatePolicy(context.Background(), func(p *store.Policy) error {
					p.Rules = append(p.Rules, rule("", store.ActionDrop, fmt.Sprintf("10.%d.0.0/16", i), len(p.Rules)))
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		p := readPolicy(t, s)
		var priorities []int
		for _, r := range p.Rules {
			priorities = append(priorities, r.Priority)
		}
		// Each change saw every rule added before it, so the priorities are 0, 1, … n-1.
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; !slices.Equal(priorities, want) {
			t.Errorf("priorities %v, want %v: a change did not see the one before", priorities, want)
		}
	})
}
