package cli

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"wiregui/app/instance"
	"wiregui/store/storetest"
)

// listenAsServer stands in for a running server's control socket on the data directory, and
// counts the changes it is asked to apply.
func (c *cliEnv) listenAsServer() *atomic.Int32 {
	c.t.Helper()
	var asked atomic.Int32
	ln, err := instance.ListenControl(instance.ControlSocket(c.vars["WG_DATA_DIR"]), slog.New(slog.DiscardHandler),
		func() { asked.Add(1) })
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ln.Close() })
	return &asked
}

// fails runs args and fails the test unless they exit with status and say says on stderr.
func (c *cliEnv) fails(status int, says string, args ...string) {
	c.t.Helper()
	got, _, errOut := c.run("", args...)
	if got != status || !strings.Contains(errOut, says) {
		c.t.Errorf("%q: exit %d, %q; want %d saying %q", args, got, errOut, status, says)
	}
}

func (c *cliEnv) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("%q printed %q: %v", args, out, err)
	}
}

var uuid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$`)

// TestRuleCommandsForScripts: rules, explain and policy tests through the rule service, on
// both databases; each change is handed to a running server at once; what is gone already
// succeeds; bad input names its flag.
func TestRuleCommandsForScripts(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			c.ok("", "user", "add", "--email", "ann@example.com", "--admin")
			c.ok("", "device", "add", "--user", "ann@example.com", "--name", "laptop")
			asked := c.listenAsServer()

			web := c.ok("", "rule", "add", "--action", "drop", "--destination", "10.0.0.0/24", "--protocol", "tcp", "--ports", "443",
				"--user", "Ann@Example.com", "--description", "no intranet web")
			if !uuid.MatchString(web) {
				t.Fatalf("rule add printed %q, want the new rule's id alone", web)
			}
			web = strings.TrimSpace(web)
			global := strings.TrimSpace(c.ok("", "rule", "add", "--action", "accept", "--destination", "192.0.2.7/24", "--priority", "5"))
			if n := asked.Load(); n != 2 {
				t.Errorf("the server was asked %d times to apply the two rules, want 2", n)
			}

			var list []ruleJSON
			c.json(&list, "rule", "list", "--json")
			if len(list) != 2 {
				t.Fatalf("rule list --json: %+v, want 2 rules", list)
			}
			g, w := list[0], list[1]
			if g.ID != global || g.Action != "accept" || g.Destination != "192.0.2.0/24" || g.Protocol != "any" ||
				g.Ports != nil || g.Priority != 5 || g.User != nil {
				t.Errorf("the global rule listed as %+v", g)
			}
			if w.ID != web || w.Ports == nil || *w.Ports != "443" || w.User == nil || *w.User != "ann@example.com" ||
				w.Priority != 10 || w.Description != "no intranet web" {
				t.Errorf("ann's rule listed as %+v", w)
			}
			c.json(&list, "rule", "list", "--user", "ann@example.com", "--json")
			if len(list) != 1 || list[0].ID != web {
				t.Errorf("rule list --user ann: %+v, want ann's rule only", list)
			}
			if out := c.ok("", "rule", "list"); !strings.Contains(out, "(global)") || !strings.Contains(out, "ann@example.com") {
				t.Errorf("rule list:\n%s", out)
			}

			var ex explainJSON
			c.json(&ex, "rule", "explain", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.5:443", "--json")
			if ex.Action != "drop" || ex.Rule == nil || *ex.Rule != web || ex.Global ||
				ex.Decider != `rule "drop tcp 443 to 10.0.0.0/24" (priority 10, "no intranet web") of ann@example.com` {
				t.Errorf("explain tcp 443: %+v", ex)
			}
			if out := c.ok("", "rule", "explain", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.5"); out != "accept: the default action (accept)\n" {
				t.Errorf("explain ping: %q", out)
			}

			test := c.ok("", "rule", "test", "add", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.5:443",
				"--expect", "drop", "--description", "intranet web stays shut")
			if !uuid.MatchString(test) {
				t.Fatalf("rule test add printed %q, want the test's id", test)
			}
			test = strings.TrimSpace(test)
			c.fails(ExitError, "This test fails now", "rule", "test", "add", "--device", "laptop", "--user", "ann@example.com",
				"--to", "10.0.0.5:443", "--expect", "accept")
			c.fails(ExitError, `This change breaks the policy test "intranet web stays shut": laptop of ann@example.com → 10.0.0.5 tcp/443 must be dropped: it would be accepted by the default action (accept).`,
				"rule", "delete", web)
			var tests []policyTestJSON
			c.json(&tests, "rule", "test", "list", "--json")
			if len(tests) != 1 || tests[0].ID != test || !tests[0].Pass || tests[0].Port == nil || *tests[0].Port != 443 ||
				tests[0].Got == nil || tests[0].Got.Action != "drop" {
				t.Errorf("rule test list --json: %+v", tests)
			}

			c.ok("", "rule", "default", "--user", "ann@example.com", "--action", "drop")
			if out := c.ok("", "rule", "explain", "--device", "laptop", "--user", "ann@example.com", "--to", "9.9.9.9:53",
				"--protocol", "udp"); out != "drop: the user's default action (drop)\n" {
				t.Errorf("explain under ann's own default: %q", out)
			}
			c.ok("", "rule", "default", "--user", "ann@example.com", "--action", "global")

			c.ok("", "rule", "test", "delete", test)
			if out := c.ok("", "rule", "test", "delete", test); !strings.Contains(out, "nothing to delete") {
				t.Errorf("deleting a test twice: %q", out)
			}
			c.ok("", "rule", "delete", web)
			if out := c.ok("", "rule", "delete", web); !strings.Contains(out, "nothing to delete") {
				t.Errorf("deleting a rule twice: %q", out)
			}

			for _, tc := range []struct {
				args   []string
				status int
				says   string
			}{
				{[]string{"rule", "add", "--destination", "10.0.0.0/8"}, ExitUsage, "--action is required"},
				{[]string{"rule", "add", "--action", "drop", "--destination", "10.0.0.0/8", "--ports", "22"}, ExitError,
					"--ports: Ports need TCP or UDP"},
				{[]string{"rule", "add", "--action", "drop", "--destination", "10.0.0.0/8", "--protocol", "tcp", "--ports", "0-22"}, ExitError,
					"--ports: Port range 1–65535"},
				{[]string{"rule", "add", "--action", "stop", "--destination", "ten"}, ExitError,
					"--action: Action must be accept or drop.\n--destination: Destination must be a CIDR such as 10.0.0.0/24"},
				{[]string{"rule", "add", "--action", "drop", "--destination", "10.0.0.0/8", "--user", "nobody@example.com"}, ExitError,
					"--user: There is no user with the email nobody@example.com."},
				{[]string{"rule", "delete"}, ExitUsage, "usage: wiregui rule delete ID"},
				{[]string{"rule", "test", "frobnicate"}, ExitUsage, "unknown rule test command"},
				{[]string{"rule", "explain", "--device", "phone", "--user", "ann@example.com", "--to", "10.0.0.1"}, ExitError,
					`--device: ann@example.com has no device named "phone"`},
				{[]string{"rule", "explain", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.1:99999"}, ExitError,
					"--destination: Destination must be an IP address"},
				{[]string{"rule", "explain", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.1", "--protocol", "udp"}, ExitError,
					"--to: TCP and UDP need a port"},
				{[]string{"rule", "test", "add", "--device", "laptop", "--user", "ann@example.com", "--to", "10.0.0.1:22", "--expect", "maybe"}, ExitError,
					"--expect: Expect accept or drop."},
				{[]string{"rule", "default", "--user", "ann@example.com", "--action", "reject"}, ExitUsage, "none of accept, drop and global"},
			} {
				c.fails(tc.status, tc.says, tc.args...)
			}
			c.json(&list, "rule", "list", "--json")
			if len(list) != 1 || list[0].ID != global {
				t.Errorf("after the refused commands: %+v, want the global rule alone", list)
			}
		})
	}
}

// TestSettingsCommands: settings get prints what settings set reads; set changes every
// key given or none, and a change of the firewall's settings is checked against the policy
// tests.
func TestSettingsCommands(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			c.ok("", "user", "add", "--email", "ann@example.com", "--admin")
			c.ok("", "device", "add", "--user", "ann@example.com", "--name", "laptop")
			want := `default_client_endpoint=
