package app

import (
	"net/http"
	"time"

	"wiregui/app/auth"
	"wiregui/app/text"
)

// invalidCredentials is the one answer to every failed sign-in, so that it reveals nothing.
const invalidCredentials = "Invalid email or password"

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	if currentUser(r) != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, "login", s.page(r, "Sign in", "login"))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Sign in", "login")
	// Only the text rule: the address is looked up, and a user made before a rule changed
	// still signs in.
	email, err := text.EmailAddress.Clean(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	pd.Form.Values["email"] = r.PostFormValue("email")
	switch {
	case err != nil:
		pd.Form.Errors["email"] = sentence(err.Error())
	case email == "":
		pd.Form.Errors["email"] = "Enter your email address."
	}
	if password == "" {
		pd.Form.Errors["password"] = "Enter your password."
	}
	if !pd.Form.Valid() {
		s.renderPage(w, r, http.StatusUnprocessableEntity, "login", pd)
		return
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if err != nil && !isNotFound(err) {
		s.serverError(w, r, err)
		return
	}
	ok := false
	if u == nil {
		auth.CheckNothing(password)
	} else {
		ok = auth.CheckPassword(u.PasswordHash, password) && !u.Disabled()
	}
	if !ok {
		pd.Form.Errors["_form"] = invalidCredentials
		s.renderPage(w, r, http.StatusUnauthorized, "login", pd)
		return
	}
	// A new token on every privilege change defeats session fixation.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionUserID, u.ID)
	s.sessions.Put(r.Context(), sessionSeen, time.Now().UnixMilli())
	s.sessions.Put(r.Context(), sessionCSRF, randomHex(32))
	if err := s.store.RecordSignIn(r.Context(), u.ID, "password", time.Now()); err != nil {
		s.serverError(w, r, err)
		return
	}
	// A fresh sign-in renews an expired VPN session: the user's peers come back now.
	s.devices.changed(u.ID)
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
