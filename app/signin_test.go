package app_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/mail/mailtest"
	"wiregui/store"
	"wiregui/store/storetest"
)

// clock is the time of a server under test, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logLines is a server's log, read back as JSON lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// events returns the account events (app/audit) logged, each as its attributes.
func (l *logLines) events() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "account" {
			out = append(out, line)
		}
	}
	return out
}

// named returns the events called name.
func (l *logLines) named(name string) []map[string]any {
	var out []map[string]any
	for _, e := range l.events() {
		if e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// rows counts the rows of table in the env's SQLite database.
func (e *env) rows(t *testing.T, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// withClockAndLog gives the server the clock c and a JSON log into l.
func withClockAndLog(c *clock, l *logLines) func(*app.Options) {
	return func(o *app.Options) {
		o.Now = c.now
		o.Logger = slog.New(slog.NewJSONHandler(l, nil))
		o.Users.Now, o.Users.Log = c.now, o.Logger
	}
}

// answer is what a sign-in attempt got: its status, Retry-After and form error.
type answer struct {
	status     int
	retryAfter string
	message    string
}

var formError = func(body string) string {
	_, rest, ok := strings.Cut(body, `<p class="form-error" role="alert">`)
	if !ok {
		return ""
	}
	msg, _, _ := strings.Cut(rest, "</p>")
	return msg
}

func signInAttempt(t *testing.T, c *apptest.Client, email, pw string) answer {
	t.Helper()
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {email}, "password": {pw}})
	return answer{r.Status, r.Header.Get("Retry-After"), formError(r.Body)}
}

// The attempt limit on password sign-in: five failures, then 429 with Retry-After and a
// message that says when to try again, doubling; a right password is refused while it must
// wait; a success clears the count. An email that is no account's gets the very same
// answers. Each failure and the lockout are logged.
func TestPasswordSignInIsLimitedTheSameForAnUnknownEmail(t *testing.T) {
	var unknownEnv *env
	transcript := func(t *testing.T, email string, known bool) ([]answer, *logLines) {
		clk, logs := newClock(), &logLines{}
		e := newEnv(t, withClockAndLog(clk, logs))
		unknownEnv = e
		e.user(t, "ann@example.com", password, store.RoleUnprivileged)
		c := apptest.New(t, e.url)
		var got []answer
		for range 5 {
			got = append(got, signInAttempt(t, c, email, "wrong-password"))
		}
		got = append(got, signInAttempt(t, c, email, "wrong-password"))
		got = append(got, signInAttempt(t, c, email, password)) // the right one, too early
		clk.add(30 * time.Second)
		got = append(got, signInAttempt(t, c, email, "wrong-password"))
		got = append(got, signInAttempt(t, c, email, "wrong-password")) // doubled
		clk.add(61 * time.Second)
		if known {
			r := c.Post("/login", url.Values{"email": {email}, "password": {password}})
			if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
				t.Fatalf("the right password after the wait: got %d at %s, want /devices", r.Status, r.URL)
			}
			c.Post("/logout", nil)
		}
		got = append(got, signInAttempt(t, c, email, "wrong-password")) // counted afresh after a success
		return got, logs
	}
	known, knownLog := transcript(t, "ann@example.com", true)
	wrong := answer{http.StatusUnauthorized, "", "Invalid email or password"}
	want := []answer{wrong, wrong, wrong, wrong, wrong,
		{http.StatusTooManyRequests, "30", "Too many attempts. Try again in 30 seconds."},
		{http.StatusTooManyRequests, "30", "Too many attempts. Try again in 30 seconds."},
		wrong,
		{http.StatusTooManyRequests, "60", "Too many attempts. Try again in 1 minute."},
		wrong}
	if !slices.Equal(known, want) {
		t.Errorf("an account:\n got %v\nwant %v", known, want)
	}

	unknown, unknownLog := transcript(t, "nobody@example.com", false)
	// The unknown email had no success to clear its count: its last attempt is its 8th failure.
	wantUnknown := slices.Clone(want)
	wantUnknown[len(want)-1] = wrong
	if !slices.Equal(unknown, wantUnknown) {
		t.Errorf("an email that is no account's:\n got %v\nwant %v", unknown, wantUnknown)
	}
	// What a visitor typed that is no account's is counted in memory, never written.
	if n := unknownEnv.rows(t, "sign_in_failures"); n != 0 {
		t.Errorf("an unknown email's failures wrote %d rows, want 0", n)
	}

	// Logged: the 7 attempts let in that failed (not the refused ones), and a lockout for
	// the 5th and 6th failure, and the unknown email's 7th, which no success preceded.
	for name, logs := range map[string]*logLines{"account": knownLog, "unknown": unknownLog} {
		failed, lockouts := logs.named("sign_in_failed"), logs.named("lockout")
		wantLockouts := map[string]int{"account": 2, "unknown": 3}[name]
		if len(failed) != 7 || len(lockouts) != wantLockouts {
			t.Errorf("%s: %d failures and %d lockouts logged, want 7 and %d", name, len(failed), len(lockouts), wantLockouts)
			continue
		}
		for _, e := range append(failed, lockouts...) {
			for _, attr := range []string{"event", "user", "method", "addr"} {
				if _, ok := e[attr]; !ok {
					t.Errorf("%s: %v lacks %s", name, e, attr)
				}
			}
			if e["method"] != "password" || e["addr"] != "127.0.0.1" {
				t.Errorf("%s: %v: want method password from 127.0.0.1", name, e)
			}
		}
		if lockouts[0]["retry_after"] != float64(30) || lockouts[1]["retry_after"] != float64(60) {
			t.Errorf("%s: lockouts %v, want 30 s then 60 s", name, lockouts)
		}
	}
	if signIns := knownLog.named("sign_in"); len(signIns) != 1 || signIns[0]["user"] != "ann@example.com" ||
		signIns[0]["method"] != "password" || signIns[0]["user_id"] == "" {
		t.Errorf("sign-ins logged: %v, want ann's by password", signIns)
	}
}

