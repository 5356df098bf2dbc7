package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/store"
	"wiregui/wg/wglab"
)

// BenchmarkRuleChange measures, against the real binary at the size (10,000 devices
// of 1,000 users, 5,000 rules, a tenth of them global): the cold start (every peer and the
// whole rule set in the kernel); how long a rule-creating request takes (the dialog's) and
// how long after it returns the rule set with the rule is in the kernel; how long the Rules
// page's Explain takes to answer, from sending the request, right after a change (the
// policy compiled again) and again. Run with:
//
//	go test -run XXX -bench RuleChange -benchtime 20x .
func BenchmarkRuleChange(b *testing.B) {
	wglab.Require(b)
	const devices, users, rules = 10_000, 1_000, 5_000
	dataDir := b.TempDir()
	owners := seedDevices(b, dataDir, devices, users)
	seedRules(b, dataDir, owners, rules)
	start := time.Now()
	ns, iface, base := startSeeded(b, dataDir)
	for {
		if _, gw := gatewayHealth(base); gw != nil && gw.InKernel {
			break
		}
		if time.Since(start) > time.Minute {
			b.Fatal("the rule set is not in the kernel within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	coldStart := time.Since(start)
	if n := peerCount(b, iface); n != devices {
		b.Fatalf("wg lists %d peers, want %d", n, devices)
	}

	c := apptest.New(b, base)
	c.SignIn(adminEmail, adminPassword)
	owner := "fleet7@example.com" // its devices are seed 7, seed 1007, …
	var requests, applied, explainChanged, explainSame []time.Duration
	explain := func(port int) (time.Duration, string) {
		q := url.Values{"user": {owner}, "device": {"seed 7"}, "destination": {"192.0.2.9"}, "protocol": {"tcp"}, "port": {fmt.Sprint(port)}}
		sent := time.Now()
		r := c.HTMXGet("/admin/rules/explain?" + q.Encode())
		took := time.Since(sent)
		if r.Status != http.StatusOK {
			b.Fatalf("explain: %d\n%.500s", r.Status, r.Body)
		}
		return took, r.Body
	}
	b.ResetTimer()
	for i := range b.N {
		before := lastReconcile(b, base)
		port := 1 + i
		sent := time.Now()
		r := c.HTMX("/admin/rules", url.Values{"action": {"drop"}, "destination": {"192.0.2.0/24"}, "protocol": {"tcp"},
			"ports": {fmt.Sprint(port)}, "priority": {"1"}, "user": {owner}}) // as the rule dialog sends it
		returned := time.Now()
		requests = append(requests, returned.Sub(sent))
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Rule saved") {
			b.Fatalf("create rule: %d\n%.500s", r.Status, r.Body)
		}
		after := lastReconcile(b, base)
		for after.Repairs == before.Repairs {
			if time.Since(returned) > 10*time.Second {
				b.Fatal("rule not applied within 10s")
			}
			time.Sleep(100 * time.Microsecond)
			after = lastReconcile(b, base)
		}
		pass, err := time.ParseDuration(after.Duration)
		if err != nil {
			b.Fatal(err)
		}
		applied = append(applied, max(0, after.At.Add(pass).Sub(returned)))

		// Then (not to compete with the pass for the CPU) the first Explain after the change,
		// which compiles the policy again, and one more.
		took, body := explain(port)
		explainChanged = append(explainChanged, took)
		if !strings.Contains(body, "Dropped") {
			b.Fatalf("explain after the drop rule for port %d:\n%.1000s", port, body)
		}
		took, _ = explain(port)
		explainSame = append(explainSame, took)
	}
	b.StopTimer()
	if _, gw := gatewayHealth(base); gw == nil || !gw.InKernel || gw.Err != "" {
		b.Fatalf("gateway after the changes: %+v", gw)
	}
	text := ns.Run(b, "nft", "list", "table", "inet", "wiregui")
	for i := range b.N {
		if !strings.Contains(text, fmt.Sprintf("ip daddr 192.0.2.0/24 tcp dport %d drop", 1+i)) {
			b.Fatalf("the kernel lacks the rule for port %d", 1+i)
		}
	}
	b.ReportMetric(median(requests), "p50-request-ms")
	b.ReportMetric(median(applied), "p50-applied-ms")
	b.ReportMetric(float64(slices.Max(applied).Microseconds())/1000, "max-applied-ms")
	b.ReportMetric(median(explainChanged), "p50-explain-after-change-ms")
	b.ReportMetric(median(explainSame), "p50-explain-ms")
	b.ReportMetric(float64(coldStart.Milliseconds()), "cold-start-ms")
}

// seedRules writes n rules straight into the server's database: a tenth global, the rest
// spread over owners, each a drop of one TCP port to one address.
func seedRules(b *testing.B, dataDir string, owners []string, n int) {
	b.Helper()
	st := openSeedStore(b, dataDir)
	defer st.Close()
	_, err := st.UpdatePolicy(context.Background(), func(p *store.Policy) error {
		for i := range n {
			r := store.Rule{Action: store.ActionDrop, Protocol: store.ProtocolTCP, PortFrom: 1000 + i%100, PortTo: 1000 + i%100,
				Destination: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 32), Priority: 10 * (1 + i)}
			if i%10 != 0 {
				r.UserID = owners[i%len(owners)]
			}
			p.Rules = append(p.Rules, r)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
