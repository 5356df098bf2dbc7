package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// deviceAdd adds a device for a user and prints its client configuration, or with --json
// what a script needs of it.
func deviceAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "device add")
	email := fs.String("user", "", "the owner's email address (required)")
	name := fs.String("name", "", "the device name (required)")
	publicKey := fs.String("public-key", "", "the device's public key; the private key then stays on the device")
	asJSON := fs.Bool("json", false, "print {id, name, ipv4, ipv6, public_key, config} as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"user": *email, "name": *name}); err != nil {
		return err
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		owner, err := (&users.Service{Store: st}).ByEmail(ctx, *email)
		if err != nil {
			return inputError(err, map[string]string{"email": "user"})
		}
		if _, err := instance.ServerKeys(ctx, st); err != nil {
			return err
		}
		svc, err := instance.Devices(cfg, st, func(string) { notifyServer(env, cfg) })
		if err != nil {
			return err
		}
		created, err := svc.Create(ctx, devices.Spec{UserID: owner.ID, Name: *name, PublicKey: *publicKey})
		if err != nil {
			return inputError(err, deviceFlags)
		}
		if *asJSON {
			d := created.Device
			return json.NewEncoder(env.Stdout).Encode(addedJSON{ID: d.ID, Name: d.Name, IPv4: addrText(d.IPv4),
				IPv6: addrText(d.IPv6), PublicKey: d.PublicKey, Config: created.Config})
		}
		fmt.Fprintf(env.Stderr, "created device %q for %s (%s)\n", created.Device.Name, owner.Email, created.FileName)
		if w := devices.EndpointWarning(created.Endpoint, true); w != "" {
			fmt.Fprintf(env.Stderr, "warning: this configuration dials %s\n", w)
		}
		fmt.Fprint(env.Stdout, created.Config)
		return nil
	})
}

// addedJSON is what `wiregui device add --json` prints.
type addedJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IPv4      string `json:"ipv4"`
	IPv6      string `json:"ipv6"`
	PublicKey string `json:"public_key"`
	Config    string `json:"config"`
}
