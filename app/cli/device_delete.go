package cli

import (
	"context"
	"errors"
	"fmt"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// deviceDelete deletes a user's device by name; one that is not there is gone already. A
// user's device names are unique without regard to letter case, so the name finds one device
// at most, in any case.
func deviceDelete(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "device delete")
	email := fs.String("user", "", "the owner's email address (required)")
	name := fs.String("name", "", "the device name, in any letter case (required)")
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
		dev, err := st.DeviceByName(ctx, owner.ID, wanted)
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stdout, "%s has no device named %q; nothing to delete\n", owner.Email, wanted)
			return nil
		}
		if err != nil {
			return err
		}
		svc, err := instance.Devices(cfg, st, func(string) { notifyServer(env, cfg) })
		if err != nil {
			return err
		}
		if err := svc.Delete(ctx, dev); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted device %q of %s\n", dev.Name, owner.Email)
		return nil
	})
}
