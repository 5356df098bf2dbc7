package app

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/app/users"
	"wiregui/store"
)

// The Account page: every signed-in user's own details, password, theme, sessions and the
// deletion of their account. Its routes act on the viewer alone, so no object is checked.

// accountPage is the Account page's data (pages/account.html).
type accountPage struct {
	Email, Role   string
	LastSignIn    template.HTML // when, and how; "never"
	Created       template.HTML
	Devices       int
	Rules         int // the global rules and the user's own: those that decide their devices' connections
	Theme         string
	Themes        []themeChoice
	Sessions      []sessionRow
	OtherSessions int
}

type themeChoice struct{ Value, Label, Hint string }

// themeChoices labels users.Themes.
var themeChoices = map[string]themeChoice{
	store.ThemeSystem: {store.ThemeSystem, "Follow the system", "Light or dark as your device is set."},
	store.ThemeLight:  {store.ThemeLight, "Light", ""},
	store.ThemeDark:   {store.ThemeDark, "Dark", ""},
}

// sessionRow is one of the user's sessions as the page lists it.
type sessionRow struct {
	SignedIn, Seen template.HTML
	Current        bool
}

// signInWords says how a user signed in, after "with": "password" → "a password"; a method
// it does not know is said as it is stored.
func signInWords(method string) string { return cmp.Or(signInMethodWords[method], method) }

var signInMethodWords = map[string]string{
	"password":               "a password",
	"password+totp":          "a password and an authenticator app's code",
	"password+webauthn":      "a password and a security key",
	"password+recovery_code": "a password and a recovery code",
	"passkey":                "a passkey",
	"magic_link":             "a link sent by email",
	"invitation":             "an invitation's link",
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request) {
	pd, err := s.accountPage(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, "account", pd)
}

// accountPage fills the page's data for the viewer.
func (s *Server) accountPage(r *http.Request) (*PageData, error) {
	u := currentUser(r)
	now := time.Now()
	pd := s.page(r, "Account", "account")
	page := &accountPage{Email: u.Email, Role: "User", Created: agoHTML(u.CreatedAt, now), Theme: u.Theme,
		LastSignIn: "never"}
	if u.IsAdmin() {
		page.Role = "Admin"
	}
	if u.LastSignedInAt != nil {
		page.LastSignIn = agoHTML(*u.LastSignedInAt, now)
		if how := signInWords(u.LastSignedInMethod); how != "" {
			page.LastSignIn += template.HTML(" with " + template.HTMLEscapeString(how))
		}
	}
	for _, t := range users.Themes {
		page.Themes = append(page.Themes, themeChoices[t])
	}
	var err error
	if _, page.Devices, err = s.store.ListDevicesPage(r.Context(), store.DeviceQuery{UserID: u.ID, Limit: 1}); err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	up, err := s.rules.ForUser(r.Context(), u.ID)
	if err != nil {
		return nil, fmt.Errorf("count rules: %w", err)
	}
	page.Rules = len(up.Rules)
	sessions, err := s.store.Sessions().ForUser(r.Context(), u.ID, s.sessions.Token(r.Context()))
	if err != nil {
		return nil, err
	}
	for _, sn := range sessions {
		// A session idle for longer than sessionIdle ends at its next request: it is not listed.
		if !sn.Current && sn.SeenAt != nil && now.Sub(*sn.SeenAt) > sessionIdle {
			continue
		}
		row := sessionRow{SignedIn: "unknown", Seen: "unknown", Current: sn.Current}
		if sn.SignedInAt != nil {
			row.SignedIn = agoHTML(*sn.SignedInAt, now)
		}
		if sn.SeenAt != nil {
			row.Seen = agoHTML(*sn.SeenAt, now)
		}
		if !sn.Current {
			page.OtherSessions++
		}
		page.Sessions = append(page.Sessions, row)
	}
	pd.Data = page
	return pd, nil
}

