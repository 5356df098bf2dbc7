package app_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"wiregui/store"
)

// shownNotifications returns the ids the Settings page's Clear form lists.
func shownNotifications(body string) []string { return captures(notificationInput, body) }

var notificationInput = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)

// Admins read the notifications raised for them on the Settings page and clear them; a
// cleared one stays cleared when its event is seen again.
func TestAdminsReadAndClearNotifications(t *testing.T) {
	e := newEnv(t)
	alice, user := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	notify := func(key, message string) {
		t.Helper()
		n := &store.Notification{Kind: "vpn_session_expired", UserID: alice.ID, Message: message}
		if _, err := e.store.Notify(context.Background(), n, key); err != nil {
			t.Fatal(err)
		}
	}

	r := admin.Get("/admin/settings")
	wantLacks(t, "the Settings page without notifications", r.Body, "Notifications", "/admin/notifications/clear")

	notify("expired:alice:1", "VPN session expired for <b>alice</b>")
	notify("expired:alice:2", "second notice")
	r = admin.Get("/admin/settings")
	wantContains(t, "the Settings page", r.Body, `<h2 id="notifications-title">Notifications</h2>`,
		"VPN session expired for &lt;b&gt;alice&lt;/b&gt;", "second notice", `action="/admin/notifications/clear"`)
	if first, second := strings.Index(r.Body, "second notice"), strings.Index(r.Body, "VPN session expired"); first > second {
		t.Error("the older notification is listed first, want the newest first")
	}
	ids := shownNotifications(r.Body)
	if len(ids) != 2 {
		t.Fatalf("the Clear form lists %q, want the 2 notifications", ids)
	}
	wantLacks(t, "a user's page", user.Get("/devices").Body, "second notice")

	for _, tc := range []struct {
		name string
		ids  []string
		want string
	}{
		{"an id that is none", []string{ids[0], "1 OR 1=1"}, `id: "1 OR 1=1" is not a notification's id.`},
		{"too many", slices.Repeat([]string{ids[0]}, 21), "id: at most 20 notifications are cleared at once."},
	} {
		r := admin.Post("/admin/notifications/clear", url.Values{"id": tc.ids})
		if r.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.Body), tc.want) {
			t.Errorf("%s: got %d, want 400 saying %q", tc.name, r.Status, tc.want)
		}
	}
	if got := shownNotifications(admin.Get("/admin/settings").Body); len(got) != 2 {
		t.Errorf("refused requests cleared notifications: %d left, want 2", len(got))
	}

	r = admin.Post("/admin/notifications/clear", url.Values{"id": ids})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/admin/settings") || !strings.Contains(r.Body, "2 notifications cleared.") {
		t.Fatalf("clear: got %d at %s, want the Settings page saying so", r.Status, r.URL)
	}
	wantLacks(t, "the Settings page after clearing", r.Body, "second notice", "/admin/notifications/clear")
	notify("expired:alice:1", "VPN session expired for <b>alice</b>") // the data plane sees the event again
	wantLacks(t, "the Settings page after the event was seen again", admin.Get("/admin/settings").Body, "VPN session expired")
	r = admin.Post("/admin/notifications/clear", url.Values{"id": ids})
	wantContains(t, "clearing again", r.Body, "Nothing to clear")

	// More than a page: the newest 20 are shown, and then the rest.
	for i := range 21 {
		notify("many:"+strconv.Itoa(i), "notice "+strconv.Itoa(i))
	}
	r = admin.Get("/admin/settings")
	if got := shownNotifications(r.Body); len(got) != 20 || !strings.Contains(r.Body, "More notifications follow") {
		t.Fatalf("with 21 open: %d shown, want 20 and a word that more follow", len(got))
	}
	wantLacks(t, "the first page of 21 notifications", r.Body, "<li>notice 0 ")
	r = admin.Post("/admin/notifications/clear", url.Values{"id": shownNotifications(r.Body)})
	if got := shownNotifications(r.Body); len(got) != 1 || !strings.Contains(r.Body, "<li>notice 0 ") {
		t.Errorf("after clearing 20 of 21: %d shown, want the oldest one", len(got))
	}
}