// A wrong password and an email that is no account's take the same time: both check a
// password hash. Medians of interleaved attempts, each on an account of its own, in turns
// (the first of two in a row is the slower: it collects the other's 19 MiB of hashing).
// Without the hash for an unknown email, it answers 20 to 30 times faster.
func TestUnknownEmailAndWrongPasswordTakeTheSameTime(t *testing.T) {
	e := newEnv(t)
	const n = 10 // 20 attempts in all: the address's limit
	for i := range n {
		e.user(t, fmt.Sprintf("u%d@example.com", i), password, store.RoleUnprivileged)
	}
	c := apptest.New(t, e.url)
	c.Get("/login")
	timed := func(email string) time.Duration {
		start := time.Now()
		r := c.Post("/login", url.Values{"email": {email}, "password": {"wrong-password"}})
		took := time.Since(start)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: got %d, want 401", email, r.Status)
		}
		return took
	}
	var wrong, unknown []time.Duration
	for i := range n {
		if i%2 == 0 {
			wrong = append(wrong, timed(fmt.Sprintf("u%d@example.com", i)))
			unknown = append(unknown, timed(fmt.Sprintf("nobody%d@example.com", i)))
		} else {
			unknown = append(unknown, timed(fmt.Sprintf("nobody%d@example.com", i)))
			wrong = append(wrong, timed(fmt.Sprintf("u%d@example.com", i)))
		}
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mw, mu := median(wrong), median(unknown)
	if ratio := float64(mu) / float64(mw); ratio < 0.5 || ratio > 2 {
		t.Errorf("median time: wrong password %s, unknown email %s; want them within a factor of 2", mw, mu)
	}
}

// An account's lock outlives a restart of the server, on both databases; a server started
// anew forgets the address (memory only) but not the account.
func TestAnAccountsLockOutlivesARestart(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := storetest.DSN(t, driver)
			clk := newClock()
			first := newEnvOn(t, driver, dsn, withClockAndLog(clk, &logLines{}))
			first.user(t, "ann@example.com", password, store.RoleUnprivileged)
			c := apptest.New(t, first.url)
			for range 5 {
				signInAttempt(t, c, "ann@example.com", "wrong-password")
			}
			restarted := newEnvOn(t, driver, dsn, withClockAndLog(clk, &logLines{}))
			got := signInAttempt(t, apptest.New(t, restarted.url), "ann@example.com", password)
			if got.status != http.StatusTooManyRequests || got.retryAfter != "30" {
				t.Errorf("after the restart: got %v, want 429 with Retry-After 30", got)
			}
			if got := signInAttempt(t, apptest.New(t, restarted.url), "nobody@example.com", "x"); got.status != http.StatusUnauthorized {
				t.Errorf("another email after the restart: got %v, want 401", got)
			}
		})
	}
}

