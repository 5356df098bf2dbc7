package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The gateway firewall's policy: the access rules, the settings (network policies, default
// action), each user's own default action, and the policy tests. It is read and changed as
// one, so that the rule service can check every change against the policy tests in the
// change's own transaction.

// The protocols of rules and policy tests.
const (
	ProtocolAny  = "any" // rules only
	ProtocolTCP  = "tcp"
	ProtocolUDP  = "udp"
	ProtocolICMP = "icmp"
)

// Rule is one access rule: what happens to new connections from a user's devices (or
// everyone's) to a destination.
type Rule struct {
	ID string
	// UserID is the user whose devices the rule is for; "" for a global rule, which applies
	// to everyone before their own rules.
	UserID    string
	UserEmail string // filled on reads
	Action    string // ActionAccept or ActionDrop
	// Destination is a network in its masked form.
	Destination netip.Prefix
	Protocol    string // ProtocolAny, ProtocolTCP, ProtocolUDP or ProtocolICMP
	// PortFrom and PortTo are the destination ports, with TCP or UDP only; both 0 is every port.
	PortFrom, PortTo int
	// Priority orders a scope's rules, lowest first.
	Priority int
	// Seq is the rule's place in the order of creation, which decides between equal
	// priorities; the store assigns it.
	Seq         int64
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Problem says which columns of the row did not read, in words for an admin; "" for a
	// sound row. Such a rule is listed, to be seen and deleted, and applied nowhere.
	Problem string
}

// PolicyTest is an expectation an admin saved: a new connection from a device to a
// destination must be accepted, or dropped.
type PolicyTest struct {
	ID         string
	DeviceID   string
	DeviceName string // filled on reads, with the owner
	UserID     string
	UserEmail  string
	// Destination, Protocol and Port are the connection: TCP or UDP to a port, or ICMP (port 0).
	Destination netip.Addr
	Protocol    string
	Port        int
	Expect      string // ActionAccept or ActionDrop
	Description string
	CreatedAt   time.Time
	Problem     string // as Rule's
}

// Policy is everything that decides the firewall besides the devices.
type Policy struct {
	Settings Settings
	// Rules are the global rules first, then each user's by email; each scope's by priority,
	// then by creation.
	Rules []Rule
	// UserDefaults are the users' own default actions, by user id; a user without one has
	// Settings.Firewall.DefaultAction.
	UserDefaults map[string]string
	// Tests are the policy tests, by creation.
	Tests []PolicyTest
}

const ruleColumns = `r.id, COALESCE(r.user_id, ''), COALESCE(u.email, ''), r.action, r.destination, r.protocol,
	r.port_from, r.port_to, r.priority, r.seq, r.description, r.created_at, r.updated_at`

func scanRule(rows *sql.Rows) (Rule, error) {
	var r Rule
	var destination string
	err := rows.Scan(&r.ID, &r.UserID, &r.UserEmail, &r.Action, &destination, &r.Protocol, &r.PortFrom, &r.PortTo,
		&r.Priority, &r.Seq, &r.Description, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return Rule{}, err
	}
	if r.Destination, err = netip.ParsePrefix(destination); err != nil {
		r.Problem = fmt.Sprintf("its destination %q is not a network", destination)
	}
	return r, nil
}

const testColumns = `t.id, t.device_id, d.name, d.user_id, u.email, t.destination, t.protocol, t.port, t.expect,
	t.description, t.created_at`

func scanTest(rows *sql.Rows) (PolicyTest, error) {
	var t PolicyTest
	var destination string
	err := rows.Scan(&t.ID, &t.DeviceID, &t.DeviceName, &t.UserID, &t.UserEmail, &destination, &t.Protocol, &t.Port,
		&t.Expect, &t.Description, &t.CreatedAt)
	if err != nil {
		return PolicyTest{}, err
	}
	if t.Destination, err = netip.ParseAddr(destination); err != nil {
		t.Problem = fmt.Sprintf("its destination %q is not an address", destination)
	}
	return t, nil
}

// Policy returns the firewall's policy.
func (s *Store) Policy(ctx context.Context) (*Policy, error) {
	return s.policy(ctx, s.read)
}

