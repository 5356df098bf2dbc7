package access

import (
	"fmt"
	"testing"
	"time"

	"wiregui/store"
)

// when is the condition under which an enabled unprivileged user may do something.
type when int

const (
	never         when = iota
	always             // whatever the settings say
	management         // AllowUnprivilegedDeviceManagement is on
	configuration      // AllowUnprivilegedDeviceConfiguration is on
)

// rule says when an enabled unprivileged user may perform an action on each kind of object:
// their own device, another user's device, and no device.
type rule struct{ own, others, none when }

// userRules holds the rule of every action. The other roles need no table: nobody signed out
// or disabled may do anything, and an admin everything.
var userRules = map[Action]rule{
	ViewDevices:         {always, always, always},
	CreateOwnDevice:     {management, management, management},
	ViewDevice:          {always, never, never},
	EditDevice:          {configuration, never, never},
	DeleteDevice:        {management, never, never},
	ManageAllDevices:    {never, never, never},
	EditRelaySubnets:    {never, never, never},
	EditSettings:        {never, never, never},
	ManageNotifications: {never, never, never},
	ManageRules:         {never, never, never},
	ManageUsers:         {never, never, never},
	ManageOwnAccount:    {always, always, always}, // the account is always the viewer's own
}

func TestCanCoversEveryActionRoleObjectAndSetting(t *testing.T) {
	at := time.Now()
	user := &store.User{ID: "u1", Role: store.RoleUnprivileged}
	admin := &store.User{ID: "a1", Role: store.RoleAdmin}
	roles := []struct {
		name string
		u    *store.User
	}{
		{"signed out", nil},
		{"disabled user", &store.User{ID: "u1", Role: store.RoleUnprivileged, DisabledAt: &at}},
		{"disabled admin", &store.User{ID: "a1", Role: store.RoleAdmin, DisabledAt: &at}},
		{"user", user},
		{"admin", admin},
	}
	// The objects as seen by u; its own device is u1's when nobody is signed in.
	type object struct {
		name string
		obj  any
		kind func(rule) when // which of the rule's cases applies
	}
	objects := func(u *store.User) []object {
		owner := "u1"
		if u != nil {
			owner = u.ID
		}
		none := func(r rule) when { return r.none }
		return []object{
			{"own device", &store.Device{ID: "d1", UserID: owner}, func(r rule) when { return r.own }},
			{"another user's device", &store.Device{ID: "d2", UserID: "someone-else"}, func(r rule) when { return r.others }},
			{"no object", nil, none},
			{"a nil device", (*store.Device)(nil), none},
			{"not a device", &store.User{ID: owner}, none},
		}
	}
	for act := Action(0); act < numActions; act++ {
		r, ok := userRules[act]
		if !ok {
			t.Errorf("action %v has no row in userRules: say when a user may do it", act)
			continue
		}
		for _, role := range roles {
			for _, o := range objects(role.u) {
				for _, mgmt := range []bool{false, true} {
					for _, conf := range []bool{false, true} {
						st := store.Settings{AllowUnprivilegedDeviceManagement: mgmt, AllowUnprivilegedDeviceConfiguration: conf}
						var want bool
						switch role.name {
						case "admin":
							want = true
						case "user":
							switch o.kind(r) {
							case always:
								want = true
							case management:
								want = mgmt
							case configuration:
								want = conf
							}
						}
						name := fmt.Sprintf("%v/%s/%s/management=%v/configuration=%v", act, role.name, o.name, mgmt, conf)
						if got := Can(role.u, act, o.obj, st); got != want {
							t.Errorf("%s: got %v, want %v", name, got, want)
						}
					}
				}
			}
		}
	}
}

func TestActionsHaveNames(t *testing.T) {
	seen := map[string]bool{}
	for act := Action(0); act < numActions; act++ {
		name := act.String()
		if name == "" || name == "Action(?)" || seen[name] {
			t.Errorf("action %d: got name %q, want a name of its own", int(act), name)
		}
		seen[name] = true
	}
	if got := numActions.String(); got != "Action(?)" {
		t.Errorf("numActions.String() = %q, want Action(?)", got)
	}
}