// local_auth_enabled off refuses passwords on the server, a right one too, and the sign-in
// page has no password field.
func TestPasswordSignInOffIsRefused(t *testing.T) {
	e := newEnv(t)
	e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	if _, err := e.store.UpdateSettings(context.Background(), func(st *store.Settings) error {
		st.LocalAuthEnabled = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c := apptest.New(t, e.url)
	page := c.Get("/login")
	if strings.Contains(page.Body, `name="password"`) || !strings.Contains(page.Body, "Email me a sign-in link") {
		t.Errorf("the sign-in page with passwords off shows a password field or no link button:\n%s", page.Body)
	}
	r := c.Post("/login", url.Values{"email": {"ann@example.com"}, "password": {password}})
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Signing in with a password is turned off.") {
		t.Errorf("a right password with passwords off: got %d, want 403 saying so", r.Status)
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("after the refused password: /devices went to %s, want the sign-in page", r.URL)
	}
}

// The magic link end to end, through a real SMTP server: the same answer for an address with
// an account and without; the email's link opens a page that uses nothing up; its button
// signs in once; a used link, an expired one and one replaced by a newer one do not work;
// the link's success clears the password's lock.
func TestMagicLinkSignsInOnceWithin15Minutes(t *testing.T) {
	clk, logs := newClock(), &logLines{}
	e := newEnv(t, withClockAndLog(clk, logs))
	ann := e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	c := apptest.New(t, e.url)

	// Someone locks ann's password.
	for range 5 {
		signInAttempt(t, c, "ann@example.com", "wrong-password")
	}
	if got := signInAttempt(t, c, "ann@example.com", password); got.status != http.StatusTooManyRequests {
		t.Fatalf("ann's password after 5 failures: got %v, want 429", got)
	}

	ask := func(email string) apptest.Response {
		t.Helper()
		c.Get("/login")
		return c.Post("/login/link", url.Values{"email": {email}})
	}
	unknown := ask("Nobody@Example.com")
	known := ask("Ann@Example.com")
	for name, r := range map[string]apptest.Response{"unknown": unknown, "known": known} {
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Check your email") {
			t.Errorf("%s: got %d, want 200 and Check your email", name, r.Status)
		}
	}
	mask := func(body, email string) string { return strings.ReplaceAll(body, email, "EMAIL") }
	if mask(unknown.Body, "nobody@example.com") != mask(known.Body, "ann@example.com") {
		t.Errorf("the answers differ beyond the address:\n%s\n---\n%s", unknown.Body, known.Body)
	}
	m := srv.Next(t, 10*time.Second)
	srv.None(t, 300*time.Millisecond) // nothing for nobody@
	link := mailtest.Link(m.Text, e.url+"/login/link/")
	if m.To[0] != "ann@example.com" || link == "" || !strings.Contains(m.HTML, `href="`+link+`"`) ||
		!strings.Contains(m.Text, "15 minutes") {
		t.Fatalf("the email: to %v, subject %q\ntext %q\nhtml %q", m.To, m.Subject, m.Text, m.HTML)
	}
	if !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type %q, want multipart/alternative (text and HTML)", m.Header.Get("Content-Type"))
	}
	if notSent := logs.named("sign_in_link_not_sent"); len(notSent) != 1 || notSent[0]["reason"] != "no account" {
		t.Errorf("links not sent, logged: %v; want nobody's, for no account", notSent)
	}

	path := strings.TrimPrefix(link, e.url)
	for range 2 { // a mail scanner's fetch uses nothing up
		if r := c.Get(path); r.Status != http.StatusOK || !strings.Contains(r.Body, "Sign in as <strong>ann@example.com</strong>") {
			t.Fatalf("the link's page: got %d\n%s", r.Status, r.Body)
		}
	}
	r := c.Post(path, nil)
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
		t.Fatalf("the link's button: got %d at %s, want /devices", r.Status, r.URL)
	}
	if u, _ := e.store.UserByID(context.Background(), ann.ID); u.LastSignedInAt == nil {
		t.Error("the sign-in was not recorded")
	}
	if s := logs.named("sign_in"); len(s) != 1 || s[0]["method"] != "magic_link" {
		t.Errorf("sign-ins logged: %v, want one by magic_link", s)
	}
	c.Post("/logout", nil)
	c.Get("/login")
	if r := c.Post(path, nil); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "This link does not work") {
		t.Errorf("the link used again: got %d, want 404", r.Status)
	}
	if r := c.Get(path); r.Status != http.StatusNotFound {
		t.Errorf("the used link's page: got %d, want 404", r.Status)
	}
	// The link cleared the lock someone put on ann's password.
	r = c.Post("/login", url.Values{"email": {"ann@example.com"}, "password": {password}})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("ann's password after the link: got %d at %s, want signed in", r.Status, r.URL)
	}
	c.Post("/logout", nil)

	// A newer link replaces an older; a link expires after 15 minutes.
	ask("ann@example.com")
	older := strings.TrimPrefix(mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url), e.url)
	ask("ann@example.com")
	newer := strings.TrimPrefix(mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url), e.url)
	c.Get("/login")
	if r := c.Post(older, nil); r.Status != http.StatusNotFound {
		t.Errorf("the older of two links: got %d, want 404", r.Status)
	}
	clk.add(15*time.Minute + time.Second)
	if r := c.Get(newer); r.Status != http.StatusNotFound {
		t.Errorf("the link's page after 15 minutes: got %d, want 404", r.Status)
	}
	if r := c.Post(newer, nil); r.Status != http.StatusNotFound {
		t.Errorf("the link after 15 minutes: got %d, want 404", r.Status)
	}
}