func (s *Store) policy(ctx context.Context, q queryer) (*Policy, error) {
	st, err := s.settings(ctx, q)
	if err != nil {
		return nil, err
	}
	p := &Policy{Settings: st, UserDefaults: map[string]string{}}
	if p.Rules, err = queryRows(ctx, q, nil, scanRule, `SELECT `+ruleColumns+` FROM rules r
		LEFT JOIN users u ON u.id = r.user_id ORDER BY r.user_id IS NOT NULL, u.email, r.priority, r.seq`); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	if p.Tests, err = queryRows(ctx, q, nil, scanTest, `SELECT `+testColumns+` FROM policy_tests t
		JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id ORDER BY t.created_at, t.id`); err != nil {
		return nil, fmt.Errorf("list policy tests: %w", err)
	}
	defaults, err := queryRows(ctx, q, nil, func(rows *sql.Rows) (pair [2]string, err error) {
		err = rows.Scan(&pair[0], &pair[1])
		return pair, err
	}, `SELECT id, default_action FROM users WHERE default_action IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("list user defaults: %w", err)
	}
	for _, d := range defaults {
		p.UserDefaults[d[0]] = d[1]
	}
	return p, nil
}

// clone returns a copy of p that shares nothing fn could change with p.
func (p *Policy) clone() *Policy {
	c := *p
	c.Rules = slices.Clone(p.Rules)
	c.Tests = slices.Clone(p.Tests)
	c.UserDefaults = maps.Clone(p.UserDefaults)
	c.Settings.ClientDefaults.DNS.Value = slices.Clone(p.Settings.ClientDefaults.DNS.Value)
	c.Settings.ClientDefaults.AllowedIPs.Value = slices.Clone(p.Settings.ClientDefaults.AllowedIPs.Value)
	return &c
}

// UpdatePolicy changes the policy in one transaction, serialised with every other change of
// it: fn edits a fresh copy, and what it changed is written. A rule without an ID is added
// (with its ID, Seq and times filled in, after the rules that exist, in the order fn listed
// them); a rule or test left out is deleted; a rule with other fields is updated. Policy
// tests are added and deleted, not changed. Nothing is written when fn fails, and its error
// is returned as it is. A rule or test for a user or device that does not exist is
// ErrNotFound. It returns the policy as fn left it.
func (s *Store) UpdatePolicy(ctx context.Context, fn func(*Policy) error) (*Policy, error) {
	var after *Policy
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.dialect.lockPolicy(ctx, tx); err != nil {
			return err
		}
		before, err := s.policy(ctx, tx)
		if err != nil {
			return err
		}
		after = before.clone()
		if err := fn(after); err != nil {
			return err
		}
		return writePolicy(ctx, tx, before, after)
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// writePolicy writes in tx what differs between before and after.
func writePolicy(ctx context.Context, tx *sql.Tx, before, after *Policy) error {
	if !reflect.DeepEqual(before.Settings, after.Settings) {
		if err := writeSettings(ctx, tx, after.Settings); err != nil {
			return err
		}
	}
	if err := writeRules(ctx, tx, before.Rules, after.Rules); err != nil {
		return err
	}
	if err := writeTests(ctx, tx, before.Tests, after.Tests); err != nil {
		return err
	}
	users := maps.Clone(after.UserDefaults)
	maps.Copy(users, before.UserDefaults)
	for _, id := range slices.Sorted(maps.Keys(users)) {
		was, wasSet := before.UserDefaults[id]
		is, isSet := after.UserDefaults[id]
		if was == is && wasSet == isSet {
			continue
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET default_action = $1, updated_at = $2 WHERE id = $3`,
			optionalString(is, isSet), now(), id)
		if err := expectOne(res, err, "set the default action of user", id); err != nil {
			return err
		}
	}
	return nil
}

// editable is what a change may alter of a rule.
type editable struct {
	userID, action, destination, protocol string
	portFrom, portTo, priority            int
	description                           string
}

func (r *Rule) editable() editable {
	return editable{r.UserID, r.Action, r.Destination.String(), r.Protocol, r.PortFrom, r.PortTo, r.Priority, r.Description}
}

