package app

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"wiregui/app/auth"
	"wiregui/app/limits"
)

// An invitation's link (users.Service.Invite) opens a page where the new user chooses a
// password; saving it uses the link up and signs them in.

// invitationPage is the payload of the invitation page.
type invitationPage struct {
	Email string // "" when the link is not valid
	Token string
}

// invitationData is the invitation page's data for the token in r's path, and its status:
// 200 with the invited user's email, or 404.
func (s *Server) invitationData(w http.ResponseWriter, r *http.Request) (*PageData, int, error) {
	pd, err := s.loginPage(w, r)
	if err != nil {
		return nil, 0, err
	}
	pd.Title = "Choose your password"
	page := invitationPage{Token: r.PathValue("token")}
	status := http.StatusNotFound
	u, err := s.users.InvitedUser(r.Context(), page.Token)
	switch {
	case err == nil:
		page.Email, status = u.Email, http.StatusOK
	case !isNotFound(err):
		return nil, 0, err
	}
	pd.Data = page
	return pd, status, nil
}

func (s *Server) showInvitation(w http.ResponseWriter, r *http.Request) {
	pd, status, err := s.invitationData(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, status, "invitation", pd)
}

// acceptInvitation saves the invited user's password and signs them in.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	pd, status, err := s.invitationData(w, r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	attempt := limits.Attempt{Kind: limits.Invitation, Addr: clientAddr(r)}
	verdict, ok := s.beginAttempt(w, r, "invitation", pd, attempt)
	if !ok {
		return
	}
	if status != http.StatusOK {
		s.signInFailed(r, attempt, "", verdict, "invalid or expired invitation")
		s.renderPage(w, r, status, "invitation", pd)
		return
	}
	email := pd.Data.(invitationPage).Email
	password := r.PostFormValue("password")
	if password != r.PostFormValue("confirm") {
		pd.Form.Errors["confirm"] = "The two passwords differ. Type the same password twice."
	}
	if pd.Form.Valid() {
		accepted, err := s.users.AcceptInvitation(r.Context(), r.PathValue("token"), password)
		switch {
		case errors.Is(err, auth.ErrBusy):
			w.Header().Set("Retry-After", strconv.Itoa(int(auth.RetryAfter/time.Second)))
			pd.Form.Errors["_form"] = "Too many sign-ins at once. Wait a moment and try again."
			s.renderPage(w, r, http.StatusServiceUnavailable, "invitation", pd)
			return
		case fieldError(pd.Form, err):
		case isNotFound(err): // used up meanwhile, in another tab
			s.signInFailed(r, attempt, email, verdict, "invalid or expired invitation")
			pd.Data = invitationPage{}
			s.renderPage(w, r, http.StatusNotFound, "invitation", pd)
			return
		case err != nil:
			s.serverError(w, r, err)
			return
		default:
			attempt.UserID = accepted.ID
			if err := s.limits.Succeed(r.Context(), attempt); err != nil {
				s.serverError(w, r, err)
				return
			}
			s.signIn(w, r, accepted, "invitation")
			return
		}
	}
	// A password the policy refuses is no guess: the address gets its attempt back.
	if err := s.limits.Succeed(r.Context(), limits.Attempt{Kind: limits.Invitation, Addr: attempt.Addr}); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusUnprocessableEntity, "invitation", pd)
}
