package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

// userFixture creates 23 users whose roles, sign-ins and creation times repeat, so that every
// sort meets equal keys, with 0 to 3 devices each, and returns them as the table shows them.
func userFixture(t *testing.T, s *store.Store) []store.UserRow {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	p := pools(60)
	var rows []store.UserRow
	for i := range 23 {
		u := &store.User{Email: fmt.Sprintf("%c%02d.user@example.com", 'a'+i*7%26, i)}
		if i%3 == 0 {
			u.Role = store.RoleAdmin
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if i%4 != 0 { // every fourth user never signed in
			if err := s.RecordSignIn(ctx, u.ID, []string{"password", "magic link"}[i%2], base.Add(time.Duration(i%5)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for d := range i % 4 {
			if err := s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: fmt.Sprint("d", d), PublicKey: fmt.Sprintf("u%02d-d%d", i, d)}, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Users created in the same microsecond, so that created_at has ties too.
	execRaw(t, s, "UPDATE users SET created_at = $1 WHERE email LIKE 'a%' OR email LIKE 'h%'", base)
	page, total, err := s.ListUsersPage(ctx, store.UserQuery{Limit: 500})
	if err != nil || total != 23 || len(page) != 23 {
		t.Fatalf("the fixture: %d users, total %d, %v", len(page), total, err)
	}
	rows = append(rows, page...)
	for _, r := range rows {
		if want := int(r.Email[1]-'0')*10 + int(r.Email[2]-'0'); r.Devices != want%4 {
			t.Fatalf("%s: %d devices, want %d", r.Email, r.Devices, want%4)
		}
	}
	return rows
}

// wantUserOrder is the model of each sort, ascending; descending is its reverse.
var wantUserOrder = map[store.UserSort]func(a, b store.UserRow) int{
	store.SortUsersByEmail: func(a, b store.UserRow) int { return strings.Compare(a.Email, b.Email) },
	store.SortUsersByRole: func(a, b store.UserRow) int {
		return cmp.Or(strings.Compare(a.Role, b.Role), strings.Compare(a.Email, b.Email))
	},
	store.SortUsersBySignIn: func(a, b store.UserRow) int {
		switch {
		case a.LastSignedInAt == nil && b.LastSignedInAt == nil:
			return strings.Compare(a.ID, b.ID)
		case a.LastSignedInAt == nil:
			return -1
		case b.LastSignedInAt == nil:
			return 1
		}
		return cmp.Or(a.LastSignedInAt.Compare(*b.LastSignedInAt), strings.Compare(a.ID, b.ID))
	},
	store.SortUsersByCreated: func(a, b store.UserRow) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	},
}

func userEmails(rows []store.UserRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Email
	}
	return out
}

func TestListUsersPageSortsAndPages(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := userFixture(t, s)
		filters := []struct {
			name   string
			search string
		}{{"all", ""}, {"search", "1.USER@"}} // 01, 11, 21
		for _, f := range filters {
			for _, sort := range []store.UserSort{store.SortUsersByEmail, store.SortUsersByRole, store.SortUsersBySignIn, store.SortUsersByCreated} {
				for _, desc := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/desc=%v", f.name, sort, desc), func(t *testing.T) {
						var want []store.UserRow
						for _, r := range all {
							if strings.Contains(r.Email, strings.ToLower(f.search)) {
								want = append(want, r)
							}
						}
						slices.SortFunc(want, wantUserOrder[sort])
						if desc {
							slices.Reverse(want)
						}
						size := max((len(want)+2)/3, 1)
						q := store.UserQuery{Search: f.search, Sort: sort, Desc: desc, Limit: size}
						var got []store.UserRow
						for q.Offset = 0; q.Offset <= len(want); q.Offset += size {
							page, total, err := s.ListUsersPage(ctx, q)
							if err != nil {
								t.Fatal(err)
							}
							if total != len(want) {
								t.Errorf("offset %d: got total %d, want %d", q.Offset, total, len(want))
							}
							if n := min(size, len(want)-q.Offset); len(page) != n {
								t.Errorf("offset %d: got %d users, want %d", q.Offset, len(page), n)
							}
							got = append(got, page...)
						}
						if !slices.Equal(userEmails(got), userEmails(want)) {
							t.Errorf("got order\n%q\nwant\n%q", userEmails(got), userEmails(want))
						}
						for i := range min(len(got), len(want)) {
							if g, w := got[i], want[i]; g.Devices != w.Devices || g.LastSignedInMethod != w.LastSignedInMethod || g.Role != w.Role {
								t.Errorf("%s: got %d devices, method %q, role %s; want %d, %q, %s", g.Email, g.Devices,
									g.LastSignedInMethod, g.Role, w.Devices, w.LastSignedInMethod, w.Role)
							}
						}
					})
				}
			}
		}
	})
}

