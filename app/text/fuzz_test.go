package text

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"wiregui/wg"

	"golang.org/x/text/unicode/norm"
)

// FuzzClean checks that what a field accepts obeys the rule, whatever came in: valid UTF-8,
// NFC, trimmed, within Max, no control characters but a multi-line field's line breaks and
// tabs, no format characters or line breaks in a one-line field; and that cleaning it again
// changes nothing.
func FuzzClean(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string, multiLine bool) {
		field := Field{Name: "a field", Max: 20, MultiLine: multiLine}
		got, err := field.Clean(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "a field ") {
				t.Fatalf("Clean(%q): the error %q does not name the field first", in, err)
			}
			return
		}
		switch {
		case !utf8.ValidString(got):
			t.Fatalf("Clean(%q) = %q: not UTF-8", in, got)
		case !norm.NFC.IsNormalString(got):
			t.Fatalf("Clean(%q) = %q: not NFC", in, got)
		case got != strings.TrimSpace(got):
			t.Fatalf("Clean(%q) = %q: not trimmed", in, got)
		case utf8.RuneCountInString(got) > field.Max:
			t.Fatalf("Clean(%q) = %q: longer than %d", in, got, field.Max)
		}
		for _, r := range got {
			lineBreak := r == '\n' || r == '\u2028' || r == '\u2029'
			if multiLine && (r == '\r' || unicode.IsControl(r) && r != '\n' && r != '\t') ||
				!multiLine && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || lineBreak) {
				t.Fatalf("Clean(%q) = %q: holds %U", in, got, r)
			}
		}
		if again, err := field.Clean(got); err != nil || again != got {
			t.Fatalf("Clean(%q) = %q, but cleaning that gives %q, %v", in, got, again, err)
		}
	})
}

// FuzzEmail checks that an accepted address obeys the text rule of a one-line field, has one
// name and one domain around its last @, and is accepted again unchanged.
func FuzzEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Email(in)
		if err != nil {
			return
		}
		if clean, err := EmailAddress.Clean(got); err != nil || clean != got {
			t.Fatalf("Email(%q) = %q, which the text rule makes %q, %v", in, got, clean, err)
		}
		at := strings.LastIndexByte(got, '@')
		if at <= 0 || at == len(got)-1 || wg.CheckHostname(got[at+1:]) != nil || strings.ContainsAny(got[:at], " <>()[],;:\"@\\") {
			t.Fatalf("Email(%q) = %q: not name@domain", in, got)
		}
		if again, err := Email(got); err != nil || again != got {
			t.Fatalf("Email(%q) = %q, but Email of that gives %q, %v", in, got, again, err)
		}
	})
}
