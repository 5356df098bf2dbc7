package rules_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"wiregui/app/rules"
	"wiregui/store"
)

// memoryStore holds a policy and devices in memory: the benchmarks measure the service's own
// work (building, compiling, evaluating), not the database's reads.
type memoryStore struct {
	p          store.Policy
	devices    []store.DeviceSource
	mark       string // the PolicyMark
	accessMark string
}

func (m *memoryStore) Policy(context.Context) (*store.Policy, error) { p := m.p; return &p, nil }
func (m *memoryStore) UpdatePolicy(_ context.Context, fn func(*store.Policy) error) (*store.Policy, error) {
	p := m.p
	p.Rules = append([]store.Rule(nil), m.p.Rules...)
	return &p, fn(&p)
}
func (m *memoryStore) ListDeviceSources(context.Context) ([]store.DeviceSource, error) {
	return m.devices, nil
}
func (m *memoryStore) PolicyMark(context.Context) (string, error) { return m.mark, nil }
func (m *memoryStore) AccessMark(context.Context) (string, error) { return m.accessMark, nil }

// bigPolicy is the size: 10,000 devices of 1,000 users, 5,000 rules (a tenth global).
func bigPolicy() *memoryStore {
	m := &memoryStore{p: store.Policy{Settings: store.Settings{Firewall: store.FirewallSettings{DefaultAction: store.ActionAccept}},
		UserDefaults: map[string]string{}}}
	at := time.Now()
	for i := range 10_000 {
		m.devices = append(m.devices, store.DeviceSource{ID: fmt.Sprintf("d%d", i), UserID: fmt.Sprintf("u%d", i%1000),
			UserEmail: fmt.Sprintf("u%d@example.com", i%1000), Name: "laptop",
			IPv4: netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)}), CreatedAt: at.Add(time.Duration(i))})
	}
	for i := range 5_000 {
		r := store.Rule{ID: fmt.Sprintf("r%d", i), Action: store.ActionDrop, Protocol: store.ProtocolTCP, PortFrom: 1000 + i%100,
			PortTo: 1000 + i%100, Destination: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 32),
			Priority: i, Seq: int64(i)}
		if i%10 != 0 {
			r.UserID = fmt.Sprintf("u%d", i%1000)
		}
		m.p.Rules = append(m.p.Rules, r)
	}
	return m
}

// BenchmarkExplain10k is one Explain at the size, besides reading the database: after
// a change (the policy compiled again), and while nothing changes (the compiled one reused).
func BenchmarkExplain10k(b *testing.B) {
	m := bigPolicy()
	svc := &rules.Service{Store: m, Interface: "wg0", Networks: tunnels}
	c := rules.Connection{DeviceID: "d4321", To: netip.MustParseAddr("172.16.10.10"), Protocol: "tcp", Port: 1070}
	for _, changed := range []bool{true, false} {
		b.Run(map[bool]string{true: "compiled", false: "reused"}[changed], func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if changed {
					m.mark = fmt.Sprint(i)
				}
				if ex, err := svc.Explain(context.Background(), c); err != nil || ex.RuleID != "r2570" {
					b.Fatalf("%+v, %v; want rule r2570", ex, err)
				}
			}
		})
	}
}

// BenchmarkCheck10k is a rule change checked against 10 policy tests at the size: the
// would-be rule set compiled and every test evaluated.
func BenchmarkCheck10k(b *testing.B) {
	m := bigPolicy()
	for i := range 10 {
		m.p.Tests = append(m.p.Tests, store.PolicyTest{ID: fmt.Sprint("t", i), DeviceID: fmt.Sprint("d", i*97),
			Destination: netip.MustParseAddr("198.51.100.1"), Protocol: "icmp", Expect: store.ActionAccept})
	}
	svc := &rules.Service{Store: m, Interface: "wg0", Networks: tunnels}
	for b.Loop() {
		if _, err := svc.Create(context.Background(), rules.RuleSpec{Action: "drop", Destination: "203.0.113.0/24", UserID: "u7"}); err != nil {
			b.Fatal(err)
		}
	}
}
