package cli

import (
	"context"
	"fmt"

	"wiregui/app/rules"
	"wiregui/config"
	"wiregui/store"
)

// ruleTestAdd saves a policy test, unless it fails now, and prints its id.
func ruleTestAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "rule test add")
	name := fs.String("device", "", "the device's name (required)")
	email := fs.String("user", "", "the device's owner (required)")
	to := fs.String("to", "", "the destination: ADDR, ADDR:PORT or [IPv6]:PORT (required)")
	protocol := fs.String("protocol", "", "tcp, udp or icmp; tcp with a port, icmp without")
	expect := fs.String("expect", "", "accept or drop (required)")
	description := fs.String("description", "", "what the test is about")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"device": *name, "user": *email, "to": *to, "expect": *expect}); err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		svc := ruleService(env, cfg, st)
		device, err := svc.DeviceOf(ctx, *email, *name)
		if err != nil {
			return inputError(err, ruleFlags)
		}
		t, err := svc.AddTest(ctx, rules.TestSpec{ConnectionSpec: connectionSpec(device.ID, *to, *protocol),
			Expect: *expect, Description: *description})
		if err != nil {
			return inputError(err, ruleFlags)
		}
		fmt.Fprintf(env.Stderr, "added the policy test %s\n", rules.TestWords(*t))
		fmt.Fprintln(env.Stdout, t.ID)
		return nil
	})
}
