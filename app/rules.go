package app

import (
	"net/http"
	"net/url"
	"strings"

	"wiregui/app/rules"
	"wiregui/app/text"
	"wiregui/store"
)

// Firewall is the kernel's side of the gateway firewall, as the data plane reports it.
type Firewall interface {
	// Kernel returns the rule set in the kernel as nft text, and whether it is the one the
	// database asks for.
	Kernel() (text string, matches bool, err error)
}

// rulesPage is the payload of the Rules page (pages/rules.html). Each card is a fragment of
// its own, with a form of its own where it has one.
type rulesPage struct {
	List         *ruleList
	Policies     policiesView
	PoliciesForm *Form
	Tests        []rules.TestResult
	TestForm     *Form
	TestMessage  string // what the last change of the tests did
	Explain      *rules.Explanation
	ExplainForm  *Form
	Kernel       kernelView
	Users        []string // every user's email, for the user fields
}

// ruleList is the rules table with its filter (the rules-list fragment). Filtered by one
// scope, the global rules or one user's, it shows that scope's order, which can be changed.
type ruleList struct {
	URL         string // this view of the table
	Filter      string // as typed: "" for every rule, "global", or a user's email
	FilterError string
	Scope       string // the scope shown: "global" or a user's id; "" for every rule
	UserEmail   string // the user whose rules are shown
	Rows        []ruleRow
	Hidden      int    // rules not shown, past maxRuleRows (every rule only)
	Version     string // the order shown, in a scope: a reorder made on another is refused
	// UserDefault is the user's own default action, "" for the global one, GlobalDefault.
	UserDefault   string
	GlobalDefault string
	NewURL        string // the Add rule form, for the scope shown
	Message       string // what the last change did
	Error         string // why it was refused
	Moved         string // the rule just moved by its buttons: its button keeps the focus
}

// ruleRow is one row of the rules table.
type ruleRow struct {
	store.Rule
	Ports            string // as typed: "443", "80-443", "" for every port
	Words            string // the rule in a few words, for the buttons' labels
	Href, DeleteHref string
	Up, Down         bool // can move, in a scope's view
}

// maxRuleRows is the most rules the table shows unfiltered: each scope's view shows all of it.
const maxRuleRows = 500

// policiesView is the network policies form's state.
type policiesView struct {
	Saved bool
}

// kernelView is the Troubleshooting card: the rule set in the kernel.
type kernelView struct {
	Running bool   // a firewall is wired in
	Text    string // nft text
	Matches bool
	Error   string
}

// scopeFilter is the filter value of the global rules.
const scopeFilter = "global"

func (s *Server) showRules(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Rules", "rules")
	page, err := s.rulesPage(r, r.URL.Query().Get("user"))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = page
	if isHTMX(r) {
		// The cards that refresh themselves ask for theirs; the table's filter for the table.
		fragment := "rules-list"
		if f := r.URL.Query().Get("fragment"); f == "tests" || f == "kernel" {
			fragment = f
		}
		s.renderFragment(w, r, http.StatusOK, "rules", fragment, pd)
		return
	}
	s.renderPage(w, r, http.StatusOK, "rules", pd)
}

// rulesPage reads everything the Rules page shows, its table filtered by filter.
func (s *Server) rulesPage(r *http.Request, filter string) (*rulesPage, error) {
	ctx := r.Context()
	p, err := s.rules.Policy(ctx)
	if err != nil {
		return nil, err
	}
	page := &rulesPage{PoliciesForm: newForm(), TestForm: newForm(), ExplainForm: newForm(), Kernel: s.kernelView()}
	if page.List, err = s.ruleList(r, p, filter); err != nil {
		return nil, err
	}
	fillPoliciesForm(page.PoliciesForm, p.Settings.Firewall)
	page.ExplainForm.Values["protocol"] = store.ProtocolTCP
	page.TestForm.Values["protocol"], page.TestForm.Values["expect"] = store.ProtocolTCP, store.ActionAccept
	if page.Tests, err = s.rules.Results(ctx); err != nil {
		return nil, err
	}
	if page.Users, err = s.store.UserEmails(ctx); err != nil {
		return nil, err
	}
	return page, nil
}

