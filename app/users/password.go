package users

import (
	"strings"
	"unicode/utf8"

	"wiregui/app/text"
	"wiregui/store"
)

// MinPasswordLength is the fewest characters a new password has.
const MinPasswordLength = 10

// CheckPassword is the policy a new password of the account email meets: at least
// MinPasswordLength characters, and not the email address. Its error is an InputError on
// "password".
//
// The first version, made for invitations; the Account page's brings the list of the most
// common passwords.
func CheckPassword(email, password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return &text.InputError{Field: "password", Message: "Choose a password of at least 10 characters."}
	case strings.EqualFold(strings.TrimSpace(password), store.NormalizeEmail(email)):
		return &text.InputError{Field: "password", Message: "Choose a password that is not your email address."}
	}
	return nil
}
