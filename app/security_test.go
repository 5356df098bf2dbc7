package app_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/dataplane"
	"wiregui/store"
)

// sessionRows counts the sessions that hold anything in e's database. An ended session's row
// stays, emptied and expired, until the sweep (store.Sessions).
func (e *env) sessionRows(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sessions WHERE length(data) > 0 OR user_id IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVisitorsWhoAreNotSignedInWriteNoSession(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	// 2,000 visits of the sign-in page: half from one browser that keeps its cookies, half
	// from clients that keep none. And pages that do not exist, and pages that need a user.
	browser := apptest.New(t, e.url)
	for range 1000 {
		browser.Get("/login")
		resp, err := http.Get(e.url + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, path := range []string{"/no-such-page", "/", "/devices", "/admin/settings"} {
		for range 50 {
			browser.Get(path)
		}
	}
	if n := e.sessionRows(t); n != 0 {
		t.Fatalf("visitors who are not signed in left %d session rows, want 0", n)
	}

	tok := apptest.CSRFToken(browser.Get("/login").Body)
	r := browser.Post("/login", url.Values{"email": {"alice@example.com"}, "password": {"right-password"}})
	if !strings.HasSuffix(r.URL, "/devices") {
		t.Fatalf("sign-in landed on %s (%d), want /devices", r.URL, r.Status)
	}
	if n := e.sessionRows(t); n != 1 {
		t.Errorf("after signing in: %d session rows, want 1", n)
	}
	if got := apptest.CSRFToken(r.Body); got == "" || got == tok {
		t.Errorf("the signed-in page's token is %q, want a new one, not the sign-in form's %q", got, tok)
	}
	browser.Post("/logout", nil)
	if n := e.sessionRows(t); n != 0 {
		t.Errorf("after signing out: %d session rows, want 0", n)
	}
}

// The sign-in form's token is a signed double-submit cookie: it is good only with the cookie
// it was made for, and only if this server's key signed it.
func TestSignInFormTokenIsBoundToItsSignedCookie(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	other := newEnv(t, func(o *app.Options) { o.SecretKey = []byte("another-secret-key-of-32-bytes-or-more") })

	visit := func(base string) (*http.Cookie, string) {
		t.Helper()
		resp, err := http.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, c := range resp.Cookies() {
			if c.Name == "wiregui_login" {
				if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/login" {
					t.Errorf("cookie %s: want HttpOnly, SameSite=Strict, Path=/login", c)
				}
				return &http.Cookie{Name: c.Name, Value: c.Value}, apptest.CSRFToken(string(body))
			}
		}
		t.Fatalf("GET %s/login set no wiregui_login cookie", base)
		return nil, ""
	}
	cookie, token := visit(e.url)
	_, anotherToken := visit(e.url)
	otherKeyCookie, otherKeyToken := visit(other.url)
	if token == "" || token == anotherToken {
		t.Fatalf("two visitors got tokens %q and %q, want two different ones", token, anotherToken)
	}
	tampered := token[:len(token)-1] + "0"
	if strings.HasSuffix(token, "0") {
		tampered = token[:len(token)-1] + "1"
	}

	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(c *http.Cookie, tok string) *http.Response {
		t.Helper()
		form := url.Values{"email": {"alice@example.com"}, "password": {"right-password"}, "csrf_token": {tok}}
		req, _ := http.NewRequest(http.MethodPost, e.url+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		token  string
	}{
		{"no cookie", nil, token},
		{"no token", cookie, ""},
		{"another visitor's token", cookie, anotherToken},
		{"a cookie and token signed with another key", otherKeyCookie, otherKeyToken},
		{"a tampered token", cookie, tampered},
		{"the cookie's value as the token", cookie, cookie.Value},
	} {
		if resp := post(tc.cookie, tc.token); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", tc.name, resp.StatusCode)
		}
	}
	if n := e.sessionRows(t); n != 0 {
		t.Errorf("refused sign-ins left %d session rows, want 0", n)
	}
	resp := post(cookie, token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices" {
		t.Fatalf("with its own cookie and token: got %d to %q, want 303 to /devices", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session, ended bool
	for _, c := range resp.Cookies() {
		session = session || c.Name == "wiregui_session" && c.Value != ""
		ended = ended || c.Name == "wiregui_login" && c.MaxAge < 0
	}
	if !session || !ended {
		t.Errorf("signing in set the session cookie: %v, removed the sign-in cookie: %v; want both", session, ended)
	}
}

// Error pages carry the session's token, so that Sign out works from them.
func TestErrorPagesCarryTheSessionsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		get  func(c *apptest.Client) apptest.Response
		want int
	}{
		{"404", func(c *apptest.Client) apptest.Response { return c.Get("/no-such-page") }, http.StatusNotFound},
		{"403", func(c *apptest.Client) apptest.Response {
			return c.Post("/devices", url.Values{"name": {"x"}, "csrf_token": {"stale"}})
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
			want := apptest.CSRFToken(c.Get("/devices").Body)
			r := tc.get(c)
			if r.Status != tc.want {
				t.Fatalf("got %d, want %d", r.Status, tc.want)
			}
			got := apptest.CSRFToken(r.Body)
			if got != want {
				t.Fatalf("the %d page's token is %q, want the session's %q", r.Status, got, want)
			}
			if r := c.Post("/logout", url.Values{"csrf_token": {got}}); r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/login") {
				t.Errorf("sign out from the %d page: got %d at %s, want the sign-in page", tc.want, r.Status, r.URL)
			}
			if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
				t.Errorf("still signed in after signing out from the %d page", tc.want)
			}
		})
	}
}

