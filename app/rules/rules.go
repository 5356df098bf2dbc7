// Package rules is the rule service: the gateway firewall's access rules, its network
// policies and default action, and the policy tests. The web UI and the CLI change them
// through it, so that each input has one validation, and every change is checked against the
// policy tests before it is saved: a change that breaks one is refused, naming the test and
// what decided it.
//
// It also builds the firewall's description from the store (Input): the data plane compiles
// it for the kernel, and Explain and the policy tests evaluate the very same compiled
// description (wg/firewall's Ruleset.Explain), never a second implementation of it.
package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"wiregui/app/text"
	"wiregui/store"
)

// Store is what the rule service needs from storage.
type Store interface {
	Policy(ctx context.Context) (*store.Policy, error)
	UpdatePolicy(ctx context.Context, fn func(*store.Policy) error) (*store.Policy, error)
	ListDeviceSources(ctx context.Context) ([]store.DeviceSource, error)
	PolicyMark(ctx context.Context) (string, error)
	AccessMark(ctx context.Context) (string, error)
}

// Service changes the firewall's policy and builds its description.
type Service struct {
	Store Store
	// Interface is the WireGuard interface, Networks the tunnel networks and Masquerade
	// whether what leaves them by another interface is masqueraded: what the firewall is
	// built for.
	Interface  string
	Networks   []netip.Prefix
	Masquerade bool
	// Changed is called after every change, with the id of the user whose rules changed, or
	// "" for a change that may concern everyone, so that the data plane applies it at once.
	Changed func(userID string)

	// What is read and compiled at 10,000 devices and 5,000 rules is kept while the store's
	// marks stay (each costs a fraction of a millisecond): the policy (reading it, 50 ms) while
	// the PolicyMark stays, shared and read-only; every device's source (80 ms) while the
	// AccessMark stays; and the description compiled for Explain and the policy tests'
	// results (10 ms more) while the PolicyMark stays.
	mu          sync.Mutex
	policy      *store.Policy
	policyMark  string
	devices     []store.DeviceSource
	devicesMark string
	cached      *evaluator
	cacheMark   string
}

// Errors that the service's InputErrors wrap.
var (
	// ErrBreaksTest: the change would make a policy test fail that passes now.
	ErrBreaksTest = errors.New("the change breaks a policy test")
	// ErrStale: a reorder was made on an order that another change has replaced.
	ErrStale = errors.New("the rules changed meanwhile")
)

// Policy returns the firewall's policy as it is stored: the rules in the order they apply,
// the settings, the users' own defaults and the policy tests.
// It is shared by every caller until the policy changes: read it, never change it.
func (s *Service) Policy(ctx context.Context) (*store.Policy, error) {
	p, _, err := s.policyNow(ctx)
	return p, err
}

// policyNow returns the policy and the PolicyMark it was read under: the one read before
// while the mark stays.
func (s *Service) policyNow(ctx context.Context) (*store.Policy, string, error) {
	mark, err := s.Store.PolicyMark(ctx) // before the read: a change meanwhile moves it again
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	p := s.policy
	if s.policyMark != mark {
		p = nil
	}
	s.mu.Unlock()
	if p != nil {
		return p, mark, nil
	}
	if p, err = s.Store.Policy(ctx); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	s.policy, s.policyMark = p, mark
	s.mu.Unlock()
	return p, mark, nil
}