func writeRules(ctx context.Context, tx *sql.Tx, before, after []Rule) error {
	old := make(map[string]*Rule, len(before))
	for i := range before {
		old[before[i].ID] = &before[i]
	}
	var seq int64 = -1 // read when the first rule is added
	at := now()
	kept := make(map[string]bool, len(after))
	for i := range after {
		r := &after[i]
		if r.ID == "" {
			if seq < 0 {
				if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM rules`).Scan(&seq); err != nil {
					return fmt.Errorf("add rule: %w", err)
				}
			}
			seq++
			r.ID, r.Seq, r.CreatedAt, r.UpdatedAt = newID(), seq, at, at
			_, err := tx.ExecContext(ctx, `INSERT INTO rules (id, user_id, action, destination, protocol, port_from,
				port_to, priority, seq, description, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
				r.ID, optionalString(r.UserID, r.UserID != ""), r.Action, r.Destination.String(), r.Protocol,
				r.PortFrom, r.PortTo, r.Priority, r.Seq, r.Description, at)
			if err := refersTo(err, "user", r.UserID); err != nil {
				return fmt.Errorf("add rule: %w", err)
			}
			kept[r.ID] = true
			continue
		}
		was, ok := old[r.ID]
		if !ok {
			return fmt.Errorf("rule %s: %w", r.ID, ErrNotFound)
		}
		kept[r.ID] = true
		if was.editable() == r.editable() {
			continue
		}
		r.UpdatedAt = at
		res, err := tx.ExecContext(ctx, `UPDATE rules SET user_id = $1, action = $2, destination = $3, protocol = $4,
			port_from = $5, port_to = $6, priority = $7, description = $8, updated_at = $9 WHERE id = $10`,
			optionalString(r.UserID, r.UserID != ""), r.Action, r.Destination.String(), r.Protocol, r.PortFrom, r.PortTo,
			r.Priority, r.Description, at, r.ID)
		if err := refersTo(err, "user", r.UserID); err != nil {
			return fmt.Errorf("update rule: %w", err)
		}
		if err := expectOne(res, nil, "update rule", r.ID); err != nil {
			return err
		}
	}
	for _, r := range before {
		if !kept[r.ID] {
			res, err := tx.ExecContext(ctx, `DELETE FROM rules WHERE id = $1`, r.ID)
			if err := expectOne(res, err, "delete rule", r.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeTests(ctx context.Context, tx *sql.Tx, before, after []PolicyTest) error {
	old := make(map[string]*PolicyTest, len(before))
	for i := range before {
		old[before[i].ID] = &before[i]
	}
	kept := make(map[string]bool, len(after))
	for i := range after {
		t := &after[i]
		if t.ID != "" {
			was, ok := old[t.ID]
			switch {
			case !ok:
				return fmt.Errorf("policy test %s: %w", t.ID, ErrNotFound)
			case was.Destination != t.Destination || was.DeviceID != t.DeviceID || was.Protocol != t.Protocol ||
				was.Port != t.Port || was.Expect != t.Expect || was.Description != t.Description:
				return fmt.Errorf("policy test %s: a test is added or deleted, not changed", t.ID)
			}
			kept[t.ID] = true
			continue
		}
		t.ID, t.CreatedAt = newID(), now()
		_, err := tx.ExecContext(ctx, `INSERT INTO policy_tests (id, device_id, destination, protocol, port, expect,
			description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			t.ID, t.DeviceID, t.Destination.String(), t.Protocol, t.Port, t.Expect, t.Description, t.CreatedAt)
		if err := refersTo(err, "device", t.DeviceID); err != nil {
			return fmt.Errorf("add policy test: %w", err)
		}
		kept[t.ID] = true
	}
	for _, t := range before {
		if !kept[t.ID] {
			res, err := tx.ExecContext(ctx, `DELETE FROM policy_tests WHERE id = $1`, t.ID)
			if err := expectOne(res, err, "delete policy test", t.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// refersTo names a foreign key that points nowhere: the what (a "user", a "device") with id is
// ErrNotFound.
func refersTo(err error, what, id string) error {
	if isForeignKeyViolation(err) {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return err
}

// DeviceSource is what the firewall knows of a device: whose it is, its name, and the
// addresses its traffic comes from.
type DeviceSource struct {
	ID, UserID, UserEmail, Name string
	IPv4, IPv6                  netip.Addr
	AllowedSubnets              []netip.Prefix // relay subnets
	CreatedAt                   time.Time
	Problem                     string // as Device's: which columns did not read
}

// ListDeviceSources returns every device's DeviceSource. It reads no secret, so it costs a
// fraction of ListDevices (at 10,000 devices, what Explain and the policy tests read).
func (s *Store) ListDeviceSources(ctx context.Context) ([]DeviceSource, error) {
	list, err := queryRows(ctx, s.read, nil, scanDeviceSource, `SELECT d.id, d.user_id, u.email, d.name, d.ipv4, d.ipv6,
		d.allowed_subnets, d.created_at FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.created_at, d.id`)
	if err != nil {
		return nil, fmt.Errorf("list device sources: %w", err)
	}
	return list, nil
}

func scanDeviceSource(rows *sql.Rows) (DeviceSource, error) {
	var d DeviceSource
	var v4, v6 sql.NullString
	var subnets string
	if err := rows.Scan(&d.ID, &d.UserID, &d.UserEmail, &d.Name, &v4, &v6, &subnets, &d.CreatedAt); err != nil {
		return DeviceSource{}, err
	}
	var problems []string
	d.IPv4, problems = readAddr("IPv4 address", v4, problems)
	d.IPv6, problems = readAddr("IPv6 address", v6, problems)
	d.AllowedSubnets, problems = readPrefixes("relay subnets", subnets, problems)
	d.Problem = strings.Join(problems, "; ")
	return d, nil
}

// PolicyMark is a fingerprint of everything the firewall's description is compiled from: the
// AccessMark's rows (devices, users, settings) and the rules and policy tests. It changes
// with every change of them, by whichever process, so that a compiled description can be
// reused until then.
func (s *Store) PolicyMark(ctx context.Context) (string, error) {
	access, err := s.AccessMark(ctx)
	if err != nil {
		return "", err
	}
	var mark [4]sql.NullString
	err = s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM rules), (SELECT max(updated_at) FROM rules),
		(SELECT count(*) FROM policy_tests), (SELECT max(created_at) FROM policy_tests)`).Scan(&mark[0], &mark[1], &mark[2], &mark[3])
	if err != nil {
		return "", fmt.Errorf("policy mark: %w", err)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", access, mark[0].String, mark[1].String, mark[2].String, mark[3].String), nil
}