// The cause of a WireGuard failure names interfaces and peer keys: admins read it, other
// users a plain line, visitors nothing, and /healthz a fixed reason.
func TestWireGuardFailureDetailsAreForAdminsOnly(t *testing.T) {
	const peer = "hIxh1M5BS2b"
	cause := "apply peer " + peer + "+wJYq5bXPUyzY5lRhEkOMU1yzRbW5zkU= on wgsecret0: no such device"
	e := newEnv(t, func(o *app.Options) {
		o.WireGuard = func() dataplane.Status {
			return dataplane.Status{Enabled: true, Interface: "wg0", Error: "reconcile failed: " + cause,
				Reconcile: &dataplane.ReconcileStatus{At: time.Now(), Error: cause}}
		}
	})
	e.user(t, "admin@example.com", password, store.RoleAdmin)
	e.user(t, "user@example.com", password, store.RoleUnprivileged)
	visitor, user, admin := apptest.New(t, e.url), apptest.New(t, e.url), apptest.New(t, e.url)
	user.SignIn("user@example.com", password)
	admin.SignIn("admin@example.com", password)

	for _, tc := range []struct {
		who          string
		c            *apptest.Client
		path         string
		want, unwant string
	}{
		{"a visitor", visitor, "/login", "", "unavailable"},
		{"a visitor", visitor, "/no-such-page", "", "unavailable"},
		{"a visitor", visitor, "/healthz", `"reconcile failed"`, "wgsecret0"},
		{"a user", user, "/devices", "The VPN is unavailable at the moment.", "wgsecret0"},
		{"a user", user, "/no-such-page", "The VPN is unavailable at the moment.", "wgsecret0"},
		{"an admin", admin, "/devices", "WireGuard is unavailable: reconcile failed: apply peer " + peer, ""},
	} {
		r := tc.c.Get(tc.path)
		if tc.want != "" && !strings.Contains(r.Body, tc.want) {
			t.Errorf("%s, %s: no %q in\n%.2000s", tc.who, tc.path, tc.want, r.Body)
		}
		for _, secret := range []string{peer, tc.unwant} {
			if secret != "" && strings.Contains(r.Body, secret) && !strings.Contains(tc.want, secret) {
				t.Errorf("%s, %s: the page shows %q", tc.who, tc.path, secret)
			}
		}
	}
}

// No route takes files: a multipart body is refused before anything parses it, so no
// temporary file is ever made; and no form is larger than 1 MiB.
func TestMultipartBodiesAreRefusedAndLeaveNoFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where mime/multipart puts the large parts of a form
	e := newEnv(t)
	_, signedIn := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	token := apptest.CSRFToken(signedIn.Get("/devices").Body)

	const boundary = "wiregui-test-boundary"
	const fileSize = 33 << 20 // more than the 32 MiB net/http keeps in memory
	multipart := func(path string) *http.Request {
		head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + token + "\r\n" +
			"--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"; filename=\"big.bin\"\r\n" +
			"Content-Type: application/octet-stream\r\n\r\n"
		tail := "\r\n--" + boundary + "--\r\n"
		body := io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, fileSize), strings.NewReader(tail))
		req, _ := http.NewRequest(http.MethodPost, e.url+path, body)
		req.ContentLength = int64(len(head) + fileSize + len(tail))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		return req
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
	}{
		{"POST /login without a cookie", http.DefaultClient, "/login"},
		{"POST /devices signed in", signedIn.HTTP, "/devices"},
	} {
		resp, err := tc.client.Do(multipart(tc.path))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "no file uploads") {
			t.Errorf("%s: got %d, want 415 saying no file uploads are taken", tc.name, resp.StatusCode)
		}
	}

	big := url.Values{"csrf_token": {token}, "name": {"laptop"}, "description": {strings.Repeat("x", 2<<20)}}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/devices", strings.NewReader(big.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := signedIn.Do(req); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "at most 1 MiB") {
		t.Errorf("a 2 MiB form: got %d, want 413 naming the limit", r.Status)
	}
	if list, _ := e.store.ListDevices(context.Background()); len(list) != 0 {
		t.Errorf("refused requests created %d devices", len(list))
	}
	// The server answers before it has read the body; the file, were one made, would be made
	// while it reads.
	time.Sleep(200 * time.Millisecond)
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range entries {
		t.Errorf("left in the temporary directory: %s", f.Name())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
