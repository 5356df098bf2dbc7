package users

import (
	"context"
	"errors"
	"slices"

	"wiregui/app/auth"
	"wiregui/app/text"
	"wiregui/store"
)

// What users change of their own account, on the Account page.

// Themes are the colour themes a user may choose, in the order the Account page offers them.
var Themes = []string{store.ThemeSystem, store.ThemeLight, store.ThemeDark}

// SetTheme sets the colour theme of user id; one that is not in Themes is an InputError on
// "theme".
func (s *Service) SetTheme(ctx context.Context, id, theme string) error {
	if !slices.Contains(Themes, theme) {
		return &text.InputError{Field: "theme", Message: "Choose a theme: system, light or dark."}
	}
	return s.Store.SetUserTheme(ctx, id, theme)
}

// PasswordChange is what a user types to change their password: the current one, and the
// new one twice.
type PasswordChange struct{ Current, New, Again string }

// ChangePassword sets the password of the user with email to c.New, when c.Current is their
// password now and c.Again repeats c.New. Every problem with the input is reported at once, as
// InputErrors on "current_password" (missing or wrong), "new_password" (CheckPassword, or the
// same as the current one) and "confirm_password"; nothing changes then. auth.ErrBusy when
// passwords cannot be checked at the moment.
func (s *Service) ChangePassword(ctx context.Context, email string, c PasswordChange) error {
	u, err := s.ByEmail(ctx, email)
	if err != nil {
		return err
	}
	var bad []error
	matches := false
	if c.Current == "" {
		bad = append(bad, &text.InputError{Field: "current_password", Message: "Enter your current password."})
	} else {
		if matches, err = auth.CheckPassword(u.PasswordHash, c.Current); err != nil {
			return err
		}
		if !matches {
			bad = append(bad, &text.InputError{Field: "current_password", Message: "This is not your current password."})
		}
	}
	if err := CheckPassword(u.Email, c.New); err != nil {
		var ie *text.InputError
		errors.As(err, &ie)
		bad = append(bad, &text.InputError{Field: "new_password", Message: ie.Message})
	} else if matches && c.New == c.Current {
		bad = append(bad, &text.InputError{Field: "new_password", Message: "The new password is the one you have now; choose another."})
	}
	if c.New != "" && c.Again != c.New {
		bad = append(bad, &text.InputError{Field: "confirm_password", Message: "The two new passwords differ; type the same one twice."})
	}
	if len(bad) > 0 {
		return errors.Join(bad...)
	}
	_, _, err = s.Update(ctx, u.Email, Change{Password: &c.New})
	return err
}
