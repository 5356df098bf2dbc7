package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"wiregui/config"
	"wiregui/store"
)

// ruleTestList runs every policy test and prints each with its outcome.
func ruleTestList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule test list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		results, err := ruleService(env, cfg, st).Results(ctx)
		if err != nil {
			return err
		}
		out := make([]policyTestJSON, len(results))
		for i, res := range results {
			t := res.Test
			out[i] = policyTestJSON{ID: t.ID, Device: t.DeviceName, User: t.UserEmail, Destination: t.Destination.String(),
				Protocol: t.Protocol, Expect: t.Expect, Description: t.Description, Pass: res.Pass, Problem: res.Problem}
			if t.Port != 0 {
				out[i].Port = &t.Port
			}
			if res.Problem == "" {
				out[i].Got = &verdictJSON{Action: res.Got.Action, Decider: res.Got.Decider}
			}
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRESULT\tTEST\tOUTCOME")
		for i, res := range results {
			outcome := res.Outcome()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", out[i].ID, map[bool]string{true: "pass", false: "FAIL"}[res.Pass], res.Words(), outcome)
		}
		return tw.Flush()
	})
}

// policyTestJSON is one policy test in `wiregui rule test list --json`.
type policyTestJSON struct {
	ID          string       `json:"id"`
	Device      string       `json:"device"`
	User        string       `json:"user"`
	Destination string       `json:"destination"`
	Protocol    string       `json:"protocol"`
	Port        *int         `json:"port"` // null for icmp
	Expect      string       `json:"expect"`
	Description string       `json:"description"`
	Pass        bool         `json:"pass"`
	Got         *verdictJSON `json:"got"`               // what the firewall does now; null when the test cannot run
	Problem     string       `json:"problem,omitempty"` // why it cannot
}

type verdictJSON struct {
	Action  string `json:"action"`
	Decider string `json:"decider"`
}
