// Package apptest drives the web UI the way a browser does: a cookie jar, forms fetched
// before they are posted, and the CSRF token scraped from the page.
package apptest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Client is an HTTP client with a session, bound to one server.
type Client struct {
	HTTP *http.Client
	Base string // e.g. http://127.0.0.1:13000
	csrf string // the token from the last page that had one
	t    testing.TB
}

// New returns a client for the server at base. Redirects are followed.
func New(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second}, Base: strings.TrimRight(base, "/"), t: t}
}

// Response is a finished request: its status, final URL, headers and body.
type Response struct {
	Status int
	URL    string
	Header http.Header
	Body   string
}

// Get fetches path and remembers the page's CSRF token.
func (c *Client) Get(path string) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Do(req)
}

// Post submits form to path with the CSRF token of the last page fetched.
func (c *Client) Post(path string, form url.Values) Response {
	c.t.Helper()
	return c.Do(c.request(http.MethodPost, path, form))
}

// Answer sends method to path, a POST with form and the CSRF token of the last page
// fetched, and returns the status and headers of the answer itself: a redirect is not
// followed and the body is not read, so that a live stream ends at once.
func (c *Client) Answer(method, path string, form url.Values) Response {
	c.t.Helper()
	req := c.request(method, path, form)
	client := *c.HTTP
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	resp.Body.Close()
	return Response{Status: resp.StatusCode, URL: req.URL.String(), Header: resp.Header}
}

// request is a request for method and path; a POST carries form with the CSRF token.
func (c *Client) request(method, path string, form url.Values) *http.Request {
	c.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		form = cloneValues(form)
		if form.Get("csrf_token") == "" {
			form.Set("csrf_token", c.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// HTMX is Post as htmx sends it: the token in a header and HX-Request set.
func (c *Client) HTMX(path string, form url.Values) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf)
	return c.Do(req)
}

// HTMXGet is Get as htmx sends it, with HX-Request set: the answer is a fragment.
func (c *Client) HTMXGet(path string) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	return c.Do(req)
}

// Do sends req and reads the whole answer.
func (c *Client) Do(req *http.Request) Response {
	c.t.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read %s: %v", req.URL, err)
	}
	if tok := CSRFToken(string(b)); tok != "" {
		c.csrf = tok
	}
	return Response{Status: resp.StatusCode, URL: resp.Request.URL.String(), Header: resp.Header, Body: string(b)}
}

// SignIn fetches the sign-in form and submits it; it fails the test unless it lands on the
// devices page.
func (c *Client) SignIn(email, password string) {
	c.t.Helper()
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {email}, "password": {password}})
	if r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
		c.t.Fatalf("sign in as %s: got %d at %s, want 200 at /devices", email, r.Status, r.URL)
	}
}

// CSRFToken returns the token in a page's csrf-token meta tag or csrf_token input.
func CSRFToken(page string) string {
	for _, re := range csrfPatterns {
		if m := re.FindStringSubmatch(page); m != nil {
			return m[1]
		}
	}
	return ""
}

var csrfPatterns = []*regexp.Regexp{
	regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`),
	regexp.MustCompile(`name="csrf_token" value="([^"]+)"`),
}

// ConfigFromPage returns the client configuration shown on a page after a device was
// created: the text of the element with id "device-config".
func ConfigFromPage(page string) string {
	m := configPattern.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

var configPattern = regexp.MustCompile(`(?s)id="device-config"[^>]*>(.*?)</`)

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