func TestListUsersPageSearches(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, e := range []string{"ann@example.com", "100%sure@example.com", "100xsure@example.com", "my_box@example.com",
			"myxbox@example.com", `back\slash@example.com`, "zo\u00eb@example.org"} {
			if err := s.CreateUser(ctx, &store.User{Email: e}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			search string
			want   []string
		}{
			{"ANN", []string{"ann@example.com"}},
			{"  example.ORG\t", []string{"zo\u00eb@example.org"}},
			{"ZO\u00cb", []string{"zo\u00eb@example.org"}},
			{"100%", []string{"100%sure@example.com"}},
			{"_", []string{"my_box@example.com"}},
			{`\`, []string{`back\slash@example.com`}},
			{"nobody", nil},
			{"a\x00b", nil},
			{"a\xffb", nil},
		} {
			page, total, err := s.ListUsersPage(ctx, store.UserQuery{Search: tc.search, Limit: 10})
			if got := userEmails(page); err != nil || !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("search %q: got %q (total %d), %v; want %q", tc.search, got, total, err, tc.want)
			}
		}
		page, total, err := s.ListUsersPage(ctx, store.UserQuery{Search: "example.com", Offset: 50, Limit: 10})
		if err != nil || len(page) != 0 || total != 6 {
			t.Errorf("past the end of a search: %d users, total %d, %v; want none of 6", len(page), total, err)
		}
		for _, q := range []store.UserQuery{{Sort: "email; DROP TABLE users", Limit: 1}, {Limit: 0}, {Limit: 501}, {Limit: 1, Offset: -1}} {
			if _, _, err := s.ListUsersPage(ctx, q); err == nil {
				t.Errorf("%+v: no error", q)
			}
		}
	})
}

// TestDeleteUserTakesWhatIsTheirs: a user's devices, their policy tests and the user's rules
// go with them, counted beforehand; another user's stay.
func TestDeleteUserTakesWhatIsTheirs(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")
		annLaptop, bobLaptop := mustDevice(t, s, ann, "laptop"), mustDevice(t, s, bob, "laptop")
		mustDevice(t, s, ann, "phone")
		updatePolicy(t, s, func(p *store.Policy) error {
			p.Rules = append(p.Rules, rule(ann.ID, store.ActionDrop, "10.0.0.0/8", 10), rule(ann.ID, store.ActionAccept, "10.1.0.0/16", 5),
				rule(bob.ID, store.ActionDrop, "10.0.0.0/8", 10), rule("", store.ActionDrop, "192.0.2.0/24", 10))
			for _, d := range []*store.Device{annLaptop, bobLaptop} {
				p.Tests = append(p.Tests, store.PolicyTest{DeviceID: d.ID, Destination: netip.MustParseAddr("10.0.0.5"),
					Protocol: store.ProtocolTCP, Port: 443, Expect: store.ActionDrop})
			}
			return nil
		})
		for _, name := range []string{"Phone", "Key"} {
			if err := s.CreateMFAMethod(ctx, &store.MFAMethod{UserID: ann.ID, Kind: store.MFATOTP, Name: name, Secret: "JBSWY3DPEHPK3PXP" + name}); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := s.UserBelongings(ctx, ann.ID); err != nil || b != (store.Belongings{Devices: 2, Rules: 2, PolicyTests: 1, SecondFactors: 2}) {
			t.Errorf("ann has %+v, %v; want 2 devices, 2 rules, 1 policy test, 2 second factors", b, err)
		}
		if err := s.DeleteUser(ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if b, err := s.UserBelongings(ctx, ann.ID); err != nil || b != (store.Belongings{}) {
			t.Errorf("after the delete ann has %+v, %v", b, err)
		}
		if b, err := s.UserBelongings(ctx, bob.ID); err != nil || b != (store.Belongings{Devices: 1, Rules: 1, PolicyTests: 1}) {
			t.Errorf("bob has %+v, %v; want his device, rule and test kept", b, err)
		}
		p := readPolicy(t, s)
		if got := ruleWords(p.Rules); !slices.Equal(got, []string{" drop 192.0.2.0/24/10", "bob@example.com drop 10.0.0.0/8/10"}) {
			t.Errorf("rules left: %q", got)
		}
		if len(p.Tests) != 1 || p.Tests[0].DeviceID != bobLaptop.ID {
			t.Errorf("tests left: %+v", p.Tests)
		}
		if err := s.DeleteUser(ctx, ann.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete ann again: %v, want ErrNotFound", err)
		}
	})
}

// TestConcurrentChangesKeepAnAdmin: two admins, each demoted, disabled or deleted by a
// transaction of its own at the same moment: one of the two changes goes through, the other
// is refused, and an enabled admin is left. Each change, once it has counted an admin left,
// waits in its transaction for the other to get as far (or for a second, while the store
// makes the other wait), so that without a lock each would count the other's admin and both
// commit.
func TestConcurrentChangesKeepAnAdmin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		changes := map[string]func(u *store.User){
			"demote":  func(u *store.User) { u.Role = store.RoleUnprivileged },
			"disable": func(u *store.User) { u.DisabledAt = &now },
		}
		for _, name := range []string{"demote", "disable", "delete", "demote and delete"} {
			t.Run(name, func(t *testing.T) {
				execRaw(t, s, "DELETE FROM users")
				admins := []*store.User{mustUser(t, s, "one@example.com"), mustUser(t, s, "two@example.com")}
				for _, a := range admins {
					if _, err := s.UpdateUser(ctx, a.ID, func(u *store.User) error { u.Role = store.RoleAdmin; return nil }); err != nil {
						t.Fatal(err)
					}
				}
				var mu sync.Mutex
				arrived := 0
				both := make(chan struct{})
				meet := func() {
					mu.Lock()
					arrived++
					if arrived == 2 {
						close(both)
					}
					mu.Unlock()
					select {
					case <-both:
					case <-time.After(time.Second):
					}
				}
				store.OnAdminKeptForTest(s, meet)
				defer store.OnAdminKeptForTest(s, nil)
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i, a := range admins {
					kind := name
					if name == "demote and delete" {
						kind = []string{"demote", "delete"}[i]
					}
					wg.Go(func() {
						if kind == "delete" {
							errs[i] = s.DeleteUser(ctx, a.ID)
							return
						}
						_, errs[i] = s.UpdateUser(ctx, a.ID, func(u *store.User) error { changes[kind](u); return nil })
					})
				}
				wg.Wait()
				refused := 0
				for _, err := range errs {
					switch {
					case errors.Is(err, store.ErrLastAdmin):
						refused++
					case err != nil:
						t.Fatal(err)
					}
				}
				page, _, err := s.ListUsersPage(ctx, store.UserQuery{Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				enabled := 0
				for _, u := range page {
					if u.IsAdmin() && !u.Disabled() {
						enabled++
					}
				}
				if refused != 1 || enabled != 1 {
					t.Errorf("%d of the two changes refused, %d enabled admins left (%v); want 1 and 1", refused, enabled, errs)
				}
			})
		}
	})
}
