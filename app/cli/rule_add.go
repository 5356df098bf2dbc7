package cli

import (
	"context"
	"fmt"

	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
)

// ruleAdd adds a rule and prints its id.
func ruleAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule add")
	var spec rules.RuleSpec
	fs.StringVar(&spec.Action, "action", "", "accept or drop (required)")
	fs.StringVar(&spec.Destination, "destination", "", "the network it is about, e.g. 10.0.0.0/24 (required)")
	fs.StringVar(&spec.Protocol, "protocol", "any", "any, tcp, udp or icmp")
	fs.StringVar(&spec.Ports, "ports", "", "a port (443) or a range (8000-8100), with tcp or udp; every port when empty")
	fs.StringVar(&spec.Priority, "priority", "", "lower comes first; after the others of its scope when empty")
	email := fs.String("user", "", "the user whose devices it is for; everyone's (a global rule) when empty")
	fs.StringVar(&spec.Description, "description", "", "what the rule is for")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"action": spec.Action, "destination": spec.Destination}); err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		if *email != "" {
			var err error
			if spec.UserID, err = userID(ctx, st, *email); err != nil {
				return err
			}
		}
		r, err := ruleService(env, cfg, st).Create(ctx, spec)
		if err != nil {
			return inputError(err, ruleFlags)
		}
		if r.UserID != "" {
			r.UserEmail = store.NormalizeEmail(*email)
		}
		fmt.Fprintf(env.Stderr, "added %s rule %q at priority %d\n", scopeWords(r), rules.RuleWords(*r), r.Priority)
		fmt.Fprintln(env.Stdout, r.ID)
		return nil
	})
}

// scopeWords is whose a rule is: "a global" or "ann@example.com's".
func scopeWords(r *store.Rule) string {
	if r.UserID == "" {
		return "a global"
	}
	if r.UserEmail == "" {
		return "the user's"
	}
	return r.UserEmail + "'s"
}
