package app

import (
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"wiregui/app/access"
)

// notificationsShown is how many open notifications the Settings page lists, newest first;
// clearing them shows the next.
const notificationsShown = 20

// notificationList is what the Settings page shows admins of the events raised for them
// (a VPN session that expired, say).
type notificationList struct {
	Items []notificationItem
	More  bool // more are open than are shown
}

type notificationItem struct {
	ID      string
	Message string
	When    template.HTML // how long ago, with the time itself (agoHTML)
}

// openNotifications reads the list the Settings page shows: nil when the user may not see
// it or nothing is open.
func (s *Server) openNotifications(r *http.Request) (*notificationList, error) {
	if !s.can(r, access.ManageNotifications, nil) {
		return nil, nil
	}
	open, err := s.store.OpenNotifications(r.Context(), notificationsShown+1)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	list := &notificationList{More: len(open) > notificationsShown}
	now := time.Now()
	for _, n := range open[:min(len(open), notificationsShown)] {
		list.Items = append(list.Items, notificationItem{ID: n.ID, Message: n.Message, When: agoHTML(n.CreatedAt, now)})
	}
	return list, nil
}

// notificationID is the form of the ids the store gives notifications.
var notificationID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// clearNotifications answers POST /admin/notifications/clear: the notifications the form
// lists (id, as the Settings page showed them) are cleared, and the page shows the next. One
// that another admin cleared meanwhile is skipped.
func (s *Server) clearNotifications(w http.ResponseWriter, r *http.Request) {
	ids := r.PostForm["id"]
	if len(ids) > notificationsShown {
		s.clientError(w, r, http.StatusBadRequest, "id: at most "+strconv.Itoa(notificationsShown)+" notifications are cleared at once.")
		return
	}
	for _, id := range ids {
		if !notificationID.MatchString(id) {
			s.clientError(w, r, http.StatusBadRequest, "id: "+strconv.Quote(id)+" is not a notification's id.")
			return
		}
	}
	n, err := s.store.ClearNotifications(r.Context(), ids)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	flash := strconv.Itoa(n) + " notifications cleared."
	switch n {
	case 0:
		flash = "Nothing to clear: those notifications were cleared already."
	case 1:
		flash = "1 notification cleared."
	}
	s.sessions.Put(r.Context(), sessionFlash, flash)
	http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
}
