package app

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"wiregui/app/mfa"
	"wiregui/app/text"
	"wiregui/assets"
	"wiregui/store"
)

// The Two-factor authentication page (/account/mfa): a user's authenticator apps, security
// keys and passkeys, added, listed and removed, and their recovery codes. A user who must add
// a second factor before anything else (an admin requires one: signIn) reaches this page
// alone, and adding one completes their sign-in.

// accountMFAPage is the payload of the Two-factor authentication page.
type accountMFAPage struct {
	Methods []mfaRow
	// Enrolling: the user must add a second factor before anything else.
	Enrolling bool
	// Required: an admin requires a second factor, so the last one cannot be removed.
	Required     bool
	RecoveryLeft int
	// RecoveryCodes are the codes just made, shown this once.
	RecoveryCodes []string
	// KeysUnavailable says why security keys and passkeys cannot be added here; "" when they can.
	KeysUnavailable string
	// Passwordless: an admin lets a passkey sign in alone.
	Passwordless bool
}

// mfaRow is one method in the page's table.
type mfaRow struct {
	ID, Name, Kind string
	Added          string // a date
	LastUsed       string // "3 minutes ago", "never"
}

// kindWords names a method's kind for people.
func kindWords(m store.MFAMethod) string {
	switch {
	case m.Kind == store.MFATOTP:
		return "Authenticator app"
	case m.Discoverable:
		return "Passkey"
	}
	return "Security key"
}

// enrolPath reports whether a user who must add a second factor may open path: the pages that
// add one, and signing out.
func enrolPath(path string) bool {
	return path == "/account/mfa" || strings.HasPrefix(path, "/account/mfa/") || path == "/logout"
}

// enrolGate sends a user who must add a second factor to the page that adds one.
func (s *Server) enrolGate(w http.ResponseWriter, r *http.Request) {
	switch {
	case wantsJSON(r):
		writeJSON(w, http.StatusForbidden, jsonAnswer{Error: "Add a second factor first.", Redirect: "/account/mfa"})
	case isHTMX(r):
		w.Header().Set(hxRedirect, "/account/mfa")
		w.WriteHeader(http.StatusForbidden)
	default:
		http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
	}
}

// accountMFA fills the page for the request's user.
func (s *Server) accountMFA(r *http.Request, pd *PageData) error {
	u := currentUser(r)
	methods, err := s.mfa.Methods(r.Context(), u.ID)
	if err != nil {
		return err
	}
	left, err := s.mfa.RecoveryCodesLeft(r.Context(), u)
	if err != nil {
		return err
	}
	st := requestViewer(r).settings
	page := accountMFAPage{Enrolling: s.enrolling(r), Required: st.MFARequired, Passwordless: st.PasswordlessEnabled,
		RecoveryLeft: left, KeysUnavailable: text.Sentence(s.mfa.WebAuthnUnavailable())}
	now := time.Now()
	for _, m := range methods {
		row := mfaRow{ID: m.ID, Name: m.Name, Kind: kindWords(m), Added: m.CreatedAt.Local().Format("2 Jan 2006"),
			LastUsed: "never"}
		if m.LastUsedAt != nil {
			row.LastUsed = assets.Ago(now, *m.LastUsedAt)
		}
		page.Methods = append(page.Methods, row)
	}
	pd.Data = page
	return nil
}

// enrolling reports whether the request's user must add a second factor before anything else.
func (s *Server) enrolling(r *http.Request) bool {
	return s.sessions.GetString(r.Context(), sessionEnrol) != ""
}

func (s *Server) showAccountMFA(w http.ResponseWriter, r *http.Request) {
	pd := s.page(r, "Two-factor authentication", "account")
	if err := s.accountMFA(r, pd); err != nil {
		s.serverError(w, r, err)
		return
	}
	if page := pd.Data.(accountMFAPage); page.Enrolling && len(page.Methods) > 0 {
		// Added in another session since this one signed in: this one has not given it.
		if err := s.awaitSecondFactor(w, r, currentUser(r), s.sessions.GetString(r.Context(), sessionEnrol)); err != nil {
			s.serverError(w, r, err)
			return
		}
		http.Redirect(w, r, "/mfa", http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, "account-mfa", pd)
}

// totpPage is the payload of the page that adds an authenticator app.
type totpPage struct {
	Enrolment mfa.Enrolment
	QR        any    // the otpauth URL as a QR code image (template.URL)
	Secret    string // the secret in groups of four, to type
}

func (s *Server) showTOTPEnrolment(w http.ResponseWriter, r *http.Request) {
	en, err := s.mfa.StartTOTP(currentUser(r))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd := s.page(r, "Add an authenticator app", "account")
	pd.Form.Values["name"] = "Authenticator app"
	s.renderTOTPEnrolment(w, r, http.StatusOK, pd, en)
}

func (s *Server) renderTOTPEnrolment(w http.ResponseWriter, r *http.Request, status int, pd *PageData, en mfa.Enrolment) {
	qr, err := qrDataURL(en.URL)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var groups []string
	for rest := en.Secret; rest != ""; {
		n := min(4, len(rest))
		groups, rest = append(groups, rest[:n]), rest[n:]
	}
	pd.Data = totpPage{Enrolment: en, QR: qr, Secret: strings.Join(groups, " ")}
	s.renderPage(w, r, status, "mfa-totp", pd)
}

// confirmTOTP saves the authenticator app once its code matches.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	pd := s.page(r, "Add an authenticator app", "account")
	pd.Form.Values["name"] = r.PostFormValue("name")
	token := r.PostFormValue("token")
	m, err := s.mfa.ConfirmTOTP(r.Context(), u, token, r.PostFormValue("name"), r.PostFormValue("code"))
	if bad := text.InputErrors(err); len(bad) > 0 {
		for _, b := range bad {
			pd.Form.Errors[b.Field] = b.Message
		}
		en, resumeErr := s.mfa.ResumeTOTP(u, token)
		if resumeErr != nil { // expired: a new QR code, with the reason
			if en, err = s.mfa.StartTOTP(u); err != nil {
				s.serverError(w, r, err)
				return
			}
		}
		s.renderTOTPEnrolment(w, r, http.StatusUnprocessableEntity, pd, en)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.methodAdded(w, r, u, m)
}

// methodAdded completes a sign-in that waited for the user to add a second factor, and tells
// the user the method was added.
func (s *Server) methodAdded(w http.ResponseWriter, r *http.Request, u *store.User, m *store.MFAMethod) {
	if method := s.sessions.GetString(r.Context(), sessionEnrol); method != "" {
		if err := s.finishSignIn(w, r, u, method+"+"+m.Kind); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.sessions.Put(r.Context(), sessionFlash, kindWords(*m)+" “"+m.Name+"” added. Make recovery codes now if you have none.")
	goTo(w, r, "/account/mfa")
}

// beginKeyRegistration hands the browser the options to make a new credential, and keeps the
// ceremony in the session.
func (s *Server) beginKeyRegistration(w http.ResponseWriter, r *http.Request) {
	options, c, err := s.mfa.BeginRegistration(r.Context(), currentUser(r), r.PostFormValue("name"))
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusUnprocessableEntity)
		return
	}
	s.sessions.Put(r.Context(), sessionWebAuthn, []byte(c))
	writeRawJSON(w, options)
}

