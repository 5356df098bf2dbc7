package cli

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"wiregui/app/instance"
	"wiregui/app/rules"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// ruleFlags names the flag each field of the rule service's InputErrors comes from.
var ruleFlags = map[string]string{"action": "action", "destination": "destination", "protocol": "protocol",
	"ports": "ports", "priority": "priority", "description": "description", "user": "user", "device": "device",
	"port": "to", "expect": "expect"}

// ruleService is the rule service on st, telling a running server of changes.
func ruleService(env Env, cfg *config.Config, st *store.Store) *rules.Service {
	return instance.Rules(cfg, st, func(string) { notifyServer(env, cfg) })
}

// userID returns the id of the user with email, for --user.
func userID(ctx context.Context, st *store.Store, email string) (string, error) {
	u, err := (&users.Service{Store: st}).ByEmail(ctx, email)
	if err != nil {
		return "", inputError(err, map[string]string{"email": "user"})
	}
	return u.ID, nil
}

// connectionSpec is the connection of --to ADDR[:PORT] and --protocol from the device deviceID.
func connectionSpec(deviceID, to, protocol string) rules.ConnectionSpec {
	spec := rules.ConnectionSpec{DeviceID: deviceID, Destination: to, Protocol: protocol}
	if ap, err := netip.ParseAddrPort(strings.TrimSpace(to)); err == nil {
		spec.Destination, spec.Port = ap.Addr().String(), fmt.Sprint(ap.Port())
	}
	return spec
}

// nullable is s, or null in JSON when it is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
