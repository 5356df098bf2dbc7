package app_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/rules"
	"wiregui/store"
)

// rule creates a rule through the rule service, as the CLI would.
func (e *env) rule(t testing.TB, spec rules.RuleSpec) *store.Rule {
	t.Helper()
	r, err := e.rules.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// policyTest saves a policy test that passes: it expects what the firewall does now with a
// ping from dev.
func (e *env) policyTest(t testing.TB, dev *store.Device) *store.PolicyTest {
	t.Helper()
	ctx := context.Background()
	spec := rules.ConnectionSpec{DeviceID: dev.ID, Destination: "198.51.100.77", Protocol: "icmp"}
	c, err := rules.ParseConnection(spec)
	if err != nil {
		t.Fatal(err)
	}
	now, err := e.rules.Explain(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	test, err := e.rules.AddTest(ctx, rules.TestSpec{ConnectionSpec: spec, Expect: now.Action})
	if err != nil {
		t.Fatal(err)
	}
	return test
}

// rulesAdmin is a server with an admin signed in, ann with a laptop and bob with a phone.
type rulesAdmin struct {
	*env
	admin            *apptest.Client
	ann, bob         *store.User
	laptop, bobPhone *store.Device
}

func newRulesAdmin(t *testing.T, opts ...func(*app.Options)) *rulesAdmin {
	e := newEnv(t, opts...)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	ann := e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	bob := e.user(t, "bob@example.com", password, store.RoleUnprivileged)
	return &rulesAdmin{env: e, admin: admin, ann: ann, bob: bob, laptop: e.device(t, ann, "laptop"), bobPhone: e.device(t, bob, "phone")}
}

func (a *rulesAdmin) policy(t *testing.T) *store.Policy {
	t.Helper()
	p, err := a.rules.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fieldMessage is the message shown under the field with id, or "".
func fieldMessage(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `-error" class="field-error">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestTheRuleFormNamesEachFieldAndKeepsWhatWasTyped: every bad field gets its message next to
// it, in one answer, with what was typed; a good rule is saved and the table told.
func TestTheRuleFormNamesEachFieldAndKeepsWhatWasTyped(t *testing.T) {
	a := newRulesAdmin(t)
	a.admin.Get("/admin/rules")
	typed := url.Values{"action": {"drop"}, "destination": {"10.0.0.0/33"}, "protocol": {"any"}, "ports": {"22"},
		"priority": {"first"}, "user": {"nobody@example.com"}, "description": {"no <ssh>"}}
	for _, htmx := range []bool{true, false} {
		r := a.admin.Post("/admin/rules", typed)
		if htmx {
			r = a.admin.HTMX("/admin/rules", typed)
		}
		if r.Status != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<html") != !htmx {
			t.Fatalf("htmx %v: got %d, want 422 with %s", htmx, r.Status, map[bool]string{true: "the form alone", false: "the page"}[htmx])
		}
		for id, want := range map[string]string{
			"rule-destination": "Destination must be a CIDR such as 10.0.0.0/24",
			"rule-ports":       "Ports need TCP or UDP",
			"rule-priority":    "Priority must be a whole number",
			"rule-user":        "No user has this email",
		} {
			if got := fieldMessage(r.Body, id); !strings.Contains(got, want) {
				t.Errorf("htmx %v: %s says %q, want %q", htmx, id, got, want)
			}
		}
		wantContains(t, "the form", html.UnescapeString(r.Body), `value="10.0.0.0/33"`, `value="22"`, `value="first"`,
			`value="nobody@example.com"`, `value="no <ssh>"`, `<option value="drop" selected>`)
	}
	if p := a.policy(t); len(p.Rules) != 0 {
		t.Fatalf("refused forms saved %d rules", len(p.Rules))
	}
	r := a.admin.HTMX("/admin/rules", url.Values{"action": {"drop"}, "destination": {"10.1.2.3/16"}, "protocol": {"tcp"},
		"ports": {"22"}, "user": {"Ann@Example.com"}})
	if r.Status != http.StatusOK || r.Header.Get("HX-Trigger") != "rules-changed" {
		t.Fatalf("a good rule: got %d, trigger %q, want 200 and rules-changed:\n%.400s", r.Status, r.Header.Get("HX-Trigger"), r.Body)
	}
	wantContains(t, "the answer", r.Body, "Rule saved: for ann@example.com, drop tcp 22 to 10.1.0.0/16, at priority 10.")
	if p := a.policy(t); len(p.Rules) != 1 || p.Rules[0].UserID != a.ann.ID {
		t.Errorf("rules saved: %+v, want ann's", p.Rules)
	}
}

// TestEditAndDeleteARule: the edit form shows the rule; a delete asks first, and one that
// would break a policy test is refused with the test.
func TestEditAndDeleteARule(t *testing.T) {
	a := newRulesAdmin(t)
	rule := a.rule(t, rules.RuleSpec{UserID: a.ann.ID, Action: "accept", Destination: "192.0.2.0/24", Protocol: "tcp", Ports: "443",
		Description: "intranet"})
	r := a.admin.Get("/admin/rules/" + rule.ID)
	wantContains(t, "the edit form", r.Body, `value="192.0.2.0/24"`, `value="443"`, `value="ann@example.com"`, `value="intranet"`,
		`<option value="tcp" selected>`, `<option value="accept" selected>`)
	r = a.admin.Post("/admin/rules/"+rule.ID, url.Values{"action": {"accept"}, "destination": {"192.0.2.0/24"}, "protocol": {"tcp"},
		"ports": {"443-444"}, "user": {"ann@example.com"}, "priority": {"5"}})
	if r.Status != http.StatusOK || !strings.Contains(r.URL, "/admin/rules?user=ann%40example.com") ||
		!strings.Contains(r.Body, "Rule saved: for ann@example.com, accept tcp 443-444 to 192.0.2.0/24, at priority 5.") {
		t.Errorf("edit: got %d at %s", r.Status, r.URL)
	}
	r = a.admin.Get("/admin/rules/" + rule.ID + "/delete")
	wantContains(t, "the confirmation", html.UnescapeString(r.Body), "Delete this rule?", "For ann@example.com: accept tcp 443-444 to 192.0.2.0/24")
	r = a.admin.HTMX("/admin/rules/"+rule.ID+"/delete", nil)
	if r.Status != http.StatusOK || r.Header.Get("HX-Trigger") != "rules-changed" || !strings.Contains(r.Body, "Rule deleted") {
		t.Errorf("delete: got %d, trigger %q", r.Status, r.Header.Get("HX-Trigger"))
	}
	if r := a.admin.Get("/admin/rules/" + rule.ID); r.Status != http.StatusNotFound {
		t.Errorf("a deleted rule's page: %d, want 404", r.Status)
	}
	// A rule that a test needs stays.
	needed := a.rule(t, rules.RuleSpec{UserID: a.ann.ID, Action: "drop", Destination: "203.0.113.0/24"})
	if _, err := a.rules.AddTest(context.Background(), rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: a.laptop.ID,
		Destination: "203.0.113.9", Protocol: "icmp"}, Expect: "drop"}); err != nil {
		t.Fatal(err)
	}
	a.admin.Get("/admin/rules/" + needed.ID + "/delete")
	r = a.admin.HTMX("/admin/rules/"+needed.ID+"/delete", nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), "This change breaks the policy test") {
		t.Errorf("deleting a rule a test needs: got %d:\n%.400s", r.Status, r.Body)
	}
}

var orderIDs = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)

// TestReorderOnTheRulesPage: a scope's order is saved from the page (dragged, or moved with a
// row's buttons), and an order made on a page loaded before another admin's change is refused.
func TestReorderOnTheRulesPage(t *testing.T) {
	a := newRulesAdmin(t)
	var ids []string
	for _, d := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		ids = append(ids, a.rule(t, rules.RuleSpec{UserID: a.ann.ID, Action: "drop", Destination: d}).ID)
	}
	page := a.admin.Get("/admin/rules?user=ann@example.com")
	version := captures(regexp.MustCompile(`name="version" value="([^"]+)"`), page.Body)
	if len(version) != 1 || !slices.Equal(captures(orderIDs, page.Body), ids) {
		t.Fatalf("ann's view: version %q, ids %q; want one version and %q", version, captures(orderIDs, page.Body), ids)
	}
	order := url.Values{"scope": {a.ann.ID}, "version": version, "id": {ids[2], ids[0], ids[1]}}
	r := a.admin.HTMX("/admin/rules/reorder", order)
	if r.Status != http.StatusOK || !slices.Equal(captures(orderIDs, r.Body), []string{ids[2], ids[0], ids[1]}) ||
		!strings.Contains(r.Body, "Order saved.") {
		t.Errorf("reorder: got %d with %q", r.Status, captures(orderIDs, r.Body))
	}
	// The same page posts again: its order is gone.
	order.Set("id", ids[1])
	order.Add("id", ids[0])
	order.Add("id", ids[2])
	r = a.admin.HTMX("/admin/rules/reorder", order)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), "Another admin changed these rules") ||
		!slices.Equal(captures(orderIDs, r.Body), []string{ids[2], ids[0], ids[1]}) {
		t.Errorf("a stale reorder: got %d with %q, want 422 and the order as it is", r.Status, captures(orderIDs, r.Body))
	}
	// The keyboard's way: a row's down button; the button keeps the focus.
	now := captures(regexp.MustCompile(`name="version" value="([^"]+)"`), r.Body)
	r = a.admin.HTMX("/admin/rules/"+ids[2]+"/move", url.Values{"scope": {a.ann.ID}, "version": now, "by": {"1"}})
	if r.Status != http.StatusOK || !slices.Equal(captures(orderIDs, r.Body), []string{ids[0], ids[2], ids[1]}) {
		t.Errorf("move down: got %d with %q", r.Status, captures(orderIDs, r.Body))
	}
	if !regexp.MustCompile(`hx-post="/admin/rules/` + ids[2] + `/move"\s+name="by" value="-1"[^>]*autofocus`).MatchString(r.Body) {
		t.Error("the moved rule's up button does not keep the focus")
	}
	var priorities []int
	for _, rule := range rules.ScopeRules(a.policy(t), a.ann.ID) {
		priorities = append(priorities, rule.Priority)
	}
	if !slices.Equal(priorities, []int{10, 20, 30}) {
		t.Errorf("priorities %v, want 10, 20, 30", priorities)
	}
	// Without JavaScript the buttons post the form and the page comes back.
	a.admin.Get("/admin/rules?user=ann@example.com")
	if r := a.admin.Post("/admin/rules/"+ids[1]+"/move", url.Values{"scope": {a.ann.ID}, "version": {rules.Version(rules.ScopeRules(a.policy(t), a.ann.ID))},
		"by": {"-1"}}); r.Status != http.StatusOK || !strings.Contains(r.Body, "Order saved.") {
		t.Errorf("move without htmx: %d at %s", r.Status, r.URL)
	}
}