// ruleList is the table of p's rules under filter: every rule (""), the global ones
// ("global") or a user's (their email).
func (s *Server) ruleList(r *http.Request, p *store.Policy, filter string) (*ruleList, error) {
	filter = strings.TrimSpace(filter)
	l := &ruleList{URL: rulesURL(filter), Filter: filter, GlobalDefault: p.Settings.Firewall.DefaultAction, NewURL: "/admin/rules/new"}
	var list []store.Rule
	switch {
	case filter == "":
		list = p.Rules
		if len(list) > maxRuleRows {
			l.Hidden, list = len(list)-maxRuleRows, list[:maxRuleRows]
		}
	case filter == scopeFilter:
		l.Scope, list = scopeFilter, rules.ScopeRules(p, "")
		l.NewURL += "?user=" + scopeFilter
	default:
		u, err := s.userByEmail(r, filter)
		if err != nil {
			return nil, err
		}
		if u == nil {
			l.FilterError = "No user has this email. Choose one from the list."
			return l, nil
		}
		l.Scope, l.UserEmail, list = u.ID, u.Email, rules.ScopeRules(p, u.ID)
		l.UserDefault = p.UserDefaults[u.ID]
		l.NewURL += "?user=" + url.QueryEscape(u.Email)
	}
	scoped := l.Scope != ""
	if scoped {
		l.Version = rules.Version(list)
	}
	for i, rule := range list {
		row := ruleRow{Rule: rule, Ports: rules.PortsText(rule.PortFrom, rule.PortTo), Words: rules.RuleWords(rule), Href: "/admin/rules/" + rule.ID,
			DeleteHref: "/admin/rules/" + rule.ID + "/delete"}
		row.Up, row.Down = scoped && i > 0, scoped && i < len(list)-1
		l.Rows = append(l.Rows, row)
	}
	return l, nil
}

