package rules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg/firewall"
)

// Connection is a new connection from a device, as Explain and the policy tests ask about it.
type Connection struct {
	DeviceID string
	To       netip.Addr
	Protocol string // tcp, udp or icmp
	Port     int    // with tcp and udp; 0 with icmp
}

// ConnectionSpec is a connection as typed.
type ConnectionSpec struct {
	DeviceID    string
	Destination string // an address
	// Protocol is tcp, udp or icmp; "" is tcp with a port and icmp without one.
	Protocol string
	Port     string // with tcp and udp
}

// ParseConnection checks every field of spec; the error joins one *text.InputError per bad
// field ("device", "destination", "protocol", "port").
func ParseConnection(spec ConnectionSpec) (Connection, error) {
	var errs []error
	bad := func(field, message string) { errs = append(errs, &text.InputError{Field: field, Message: message}) }
	c := Connection{DeviceID: spec.DeviceID}
	if c.DeviceID == "" {
		bad("device", "Choose a device.")
	}
	a, err := netip.ParseAddr(strings.TrimSpace(spec.Destination))
	if err != nil || a.Zone() != "" {
		bad("destination", "Destination must be an IP address, such as 10.0.0.5 or 2001:db8::5.")
	}
	c.To = a.Unmap()
	port := strings.TrimSpace(spec.Port)
	switch c.Protocol = strings.ToLower(strings.TrimSpace(spec.Protocol)); c.Protocol {
	case "":
		c.Protocol = map[bool]string{true: store.ProtocolICMP, false: store.ProtocolTCP}[port == ""]
	case store.ProtocolTCP, store.ProtocolUDP, store.ProtocolICMP:
	default:
		bad("protocol", "Protocol must be tcp, udp or icmp.")
	}
	switch {
	case c.Protocol == store.ProtocolICMP && port != "":
		bad("port", "ICMP has no ports; leave the port empty.")
	case c.Protocol != store.ProtocolICMP && port == "":
		bad("port", "TCP and UDP need a port, from 1 to 65535.")
	case port != "":
		if c.Port, err = strconv.Atoi(port); err != nil || c.Port < 1 || c.Port > 65535 {
			bad("port", "Port range 1–65535: the port is a number from 1 to 65535.")
		}
	}
	return c, errors.Join(errs...)
}

// Explanation is what the firewall does with a connection, and what decided it.
type Explanation struct {
	Action string // accept or drop
	// Decider says what decided, in words for an admin: a rule (global, or of the device's
	// user), a network policy, or a default action.
	Decider string
	// RuleID is the rule that decided; "" when a policy or a default did.
	RuleID string
	Global bool
}

// Explain says whether the connection c would be accepted or dropped, and what decides it, from
// the description the firewall is compiled from. Every device counts as connected: the
// answer is what happens to the device's traffic when it is.
func (s *Service) Explain(ctx context.Context, c Connection) (Explanation, error) {
	e, err := s.evaluator(ctx)
	if err != nil {
		return Explanation{}, err
	}
	return e.explain(c)
}