// Sign-in links off: asking for one and using one are refused by the server.
func TestMagicLinksOffAreRefused(t *testing.T) {
	e := newEnv(t)
	ann := e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	c := apptest.New(t, e.url)
	c.Get("/login")
	c.Post("/login/link", url.Values{"email": {"ann@example.com"}})
	path := strings.TrimPrefix(mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url), e.url)

	if _, err := e.store.UpdateSettings(context.Background(), func(st *store.Settings) error {
		st.MagicLinkEnabled = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	page := c.Get("/login")
	if strings.Contains(page.Body, "sign-in link") {
		t.Error("the sign-in page offers links while they are off")
	}
	if r := c.Post("/login/link", url.Values{"email": {"ann@example.com"}}); r.Status != http.StatusForbidden {
		t.Errorf("asking for a link: got %d, want 403", r.Status)
	}
	srv.None(t, 300*time.Millisecond)
	if r := c.Get(path); r.Status != http.StatusForbidden {
		t.Errorf("a link's page: got %d, want 403", r.Status)
	}
	if r := c.Post(path, nil); r.Status != http.StatusForbidden || strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("a link's button: got %d at %s, want 403", r.Status, r.URL)
	}
	if u, _ := e.store.UserByID(context.Background(), ann.ID); u.LastSignedInAt != nil {
		t.Error("ann was signed in by a link while links are off")
	}
}

// The address limit on asking for links: the answer is the same for any address typed, and
// a flood from one client address is told to wait.
func TestAskingForLinksIsLimitedPerAddress(t *testing.T) {
	e := newEnv(t)
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	c := apptest.New(t, e.url)
	c.Get("/login")
	for i := range 20 {
		if r := c.Post("/login/link", url.Values{"email": {fmt.Sprintf("n%d@example.com", i)}}); r.Status != http.StatusOK {
			t.Fatalf("request %d: got %d, want 200", i+1, r.Status)
		}
	}
	r := c.Post("/login/link", url.Values{"email": {"n@example.com"}})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "30" ||
		!strings.Contains(r.Body, "Too many attempts. Try again in 30 seconds.") {
		t.Errorf("request 21: got %d, Retry-After %q; want 429 after 30 s", r.Status, r.Header.Get("Retry-After"))
	}
}

