package app

import (
	"net/http"
	"slices"
	"strconv"

	"wiregui/app/rules"
	"wiregui/store"
)

// ruleFormPage is the payload of the Add rule and Edit rule pages (pages/rule.html), whose
// form the Rules page opens in a dialog, and of the delete confirmation.
type ruleFormPage struct {
	Rule   *store.Rule // the rule edited or deleted; nil for a new one
	Action string      // where the form posts
	Users  []string    // every user's email, for the user field
	Back   string      // the Rules page, filtered by the rule's scope
	// Saved says what was saved or deleted, in the dialog that did it.
	Saved string
	Error string // why a delete was refused
}

// Words is the rule in a few words.
func (p ruleFormPage) Words() string { return rules.RuleWords(*p.Rule) }

// showNewRule answers GET /admin/rules/new: the Add rule form, for the scope the table shows
// (?user=global or an email).
func (s *Server) showNewRule(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Add rule", "rules")
	f := pd.Form
	f.Values["action"], f.Values["protocol"] = store.ActionAccept, store.ProtocolAny
	if filter := r.URL.Query().Get("user"); filter != scopeFilter {
		f.Values["user"] = filter
	}
	s.renderRuleForm(w, r, http.StatusOK, pd, ruleFormPage{Action: "/admin/rules", Back: rulesURL(r.URL.Query().Get("user"))})
}

// showRule answers GET /admin/rules/{id}: the Edit rule form.
func (s *Server) showRule(w http.ResponseWriter, r *http.Request) {
	rule := s.ruleFor(w, r)
	if rule == nil {
		return
	}
	pd := s.page(r, "Edit rule", "rules")
	fillRuleForm(pd.Form, rule)
	s.renderRuleForm(w, r, http.StatusOK, pd, ruleFormPage{Rule: rule, Action: "/admin/rules/" + rule.ID,
		Back: rulesURL(filterOf(rule.UserID, rule.UserEmail))})
}

// ruleFor finds the rule named in the path; when there is none, it answers 404 itself and
// returns nil.
func (s *Server) ruleFor(w http.ResponseWriter, r *http.Request) *store.Rule {
	p, err := s.rules.Policy(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return nil
	}
	i := slices.IndexFunc(p.Rules, func(rule store.Rule) bool { return rule.ID == r.PathValue("id") })
	if i < 0 {
		s.notFound(w, r)
		return nil
	}
	rule := p.Rules[i] // a copy: the policy is shared
	return &rule
}

func fillRuleForm(f *Form, rule *store.Rule) {
	f.Values["action"], f.Values["protocol"] = rule.Action, rule.Protocol
	f.Values["destination"], f.Values["ports"] = rule.Destination.String(), rules.PortsText(rule.PortFrom, rule.PortTo)
	f.Values["priority"], f.Values["user"], f.Values["description"] = strconv.Itoa(rule.Priority), rule.UserEmail, rule.Description
	if rule.Problem != "" {
		f.Values["destination"] = "" // it did not read; the form asks for it again
	}
}

// readRuleForm reads the rule form into f and returns the rule it describes; ok false when a
// field is wrong (f says which, every one of them).
func (s *Server) readRuleForm(r *http.Request, f *Form) (spec rules.RuleSpec, ok bool, err error) {
	for _, k := range []string{"action", "destination", "protocol", "ports", "priority", "user", "description"} {
		f.Values[k] = r.PostFormValue(k)
	}
	spec = rules.RuleSpec{Action: f.Values["action"], Destination: f.Values["destination"], Protocol: f.Values["protocol"],
		Ports: f.Values["ports"], Priority: f.Values["priority"], Description: f.Values["description"]}
	if typed := f.Values["user"]; typed != "" {
		u, err := s.userByEmail(r, typed)
		if err != nil {
			return spec, false, err
		}
		if u == nil {
			f.Errors["user"] = "No user has this email. Choose one from the list, or leave it empty for everyone."
			fieldError(f, rules.Check(spec)) // the other fields' messages too
			return spec, false, nil
		}
		spec.UserID = u.ID
	}
	return spec, true, nil
}

// createRule answers POST /admin/rules.
func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Add rule", "rules")
	s.saveRule(w, r, pd, ruleFormPage{Action: "/admin/rules"}, func(spec rules.RuleSpec) (*store.Rule, error) {
		return s.rules.Create(r.Context(), spec)
	})
}

// updateRule answers POST /admin/rules/{id}.
func (s *Server) updateRule(w http.ResponseWriter, r *http.Request) {
	rule := s.ruleFor(w, r)
	if rule == nil {
		return
	}
	pd := s.page(r, "Edit rule", "rules")
	s.saveRule(w, r, pd, ruleFormPage{Rule: rule, Action: "/admin/rules/" + rule.ID}, func(spec rules.RuleSpec) (*store.Rule, error) {
		return s.rules.Update(r.Context(), rule.ID, spec)
	})
}

