package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// deviceFlags names the flag each field of the device service's InputErrors comes from.
var deviceFlags = map[string]string{"name": "name", "public_key": "public-key", "description": "description"}

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

// deviceList prints every device with its traffic totals.
func deviceList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "device list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		list, err := st.ListDevices(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeDeviceJSON(env.Stdout, list)
		}
		return writeDeviceTable(env.Stdout, list)
	})
}

// deviceJSON is one device in `wiregui device list --json`. rx_bytes and tx_bytes are the
// monotonic totals, as the web UI and /metrics show them; rx_counter and tx_counter are
// WireGuard's own counters, which restart at 0 when the interface or the peer is re-created.
type deviceJSON struct {
	Name            string  `json:"name"`
	UserEmail       string  `json:"user_email"`
	IPv4            string  `json:"ipv4"`
	IPv6            string  `json:"ipv6"`
	PublicKey       string  `json:"public_key"`
	RxBytes         int64   `json:"rx_bytes"`
	TxBytes         int64   `json:"tx_bytes"`
	RxCounter       int64   `json:"rx_counter"`
	TxCounter       int64   `json:"tx_counter"`
	LatestHandshake *string `json:"latest_handshake"`
}

// writeDeviceTable prints devices as a table with their traffic totals.
func writeDeviceTable(w io.Writer, list []store.Device) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUSER\tIPV4\tIPV6\tRX\tTX\tHANDSHAKE")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Name, d.UserEmail, addrText(d.IPv4), addrText(d.IPv6),
			d.RxTotal, d.TxTotal, orWord(timeText(d.LatestHandshake), "never"))
	}
	return tw.Flush()
}

// writeDeviceJSON prints devices as one JSON array of deviceJSON.
func writeDeviceJSON(w io.Writer, list []store.Device) error {
	out := make([]deviceJSON, 0, len(list))
	for _, d := range list {
		out = append(out, deviceJSON{Name: d.Name, UserEmail: d.UserEmail, IPv4: addrText(d.IPv4), IPv6: addrText(d.IPv6),
			PublicKey: d.PublicKey, RxBytes: d.RxTotal, TxBytes: d.TxTotal, RxCounter: d.RxBytes, TxCounter: d.TxBytes,
			LatestHandshake: timeText(d.LatestHandshake)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
