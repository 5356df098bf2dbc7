package text

import (
	"strings"
	"testing"
)

var (
	name        = Field{Name: "a device name", Max: 8}
	description = Field{Name: "a description", Max: 8, MultiLine: true}
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field Field
		in    string
		want  string
		err   string // a part of the error; "" means accepted
	}{
		{"ascii", name, "  laptop ", "laptop", ""},
		{"non-ascii and emoji", name, "Zoë 🚀", "Zoë 🚀", ""},
		{"a flag is two code points", name, "🇩🇪", "🇩🇪", ""},
		{"decomposed becomes composed", name, "Zoe\u0308", "Zo\u00eb", ""},
		{"length counts after NFC", name, "e\u0301e\u0301e\u0301e\u0301e\u0301", "ééééé", ""},
		{"empty is the caller's to refuse", name, " \t ", "", ""},
		{"too long", name, "123456789", "", "a device name has at most 8 characters (this one has 9)"},
		{"invalid utf-8", name, "ab\xffc", "", "a device name must be UTF-8 text"},
		{"invalid utf-8 in a description", description, "\xc3", "", "a description must be UTF-8 text"},
		{"NUL", name, "a\x00b", "", "a device name cannot contain NUL bytes"},
		{"NUL in a description", description, "a\x00b", "", "a description cannot contain NUL bytes"},
		{"bell", name, "a\ab", "", "cannot contain control characters such as U+0007"},
		{"DEL", description, "a\x7fb", "", "control characters such as U+007F"},
		{"C1 control", name, "a\u0085b", "", "control characters such as U+0085"},
		{"bidi override", name, "gpj\u202e.exe", "", "a device name cannot contain invisible formatting characters such as U+202E"},
		{"bidi isolate", name, "a\u2067b", "", "such as U+2067"},
		{"zero-width space", name, "ad\u200bmin", "", "such as U+200B"},
		{"zero-width joiner", name, "👩\u200d💻", "", "such as U+200D"},
		{"byte order mark", name, "\ufeffa", "", "such as U+FEFF"},
		{"line break in a name", name, "a\nb", "", "a device name cannot contain line breaks"},
		{"carriage return in a name", name, "a\rb", "", "control characters such as U+000D"},
		{"line separator in a name", name, "a\u2028b", "", "cannot contain line breaks"},
		{"tab in a name", name, "a\tb", "", "a device name cannot contain tabs"},
		{"lines and tabs in a description", description, "a\r\nb\rc\td", "a\nb\nc\td", ""},
		{"separators in a description", description, "a\u2028b", "a\u2028b", ""},
		{"format characters in a description", description, "👩\u200d💻", "👩\u200d💻", ""},
		{"a description counts characters", description, strings.Repeat("ü", 9), "", "a description has at most 8 characters (this one has 9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.field.Clean(tc.in)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Clean(%q) refused: %v; want %q", tc.in, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Clean(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			case tc.err == "" && got != tc.want:
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      string
	}{
		{in: " Alice@Example.com ", want: "Alice@Example.com"},
		{in: "admin@localhost", want: "admin@localhost"},
		{in: "zoë@example.com", want: "zoë@example.com"},
		{in: "zoe\u0308@example.com", want: "zo\u00eb@example.com"},
		{in: "ops@xn--bcher-kva.example", want: "ops@xn--bcher-kva.example"},
		{in: "  ", err: "the email address is empty"},
		{in: "alice", err: `"alice" is not an email address (name@domain)`},
		{in: "@example.com", err: "not an email address (name@domain)"},
		{in: "alice@", err: "not an email address (name@domain)"},
		{in: "a@b@example.com", err: "cannot contain white space or any of"},
		{in: "a b@example.com", err: "cannot contain white space"},
		{in: "alice@exa mple.com", err: `"exa mple.com" is not a domain name`},
		{in: "alice@bücher.example", err: "is not a domain name"},
		{in: "alice@10.0.0.1", err: "is not a domain name"},
		{in: "alice@example..com", err: "is not a domain name"},
		{in: "alice@-example.com", err: "is not a domain name"},
		{in: strings.Repeat("a", 65) + "@example.com", err: "the part before @ has at most 64 bytes"},
		{in: "a@" + strings.Repeat("b", 250) + ".com", err: "an email address has at most 254 characters"},
		{in: "alice\x00@example.com", err: "an email address cannot contain NUL bytes"},
		{in: "alice\u202e@example.com", err: "an email address cannot contain invisible formatting characters such as U+202E"},
		{in: "alice\xff@example.com", err: "an email address must be UTF-8 text"},
	} {
		got, err := Email(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Email(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Email(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestMailbox(t *testing.T) {
	for in, want := range map[string]string{
		" vpn@example.com ":               "vpn@example.com",
		"WireGUI <vpn@example.com>":       "WireGUI <vpn@example.com>",
		`"Wire, GUI" <vpn@example.com>`:   `"Wire, GUI" <vpn@example.com>`,
		"":                                "error: the sender address is empty",
		"WireGUI":                         "error: is not an email address, nor a name and <email address>",
		"WireGUI <vpn@exa mple.com>":      "error: is not an email address",
		"WireGUI <vpn@example.com> extra": "error: is not an email address, nor a name",
		"a\nb <vpn@example.com>":          "error: cannot contain line breaks",
	} {
		got, err := Mailbox(in)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != want && !(strings.HasPrefix(want, "error: ") && strings.Contains(got, strings.TrimPrefix(want, "error: "))) {
			t.Errorf("Mailbox(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestSentence(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"name is empty": "Name is empty.",
		"ends well.":    "Ends well.",
		"has host bits set; did you mean 10.0.0.0/8?": "Has host bits set; did you mean 10.0.0.0/8?",
		"éclair": "Éclair.",
	} {
		if got := Sentence(in); got != want {
			t.Errorf("Sentence(%q) = %q, want %q", in, got, want)
		}
	}
}
