package users

import (
	"errors"

	"wiregui/app/mail"
	"wiregui/app/text"
)

// CheckSignIn refuses sign-in settings that would let nobody sign in: passwords go off only
// while sign-in links are on, and links go on only once email is set up (ready is the
// mailer's Ready: nil when it is; linksWere says whether they were on before). Its errors
// are InputErrors on "local_auth_enabled" and "magic_link_enabled"; an error of ready other
// than mail.ErrNotSetUp is returned as it is.
func CheckSignIn(local, links, linksWere bool, ready error) error {
	var errs []error
	if links && !linksWere && ready != nil {
		if !errors.Is(ready, mail.ErrNotSetUp) {
			return ready
		}
		errs = append(errs, &text.InputError{Field: "magic_link_enabled",
			Message: "Set up email first: sign-in links are sent by email.", Err: ready})
	}
	if !local && !links {
		errs = append(errs, &text.InputError{Field: "local_auth_enabled",
			Message: "Keep password sign-in on, or turn sign-in links on: without either, nobody could sign in."})
	}
	return errors.Join(errs...)
}