// TestPoliciesAndDefaultsOnTheRulesPage: the switches and the default action are saved, and a
// change that breaks a policy test is refused with it and keeps the form as it was.
func TestPoliciesAndDefaultsOnTheRulesPage(t *testing.T) {
	a := newRulesAdmin(t)
	a.admin.Get("/admin/rules")
	r := a.admin.HTMX("/admin/rules/policies", url.Values{"allow_peer_to_peer": {"on"}, "default_action": {"drop"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Network policies saved.") || r.Header.Get("HX-Trigger") != "rules-changed" {
		t.Fatalf("save: got %d, trigger %q", r.Status, r.Header.Get("HX-Trigger"))
	}
	if fw := a.policy(t).Settings.Firewall; fw != (store.FirewallSettings{PeerToPeer: true, DefaultAction: "drop"}) {
		t.Errorf("saved %+v", fw)
	}
	// A test that the laptop reaches the phone: peer-to-peer must stay on.
	a.rule(t, rules.RuleSpec{UserID: a.ann.ID, Action: "accept", Destination: a.bobPhone.IPv4.String()})
	if _, err := a.rules.AddTest(context.Background(), rules.TestSpec{ConnectionSpec: rules.ConnectionSpec{DeviceID: a.laptop.ID,
		Destination: a.bobPhone.IPv4.String(), Port: "22"}, Expect: "accept", Description: "laptop to phone"}); err != nil {
		t.Fatal(err)
	}
	r = a.admin.HTMX("/admin/rules/policies", url.Values{"default_action": {"drop"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), `breaks the policy test "laptop to phone"`) ||
		!strings.Contains(html.UnescapeString(r.Body), "peer-to-peer policy (off)") || strings.Contains(r.Body, `name="allow_peer_to_peer" value="on"
      aria-describedby="policies-p2p-hint" checked`) {
		t.Errorf("turning peer-to-peer off: got %d:\n%.600s", r.Status, r.Body)
	}
	if !a.policy(t).Settings.Firewall.PeerToPeer {
		t.Error("the refused change was saved")
	}
	// A user's own default, in their view.
	a.admin.Get("/admin/rules?user=bob@example.com")
	r = a.admin.HTMX("/admin/rules/default", url.Values{"scope": {a.bob.ID}, "default_action": {"accept"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `<option value="accept" selected>`) || a.policy(t).UserDefaults[a.bob.ID] != "accept" {
		t.Errorf("bob's default: got %d, stored %q", r.Status, a.policy(t).UserDefaults[a.bob.ID])
	}
	r = a.admin.HTMX("/admin/rules/default", url.Values{"scope": {a.ann.ID}, "default_action": {"maybe"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The default action must be accept or drop") {
		t.Errorf("a default that is no action: %d", r.Status)
	}
}

// TestExplainAndPolicyTestsOnTheRulesPage: Explain answers with what decides; a policy test
// is added, listed with its result, refused when it fails now, and deleted.
func TestExplainAndPolicyTestsOnTheRulesPage(t *testing.T) {
	a := newRulesAdmin(t)
	a.rule(t, rules.RuleSpec{Action: "drop", Destination: "8.8.8.8", Protocol: "udp", Ports: "53", Description: "own DNS"})
	q := url.Values{"user": {"ann@example.com"}, "device": {"laptop"}, "destination": {"8.8.8.8"}, "protocol": {"udp"}, "port": {"53"}}
	r := a.admin.HTMXGet("/admin/rules/explain?" + q.Encode())
	if r.Status != http.StatusOK || !strings.Contains(html.UnescapeString(r.Body),
		`Dropped</strong>, by global rule "drop udp 53 to 8.8.8.8/32" (priority 10, "own DNS").`) {
		t.Errorf("explain: got %d:\n%.500s", r.Status, r.Body)
	}
	r = a.admin.HTMXGet("/admin/rules/explain?" + url.Values{"user": {"ann@example.com"}, "device": {"phone"},
		"destination": {"8.8.8.8:53"}, "protocol": {"icmp"}, "port": {"7"}}.Encode())
	for id, want := range map[string]string{"explain-device": `ann@example.com has no device named "phone"`,
		"explain-destination": "Destination must be an IP address", "explain-port": "ICMP has no ports"} {
		if got := fieldMessage(r.Body, id); r.Status != http.StatusUnprocessableEntity || !strings.Contains(got, want) {
			t.Errorf("explain with bad fields: %d, %s says %q, want %q", r.Status, id, got, want)
		}
	}

	a.admin.Get("/admin/rules")
	test := url.Values{"user": {"ann@example.com"}, "device": {"laptop"}, "destination": {"8.8.8.8"}, "protocol": {"udp"},
		"port": {"53"}, "expect": {"accept"}, "description": {"DNS"}}
	r = a.admin.HTMX("/admin/rules/tests", test)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), "This test fails now") ||
		!strings.Contains(r.Body, `value="DNS"`) {
		t.Errorf("a test that fails now: got %d", r.Status)
	}
	test.Set("expect", "drop")
	r = a.admin.HTMX("/admin/rules/tests", test)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Test added.") || !strings.Contains(r.Body, "Passes") {
		t.Fatalf("add a test: got %d:\n%.500s", r.Status, r.Body)
	}
	p := a.policy(t)
	if len(p.Tests) != 1 {
		t.Fatalf("%d tests saved, want 1", len(p.Tests))
	}
	r = a.admin.HTMX("/admin/rules/tests/"+p.Tests[0].ID+"/delete", nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "No policy tests yet.") {
		t.Errorf("delete the test: got %d", r.Status)
	}
}

// fakeFirewall is the data plane's answer about the kernel.
type fakeFirewall struct {
	text    string
	matches bool
	err     error
}

func (f fakeFirewall) Kernel() (string, bool, error) { return f.text, f.matches, f.err }

// TestTroubleshootingShowsTheKernelsRuleSet: the card shows the kernel's rule set and whether
// it matches, its error, or that the firewall is not running.
func TestTroubleshootingShowsTheKernelsRuleSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		firewall app.Firewall
		says     []string
	}{
		{"not running", nil, []string{"The firewall is not running"}},
		{"matching", fakeFirewall{text: "table inet wiregui {\n}", matches: true},
			[]string{"The kernel has the rule set the database asks for.", "table inet wiregui {"}},
		{"drifted", fakeFirewall{text: "table inet wiregui {\n}", matches: false}, []string{"differs from the one the database asks for"}},
		{"unreadable", fakeFirewall{err: errors.New("netlink: operation not permitted")},
			[]string{"cannot be read: netlink: operation not permitted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newRulesAdmin(t, func(o *app.Options) { o.Firewall = tc.firewall })
			wantContains(t, "the page", a.admin.Get("/admin/rules").Body, tc.says...)
			wantContains(t, "the card's refresh", a.admin.HTMXGet("/admin/rules?fragment=kernel").Body, tc.says...)
		})
	}
}

// TestUsersSeeTheRulesThatApplyToTheirDevices: My Devices lists the global rules and the
// user's own, read-only, with what the rest gets; nobody else's.
func TestUsersSeeTheRulesThatApplyToTheirDevices(t *testing.T) {
	a := newRulesAdmin(t)
	a.rule(t, rules.RuleSpec{Action: "drop", Destination: "198.51.100.0/24", Description: "for everyone"})
	a.rule(t, rules.RuleSpec{UserID: a.ann.ID, Action: "accept", Destination: "192.0.2.0/24", Protocol: "tcp", Ports: "443", Description: "ann's"})
	a.rule(t, rules.RuleSpec{UserID: a.bob.ID, Action: "accept", Destination: "203.0.113.0/24", Description: "bob's"})
	if err := a.rules.SetUserDefault(context.Background(), a.ann.ID, "drop"); err != nil {
		t.Fatal(err)
	}
	ann := apptest.New(t, a.url)
	ann.SignIn("ann@example.com", password)
	body := ann.Get("/devices").Body
	wantContains(t, "ann's devices page", html.UnescapeString(body), "198.51.100.0/24", "for everyone", "192.0.2.0/24", "ann's",
		"Anything no rule matches is <strong>dropped</strong>", "Devices cannot reach each other")
	wantLacks(t, "ann's devices page", body, "203.0.113.0/24", "bob's", "/admin/rules")
	if strings.Index(body, "198.51.100.0/24") > strings.Index(body, "192.0.2.0/24") {
		t.Error("the global rule is not listed first")
	}
}
