package wg

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wiregui/wg/wglab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const goldenDir = "../testdata/clientconfig"

// Fixed keys so the golden files never change.
const (
	testClientPrivate = "IEuOM24KFHYbntDzJjFpR3UobmZTWybccr4tnDWqmG8="
	testServerPublic  = "VMgE3S549zQlHEp55sxIAzZdA/lcuSl7H7znSV3tF2I="
	testPreshared     = "sinINraWCXR2fP68F/NZgPzvhfdSz0wXXqj2MSgh660="
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// goldenConfigs are the cases in testdata/clientconfig, by file name.
var goldenConfigs = []struct {
	file string
	cfg  ClientConfig
}{
	{"dual-stack.conf", ClientConfig{
		PrivateKey:          testClientPrivate,
		Addresses:           prefixes("10.3.2.2/32", "fd00::3:2:2/128"),
		DNS:                 []string{"10.3.2.1", "fd00::3:2:1", "home.arpa"},
		MTU:                 1420,
		ServerPublicKey:     testServerPublic,
		PresharedKey:        testPreshared,
		AllowedIPs:          prefixes("0.0.0.0/0", "::/0"),
		Endpoint:            JoinEndpoint("203.0.113.10", 51820),
		PersistentKeepalive: 25,
	}},
	{"ipv4-only.conf", ClientConfig{
		PrivateKey:          testClientPrivate,
		Addresses:           prefixes("10.3.2.7/32"),
		DNS:                 []string{"1.1.1.1"},
		ServerPublicKey:     testServerPublic,
		PresharedKey:        testPreshared,
		AllowedIPs:          prefixes("10.3.2.0/24", "192.168.1.0/24"),
		Endpoint:            JoinEndpoint("203.0.113.10", 51820),
		PersistentKeepalive: 25,
	}},
	{"no-dns-mtu.conf", ClientConfig{
		PrivateKey:      testClientPrivate,
		Addresses:       prefixes("10.3.2.3/32"),
		ServerPublicKey: testServerPublic,
		AllowedIPs:      prefixes("10.3.2.0/24"),
		Endpoint:        JoinEndpoint("203.0.113.10", 51820),
	}},
	{"byo-key.conf", ClientConfig{
		Addresses:           prefixes("10.3.2.4/32", "fd00::3:2:4/128"),
		DNS:                 []string{"10.3.2.1"},
		MTU:                 1380,
		ServerPublicKey:     testServerPublic,
		PresharedKey:        testPreshared,
		AllowedIPs:          prefixes("0.0.0.0/0", "::/0"),
		Endpoint:            JoinEndpoint("203.0.113.10", 51820),
		PersistentKeepalive: 25,
	}},
	{"ipv6-endpoint.conf", ClientConfig{
		PrivateKey:      testClientPrivate,
		Addresses:       prefixes("fd00::3:2:5/128"),
		DNS:             []string{"2001:db8::53"},
		ServerPublicKey: testServerPublic,
		AllowedIPs:      prefixes("fd00::3:2:0/120"),
		Endpoint:        JoinEndpoint("2001:db8::10", 51820),
	}},
}

func TestClientConfigGolden(t *testing.T) {
	for _, tt := range goldenConfigs {
		t.Run(tt.file, func(t *testing.T) {
			got := tt.cfg.Render()
			path := filepath.Join(goldenDir, tt.file)
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./wg -run TestClientConfigGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Render() differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			if err := tt.cfg.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestClientConfigNeverEmptyValue(t *testing.T) {
	cfgs := []ClientConfig{
		{},
		{DNS: []string{"", "  "}, AllowedIPs: []netip.Prefix{{}}},
		{Endpoint: "1.2.3.4:51820", ServerPublicKey: testServerPublic},
	}
	for _, tt := range goldenConfigs {
		cfgs = append(cfgs, tt.cfg)
	}
	for _, c := range cfgs {
		out := string(c.Render())
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if line == "" || strings.HasPrefix(line, "[") || strings.HasPrefix(line, "#") {
				continue
			}
			key, value, ok := strings.Cut(line, " = ")
			if !ok || key == "" || strings.TrimSpace(value) == "" || value == "None" || value == "0" {
				t.Errorf("line %q in\n%s", line, out)
			}
		}
		if !strings.HasPrefix(out, "[Interface]\n") || !strings.Contains(out, "\n\n[Peer]\n") {
			t.Errorf("sections missing in\n%s", out)
		}
	}
}

func TestClientConfigPlaceholder(t *testing.T) {
	out := string(ClientConfig{ServerPublicKey: testServerPublic}.Render())
	if !strings.Contains(out, "\n# PrivateKey = <your private key>\n") {
		t.Errorf("no placeholder in\n%s", out)
	}
	if strings.Contains(out, "\nPrivateKey") {
		t.Errorf("a PrivateKey line in\n%s", out)
	}
}

// TestClientConfigNoInjection: a setting with a newline must not add a line;
// wg-quick runs PostUp lines as shell commands on the user's machine.
func TestClientConfigNoInjection(t *testing.T) {
	c := ClientConfig{
		PrivateKey:      testClientPrivate,
		DNS:             []string{"1.1.1.1\nPostUp = touch /tmp/pwned", "9.9.9.9"},
		ServerPublicKey: testServerPublic,
		Endpoint:        "vpn.example.com:51820\r\nPostUp = id",
	}
	out := string(c.Render())
	if strings.Contains(out, "PostUp") {
		t.Errorf("injected line rendered:\n%s", out)
	}
	if !strings.Contains(out, "\nDNS = 9.9.9.9\n") {
		t.Errorf("clean DNS entry lost:\n%s", out)
	}
}

func TestJoinEndpoint(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"vpn.example.com", 51820, "vpn.example.com:51820"},
		{"203.0.113.10", 51820, "203.0.113.10:51820"},
		{"2001:db8::10", 51820, "[2001:db8::10]:51820"},
		{"[2001:db8::10]", 443, "[2001:db8::10]:443"},
		{" 203.0.113.10 ", 1, "203.0.113.10:1"},
	}
	for _, tt := range tests {
		if got := JoinEndpoint(tt.host, tt.port); got != tt.want {
			t.Errorf("JoinEndpoint(%q, %d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

func TestClientConfigValidate(t *testing.T) {
	err := ClientConfig{Endpoint: "2001:db8::1:51820"}.Validate()
	if err == nil {
		t.Fatal("Validate of an empty config: want an error")
	}
	for _, want := range []string{"server public key is missing", "no tunnel address", "endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to mention %q", err, want)
		}
	}
}

// goldenFiles lists testdata/clientconfig/*.conf.
func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", goldenDir, err)
	}
	return files
}

// TestGoldenWgQuickStrip feeds every golden file to Debian's wg-quick, which
// must parse it and keep only the keys that wg(8) understands.
func TestGoldenWgQuickStrip(t *testing.T) {
	wglab.RequireRoot(t, "wg-quick")
	for _, file := range goldenFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			conf, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// wg-quick insists on IFACE.conf.
			path := filepath.Join(t.TempDir(), "wgtest0.conf")
			if err := os.WriteFile(path, conf, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := wglab.Strip(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, gone := range []string{"Address", "DNS", "MTU"} {
				if bytes.Contains(out, []byte("\n"+gone+" =")) {
					t.Errorf("wg-quick strip kept %s:\n%s", gone, out)
				}
			}
			if !bytes.Contains(out, []byte("PublicKey = "+testServerPublic)) {
				t.Errorf("wg-quick strip lost the peer:\n%s", out)
			}
		})
	}
}

// TestGoldenConfigsLoad brings every golden file up as a real client with
// wireguard-go and wg setconf, which rejects any key, address or endpoint it
// cannot parse, and checks what the device reports.
func TestGoldenConfigsLoad(t *testing.T) {
	wglab.Require(t)
	for _, file := range goldenFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			conf, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ns := wglab.NewNamespace(t, "wgg")
			c := wglab.StartClient(t, ns, wglab.UniqueName("wgg"), conf)
			dump := c.Show(t)
			lines := strings.Split(strings.TrimSpace(dump), "\n")
			if len(lines) != 2 {
				t.Fatalf("wg show dump: want the interface and one peer:\n%s", dump)
			}
			peer := strings.Split(lines[1], "\t")
			if peer[0] != testServerPublic {
				t.Errorf("peer key %s, want %s", peer[0], testServerPublic)
			}
			wantEndpoint := "203.0.113.10:51820"
			if strings.Contains(file, "ipv6-endpoint") {
				wantEndpoint = "[2001:db8::10]:51820"
			}
			if peer[2] != wantEndpoint {
				t.Errorf("endpoint %s, want %s", peer[2], wantEndpoint)
			}
			var want []string
			for _, p := range c.AllowedIPs {
				want = append(want, p.String())
			}
			if got := peer[3]; !sameSet(strings.Split(got, ","), want) {
				t.Errorf("allowed ips %s, want %v", got, want)
			}
			link := ns.Run(t, "ip", "-o", "addr", "show", "dev", c.Iface)
			for _, a := range c.Addresses {
				if !strings.Contains(link, " "+a.String()+" ") {
					t.Errorf("address %s missing on %s:\n%s", a, c.Iface, link)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
