// Package text is the one rule for free text that people type into WireGUI: device names and
// descriptions, email addresses, searches. The web forms, the CLI and the configuration all
// check their text fields here, so that a value one of them accepts the others accept too, and
// both databases store the same thing (PostgreSQL refuses NUL bytes and invalid UTF-8 that
// SQLite would keep).
//
// The rule, for every field:
//   - the text is valid UTF-8, with no NUL or other control character (Unicode category Cc);
//   - it is normalised to NFC, so that "é" typed as one code point or as "e" and a combining
//     accent is the same name, and trimmed of surrounding white space;
//   - a one-line field (a name) has no line break and no format character (category Cf): bidi
//     controls such as U+202E turn "gpj.exe" into what reads as "exe.jpg", and zero-width
//     characters make two names that look alike differ. Emoji written as one code point
//     (🚀, 🇩🇪) are fine; sequences joined with U+200D (👩‍💻) are refused with the rest of Cf;
//   - a multi-line field (a description) may also hold line breaks and tabs, and format
//     characters, which some scripts and emoji sequences need; "\r\n" and a lone "\r" become
//     "\n", so that text pasted from any system is stored one way;
//   - its length, counted in characters (code points) after normalisation, is at most the
//     field's Max.
package text

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"wiregui/wg"

	"golang.org/x/text/unicode/norm"
)

// Field is one kind of text field.
type Field struct {
	// Name is how messages call the field, with its article, in lower case: "a device name".
	Name string
	// Max is the most characters (code points) the field holds after normalisation.
	Max int
	// MultiLine allows line breaks, tabs and format characters.
	MultiLine bool
}

// Clean returns s normalised by the rule, or an error that names the field and says what is
// wrong. The error is lower case, like every error here; forms turn it into a sentence. An
// empty result is not an error: whether the field may be empty is the caller's to say.
func (f Field) Clean(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s must be UTF-8 text; this one has a byte that is not", f.Name)
	}
	if f.MultiLine {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	s = strings.TrimSpace(norm.NFC.String(s))
	for _, r := range s {
		if why := f.refuses(r); why != "" {
			return "", fmt.Errorf("%s cannot contain %s", f.Name, why)
		}
	}
	if n := utf8.RuneCountInString(s); n > f.Max {
		return "", fmt.Errorf("%s has at most %d characters (this one has %d)", f.Name, f.Max, n)
	}
	return s, nil
}

// refuses says what r is when the field may not hold it ("line breaks"), or "" when it may.
func (f Field) refuses(r rune) string {
	switch {
	case r == '\n' || r == '\t':
		if f.MultiLine {
			return ""
		}
		if r == '\n' {
			return "line breaks"
		}
		return "tabs"
	case r == 0:
		return "NUL bytes"
	case unicode.IsControl(r):
		return fmt.Sprintf("control characters such as %U", r)
	case r == '\u2028' || r == '\u2029': // line and paragraph separators: line breaks too
		if f.MultiLine {
			return ""
		}
		return "line breaks"
	case unicode.Is(unicode.Cf, r) && !f.MultiLine:
		return fmt.Sprintf("invisible formatting characters such as %U", r)
	}
	return ""
}

// EmailAddress is the text rule of an email address: one line of at most 254 characters, the
// longest address SMTP carries. A form that only looks an address up (sign-in) checks this;
// one that stores an address checks Email.
var EmailAddress = Field{Name: "an email address", Max: 254}

// Email checks an email address: the text rule, then the shape name@domain, where the name
// has no white space and none of <>()[],;:"@\ and the domain is a DNS name in ASCII
// (an internationalised domain in its xn-- form). It returns the address trimmed and in NFC,
// with its case kept; deciding when two addresses are the same is the store's.
func Email(s string) (string, error) {
	e, err := EmailAddress.Clean(s)
	switch {
	case err != nil:
		return "", err
	case e == "":
		return "", errors.New("the email address is empty")
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:max(at, 0)], e[at+1:]
	switch {
	case at < 0 || local == "" || domain == "":
		return "", fmt.Errorf("%q is not an email address (name@domain)", e)
	case len(local) > 64:
		return "", fmt.Errorf("%q is not an email address: the part before @ has at most 64 bytes", e)
	case strings.ContainsFunc(local, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`<>()[],;:"@\`, r) }):
		return "", fmt.Errorf("%q is not an email address: the part before @ cannot contain white space or any of <>()[],;:\"@\\", e)
	case wg.CheckHostname(domain) != nil || strings.HasSuffix(domain, "."):
		return "", fmt.Errorf("%q is not an email address: %q is not a domain name (letters, digits, hyphens and dots)", e, domain)
	}
	return e, nil
}

// Mailbox checks the address emails are sent from: an email address (Email), alone or after
// a name, as in "WireGUI <vpn@example.com>". It returns the mailbox trimmed, in NFC.
func Mailbox(s string) (string, error) {
	m, err := EmailAddress.Clean(s)
	switch {
	case err != nil:
		return "", err
	case m == "":
		return "", errors.New("the sender address is empty")
	}
	addr, err := mail.ParseAddress(m)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address, nor a name and <email address>", m)
	}
	if _, err := Email(addr.Address); err != nil {
		return "", err
	}
	return m, nil
}

// InputError is a problem with one field of what someone entered, from a form, the CLI or an
// API request: Field names the field ("_form" for the whole), Message explains it in a
// sentence meant for them.
type InputError struct {
	Field   string
	Message string
	Err     error // what it comes from, for errors.Is (store.ErrConflict for a taken name); may be nil
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

func (e *InputError) Unwrap() error { return e.Err }

// InputErrors returns the InputErrors in err's tree, in order: err itself, or each of those
// that errors.Join put together (a form with several bad fields).
func InputErrors(err error) []*InputError {
	var out []*InputError
	var walk func(error)
	walk = func(err error) {
		if bad, ok := err.(*InputError); ok {
			out = append(out, bad)
			return
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Sentence turns a lower-case error text into a message for a person: capitalised, with a
// full stop.
func Sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}
