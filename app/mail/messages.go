package mail

import (
	"bytes"
	"fmt"
	"html/template"
	"time"
)

// The emails WireGUI sends. Each says the same in its plain-text and its HTML body.

// SignInLink is the email with a magic link, which signs to in once within valid.
func SignInLink(to, link string, valid time.Duration) Message {
	return compose(to, "Your WireGUI sign-in link", body{
		Lead:   "Someone asked to sign in to WireGUI as " + to + ". If it was you, open this link and press “Sign in”:",
		Link:   link,
		Button: "Sign in to WireGUI",
		Tail: fmt.Sprintf("The link works once, within %s. If you did not ask for it, ignore this email: "+
			"nobody can sign in without the link.", words(valid)),
	})
}

// Invitation is the email that invites to to set a password, within valid.
func Invitation(to, link string, valid time.Duration) Message {
	return compose(to, "You are invited to WireGUI", body{
		Lead:   "An administrator created a WireGUI account for " + to + ". Open this link to choose your password and sign in:",
		Link:   link,
		Button: "Choose a password",
		Tail:   fmt.Sprintf("The link works once, within %s. After that, ask an administrator for a new invitation.", words(valid)),
	})
}

// Test is the email of the Settings page's test button.
func Test(to string) Message {
	return compose(to, "WireGUI test email", body{
		Lead: "This is a test email from WireGUI's Settings page. Email is set up: sign-in links and invitations will arrive like this one.",
	})
}

// body is what an email says: a lead, an optional link with its button, a closing line.
type body struct {
	Lead, Link, Button, Tail string
}

var htmlBody = template.Must(template.New("email").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WireGUI</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1f2328;">
<p>{{.Lead}}</p>
{{- with .Link}}
<p><a href="{{.}}" style="display: inline-block; padding: 0.6em 1.2em; background: #0b57d0; color: #ffffff; border-radius: 6px; text-decoration: none;">{{$.Button}}</a></p>
<p style="font-size: 0.9em; color: #57606a;">Or copy this address into your browser: {{.}}</p>
{{- end}}
{{- with .Tail}}
<p style="font-size: 0.9em; color: #57606a;">{{.}}</p>
{{- end}}
</body></html>
`))

func compose(to, subject string, b body) Message {
	text := b.Lead + "\n\n"
	if b.Link != "" {
		text += b.Link + "\n\n"
	}
	if b.Tail != "" {
		text += b.Tail + "\n"
	}
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, b); err != nil {
		panic(err) // a fixed template and strings: a bug
	}
	return Message{To: to, Subject: subject, Text: text, HTML: html.String()}
}

// words says a validity: "15 minutes", "72 hours".
func words(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	if d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}