// An invitation, through a real SMTP server: the link opens a page to choose a password
// (the policy says what is wrong), saving signs in; the link works once and for 72 hours.
func TestInvitationSetsAPasswordAndSignsIn(t *testing.T) {
	clk, logs := newClock(), &logLines{}
	e := newEnv(t, withClockAndLog(clk, logs))
	srv := mailtest.Start(t, mailtest.Options{})
	e.linksOn(t, srv.Host, srv.Port)
	ctx := context.Background()
	if _, err := e.users.Invite(ctx, "New@Example.com", store.RoleUnprivileged); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t, 10*time.Second)
	link := mailtest.Link(m.Text, e.url+"/login/invitation/")
	if link == "" || !strings.Contains(m.HTML, link) || !strings.Contains(m.Text, "72 hours") {
		t.Fatalf("the invitation: %q\n%q", m.Text, m.HTML)
	}
	path := strings.TrimPrefix(link, e.url)
	c := apptest.New(t, e.url)
	if r := c.Get(path); r.Status != http.StatusOK || !strings.Contains(r.Body, `value="new@example.com"`) {
		t.Fatalf("the invitation's page: got %d\n%s", r.Status, r.Body)
	}
	for pw, want := range map[[2]string]string{
		{"short", "short"}:                     "The password must have at least 10 characters; this one has 5.",
		{"new@example.com", "new@example.com"}: "The password cannot be your email address.",
		{"qwertyuiop", "qwertyuiop"}:           "one of the 10,000 most common passwords",
		{"long enough pw", "long enough px"}:   "The two passwords differ.",
	} {
		r := c.Post(path, url.Values{"password": {pw[0]}, "confirm": {pw[1]}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, want) {
			t.Errorf("password %q: got %d, want 422 with %q", pw, r.Status, want)
		}
	}
	r := c.Post(path, url.Values{"password": {"a long new password"}, "confirm": {"a long new password"}})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
		t.Fatalf("saving the password: got %d at %s, want /devices", r.Status, r.URL)
	}
	if ev := logs.named("password_changed"); len(ev) != 1 || ev[0]["method"] != "invitation" {
		t.Errorf("password changes logged: %v", ev)
	}
	c.Post("/logout", nil)
	c.SignIn("new@example.com", "a long new password")
	c.Post("/logout", nil)
	c.Get("/login")
	if r := c.Post(path, url.Values{"password": {"another long password"}, "confirm": {"another long password"}}); r.Status != http.StatusNotFound {
		t.Errorf("the invitation used again: got %d, want 404", r.Status)
	}

	if _, err := e.users.Invite(ctx, "late@example.com", store.RoleUnprivileged); err != nil {
		t.Fatal(err)
	}
	late := strings.TrimPrefix(mailtest.Link(srv.Next(t, 10*time.Second).Text, e.url), e.url)
	clk.add(72*time.Hour + time.Second)
	if r := c.Get(late); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "This invitation does not work") {
		t.Errorf("an invitation after 72 hours: got %d, want 404", r.Status)
	}
	c.Get("/login")
	if r := c.Post(late, url.Values{"password": {"a long new password"}, "confirm": {"a long new password"}}); r.Status != http.StatusNotFound {
		t.Errorf("saving after 72 hours: got %d, want 404", r.Status)
	}
}

// A sign-in link the mail server refuses is not dropped in silence: the log says so and why,
// and admins read it among the Settings page's notifications (once an hour at most).
func TestALinkThatCannotBeSentIsRaisedToAdmins(t *testing.T) {
	clk, logs := newClock(), &logLines{}
	e := newEnv(t, withClockAndLog(clk, logs))
	e.user(t, "ann@example.com", password, store.RoleUnprivileged)
	_, admin := e.signedIn(t, "root@example.com", store.RoleAdmin)
	srv := mailtest.Start(t, mailtest.Options{Refuse: &smtp.SMTPError{Code: 550, Message: "mailbox unavailable"}})
	e.linksOn(t, srv.Host, srv.Port)
	c := apptest.New(t, e.url)
	for range 2 {
		c.Get("/login")
		if r := c.Post("/login/link", url.Values{"email": {"ann@example.com"}}); r.Status != http.StatusOK {
			t.Fatalf("asking for a link: got %d, want 200 (the visitor learns nothing)", r.Status)
		}
	}
	var notSent []map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(notSent) < 2; {
		time.Sleep(50 * time.Millisecond)
		notSent = logs.named("sign_in_link_not_sent")
	}
	if len(notSent) != 2 || !strings.Contains(fmt.Sprint(notSent[0]["reason"]), "mailbox unavailable") {
		t.Fatalf("links not sent, logged: %v; want 2 with the server's answer", notSent)
	}
	page := admin.Get("/admin/settings").Body
	if n := strings.Count(page, "A sign-in link for ann@example.com could not be sent"); n != 1 || !strings.Contains(page, "mailbox unavailable") {
		t.Errorf("the admins' notifications name the failure %d times, want once with the server's answer", n)
	}
}
