package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
)

// ruleExplain says whether a device's new connection is accepted or dropped, and what
// decides it: from the description the firewall is compiled from.
func ruleExplain(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule explain")
	name := fs.String("device", "", "the device's name (required)")
	email := fs.String("user", "", "the device's owner (required)")
	to := fs.String("to", "", "the destination: ADDR, ADDR:PORT or [IPv6]:PORT (required)")
	protocol := fs.String("protocol", "", "tcp, udp or icmp; tcp with a port, icmp without")
	asJSON := fs.Bool("json", false, "print {action, decider, rule, global} as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"device": *name, "user": *email, "to": *to}); err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		svc := ruleService(env, cfg, st)
		device, err := svc.DeviceOf(ctx, *email, *name)
		if err != nil {
			return inputError(err, ruleFlags)
		}
		c, err := rules.ParseConnection(connectionSpec(device.ID, *to, *protocol))
		if err != nil {
			return inputError(err, ruleFlags)
		}
		ex, err := svc.Explain(ctx, c)
		if err != nil {
			return inputError(err, ruleFlags)
		}
		if *asJSON {
			return json.NewEncoder(env.Stdout).Encode(explainJSON{Action: ex.Action, Decider: ex.Decider,
				Rule: nullable(ex.RuleID), Global: ex.Global})
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", ex.Action, ex.Decider)
		return nil
	})
}

// explainJSON is what `wiregui rule explain --json` prints.
type explainJSON struct {
	Action  string  `json:"action"`
	Decider string  `json:"decider"`
	Rule    *string `json:"rule"` // the id of the rule that decided; null for a policy or a default
	Global  bool    `json:"global"`
}