// finishKeyRegistration saves the new credential the authenticator made.
func (s *Server) finishKeyRegistration(w http.ResponseWriter, r *http.Request) {
	answer, err := io.ReadAll(r.Body)
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusBadRequest)
		return
	}
	u := currentUser(r)
	c := mfa.Ceremony(s.sessions.PopBytes(r.Context(), sessionWebAuthn))
	m, err := s.mfa.FinishRegistration(r.Context(), u, c, answer)
	if err != nil {
		s.webAuthnError(w, r, err, http.StatusUnprocessableEntity)
		return
	}
	s.methodAdded(w, r, u, m)
}

// newRecoveryCodes makes the user's recovery codes and shows them, this once.
func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	pd := s.page(r, "Two-factor authentication", "account")
	if err := s.accountMFA(r, pd); err != nil {
		s.serverError(w, r, err)
		return
	}
	page := pd.Data.(accountMFAPage)
	if len(page.Methods) == 0 {
		pd.Form.Errors["_form"] = "Add an authenticator app or a security key first: recovery codes stand in for one."
		s.renderPage(w, r, http.StatusUnprocessableEntity, "account-mfa", pd)
		return
	}
	codes, err := s.mfa.NewRecoveryCodes(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page.RecoveryCodes, page.RecoveryLeft = codes, len(codes)
	pd.Data = page
	s.renderPage(w, r, http.StatusOK, "account-mfa", pd)
}

// mfaDeletePage is the payload of the page that confirms a method's removal.
type mfaDeletePage struct {
	Method mfaRow
	// Last: it is the user's last method; Refused: and an admin requires one.
	Last, Refused bool
}

// mfaMethodOf returns the request's user's method {id}; nil, having answered 404, when they
// have none of that id.
func (s *Server) mfaMethodOf(w http.ResponseWriter, r *http.Request) (*mfaDeletePage, bool) {
	methods, err := s.mfa.Methods(r.Context(), currentUser(r).ID)
	if err != nil {
		s.serverError(w, r, err)
		return nil, false
	}
	for _, m := range methods {
		if m.ID == r.PathValue("id") {
			last := len(methods) == 1
			return &mfaDeletePage{Method: mfaRow{ID: m.ID, Name: m.Name, Kind: kindWords(m)}, Last: last,
				Refused: last && requestViewer(r).settings.MFARequired}, true
		}
	}
	s.notFound(w, r)
	return nil, false
}

func (s *Server) confirmRemoveMFA(w http.ResponseWriter, r *http.Request) {
	page, ok := s.mfaMethodOf(w, r)
	if !ok {
		return
	}
	pd := s.page(r, "Remove "+page.Method.Name, "account")
	pd.Data = *page
	s.renderPage(w, r, http.StatusOK, "mfa-delete", pd)
}

func (s *Server) removeMFA(w http.ResponseWriter, r *http.Request) {
	page, ok := s.mfaMethodOf(w, r)
	if !ok {
		return
	}
	pd := s.page(r, "Remove "+page.Method.Name, "account")
	pd.Data = *page
	if page.Refused {
		pd.Form.Errors["_form"] = "An administrator requires a second factor: add another before you remove your last one."
		s.renderPage(w, r, http.StatusUnprocessableEntity, "mfa-delete", pd)
		return
	}
	err := s.mfa.Remove(r.Context(), currentUser(r), page.Method.ID)
	switch {
	case errors.Is(err, store.ErrNotFound): // removed by another request since
		s.notFound(w, r)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionFlash, page.Method.Kind+" “"+page.Method.Name+"” removed.")
	http.Redirect(w, r, "/account/mfa", http.StatusSeeOther)
}
