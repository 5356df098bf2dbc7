package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"wiregui/config"
	"wiregui/store"
)

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