// accountInvalid shows the page again with what was wrong in pd.Form (status 422), or another
// status for the whole form.
func (s *Server) accountInvalid(w http.ResponseWriter, r *http.Request, status int, form *Form) {
	pd, err := s.accountPage(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Form = form
	s.renderPage(w, r, status, "account", pd)
}

// changePassword sets a new password once the current one is given, renews the session's
// token and ends the user's other sessions: whoever knew the old password is signed out.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	form := newForm()
	err := s.users.ChangePassword(r.Context(), u.Email, users.PasswordChange{Current: r.PostFormValue("current_password"),
		New: r.PostFormValue("new_password"), Again: r.PostFormValue("confirm_password")})
	fieldError(form, err)
	switch {
	case errors.Is(err, auth.ErrBusy):
		w.Header().Set("Retry-After", fmt.Sprint(int(auth.RetryAfter/time.Second)))
		form.Errors["_password"] = "Too many passwords are being checked at once. Wait a moment and try again."
		s.accountInvalid(w, r, http.StatusServiceUnavailable, form)
		return
	case err != nil && form.Valid():
		s.serverError(w, r, err)
		return
	case !form.Valid():
		s.log.Info("password change refused", slog.String("user", u.Email), slog.String("fields", strings.Join(fieldNames(form), ",")))
		s.accountInvalid(w, r, http.StatusUnprocessableEntity, form)
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	ended, err := s.store.Sessions().EndOthers(r.Context(), u.ID, s.sessions.Token(r.Context()))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("password changed", slog.String("user", u.Email), slog.Int64("other_sessions_ended", ended))
	s.sessions.Put(r.Context(), sessionFlash, "Password changed. "+endedWords(ended))
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// setTheme saves the user's colour theme; the page it goes back to is drawn in it.
func (s *Server) setTheme(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	form := newForm()
	if err := s.users.SetTheme(r.Context(), u.ID, r.PostFormValue("theme")); err != nil {
		if !fieldError(form, err) {
			s.serverError(w, r, err)
			return
		}
		s.accountInvalid(w, r, http.StatusUnprocessableEntity, form)
		return
	}
	s.sessions.Put(r.Context(), sessionFlash, "Theme saved.")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// endOtherSessions signs the user out everywhere but here.
func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	ended, err := s.store.Sessions().EndOthers(r.Context(), u.ID, s.sessions.Token(r.Context()))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("other sessions ended", slog.String("user", u.Email), slog.Int64("sessions", ended))
	s.sessions.Put(r.Context(), sessionFlash, endedWords(ended))
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// endedWords says how many other sessions were signed out.
func endedWords(n int64) string {
	switch n {
	case 0:
		return "You had no other sessions."
	case 1:
		return "Your 1 other session was signed out."
	}
	return fmt.Sprintf("Your %d other sessions were signed out.", n)
}

// deleteAccount deletes the user's account once they typed their email exactly: their
// devices, peers and rules go at once (the user service tells the data plane), and so does
// every session of theirs. The last enabled admin stays (the store's transaction refuses).
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	form := newForm()
	typed := r.PostFormValue("confirm_email")
	switch {
	case strings.TrimSpace(typed) == "":
		form.Errors["confirm_email"] = "Type your email address to confirm."
	case strings.TrimSpace(typed) != u.Email:
		form.Values["confirm_email"] = typed
		form.Errors["confirm_email"] = "This is not your email address; type " + u.Email + " exactly."
	}
	if !form.Valid() {
		s.accountInvalid(w, r, http.StatusUnprocessableEntity, form)
		return
	}
	if _, err := s.users.Delete(r.Context(), u.Email); err != nil {
		bad := text.InputErrors(err) // the last enabled admin
		if len(bad) == 0 {
			s.serverError(w, r, err)
			return
		}
		form.Values["confirm_email"] = typed
		form.Errors["_delete"] = bad[0].Message
		s.accountInvalid(w, r, http.StatusConflict, form)
		return
	}
	s.log.Info("account deleted by its user", slog.String("user", u.Email))
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	setLoginNotice(w, s.sessions.Cookie.Secure, noticeAccountDeleted)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fieldNames lists the fields with an error, in order, for the log.
func fieldNames(f *Form) []string { return slices.Sorted(maps.Keys(f.Errors)) }