// deviceSources returns every device's source: the ones read before while the AccessMark
// stays.
func (s *Service) deviceSources(ctx context.Context) ([]store.DeviceSource, error) {
	mark, err := s.Store.AccessMark(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	devices, ok := s.devices, s.devicesMark == mark && s.devices != nil
	s.mu.Unlock()
	if ok {
		return devices, nil
	}
	if devices, err = s.Store.ListDeviceSources(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.devices, s.devicesMark = devices, mark
	s.mu.Unlock()
	return devices, nil
}

// RuleSpec is a rule as typed, in a form or on the command line.
type RuleSpec struct {
	// UserID is the user whose devices the rule is for; "" for every user (a global rule).
	UserID      string
	Action      string // accept or drop
	Destination string // a network (10.0.0.0/24) or one address
	Protocol    string // any (also ""), tcp, udp or icmp
	Ports       string // "" for every port, "443" or "8000-8100", with tcp or udp only
	// Priority orders the rules of one scope, lowest first; "" puts a new rule after the
	// others of its scope and keeps an edited rule's.
	Priority    string
	Description string
}

// MaxPriority is the highest priority a rule may have.
const MaxPriority = 1_000_000

// priorityStep is the gap between priorities that the service gives: rules can be put between
// others by hand.
const priorityStep = 10

var ruleDescription = text.Field{Name: "a description", Max: 200}

// parseRule checks every field of spec and returns the rule it describes, and whether its
// priority was left to the service. The error joins one *text.InputError per bad field.
func parseRule(spec RuleSpec) (r store.Rule, autoPriority bool, err error) {
	var errs []error
	bad := func(field, message string) { errs = append(errs, &text.InputError{Field: field, Message: message}) }
	r.UserID = spec.UserID
	switch a := strings.ToLower(strings.TrimSpace(spec.Action)); a {
	case store.ActionAccept, store.ActionDrop:
		r.Action = a
	default:
		bad("action", "Action must be accept or drop.")
	}
	if r.Destination, err = parseDestination(spec.Destination); err != nil {
		bad("destination", text.Sentence(err.Error()))
	}
	switch p := strings.ToLower(strings.TrimSpace(spec.Protocol)); p {
	case "", store.ProtocolAny:
		r.Protocol = store.ProtocolAny
	case store.ProtocolTCP, store.ProtocolUDP, store.ProtocolICMP:
		r.Protocol = p
	default:
		bad("protocol", "Protocol must be any, tcp, udp or icmp.")
	}
	if ports := strings.TrimSpace(spec.Ports); ports != "" {
		switch {
		case r.Protocol != store.ProtocolTCP && r.Protocol != store.ProtocolUDP:
			bad("ports", "Ports need TCP or UDP: choose tcp or udp as the protocol, or leave the ports empty.")
		default:
			if r.PortFrom, r.PortTo, err = parsePorts(ports); err != nil {
				bad("ports", text.Sentence(err.Error()))
			}
		}
	}
	if p := strings.TrimSpace(spec.Priority); p == "" {
		autoPriority = true
	} else if r.Priority, err = strconv.Atoi(p); err != nil || r.Priority < 0 || r.Priority > MaxPriority {
		bad("priority", fmt.Sprintf("Priority must be a whole number from 0 to %d; lower comes first.", MaxPriority))
	}
	if r.Description, err = ruleDescription.Clean(spec.Description); err != nil {
		bad("description", text.Sentence(err.Error()))
	}
	return r, autoPriority, errors.Join(errs...)
}

// Check checks every field of spec as Create and Update do, for a form that shows every
// message at once even when it cannot save (its user is unknown). The error joins one
// *text.InputError per bad field.
func Check(spec RuleSpec) error {
	_, _, err := parseRule(spec)
	return err
}

// parseDestination reads a network, or one address as the network of that address alone, in
// its masked form.
func parseDestination(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("destination must be a CIDR such as 10.0.0.0/24 (or one address, such as 10.0.0.5)")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("destination %s is an IPv4-mapped IPv6 network; write it as IPv4, such as 10.0.0.0/24", p)
	}
	return p.Masked(), nil
}

// parsePorts reads "443" or "8000-8100".
func parsePorts(s string) (from, to int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	from, errFrom := strconv.Atoi(strings.TrimSpace(a))
	to, errTo := from, error(nil)
	if isRange {
		to, errTo = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case errFrom != nil || errTo != nil:
		return 0, 0, errors.New("ports must be one port, such as 443, or a range, such as 8000-8100")
	case from < 1 || to < 1 || from > 65535 || to > 65535:
		return 0, 0, errors.New("port range 1–65535: ports are numbers from 1 to 65535")
	case from > to:
		return 0, 0, fmt.Errorf("port range %d-%d goes backwards; write it from the lower port, as %d-%d", from, to, to, from)
	}
	return from, to, nil
}

// Create checks spec and adds the rule, unless it breaks a policy test. Input errors are
// joined *text.InputErrors, one per field; a refusal is one on "_form" that wraps
// ErrBreaksTest.
func (s *Service) Create(ctx context.Context, spec RuleSpec) (*store.Rule, error) {
	r, auto, err := parseRule(spec)
	if err != nil {
		return nil, err
	}
	p, err := s.change(ctx, func(p *store.Policy) error {
		if auto {
			r.Priority = nextPriority(ScopeRules(p, r.UserID))
		}
		p.Rules = append(p.Rules, r)
		return nil
	})
	if err != nil {
		return nil, userError(err, r.UserID)
	}
	created := p.Rules[len(p.Rules)-1]
	s.changed(ctx, created.UserID)
	return &created, nil
}

// Update checks spec and puts it in place of the rule with id, unless that breaks a policy
// test. A rule that is gone is store.ErrNotFound.
func (s *Service) Update(ctx context.Context, id string, spec RuleSpec) (*store.Rule, error) {
	r, keepPriority, err := parseRule(spec)
	if err != nil {
		return nil, err
	}
	var was, updated store.Rule
	_, err = s.change(ctx, func(p *store.Policy) error {
		i := slices.IndexFunc(p.Rules, func(r store.Rule) bool { return r.ID == id })
		if i < 0 {
			return fmt.Errorf("rule %s: %w", id, errNoRule)
		}
		was = p.Rules[i]
		r.ID, r.Seq = was.ID, was.Seq
		if keepPriority {
			r.Priority = was.Priority
		}
		p.Rules[i] = r
		updated = r
		return nil
	})
	if err != nil {
		return nil, userError(err, r.UserID)
	}
	if was.UserID != updated.UserID {
		s.changed(ctx, "")
	} else {
		s.changed(ctx, updated.UserID)
	}
	return &updated, nil
}

// Delete deletes the rule with id, unless that breaks a policy test. A rule that is gone is
// store.ErrNotFound.
func (s *Service) Delete(ctx context.Context, id string) (*store.Rule, error) {
	var gone store.Rule
	_, err := s.change(ctx, func(p *store.Policy) error {
		i := slices.IndexFunc(p.Rules, func(r store.Rule) bool { return r.ID == id })
		if i < 0 {
			return fmt.Errorf("rule %s: %w", id, errNoRule)
		}
		gone = p.Rules[i]
		p.Rules = slices.Delete(p.Rules, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, gone.UserID)
	return &gone, nil
}

// errNoRule is a rule that is not there (deleted meanwhile).
var errNoRule = fmt.Errorf("no such rule: %w", store.ErrNotFound)

// userError turns the store's ErrNotFound for the user userID, whom a change names, into an
// InputError on "user".
func userError(err error, userID string) error {
	if userID != "" && errors.Is(err, store.ErrNotFound) && !errors.Is(err, errNoRule) {
		return &text.InputError{Field: "user", Message: "There is no such user; they may have been deleted.", Err: err}
	}
	return err
}

// ScopeRules returns the rules of one scope, a user's (by id) or the global ones (""), in
// order.
func ScopeRules(p *store.Policy, userID string) []store.Rule {
	var out []store.Rule
	for _, r := range p.Rules {
		if r.UserID == userID {
			out = append(out, r)
		}
	}
	return out
}

// nextPriority is the priority of a rule added after rules.
func nextPriority(rules []store.Rule) int {
	highest := 0
	for _, r := range rules {
		highest = max(highest, r.Priority)
	}
	return min(highest+priorityStep, MaxPriority)
}

// Version is a fingerprint of the order of rules (one scope's, in order): a reorder made on
// a page that showed another order is refused.
func Version(rules []store.Rule) string {
	h := sha256.New()
	for _, r := range rules {
		fmt.Fprintf(h, "%s:%d;", r.ID, r.Priority)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Reorder puts the rules of a scope (a user's id, or "" for the global rules) in the order of
// ids and gives them the priorities 10, 20, 30 …, unless the scope's order is no longer the
// one version was taken of (another admin changed it: an InputError that wraps ErrStale) or
// the new order breaks a policy test.
func (s *Service) Reorder(ctx context.Context, userID, version string, ids []string) error {
	return s.reorder(ctx, userID, version, func(current []string) ([]string, bool) {
		same := len(ids) == len(current)
		for _, id := range ids {
			same = same && slices.Contains(current, id)
		}
		return ids, same
	})
}

// Move moves the rule with id one place up (by -1) or down (by 1) in its scope's order, as
// Reorder does.
func (s *Service) Move(ctx context.Context, userID, version, id string, by int) error {
	return s.reorder(ctx, userID, version, func(current []string) ([]string, bool) {
		i := slices.Index(current, id)
		j := i + by
		if i < 0 || j < 0 || j >= len(current) {
			return current, i >= 0
		}
		current[i], current[j] = current[j], current[i]
		return current, true
	})
}

// reorder re-sequences a scope in the order that order makes of its current ids; ok false
// means the ids do not match the scope's (a stale page).
func (s *Service) reorder(ctx context.Context, userID, version string, order func(current []string) (ids []string, ok bool)) error {
	_, err := s.change(ctx, func(p *store.Policy) error {
		scope := ScopeRules(p, userID)
		var current []string
		for _, r := range scope {
			current = append(current, r.ID)
		}
		ids, ok := order(slices.Clone(current))
		if Version(scope) != version || !ok {
			return &text.InputError{Field: "_form", Err: ErrStale,
				Message: "Another admin changed these rules since this page was loaded. They are shown as they are now; reorder them again."}
		}
		priority := map[string]int{}
		for i, id := range ids {
			priority[id] = (i + 1) * priorityStep
		}
		for i := range p.Rules {
			if n, ok := priority[p.Rules[i].ID]; ok {
				p.Rules[i].Priority = n
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(ctx, userID)
	return nil
}

// SetUserDefault sets the default action of one user's devices: accept or drop, or "" for the
// global default action; unless that breaks a policy test.
func (s *Service) SetUserDefault(ctx context.Context, userID, action string) error {
	action = strings.ToLower(strings.TrimSpace(action))
	if action != "" && action != store.ActionAccept && action != store.ActionDrop {
		return &text.InputError{Field: "default_action", Message: "The default action must be accept or drop, or the global default."}
	}
	_, err := s.change(ctx, func(p *store.Policy) error {
		if action == "" {
			delete(p.UserDefaults, userID)
		} else {
			p.UserDefaults[userID] = action
		}
		return nil
	})
	if err != nil {
		return userError(err, userID)
	}
	s.changed(ctx, userID)
	return nil
}

// UpdateSettings changes the runtime settings in one transaction, the firewall's among them:
// fn edits the current values. The firewall's default action must be accept or drop, and
// the change must break no policy test. Client settings are the caller's to check
// (devices.ValidateClientSettings).
func (s *Service) UpdateSettings(ctx context.Context, fn func(*store.Settings) error) (store.Settings, error) {
	p, err := s.change(ctx, func(p *store.Policy) error {
		if err := fn(&p.Settings); err != nil {
			return err
		}
		if a := p.Settings.Firewall.DefaultAction; a != store.ActionAccept && a != store.ActionDrop {
			return &text.InputError{Field: "default_action", Message: "The default action must be accept or drop."}
		}
		return nil
	})
	if err != nil {
		return store.Settings{}, err
	}
	s.changed(ctx, "")
	return p.Settings, nil
}

// change applies edit to the policy in one transaction, unless the result breaks a policy
// test (check).
func (s *Service) change(ctx context.Context, edit func(*store.Policy) error) (*store.Policy, error) {
	return s.Store.UpdatePolicy(ctx, func(p *store.Policy) error {
		before := *p
		before.Rules = slices.Clone(p.Rules)
		before.Tests = slices.Clone(p.Tests)
		before.UserDefaults = make(map[string]string, len(p.UserDefaults))
		for k, v := range p.UserDefaults {
			before.UserDefaults[k] = v
		}
		if err := edit(p); err != nil {
			return err
		}
		return s.check(ctx, &before, p)
	})
}

// changed reads the changed policy, for the data plane's pass and the pages to share, and
// then asks the data plane to apply it.
func (s *Service) changed(ctx context.Context, userID string) {
	_, _ = s.Policy(ctx) // on failure the pass reads it, and says why it cannot

	if s.Changed != nil {
		s.Changed(userID)
	}
}

// RuleWords is a rule in a few words: "drop tcp 80-443 to 10.0.0.0/24".
func RuleWords(r store.Rule) string {
	words := []string{r.Action}
	if r.Protocol != store.ProtocolAny {
		words = append(words, r.Protocol)
	}
	if r.PortFrom != 0 {
		words = append(words, PortsText(r.PortFrom, r.PortTo))
	}
	return strings.Join(append(words, "to", r.Destination.String()), " ")
}

// PortsText is a port range as it is typed: "443", "8000-8100", or "" for every port.
func PortsText(from, to int) string {
	switch {
	case from == 0:
		return ""
	case from == to:
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}