// evaluator returns the description compiled from the stored policy and every device: the
// one compiled before while the store's PolicyMark has not moved.
func (s *Service) evaluator(ctx context.Context) (*evaluator, error) {
	p, mark, err := s.policyNow(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := s.cached
	if s.cacheMark != mark {
		e = nil
	}
	s.mu.Unlock()
	if e != nil {
		return e, nil
	}
	devices, err := s.deviceSources(ctx)
	if err != nil {
		return nil, err
	}
	if e, err = s.compile(p, devices); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cached, s.cacheMark = e, mark
	s.mu.Unlock()
	return e, nil
}

// evaluator answers for connections under one compiled policy.
type evaluator struct {
	policy  *store.Policy
	ruleset *firewall.Ruleset
	devices map[string]*store.DeviceSource   // by id
	owned   map[string][]*store.DeviceSource // by the owner's email
}

func (s *Service) compile(p *store.Policy, devices []store.DeviceSource) (*evaluator, error) {
	p = provisional(p, devices)
	in, _ := s.InputFor(p, Sources(devices))
	if in.Interface == "" {
		in.Interface = "wg0" // no verdict depends on the interface's name, but Compile wants one
	}
	rs, err := firewall.Compile(in)
	if err != nil {
		return nil, err
	}
	e := &evaluator{policy: p, ruleset: rs, devices: make(map[string]*store.DeviceSource, len(devices)),
		owned: make(map[string][]*store.DeviceSource)}
	for i := range devices {
		d := &devices[i]
		e.devices[d.ID] = d
		e.owned[d.UserEmail] = append(e.owned[d.UserEmail], d)
	}
	return e, nil
}

func (e *evaluator) explain(c Connection) (Explanation, error) {
	d, ok := e.devices[c.DeviceID]
	if !ok {
		return Explanation{}, &text.InputError{Field: "device", Message: "There is no such device; it may have been deleted.",
			Err: store.ErrNotFound}
	}
	from := d.IPv4
	if !c.To.Is4() {
		from = d.IPv6
	}
	if !from.IsValid() {
		family := map[bool]string{true: "IPv4", false: "IPv6"}[c.To.Is4()]
		return Explanation{}, &text.InputError{Field: "destination",
			Message: fmt.Sprintf("The device %s has no %s address, so it cannot reach %s.", d.Name, family, c.To)}
	}
	protocol, err := firewall.ParseProtocol(c.Protocol)
	if err != nil {
		return Explanation{}, &text.InputError{Field: "protocol", Message: "Protocol must be tcp, udp or icmp."}
	}
	v := e.ruleset.Explain(firewall.Packet{From: from, To: c.To, Protocol: protocol, Port: uint16(c.Port)})
	ex := Explanation{Action: v.Action.String(), RuleID: v.RuleID, Global: v.Global, Decider: v.Decider}
	if v.RuleID != "" {
		for _, r := range e.policy.Rules {
			if r.ID == v.RuleID {
				ex.Decider = RuleDecider(r)
			}
		}
	} else if strings.HasPrefix(v.Decider, "the default action") || strings.HasPrefix(v.Decider, "the user's default action") {
		ex.Decider = fmt.Sprintf("%s (%s)", v.Decider, ex.Action)
	}
	return ex, nil
}

// provisional returns p with its rules as they will be stored: a rule that a change adds has
// no id and no place in the order of creation until it is written, and is given them here,
// after the rules that exist; a rule's owner's email is taken from their devices (a user's
// rules decide only for a user with a device).
func provisional(p *store.Policy, devices []store.DeviceSource) *store.Policy {
	var seq int64
	complete := true
	for _, r := range p.Rules {
		seq = max(seq, r.Seq)
		complete = complete && r.ID != "" && (r.UserID == "" || r.UserEmail != "")
	}
	if complete {
		return p
	}
	emails := map[string]string{}
	for _, d := range devices {
		emails[d.UserID] = d.UserEmail
	}
	q := *p
	q.Rules = slices.Clone(p.Rules)
	for i := range q.Rules {
		r := &q.Rules[i]
		if r.ID == "" {
			seq++
			r.ID, r.Seq = fmt.Sprintf("new-%d", seq), seq
		}
		if r.UserEmail == "" {
			r.UserEmail = emails[r.UserID]
		}
	}
	return &q
}

// RuleDecider names a rule as what decided: `global rule "drop tcp 443 to 10.0.0.0/8"
// (priority 20)`, `rule "…" (priority 10) of ann@example.com`.
func RuleDecider(r store.Rule) string {
	about := fmt.Sprintf("priority %d", r.Priority)
	if r.Description != "" {
		about += ", " + strconv.Quote(r.Description)
	}
	if r.UserID == "" {
		return fmt.Sprintf("global rule %q (%s)", RuleWords(r), about)
	}
	return fmt.Sprintf("rule %q (%s) of %s", RuleWords(r), about, r.UserEmail)
}

// TestSpec is a policy test as typed: the connection, and what must happen to it.
type TestSpec struct {
	ConnectionSpec
	Expect      string // accept or drop
	Description string
}

// TestResult is a policy test and what the firewall does now.
type TestResult struct {
	Test store.PolicyTest
	// Got is what happens to the test's connection; Problem, when the test cannot be
	// evaluated (its device has no address of the destination's family, its row is damaged).
	Got     Explanation
	Problem string
	Pass    bool
}

// Words is the test's connection and expectation: "laptop of ann@example.com → 10.0.0.5
// tcp/443 must be accepted".
func (t TestResult) Words() string { return TestWords(t.Test) }

// TestWords is a policy test in words.
func TestWords(t store.PolicyTest) string {
	to := t.Destination.String() + " " + t.Protocol
	if t.Port != 0 {
		to += "/" + strconv.Itoa(t.Port)
	}
	words := fmt.Sprintf("%s of %s → %s must be %s", t.DeviceName, t.UserEmail, to,
		map[string]string{store.ActionAccept: "accepted", store.ActionDrop: "dropped"}[t.Expect])
	if t.Description != "" {
		words = strconv.Quote(t.Description) + ": " + words
	}
	return words
}

// Outcome is what a failing test got, in words: "it would be dropped by global rule …".
func (t TestResult) Outcome() string {
	if t.Problem != "" {
		return t.Problem
	}
	verb := map[string]string{store.ActionAccept: "accepted", store.ActionDrop: "dropped"}[t.Got.Action]
	return fmt.Sprintf("it would be %s by %s", verb, t.Got.Decider)
}

func (e *evaluator) run(t store.PolicyTest) TestResult {
	res := TestResult{Test: t}
	if t.Problem != "" {
		res.Problem = "the test's stored data is damaged: " + t.Problem
		return res
	}
	got, err := e.explain(Connection{DeviceID: t.DeviceID, To: t.Destination, Protocol: t.Protocol, Port: t.Port})
	var bad *text.InputError
	switch {
	case errors.As(err, &bad):
		res.Problem = strings.TrimSuffix(bad.Message, ".")
	case err != nil:
		res.Problem = err.Error()
	default:
		res.Got, res.Pass = got, got.Action == t.Expect
	}
	return res
}

// Results runs every policy test on the policy as it is.
func (s *Service) Results(ctx context.Context) ([]TestResult, error) {
	e, err := s.evaluator(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TestResult, len(e.policy.Tests))
	for i, t := range e.policy.Tests {
		out[i] = e.run(t)
	}
	return out, nil
}

// check refuses the change from before to after when after fails a policy test that before
// passes, or a test that after adds. Tests that failed before (a device changed since) do not
// block a change: it may be the one that mends them.
func (s *Service) check(ctx context.Context, before, after *store.Policy) error {
	if len(after.Tests) == 0 {
		return nil
	}
	devices, err := s.Store.ListDeviceSources(ctx)
	if err != nil {
		return err
	}
	now, err := s.compile(after, devices)
	if err != nil {
		return fmt.Errorf("check the policy tests: %w", err)
	}
	var failing []TestResult
	for _, t := range after.Tests {
		if res := now.run(t); !res.Pass {
			failing = append(failing, res)
		}
	}
	if len(failing) == 0 {
		return nil
	}
	was, err := s.compile(before, devices)
	if err != nil {
		return fmt.Errorf("check the policy tests: %w", err)
	}
	var broken []TestResult
	for _, res := range failing {
		if res.Test.ID == "" || was.run(res.Test).Pass {
			broken = append(broken, res)
		}
	}
	if len(broken) == 0 {
		return nil
	}
	first := broken[0]
	msg := fmt.Sprintf("This change breaks the policy test %s: %s.", first.Words(), first.Outcome())
	if first.Test.ID == "" {
		msg = fmt.Sprintf("This test fails now: %s, but %s.", first.Words(), first.Outcome())
	}
	if n := len(broken) - 1; n > 0 {
		msg += fmt.Sprintf(" It breaks %d more.", n)
	}
	return &text.InputError{Field: "_form", Message: msg, Err: ErrBreaksTest}
}

// AddTest checks spec and saves the policy test, unless it fails now.
func (s *Service) AddTest(ctx context.Context, spec TestSpec) (*store.PolicyTest, error) {
	c, err := ParseConnection(spec.ConnectionSpec)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	expect := strings.ToLower(strings.TrimSpace(spec.Expect))
	if expect != store.ActionAccept && expect != store.ActionDrop {
		errs = append(errs, &text.InputError{Field: "expect", Message: "Expect accept or drop."})
	}
	description, err := ruleDescription.Clean(spec.Description)
	if err != nil {
		errs = append(errs, &text.InputError{Field: "description", Message: text.Sentence(err.Error())})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t := store.PolicyTest{DeviceID: c.DeviceID, Destination: c.To, Protocol: c.Protocol, Port: c.Port, Expect: expect,
		Description: description}
	p, err := s.change(ctx, func(p *store.Policy) error {
		// The test reads as the store reads it, with its device's name and owner.
		devices, err := s.Store.ListDeviceSources(ctx)
		if err != nil {
			return err
		}
		for _, d := range devices {
			if d.ID == t.DeviceID {
				t.DeviceName, t.UserID, t.UserEmail = d.Name, d.UserID, d.UserEmail
			}
		}
		if t.UserID == "" {
			return &text.InputError{Field: "device", Message: "There is no such device; it may have been deleted.", Err: store.ErrNotFound}
		}
		p.Tests = append(p.Tests, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	added := p.Tests[len(p.Tests)-1]
	return &added, nil
}

// DeleteTest deletes the policy test with id; one that is gone is store.ErrNotFound.
func (s *Service) DeleteTest(ctx context.Context, id string) (*store.PolicyTest, error) {
	var gone store.PolicyTest
	_, err := s.Store.UpdatePolicy(ctx, func(p *store.Policy) error {
		for i, t := range p.Tests {
			if t.ID == id {
				gone = t
				p.Tests = append(p.Tests[:i], p.Tests[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("policy test %s: %w", id, store.ErrNotFound)
	})
	if err != nil {
		return nil, err
	}
	return &gone, nil
}

// DeviceOf returns the device named name of the user with email, as explain and the policy
// tests name it. Errors are InputErrors on "user" or "device".
func (s *Service) DeviceOf(ctx context.Context, email, name string) (*store.DeviceSource, error) {
	email = store.NormalizeEmail(email)
	wanted, err := devices.CheckName(name) // stored names are normalised: compare like with like
	if bad := text.InputErrors(err); len(bad) > 0 {
		return nil, &text.InputError{Field: "device", Message: bad[0].Message}
	}
	e, err := s.evaluator(ctx) // its devices: one read of them while nothing changes
	if err != nil {
		return nil, err
	}
	var match []*store.DeviceSource
	owned := e.owned[email]
	for _, d := range owned {
		if d.Name == wanted {
			match = append(match, d)
		}
	}
	known := len(owned) > 0
	switch {
	case email == "":
		return nil, &text.InputError{Field: "user", Message: "Enter the email of the device's owner."}
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return nil, &text.InputError{Field: "device", Message: fmt.Sprintf("%s has %d devices named %q; rename them first.", email, len(match), wanted)}
	case !known:
		return nil, &text.InputError{Field: "user", Message: fmt.Sprintf("No user with the email %s has a device.", email), Err: store.ErrNotFound}
	}
	return nil, &text.InputError{Field: "device", Message: fmt.Sprintf("%s has no device named %q.", email, wanted), Err: store.ErrNotFound}
}

// UserPolicy is what decides the connections of one user's devices, for the user to read.
type UserPolicy struct {
	// Rules are the global rules and the user's own, in the order they apply.
	Rules []store.Rule
	// Default is what happens to a connection no rule matches: accept or drop.
	Default  string
	Firewall store.FirewallSettings
}

// ForUser returns what decides the connections of userID's devices. A damaged rule applies
// nowhere, so it is not listed.
func (s *Service) ForUser(ctx context.Context, userID string) (UserPolicy, error) {
	p, err := s.Policy(ctx)
	if err != nil {
		return UserPolicy{}, err
	}
	up := UserPolicy{Default: p.Settings.Firewall.DefaultAction, Firewall: p.Settings.Firewall}
	if a, ok := p.UserDefaults[userID]; ok {
		up.Default = a
	}
	for _, scope := range []string{"", userID} {
		for _, r := range ScopeRules(p, scope) {
			if r.Problem == "" {
				up.Rules = append(up.Rules, r)
			}
		}
	}
	return up, nil
}
