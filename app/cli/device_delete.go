package cli

import (
	"context"
	"fmt"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// deviceDelete deletes a user's device by name; one that is not there is gone already.
func deviceDelete(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "device delete")
	email := fs.String("user", "", "the owner's email address (required)")
	name := fs.String("name", "", "the device name (required)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required(map[string]string{"user": *email, "name": *name}); err != nil {
		return err
	}
	wanted, err := devices.CheckName(*name) // stored names are normalised: compare like with like
	if err != nil {
		return inputError(err, deviceFlags)
	}
	return withStore(ctx, env, func(cfg *config.Config, st *store.Store) error {
		owner, err := (&users.Service{Store: st}).ByEmail(ctx, *email)
		if err != nil {
			return inputError(err, map[string]string{"email": "user"})
		}
		owned, err := st.ListDevicesByUser(ctx, owner.ID)
		if err != nil {
			return err
		}
		var match []store.Device
		for _, d := range owned {
			if d.Name == wanted {
				match = append(match, d)
			}
		}
		switch len(match) {
		case 0:
			fmt.Fprintf(env.Stdout, "%s has no device named %q; nothing to delete\n", owner.Email, wanted)
			return nil
		case 1:
		default:
			return fmt.Errorf("--name: %s has %d devices named %q; delete them in the web UI", owner.Email, len(match), wanted)
		}
		svc, err := instance.Devices(cfg, st, func(string) { notifyServer(env, cfg) })
		if err != nil {
			return err
		}
		if err := svc.Delete(ctx, &match[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted device %q of %s\n", match[0].Name, owner.Email)
		return nil
	})
}
