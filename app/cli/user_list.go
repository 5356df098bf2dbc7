package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"wiregui/config"
	"wiregui/store"
)

// userList prints every user, as a table or as JSON.
func userList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "user list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.parse(args); err != nil {
		return err
	}
	return withStore(ctx, env, func(_ *config.Config, st *store.Store) error {
		list, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		devices, err := st.ListDevices(ctx)
		if err != nil {
			return err
		}
		count := map[string]int{}
		for _, d := range devices {
			count[d.UserID]++
		}
		out := make([]userJSON, len(list))
		for i, u := range list {
			out[i] = userJSON{Email: u.Email, Role: roleWord(u.IsAdmin()), Disabled: u.Disabled(), Devices: count[u.ID],
				LastSignedIn: timeText(u.LastSignedInAt), Created: u.CreatedAt.UTC().Format(time.RFC3339)}
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tSTATUS\tDEVICES\tLAST SIGN-IN\tCREATED")
		for _, u := range out {
			status := map[bool]string{false: "active", true: "disabled"}[u.Disabled]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", u.Email, u.Role, status, u.Devices, orWord(u.LastSignedIn, "never"), u.Created)
		}
		return tw.Flush()
	})
}

// userJSON is one user in `wiregui user list --json`.
type userJSON struct {
	Email        string  `json:"email"`
	Role         string  `json:"role"` // admin or user
	Disabled     bool    `json:"disabled"`
	Devices      int     `json:"devices"`
	LastSignedIn *string `json:"last_signed_in"` // RFC 3339; null when never
	Created      string  `json:"created"`
}