// userByEmail returns the user with the email typed, or nil when there is none.
func (s *Server) userByEmail(r *http.Request, typed string) (*store.User, error) {
	email, err := text.EmailAddress.Clean(typed)
	if err != nil || email == "" {
		return nil, nil
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if isNotFound(err) {
		return nil, nil
	}
	return u, err
}

// firewallFor is what decides the connections of userID's devices, for them to read.
func (s *Server) firewallFor(r *http.Request, userID string) (*firewallView, error) {
	up, err := s.rules.ForUser(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	v := &firewallView{Default: up.Default, PeerToPeer: up.Firewall.PeerToPeer}
	for _, rule := range up.Rules {
		v.Rules = append(v.Rules, ruleRow{Rule: rule, Ports: rules.PortsText(rule.PortFrom, rule.PortTo), Words: rules.RuleWords(rule)})
	}
	return v, nil
}

// filterOf is the table's filter that shows the scope of userID's rules ("" for global).
func filterOf(userID, email string) string {
	if userID == "" {
		return scopeFilter
	}
	return email
}

// rulesURL is the Rules page filtered by filter.
func rulesURL(filter string) string {
	if filter == "" {
		return "/admin/rules"
	}
	return "/admin/rules?user=" + url.QueryEscape(filter)
}

// kernelView asks the firewall for the kernel's rule set.
func (s *Server) kernelView() kernelView {
	if s.firewall == nil {
		return kernelView{}
	}
	text, matches, err := s.firewall.Kernel()
	k := kernelView{Running: true, Text: text, Matches: matches}
	if err != nil {
		k.Error = err.Error()
	}
	return k
}

// renderRulesList answers a change of the table (a reorder, a move, a user's default) with
// the table as it is now, and what the change did or why it was refused (status 422). Without
// htmx, a change that was made goes back to the page with a flash.
func (s *Server) renderRulesList(w http.ResponseWriter, r *http.Request, filter, message, refused, moved string) {
	if !isHTMX(r) && refused == "" {
		s.sessions.Put(r.Context(), sessionFlash, message)
		http.Redirect(w, r, rulesURL(filter), http.StatusSeeOther)
		return
	}
	pd := s.page(r, "Rules", "rules")
	page, err := s.rulesPage(r, filter)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.List.Message, page.List.Error, page.List.Moved = message, refused, moved
	pd.Data = page
	status := http.StatusOK
	if refused != "" {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(r) {
		s.renderFragment(w, r, status, "rules", "rules-list", pd)
		return
	}
	s.renderPage(w, r, status, "rules", pd)
}

// refusal is the message of a change the rule service refused (a stale order, a broken
// policy test), or "" for any other error.
func refusal(err error) string {
	if bad := text.InputErrors(err); len(bad) > 0 {
		return bad[0].Message
	}
	return ""
}

// scopeOf reads a form's scope: "global" or a user's id; it returns the user's id ("" for
// global) and the table's filter that shows the scope.
func (s *Server) scopeOf(r *http.Request) (userID, filter string, err error) {
	scope := r.PostFormValue("scope")
	if scope == scopeFilter {
		return "", scopeFilter, nil
	}
	u, err := s.store.UserByID(r.Context(), scope)
	if err != nil {
		return "", "", err
	}
	return u.ID, u.Email, nil
}

// reorderRules answers the drag and drop of a scope's rows: their ids in the new order.
func (s *Server) reorderRules(w http.ResponseWriter, r *http.Request) {
	userID, filter, err := s.scopeOf(r)
	if isNotFound(err) {
		s.notFound(w, r)
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	err = s.rules.Reorder(r.Context(), userID, r.PostFormValue("version"), r.PostForm["id"])
	if refused := refusal(err); refused != "" || err == nil {
		s.renderRulesList(w, r, filter, map[bool]string{true: "Order saved."}[err == nil], refused, "")
		return
	}
	s.serverError(w, r, err)
}

// moveRule answers a rule's move buttons: one place up (by=-1) or down (by=1).
func (s *Server) moveRule(w http.ResponseWriter, r *http.Request) {
	userID, filter, err := s.scopeOf(r)
	if isNotFound(err) {
		s.notFound(w, r)
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	by := map[string]int{"-1": -1, "1": 1}[r.PostFormValue("by")]
	if by == 0 {
		s.clientError(w, r, http.StatusBadRequest, "A rule moves up (-1) or down (1).")
		return
	}
	id := r.PathValue("id")
	err = s.rules.Move(r.Context(), userID, r.PostFormValue("version"), id, by)
	if refused := refusal(err); refused != "" || err == nil {
		s.renderRulesList(w, r, filter, map[bool]string{true: "Order saved."}[err == nil], refused, id)
		return
	}
	s.serverError(w, r, err)
}

// setUserDefault answers the form of a user's own default action, in their view.
func (s *Server) setUserDefault(w http.ResponseWriter, r *http.Request) {
	userID, filter, err := s.scopeOf(r)
	switch {
	case isNotFound(err) || err == nil && userID == "":
		s.notFound(w, r)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	err = s.rules.SetUserDefault(r.Context(), userID, r.PostFormValue("default_action"))
	if refused := refusal(err); refused != "" || err == nil {
		s.renderRulesList(w, r, filter, map[bool]string{true: "Default action saved."}[err == nil], refused, "")
		return
	}
	s.serverError(w, r, err)
}

func fillPoliciesForm(f *Form, fw store.FirewallSettings) {
	if fw.PeerToPeer {
		f.Values["allow_peer_to_peer"] = "on"
	}
	if fw.LANToPeers {
		f.Values["allow_lan_to_peers"] = "on"
	}
	f.Values["default_action"] = fw.DefaultAction
}

// updatePolicies answers the network policies form: the two switches and the default action.
func (s *Server) updatePolicies(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	want := store.FirewallSettings{PeerToPeer: r.PostFormValue("allow_peer_to_peer") != "",
		LANToPeers: r.PostFormValue("allow_lan_to_peers") != "", DefaultAction: r.PostFormValue("default_action")}
	fillPoliciesForm(f, want)
	_, err := s.rules.UpdateSettings(r.Context(), func(st *store.Settings) error { st.Firewall = want; return nil })
	if err != nil && !fieldError(f, err) {
		s.serverError(w, r, err)
		return
	}
	if err == nil && !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, "Network policies saved.")
		http.Redirect(w, r, "/admin/rules", http.StatusSeeOther)
		return
	}
	pd := s.page(r, "Rules", "rules")
	page, perr := s.rulesPage(r, "")
	if perr != nil {
		s.serverError(w, r, perr)
		return
	}
	page.PoliciesForm, page.Policies.Saved = f, err == nil
	pd.Data = page
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	} else {
		w.Header().Set(hxTrigger, rulesChanged)
	}
	if isHTMX(r) {
		s.renderFragment(w, r, status, "rules", "policies-form", pd)
		return
	}
	s.renderPage(w, r, status, "rules", pd)
}

// connectionForm reads the device (its owner's email and its name) and the connection of the
// explain and policy test forms into f, and returns the connection's spec; ok false when a
// field is wrong (f says which).
func (s *Server) connectionForm(r *http.Request, f *Form, values url.Values) (spec rules.ConnectionSpec, ok bool, err error) {
	for _, k := range []string{"user", "device", "destination", "protocol", "port"} {
		f.Values[k] = values.Get(k)
	}
	spec = rules.ConnectionSpec{Destination: values.Get("destination"), Protocol: values.Get("protocol"), Port: values.Get("port")}
	device, err := s.rules.DeviceOf(r.Context(), values.Get("user"), values.Get("device"))
	if err != nil && !fieldError(f, err) {
		return spec, false, err
	}
	if device != nil {
		spec.DeviceID = device.ID
	} else {
		spec.DeviceID = "-" // named by the error above; the connection's own fields are checked too
	}
	if _, err := rules.ParseConnection(spec); err != nil {
		fieldError(f, err)
	}
	return spec, f.Valid(), nil
}

// explainRule answers the Explain form: can a device reach an address, port and protocol?
func (s *Server) explainRule(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	spec, ok, err := s.connectionForm(r, f, r.URL.Query())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var ex rules.Explanation
	if ok {
		c, _ := rules.ParseConnection(spec)
		if ex, err = s.rules.Explain(r.Context(), c); err != nil && !fieldError(f, err) {
			s.serverError(w, r, err)
			return
		}
	}
	status := http.StatusOK
	if !f.Valid() {
		status = http.StatusUnprocessableEntity
	}
	pd := s.page(r, "Rules", "rules")
	if isHTMX(r) { // the answer alone: the rest of the page (the kernel's table, the tests) is not read
		pd.Data = &rulesPage{ExplainForm: f, Explain: explained(f, ex)}
		s.renderFragment(w, r, status, "rules", "explain", pd)
		return
	}
	page, err := s.rulesPage(r, "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.ExplainForm, page.Explain = f, explained(f, ex)
	pd.Data = page
	s.renderPage(w, r, status, "rules", pd)
}

// explained is the answer to show for the Explain form f: none while f has errors.
func explained(f *Form, ex rules.Explanation) *rules.Explanation {
	if !f.Valid() {
		return nil
	}
	return &ex
}

// addPolicyTest answers the form of a new policy test; one that fails now is not saved.
func (s *Server) addPolicyTest(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	spec, ok, err := s.connectionForm(r, f, r.PostForm)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f.Values["expect"], f.Values["description"] = r.PostFormValue("expect"), r.PostFormValue("description")
	if ok {
		_, err := s.rules.AddTest(r.Context(), rules.TestSpec{ConnectionSpec: spec, Expect: r.PostFormValue("expect"),
			Description: r.PostFormValue("description")})
		if err != nil && !fieldError(f, err) {
			s.serverError(w, r, err)
			return
		}
	}
	if f.Valid() {
		f = newForm()
		f.Values["protocol"], f.Values["expect"] = store.ProtocolTCP, store.ActionAccept
	}
	s.renderTests(w, r, f, map[bool]string{true: "Test added."}[f.Valid()])
}

// deletePolicyTest deletes a policy test.
func (s *Server) deletePolicyTest(w http.ResponseWriter, r *http.Request) {
	_, err := s.rules.DeleteTest(r.Context(), r.PathValue("id"))
	switch {
	case isNotFound(err):
		s.notFound(w, r)
	case err != nil:
		s.serverError(w, r, err)
	default:
		f := newForm()
		f.Values["protocol"], f.Values["expect"] = store.ProtocolTCP, store.ActionAccept
		s.renderTests(w, r, f, "Test deleted.")
	}
}

// renderTests answers a change of the policy tests with the tests card; f is its form, with
// errors (422) or ready for the next test.
func (s *Server) renderTests(w http.ResponseWriter, r *http.Request, f *Form, message string) {
	if !isHTMX(r) && f.Valid() {
		s.sessions.Put(r.Context(), sessionFlash, message)
		http.Redirect(w, r, "/admin/rules", http.StatusSeeOther)
		return
	}
	pd := s.page(r, "Rules", "rules")
	page, err := s.rulesPage(r, "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.TestForm, page.TestMessage = f, message
	pd.Data = page
	status := http.StatusOK
	if !f.Valid() {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(r) {
		s.renderFragment(w, r, status, "rules", "tests", pd)
		return
	}
	s.renderPage(w, r, status, "rules", pd)
}
