package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"wiregui/wg/wglab"
)

// newTable opens a Table in a fresh namespace.
func newTable(t testing.TB) (*Table, *wglab.Namespace) {
	t.Helper()
	wglab.RequireRoot(t, "ip", "nft")
	ns := wglab.NewNamespace(t, "wgt-fw")
	tb, err := Open(WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb, ns
}

func compile(t testing.TB, in Input) *Ruleset {
	t.Helper()
	rs, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// handles strips what differs between two listings of the same rules.
var handles = regexp.MustCompile(` # handle \d+`)

// nftList is `nft list table inet wiregui` in ns.
func nftList(t testing.TB, ns *wglab.Namespace) string {
	t.Helper()
	return handles.ReplaceAllString(ns.Run(t, "nft", "list", "table", "inet", TableName), "")
}

// TestTextIsWhatTheKernelGets loads Text with nft(8) into one namespace and applies the same
// rule set through netlink into another: nft lists both the same, so the text says exactly
// what the kernel does. Reading the table back renders Text itself.
func TestTextIsWhatTheKernelGets(t *testing.T) {
	in := testInput()
	in.Masquerade = true
	in.Rules = append(in.Rules,
		Rule{ID: "r-any", UserID: "bob", Action: Drop, Destination: pfx("0.0.0.0/0"), Protocol: UDP},
		Rule{ID: "r-odd", UserID: "bob", Action: Accept, Destination: pfx("10.20.30.128/25"), Protocol: ICMP},
		Rule{ID: "r-v6", UserID: "bob", Action: Drop, Destination: pfx("2001:db8:1::/49"), Protocol: TCP, Ports: Ports{1, 65535}},
		Rule{ID: "r-v6h", Action: Accept, Destination: pfx("2001:db8::1/128"), Protocol: UDP, Ports: Ports{53, 53}})
	for _, tc := range []struct {
		name   string
		policy Policy
	}{
		{"policies off, default accept", Policy{Default: Accept, UserDefault: map[string]Action{"bob": Drop}}},
		{"policies on, default drop", Policy{Default: Drop, PeerToPeer: true, LANToPeers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.Policy = tc.policy
			rs := compile(t, in)
			tb, ns := newTable(t)
			if _, err := tb.Apply(rs); err != nil {
				t.Fatal(err)
			}
			byNetlink := nftList(t, ns)

			other := wglab.NewNamespace(t, "wgt-fw")
			file := filepath.Join(t.TempDir(), "rules.nft")
			if err := os.WriteFile(file, []byte(rs.Text()), 0o600); err != nil {
				t.Fatal(err)
			}
			other.Run(t, "nft", "-f", file)
			if byText := nftList(t, other); byText != byNetlink {
				t.Errorf("nft lists the table written through netlink as\n%s\nand Text loaded by nft as\n%s", byNetlink, byText)
			}

			text, matches, err := tb.Kernel(rs)
			if err != nil || !matches || text != rs.Text() {
				t.Errorf("Kernel() = matches %v, err %v, text\n%s\nwant Text\n%s", matches, err, text, rs.Text())
			}
		})
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// chainHandles lists the rule handles of a chain: a rule written again gets a new one.
func chainHandles(t testing.TB, ns *wglab.Namespace, chain string) string {
	t.Helper()
	return strings.Join(regexp.MustCompile(`# handle \d+`).FindAllString(ns.Run(t, "nft", "-a", "list", "chain", "inet", TableName, chain), -1), " ")
}

func TestApplyWritesOnlyWhatChanged(t *testing.T) {
	tb, ns := newTable(t)
	in := testInput()
	in.Masquerade = true
	rs := compile(t, in)
	res, err := tb.Apply(rs)
	if err != nil || !res.Replaced || !res.Written {
		t.Fatalf("first Apply: %+v, %v; want the table written whole", res, err)
	}
	annChain, bobChain := ChainName("ann"), ChainName("bob")
	check := func(t *testing.T, rs *Ruleset) {
		t.Helper()
		if text, matches, err := tb.Kernel(rs); err != nil || !matches {
			t.Errorf("the kernel's table is not the rule set (err %v):\n%s\nwant\n%s", err, text, rs.Text())
		}
	}

	t.Run("nothing changed: nothing written", func(t *testing.T) {
		res, err := tb.Apply(compile(t, in))
		if err != nil || res.Written || res.Messages != 0 {
			t.Errorf("Apply of the same rule set: %+v, %v; want nothing written", res, err)
		}
	})
	t.Run("one user's rule: that user's chain only", func(t *testing.T) {
		bobBefore, fwdBefore := chainHandles(t, ns, bobChain), chainHandles(t, ns, chainFwd)
		in.Rules[1].Ports, in.Rules[1].Protocol = Ports{8080, 8081}, TCP // ann's
		rs := compile(t, in)
		res, err := tb.Apply(rs)
		if err != nil {
			t.Fatal(err)
		}
		// The flush and ann's five rules (jump, three rules, default).
		if res.Replaced || res.Messages != 6 {
			t.Errorf("Apply: %+v; want ann's chain flushed and its 5 rules written", res)
		}
		if got := chainHandles(t, ns, bobChain); got != bobBefore {
			t.Errorf("bob's chain was written again: handles %s, were %s", got, bobBefore)
		}
		if got := chainHandles(t, ns, chainFwd); got != fwdBefore {
			t.Errorf("the forward chain was written again: handles %s, were %s", got, fwdBefore)
		}
		if list := nftList(t, ns); !strings.Contains(list, "ip daddr 1.1.1.1 tcp dport 8080-8081 accept") {
			t.Errorf("ann's changed rule is not in the kernel:\n%s", list)
		}
		check(t, rs)
	})
	t.Run("a policy: the forward chain only", func(t *testing.T) {
		annBefore := chainHandles(t, ns, annChain)
		in.Policy.PeerToPeer = true
		rs := compile(t, in)
		if _, err := tb.Apply(rs); err != nil {
			t.Fatal(err)
		}
		if got := chainHandles(t, ns, annChain); got != annBefore {
			t.Errorf("ann's chain was written again for a policy: handles %s, were %s", got, annBefore)
		}
		check(t, rs)
	})
	t.Run("a new user and device", func(t *testing.T) {
		in.Sources = append(in.Sources, Source{DeviceID: "c1", UserID: "cid", Prefixes: prefixes("10.3.2.4/32", "fd00::3:2:4/128")})
		in.Rules = append(in.Rules, Rule{ID: "c-1", UserID: "cid", Action: Drop, Destination: pfx("9.9.9.9/32")})
		rs := compile(t, in)
		res, err := tb.Apply(rs)
		if err != nil || res.Replaced {
			t.Fatalf("Apply: %+v, %v", res, err)
		}
		check(t, rs)
	})
	t.Run("a deleted device and user leave nothing behind", func(t *testing.T) {
		in.Sources = in.Sources[:len(in.Sources)-1]         // cid's only device
		in.Sources[0].Prefixes = in.Sources[0].Prefixes[:2] // ann's relay subnet goes
		rs := compile(t, in)
		res, err := tb.Apply(rs)
		if err != nil || res.Replaced {
			t.Fatalf("Apply: %+v, %v", res, err)
		}
		list := nftList(t, ns)
		for _, gone := range []string{ChainName("cid"), "10.3.2.4", "fd00::3:2:4", "192.168.50.0"} {
			if strings.Contains(list, gone) {
				t.Errorf("%s is still in the kernel:\n%s", gone, list)
			}
		}
		check(t, rs)
	})
	t.Run("an address moves to another user", func(t *testing.T) {
		in.Sources[1].Prefixes[0] = pfx("10.3.2.9/32")                                                            // bob's moves away
		in.Sources = append(in.Sources, Source{DeviceID: "a2", UserID: "ann", Prefixes: prefixes("10.3.2.3/32")}) // and ann gets it
		rs := compile(t, in)
		if _, err := tb.Apply(rs); err != nil {
			t.Fatal(err)
		}
		if list := nftList(t, ns); !strings.Contains(list, "10.3.2.3 : jump "+annChain) {
			t.Errorf("10.3.2.3 does not jump to ann's chain:\n%s", list)
		}
		check(t, rs)
	})
}

// TestSyncRepairsDrift changes the table behind the Table's back, as an operator or another
// program would, and has Sync find and repair each change, while a foreign table stays as
// it is.
func TestSyncRepairsDrift(t *testing.T) {
	tb, ns := newTable(t)
	other := "table inet other {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\ttcp dport 25 drop\n\t}\n}\n"
	ns.Run(t, "sh", "-c", "echo '"+other+"' | nft -f -")
	otherBefore := ns.Run(t, "nft", "list", "table", "inet", "other")
	rs := compile(t, testInput())
	if _, err := tb.Apply(rs); err != nil {
		t.Fatal(err)
	}
	bob := ChainName("bob")
	for _, tc := range []struct {
		name  string
		sh    string // a shell command
		drift string
	}{
		{"table deleted", "nft delete table inet wiregui", "table inet wiregui is missing"},
		{"chain flushed", "nft flush chain inet wiregui " + bob, "chain " + bob + " has none of its 2 rules (flushed)"},
		{"a rule added by hand", "nft add rule inet wiregui forward tcp dport 22 accept", "chain forward has 1 rules WireGUI did not write"},
		{"a rule inserted by hand", "nft insert rule inet wiregui " + bob + " accept", "chain " + bob + " has 1 rules WireGUI did not write"},
		{"a rule deleted", "nft delete rule inet wiregui forward handle $(nft -a list chain inet wiregui forward | grep -m1 'ct state invalid' | sed 's/.*handle //')",
			"chain forward has 6 of its 7 rules"},
		{"an element added", "nft 'add element inet wiregui owners4 { 10.9.9.9 : jump " + bob + " }'",
			"map owners4 has 1 element (10.9.9.9/32 : jump " + bob + ") that WireGUI did not write"},
		{"an element deleted", "nft 'delete element inet wiregui owners6 { fd00::3:2:3 }'", "map owners6 lacks 1 element (fd00::3:2:3/128 : jump " + bob + ")"},
		{"a chain added", "nft add chain inet wiregui sneaky", "chain sneaky is not WireGUI's"},
		{"a set added", "nft 'add set inet wiregui sneaky { type ipv4_addr; }'", "set sneaky is not WireGUI's"},
		{"the forward chain's policy", "nft 'add chain inet wiregui forward { type filter hook forward priority filter; policy drop; }'", "chain forward is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns.Run(t, "sh", "-c", tc.sh)
			if _, matches, _ := tb.Kernel(rs); matches {
				t.Fatalf("Kernel() matches after %q", tc.sh)
			}
			res, err := tb.Sync(rs)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Written || !slices.ContainsFunc(res.Drift, func(d string) bool { return strings.HasPrefix(d, tc.drift) }) {
				t.Errorf("Sync after %q: %+v; want drift %q repaired", tc.sh, res, tc.drift)
			}
			if text, matches, err := tb.Kernel(rs); err != nil || !matches {
				t.Errorf("not repaired (err %v):\n%s", err, text)
			}
			if res, err := tb.Sync(rs); err != nil || res.Written || len(res.Drift) > 0 {
				t.Errorf("a second Sync: %+v, %v; want nothing to do", res, err)
			}
		})
	}
	if got := ns.Run(t, "nft", "list", "table", "inet", "other"); got != otherBefore {
		t.Errorf("table inet other changed:\n%s\nwas\n%s", got, otherBefore)
	}
}

func TestSyncAfterRestart(t *testing.T) {
	tb, ns := newTable(t)
	rs := compile(t, testInput())
	if _, err := tb.Apply(rs); err != nil {
		t.Fatal(err)
	}
	// A new process finds the table the last one left.
	again, err := Open(WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if res, err := again.Sync(rs); err != nil || res.Written {
		t.Errorf("Sync of the rule set in place: %+v, %v; want nothing written", res, err)
	}
	in := testInput()
	in.Policy.Default = Drop
	if res, err := again.Sync(compile(t, in)); err != nil || !res.Written || len(res.Drift) > 0 {
		t.Errorf("Sync of a changed rule set: %+v, %v; want it written, and no drift", res, err)
	}
}

// TestRemove: Remove deletes table inet wiregui and nothing else, succeeds when the table is
// not there, and a later Apply writes the table whole again.
func TestRemove(t *testing.T) {
	tb, ns := newTable(t)
	rs := compile(t, testInput())
	if _, err := tb.Apply(rs); err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "nft", "add", "table", "ip", "other")
	if err := tb.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := ns.Exec("nft", "list", "table", "inet", TableName); err == nil {
		t.Error("table inet wiregui is still in the kernel after Remove")
	}
	if tb.InKernel() {
		t.Error("InKernel() after Remove, want false")
	}
	if _, err := ns.Exec("nft", "list", "table", "ip", "other"); err != nil {
		t.Errorf("Remove touched another table: %v", err)
	}
	if err := tb.Remove(); err != nil {
		t.Errorf("Remove of a table that is not there: %v, want nil", err)
	}
	if res, err := tb.Apply(rs); err != nil || !res.Replaced {
		t.Errorf("Apply after Remove: %+v, %v; want the table written whole", res, err)
	}
	if text, matches, err := tb.Kernel(rs); err != nil || !matches {
		t.Errorf("the kernel's table is not the rule set after Remove and Apply (err %v):\n%s", err, text)
	}
}

// TestApplyAfterTheTableVanished: a change written against a table someone deleted since
// (the kernel refuses it) is written again as the whole table, in the same Apply, so the
// gateway is not left without its rule set until the next pass.
func TestApplyAfterTheTableVanished(t *testing.T) {
	tb, ns := newTable(t)
	if _, err := tb.Apply(compile(t, testInput())); err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "nft", "delete", "table", "inet", TableName)
	in := testInput()
	in.Rules[1].Action = Drop
	rs := compile(t, in)
	res, err := tb.Apply(rs)
	if err != nil || !res.Replaced {
		t.Fatalf("Apply after the table was deleted: %+v, %v; want the table written whole", res, err)
	}
	if text, matches, err := tb.Kernel(rs); err != nil || !matches {
		t.Errorf("the kernel's table is not the rule set (err %v):\n%s", err, text)
	}
}

func TestRefusedBatchLeavesThePreviousRuleSet(t *testing.T) {
	tb, ns := newTable(t)
	rs1 := compile(t, testInput())
	if _, err := tb.Apply(rs1); err != nil {
		t.Fatal(err)
	}
	before := nftList(t, ns)
	in := testInput()
	in.Rules[1].Action = Drop
	rs2 := compile(t, in)
	// A rule for a chain that does not exist: the kernel refuses the whole batch.
	tb.injectBeforeFlush(func(c *nftables.Conn) {
		c.AddRule(&nftables.Rule{Table: nftTableRef, Chain: &nftables.Chain{Name: "missing", Table: nftTableRef},
			Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
	})
	for _, tc := range []struct {
		name string
		prep func()
	}{
		{"a change", func() {}},
		{"a replace", tb.forget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prep()
			res, err := tb.Apply(rs2)
			if err == nil || !strings.Contains(err.Error(), "stays in place") || !strings.Contains(err.Error(), "no such file or directory") {
				t.Errorf("Apply of a refused batch: %+v, %v; want the kernel's error and that the previous rule set stays", res, err)
			}
			if got := nftList(t, ns); got != before {
				t.Errorf("the refused batch changed the kernel's table:\n%s\nwas\n%s", got, before)
			}
			if !tb.InKernel() {
				t.Error("InKernel() = false with the previous rule set in place")
			}
		})
	}
	tb.injectBeforeFlush(nil)
	if _, err := tb.Apply(rs2); err != nil {
		t.Fatal(err)
	}
	if _, matches, err := tb.Kernel(rs2); !matches || err != nil {
		t.Errorf("Kernel() after the next Apply: matches %v, %v", matches, err)
	}
}

// TestUnavailable runs a Table in a process without CAP_NET_ADMIN (the test binary again,
// under setpriv): its error says that nftables cannot be used, and why.
func TestUnavailable(t *testing.T) {
	if os.Getenv("FIREWALL_TEST_UNAVAILABLE") == "1" {
		tb, err := Open()
		if err == nil {
			_, err = tb.Apply(compile(t, testInput()))
		}
		if !errors.Is(err, ErrUnavailable) || tb.InKernel() {
			t.Fatalf("got %v, InKernel %v; want ErrUnavailable", err, tb.InKernel())
		}
		fmt.Println("ERROR:", err)
		return
	}
	wglab.RequireRoot(t, "ip", "setpriv")
	ns := wglab.NewNamespace(t, "wgt-fw")
	cmd := ns.Command(t.Context(), "setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin", "--",
		os.Args[0], "-test.run=^TestUnavailable$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FIREWALL_TEST_UNAVAILABLE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ERROR: write table inet wiregui: nftables unavailable: permission denied (the server needs CAP_NET_ADMIN") {
		t.Errorf("without CAP_NET_ADMIN: %v\n%s", err, out)
	}
	if list, err := ns.Exec("nft", "list", "ruleset"); err != nil || list != "" {
		t.Errorf("the ruleset after the refused write: %q, %v", list, err)
	}
}

func TestForeignForwardDrops(t *testing.T) {
	tb, ns := newTable(t)
	if _, err := tb.Apply(compile(t, testInput())); err != nil {
		t.Fatal(err)
	}
	if got, err := tb.ForeignForwardDrops(); err != nil || len(got) != 0 {
		t.Errorf("ForeignForwardDrops() = %v, %v with no other table", got, err)
	}
	// Docker's, as iptables-nft writes it; and chains that drop nothing of ours.
	ns.Run(t, "sh", "-c", `nft -f - <<'EOF'
table ip filter {
	chain FORWARD { type filter hook forward priority filter; policy drop;
	}
}
table ip6 other {
	chain fw { type filter hook forward priority 10; policy accept;
	}
	chain in { type filter hook input priority 0; policy drop;
	}
}
EOF`)
	got, err := tb.ForeignForwardDrops()
	want := []ForeignChain{{Family: "ip", Table: "filter", Chain: "FORWARD"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ForeignForwardDrops() = %v, %v; want %v", got, err, want)
	}
	if len(got) == 1 && got[0].String() != "table ip filter, chain FORWARD" {
		t.Errorf("String() = %q", got[0])
	}
}
