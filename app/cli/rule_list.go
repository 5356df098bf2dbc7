package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
)

// ruleList prints the rules in the order they apply: the global rules, then each user's.
func ruleList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule list")
	email := fs.String("user", "", "only this user's own rules")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		p, err := st.Policy(ctx)
		if err != nil {
			return err
		}
		list := p.Rules
		if *email != "" {
			id, err := userID(ctx, st, *email)
			if err != nil {
				return err
			}
			list = rules.ScopeRules(p, id)
		}
		out := make([]ruleJSON, 0, len(list))
		for _, r := range list {
			out = append(out, ruleJSON{ID: r.ID, Action: r.Action, Destination: r.Destination.String(), Protocol: r.Protocol,
				Ports: nullable(rules.PortsText(r.PortFrom, r.PortTo)), Priority: r.Priority, User: nullable(r.UserEmail),
				Description: r.Description, Problem: r.Problem})
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tPRIORITY\tACTION\tDESTINATION\tPROTOCOL\tPORTS\tDESCRIPTION")
		for _, r := range out {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, orWord(r.User, "(global)"), r.Priority, r.Action,
				r.Destination, r.Protocol, orWord(r.Ports, "any"), r.Description)
		}
		return tw.Flush()
	})
}

// ruleJSON is one rule in `wiregui rule list --json`.
type ruleJSON struct {
	ID          string  `json:"id"`
	Action      string  `json:"action"`
	Destination string  `json:"destination"`
	Protocol    string  `json:"protocol"`
	Ports       *string `json:"ports"` // "443" or "8000-8100"; null for every port
	Priority    int     `json:"priority"`
	User        *string `json:"user"` // the user's email; null for a global rule
	Description string  `json:"description"`
	// Problem says why a damaged row applies nowhere.
	Problem string `json:"problem,omitempty"`
}