// saveRule reads the rule form and saves it with save. An htmx request gets the form again
// with every message (422) or, once saved, what was saved, in the dialog, and the table
// behind it is told to refresh; without htmx, the page goes back to the table.
func (s *Server) saveRule(w http.ResponseWriter, r *http.Request, pd *PageData, page ruleFormPage,
	save func(rules.RuleSpec) (*store.Rule, error)) {
	f := pd.Form
	spec, ok, err := s.readRuleForm(r, f)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var saved *store.Rule
	if ok {
		saved, err = save(spec)
		switch {
		case isNotFound(err) && page.Rule != nil && refusal(err) == "":
			s.notFound(w, r) // deleted meanwhile
			return
		case err != nil && !fieldError(f, err):
			s.serverError(w, r, err)
			return
		}
	}
	if !f.Valid() {
		page.Back = rulesURL(filterOf(spec.UserID, f.Values["user"]))
		s.renderRuleForm(w, r, http.StatusUnprocessableEntity, pd, page)
		return
	}
	saved.UserEmail = f.Values["user"]
	if saved.UserID != "" {
		if u, err := s.store.UserByID(r.Context(), saved.UserID); err == nil {
			saved.UserEmail = u.Email
		}
	}
	back := rulesURL(filterOf(saved.UserID, saved.UserEmail))
	message := "Rule saved: " + ruleScopeWords(saved) + " " + rules.RuleWords(*saved) + ", at priority " + strconv.Itoa(saved.Priority) + "."
	if !isHTMX(r) {
		s.sessions.Put(r.Context(), sessionFlash, message)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	page.Rule, page.Saved, page.Back = saved, message, back
	w.Header().Set(hxTrigger, rulesChanged)
	s.renderRuleForm(w, r, http.StatusOK, pd, page)
}

// ruleScopeWords is whose a rule is: "for everyone:" or "for ann@example.com:".
func ruleScopeWords(rule *store.Rule) string {
	if rule.UserID == "" {
		return "for everyone,"
	}
	return "for " + rule.UserEmail + ","
}

// renderRuleForm writes the rule page, or, for htmx, its rule-edit fragment (the dialog's).
func (s *Server) renderRuleForm(w http.ResponseWriter, r *http.Request, status int, pd *PageData, page ruleFormPage) {
	if isHTMX(r) && r.Method == http.MethodPost {
		pd.Data = page
		s.renderFragment(w, r, status, "rule", "rule-edit", pd)
		return
	}
	var err error
	if page.Users, err = s.store.UserEmails(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	if page.Back == "" {
		page.Back = "/admin/rules"
	}
	pd.Data = page
	s.renderPage(w, r, status, "rule", pd)
}

// confirmDeleteRule answers GET /admin/rules/{id}/delete: the confirmation, which the Rules
// page opens in a dialog.
func (s *Server) confirmDeleteRule(w http.ResponseWriter, r *http.Request) {
	rule := s.ruleFor(w, r)
	if rule == nil {
		return
	}
	pd := s.page(r, "Delete rule", "rules")
	pd.Data = ruleFormPage{Rule: rule, Action: "/admin/rules/" + rule.ID + "/delete", Back: rulesURL(filterOf(rule.UserID, rule.UserEmail))}
	s.renderPage(w, r, http.StatusOK, "rule-delete", pd)
}

// deleteRule answers POST /admin/rules/{id}/delete. A delete that breaks a policy test is
// refused with the test (422).
func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	rule := s.ruleFor(w, r)
	if rule == nil {
		return
	}
	page := ruleFormPage{Rule: rule, Action: "/admin/rules/" + rule.ID + "/delete", Back: rulesURL(filterOf(rule.UserID, rule.UserEmail))}
	_, err := s.rules.Delete(r.Context(), rule.ID)
	status := http.StatusOK
	switch {
	case refusal(err) != "":
		page.Error, status = refusal(err), http.StatusUnprocessableEntity
	case isNotFound(err):
		s.notFound(w, r)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		page.Saved = "Rule deleted: " + ruleScopeWords(rule) + " " + rules.RuleWords(*rule) + "."
		if !isHTMX(r) {
			s.sessions.Put(r.Context(), sessionFlash, page.Saved)
			http.Redirect(w, r, page.Back, http.StatusSeeOther)
			return
		}
		w.Header().Set(hxTrigger, rulesChanged)
	}
	pd := s.page(r, "Delete rule", "rules")
	pd.Data = page
	if isHTMX(r) {
		s.renderFragment(w, r, status, "rule-delete", "rule-delete", pd)
		return
	}
	s.renderPage(w, r, status, "rule-delete", pd)
}
