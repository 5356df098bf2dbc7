package firewall

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"

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