default_client_dns=
default_client_allowed_ips=
default_client_mtu=
default_client_persistent_keepalive=
vpn_session_duration=0
allow_unprivileged_device_management=true
allow_unprivileged_device_configuration=true
passwordless_enabled=false
mfa_required=false
local_auth_enabled=true
magic_link_enabled=false
allow_peer_to_peer=false
allow_lan_to_peers=false
default_action=accept
`
			if got := c.ok("", "settings", "get"); got != want {
				t.Errorf("settings get on a new database:\n%s\nwant\n%s", got, want)
			}
			asked := c.listenAsServer()
			c.ok("", "settings", "set", "default_client_dns=9.9.9.9, 1.1.1.1", "default_client_allowed_ips=10.0.0.0/8,fd00::/8",
				"default_client_mtu=1380", "vpn_session_duration=24h", "allow_peer_to_peer=true", "default_action=drop",
				"allow_unprivileged_device_management=false", "mfa_required=true")
			if asked.Load() != 1 {
				t.Errorf("the server was asked %d times to apply the settings, want once", asked.Load())
			}
			var got map[string]any
			c.json(&got, "settings", "get", "--json")
			for key, want := range map[string]any{
				"default_client_dns": []any{"9.9.9.9", "1.1.1.1"}, "default_client_allowed_ips": []any{"10.0.0.0/8", "fd00::/8"},
				"default_client_mtu": 1380.0, "default_client_endpoint": nil, "vpn_session_duration": 86400.0,
				"allow_peer_to_peer": true, "allow_lan_to_peers": false, "default_action": "drop",
				"allow_unprivileged_device_management": false, "mfa_required": true, "passwordless_enabled": false,
			} {
				if g, _ := json.Marshal(got[key]); string(g) != mustJSON(want) {
					t.Errorf("settings get --json: %s = %s, want %s", key, g, mustJSON(want))
				}
			}
			// What get prints, set reads.
			before := c.ok("", "settings", "get")
			var again []string
			for _, line := range strings.Split(strings.TrimSpace(before), "\n") {
				again = append(again, line)
			}
			c.ok("", append([]string{"settings", "set"}, again...)...)
			if after := c.ok("", "settings", "get"); after != before {
				t.Errorf("settings set of what get printed changed them:\n%s\nto\n%s", before, after)
			}

			c.ok("", "rule", "test", "add", "--device", "laptop", "--user", "ann@example.com", "--to", "192.0.2.1:443", "--expect", "drop")
			for _, tc := range []struct {
				args   []string
				status int
				says   string
			}{
				{[]string{"settings", "set", "default_action=accept"}, ExitError, "This change breaks the policy test"},
				{[]string{"settings", "set", "allow_lan_to_peers=true", "default_client_mtu=big"}, ExitError, "default_client_mtu: "},
				{[]string{"settings", "set", "allow_lan_to_peers=maybe"}, ExitError, `allow_lan_to_peers: "maybe" is neither true nor false`},
				{[]string{"settings", "set", "default_action=reject"}, ExitError, `default_action: "reject" is neither accept nor drop`},
				{[]string{"settings", "set", "vpn_session_duration=1 day"}, ExitError, "vpn_session_duration: "},
				{[]string{"settings", "set", "default_client_allowed_ips=10.0.0.1/8"}, ExitError, "default_client_allowed_ips: "},
				{[]string{"settings", "set", "colour=blue"}, ExitUsage, `unknown setting "colour"`},
				{[]string{"settings", "set", "allow_lan_to_peers"}, ExitUsage, "is not KEY=VALUE"},
				{[]string{"settings", "set"}, ExitUsage, "usage: wiregui settings set KEY=VALUE"},
			} {
				c.fails(tc.status, tc.says, tc.args...)
			}
			if after := c.ok("", "settings", "get"); after != before {
				t.Errorf("refused settings changed them:\n%s\nto\n%s", before, after)
			}
			c.ok("", "settings", "set", "default_client_dns=", "default_client_mtu=")
			c.json(&got, "settings", "get", "--json")
			if got["default_client_dns"] != nil || got["default_client_mtu"] != nil {
				t.Errorf("after unsetting: dns %v, mtu %v; want both null", got["default_client_dns"], got["default_client_mtu"])
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
