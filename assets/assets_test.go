package assets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"wiregui/store"
)

// The page data below mirrors app.PageData; app imports this package, so the test cannot use
// the real type. The device pages are tested in app, with their real data.
type pageData struct {
	Title     string
	User      *store.User
	Theme     string
	CSRFToken string
	Nav       string
	Flash     string
	Banners   []string
	Version   string
	Form      *form
	Data      any
}

type form struct {
	Values map[string]string
	Errors map[string]string
}

func newForm() *form { return &form{Values: map[string]string{}, Errors: map[string]string{}} }

func mustRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

func render(t *testing.T, status int, page string, data any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := mustRenderer(t).Page(rec, status, page, data); err != nil {
		t.Fatalf("render %s: %v", page, err)
	}
	if rec.Code != status {
		t.Errorf("render %s: status %d, want %d", page, rec.Code, status)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("render %s: Content-Type %q", page, ct)
	}
	return rec.Body.String()
}

func wantContains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func wantLacks(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("%s contains %q", what, u)
		}
	}
}

func TestEveryPageAndFragmentParses(t *testing.T) {
	r := mustRenderer(t)
	for page, fragments := range map[string][]string{
		"login":         {"content"},
		"device-list":   {"content", "device-list", "device-form", "device-created", "user-emails"},
		"device-new":    {"content", "device-form", "device-created", "user-emails"},
		"device":        {"content", "device-detail", "device-live", "device-edit-form", "device-delete-form"},
		"device-delete": {"content", "device-delete-form"},
		"settings":      {"content", "client-settings", "device-settings", "session-settings", "signin-settings", "email-settings", "settings-saved", "settings-switch"},
		"signin-link":   {"content"},
		"invitation":    {"content"},
		"error":         {"content"},
		"mfa":           {"content", "head"},
		"account-mfa":   {"content", "head"},
		"mfa-totp":      {"content"},
		"mfa-delete":    {"content"},
	} {
		set, ok := r.pages[page]
		if !ok {
			t.Errorf("no page %q; have %v", page, r.pages)
			continue
		}
		for _, name := range append(fragments, "layout.html") {
			if set.Lookup(name) == nil {
				t.Errorf("page %s defines no %q", page, name)
			}
		}
	}
}

func TestTemplatesReferenceOnlyEmbeddedStaticFiles(t *testing.T) {
	r := mustRenderer(t)
	refs := staticRefs(r.pages["login"])
	for _, want := range []string{"app.css", "app.js", "favicon.svg", "vendor/htmx.min.js",
		"vendor/htmx-ext-sse.min.js", "vendor/alpinejs-csp.min.js"} {
		found := false
		for _, ref := range refs {
			found = found || ref == want
		}
		if !found {
			t.Errorf("the layout does not load %s; it loads %v", want, refs)
		}
	}
	for page, set := range r.pages {
		for _, ref := range staticRefs(set) {
			if _, ok := staticFiles[ref]; !ok {
				t.Errorf("page %s refers to static file %q, which is not embedded", page, ref)
			}
		}
	}

	broken := fstest.MapFS{
		"templates/layout.html":     {Data: []byte(`<link href="{{static "no-such.css"}}">{{block "content" .}}{{end}}`)},
		"templates/pages/x.html":    {Data: []byte(`{{define "content"}}x{{end}}`)},
		"templates/pages/more.html": {Data: []byte(`{{define "content"}}{{if true}}<img src="{{static "favicon.svg"}}">{{end}}{{end}}`)},
	}
	if _, err := newRenderer(broken); err == nil || !strings.Contains(err.Error(), `"no-such.css"`) {
		t.Errorf("a template naming a missing static file: got %v, want an error naming it", err)
	}
}

func TestStaticURLPanicsForAnUnknownFile(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("StaticURL of a missing file did not panic")
		}
	}()
	StaticURL("no-such-file.css")
}

// TestVendoredFilesMatchVERSIONS is vendor.sh --check: the embedded third-party files, and
// the tests' own (axe-core), are the ones the script fetched and verified.
func TestVendoredFilesMatchVERSIONS(t *testing.T) {
	for _, tc := range []struct {
		dir       string
		fsys      fs.FS
		libraries []string
	}{
		{"static/vendor", files, []string{"htmx.org", "htmx-ext-sse", "@alpinejs/csp", "echarts"}},
		{"testdata/vendor", os.DirFS("."), []string{"axe-core"}},
	} {
		t.Run(tc.dir, func(t *testing.T) { checkVendored(t, tc.fsys, tc.dir, tc.libraries) })
	}
}

// checkVendored compares every file of dir in fsys with its sha256 in dir/VERSIONS, refuses
// files VERSIONS does not list, and wants each of libraries listed.
func checkVendored(t *testing.T, fsys fs.FS, dir string, libraries []string) {
	manifest, err := fs.ReadFile(fsys, dir+"/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{"VERSIONS": true}
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 5 {
			t.Errorf("VERSIONS line %q: want package, version, file, sha256, license", line)
			continue
		}
		pkg, file, want := fields[0], fields[2], fields[3]
		listed[file] = true
		found[pkg] = true
		body, err := fs.ReadFile(fsys, dir+"/"+file)
		if err != nil {
			t.Errorf("%s (%s): %v", file, pkg, err)
			continue
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s (%s): sha256 %s, VERSIONS says %s; run assets/vendor.sh", file, pkg, got, want)
		}
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("%s/%s is not in VERSIONS", dir, e.Name())
		}
	}
	for _, pkg := range libraries {
		if !found[pkg] {
			t.Errorf("%s/VERSIONS lists no %s", dir, pkg)
		}
	}
}

func TestLoginPage(t *testing.T) {
	f := newForm()
	f.Values["email"] = `alice@example.com"><b>`
	f.Errors["password"] = "Enter your password."
	f.Errors["_form"] = "Invalid email or password"
	body := render(t, http.StatusUnauthorized, "login", &pageData{Title: "Sign in", CSRFToken: "tok-123",
		Version: "v1.2.3", Nav: "login", Form: f, Theme: "system", Data: map[string]bool{"LocalAuth": true}})
	wantContains(t, "the sign-in page", body,
		`<!doctype html>`, `<html lang="en" data-theme="system">`, `<meta name="viewport"`,
		`<meta name="csrf-token" content="tok-123">`,
		`<title>Sign in · WireGUI</title>`,
		`<form method="post" action="/login"`,
		`<input type="hidden" name="csrf_token" value="tok-123">`,
		`name="email" type="email" value="alice@example.com&#34;&gt;&lt;b&gt;"`,
		`autocomplete="username"`, `autocomplete="current-password"`,
		`Invalid email or password`,
		`aria-invalid="true" aria-describedby="login-password-error"`,
		`<p id="login-password-error" class="field-error">Enter your password.</p>`,
		`WireGUI v1.2.3`,
		`src="`+StaticURL("vendor/htmx.min.js")+`" defer`,
		`href="`+StaticURL("app.css")+`"`,
	)
	wantLacks(t, "the signed-out sign-in page", body, "Sign out", "My Devices", `<b>`, "login-email-error", "<script>",
		"sign-in link")
}

// Each way of signing in shows only while it is on; the link's button posts the same form
// elsewhere.
func TestLoginPageShowsTheWaysThatAreOn(t *testing.T) {
	both := render(t, http.StatusOK, "login", &pageData{CSRFToken: "t", Form: newForm(),
		Data: map[string]bool{"LocalAuth": true, "MagicLink": true}})
	wantContains(t, "the sign-in page with both", both, `action="/login"`, `name="password"`,
		`<button type="submit" formaction="/login/link" class="btn btn-block">Email me a sign-in link</button>`)
	links := render(t, http.StatusOK, "login", &pageData{CSRFToken: "t", Form: newForm(),
		Data: map[string]bool{"MagicLink": true}})
	wantContains(t, "the sign-in page with links only", links, `action="/login/link"`, "Email me a sign-in link")
	wantLacks(t, "the sign-in page with links only", links, `name="password"`, ">Sign in</button>")
	none := render(t, http.StatusOK, "login", &pageData{CSRFToken: "t", Form: newForm(), Data: map[string]bool{}})
	wantContains(t, "the sign-in page with neither", none, "wiregui settings set local_auth_enabled=true")
	wantLacks(t, "the sign-in page with neither", none, "<form")
}

// The theme is in the page as the server renders it, before any script: the html element's
// data-theme, the color-scheme the browser paints its canvas with, and the dark stylesheet,
// linked always (dark), for a dark system (system), or not at all (light).
func TestThemeIsRenderedIntoThePage(t *testing.T) {
	dark := `<link rel="stylesheet" href="` + StaticURL("dark.css") + `"`
	for _, tc := range []struct {
		theme, scheme, link string
	}{
		{"system", "light dark", dark + ` media="(prefers-color-scheme: dark)">`},
		{"light", "light", ""},
		{"dark", "dark", dark + ">"},
	} {
		body := render(t, http.StatusOK, "login", &pageData{CSRFToken: "t", Theme: tc.theme})
		wantContains(t, tc.theme, body, `<html lang="en" data-theme="`+tc.theme+`">`,
			`<meta name="color-scheme" content="`+tc.scheme+`">`)
		if tc.link != "" {
			wantContains(t, tc.theme, body, tc.link)
		} else {
			wantLacks(t, tc.theme, body, "dark.css")
		}
	}
}

func TestLoginPageWithoutAForm(t *testing.T) {
	body := render(t, http.StatusOK, "login", &pageData{CSRFToken: "t", Data: map[string]bool{"LocalAuth": true}})
	wantContains(t, "the sign-in page without form data", body, `name="email" type="email" value=""`)
}

func TestErrorPage(t *testing.T) {
	body := render(t, http.StatusNotFound, "error", &pageData{Title: "Not Found",
		Data: map[string]any{"Status": 404, "Message": "This page does not exist, or you do not have access to it."}})
	wantContains(t, "the error page", body, `<p class="status-code">404</p>`, "<h1>Not Found</h1>",
		"This page does not exist, or you do not have access to it.")
}

// recordingWriter fails the test on any write: a failed render must leave the response alone.
type recordingWriter struct {
	header http.Header
	calls  []string
}

func (w *recordingWriter) Header() http.Header { return w.header }
func (w *recordingWriter) Write(b []byte) (int, error) {
	w.calls = append(w.calls, "Write")
	return len(b), nil
}
func (w *recordingWriter) WriteHeader(int) { w.calls = append(w.calls, "WriteHeader") }

func TestAFailedRenderWritesNothing(t *testing.T) {
	r := mustRenderer(t)
	for name, render := range map[string]func(http.ResponseWriter) error{
		"page with data of the wrong type": func(w http.ResponseWriter) error {
			return r.Page(w, http.StatusOK, "login", "not page data")
		},
		"page failing half-way": func(w http.ResponseWriter) error {
			return r.Page(w, http.StatusOK, "devices", &pageData{Form: newForm(), Data: "no devices field"})
		},
		"unknown page": func(w http.ResponseWriter) error { return r.Page(w, http.StatusOK, "nope", nil) },
		"unknown fragment": func(w http.ResponseWriter) error {
			return r.Fragment(w, http.StatusOK, "devices", "nope", nil)
		},
		"fragment with data of the wrong type": func(w http.ResponseWriter) error {
			return r.Fragment(w, http.StatusOK, "devices", "device-row", 42)
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := &recordingWriter{header: http.Header{}}
			if err := render(w); err == nil {
				t.Error("got no error")
			}
			if len(w.calls) != 0 || len(w.header) != 0 {
				t.Errorf("the failed render touched the response: calls %v, header %v", w.calls, w.header)
			}
		})
	}
}

func TestStaticServesFingerprintedFiles(t *testing.T) {
	srv := httptest.NewServer(Static())
	defer srv.Close()
	get := func(t *testing.T, p string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	for name, want := range map[string]string{
		"app.css":                      "text/css; charset=utf-8",
		"app.js":                       "text/javascript; charset=utf-8",
		"favicon.svg":                  "image/svg+xml",
		"vendor/echarts.common.min.js": "text/javascript; charset=utf-8",
		"vendor/htmx.LICENSE.txt":      "text/plain; charset=utf-8",
	} {
		t.Run(name, func(t *testing.T) {
			u := StaticURL(name)
			if !strings.HasPrefix(u, "/static/") || len(strings.Split(u, "/")[2]) != 12 {
				t.Errorf("StaticURL(%q) = %q, want /static/<12 hex>/%s", name, u, name)
			}
			resp, body := get(t, u)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", u, resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
			if got := resp.Header.Get("Content-Type"); got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if embedded, _ := fs.ReadFile(files, path.Join("static", name)); !bytes.Equal(body, embedded) {
				t.Errorf("body differs from the embedded file (%d bytes, want %d)", len(body), len(embedded))
			}
		})
	}

	t.Run("gzip", func(t *testing.T) {
		resp, body := get(t, StaticURL("vendor/htmx.min.js"), "Accept-Encoding", "gzip, br")
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if embedded, _ := fs.ReadFile(files, "static/vendor/htmx.min.js"); !bytes.Equal(plain, embedded) {
			t.Error("the gzipped body does not decompress to the file")
		}
		if resp, _ := get(t, StaticURL("vendor/htmx.min.js"), "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
			t.Error("gzip sent to a client that refused it")
		}
	})

	t.Run("not modified", func(t *testing.T) {
		resp, _ := get(t, StaticURL("app.css"))
		again, _ := get(t, StaticURL("app.css"), "If-None-Match", resp.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("conditional GET: %d, want 304", again.StatusCode)
		}
	})

	good := StaticURL("app.css")
	for name, p := range map[string]string{
		"wrong fingerprint": "/static/000000000000/app.css",
		"no fingerprint":    "/static/app.css",
		"missing file":      strings.Replace(good, "app.css", "nope.css", 1),
		"directory":         strings.TrimSuffix(good, "app.css") + "vendor",
		"traversal":         strings.TrimSuffix(good, "app.css") + "../templates/layout.html",
		"root":              "/static/",
	} {
		t.Run(name, func(t *testing.T) {
			if resp, _ := get(t, p); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"},
		{1048575, "1 MiB"}, {1048524, "1023.9 KiB"}, {5 << 20, "5 MiB"}, {1288490189, "1.2 GiB"},
		{-2048, "-2 KiB"},
	} {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, "never"},
		{at(-time.Minute), "just now"}, {at(2 * time.Second), "just now"}, {at(45 * time.Second), "45 seconds ago"},
		{at(time.Minute), "1 minute ago"}, {at(150 * time.Minute), "2 hours ago"}, {at(49 * time.Hour), "2 days ago"},
		{at(90 * 24 * time.Hour), "1 Dec 2025"},
	} {
		if got := Ago(now, tc.in); got != tc.want {
			t.Errorf("Ago(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestDictAndFormHelpers(t *testing.T) {
	if m, err := dict("a", 1, "b", "x"); err != nil || m["a"] != 1 || m["b"] != "x" {
		t.Errorf("dict = %v, %v", m, err)
	}
	if _, err := dict("a"); err == nil {
		t.Error("dict with an odd count: want an error")
	}
	if _, err := dict(1, 2); err == nil {
		t.Error("dict with a non-string key: want an error")
	}
	f := newForm()
	f.Values["email"] = "a@example.com"
	for name, tc := range map[string]struct {
		form any
		want string
	}{
		"pointer":     {f, "a@example.com"},
		"value":       {*f, "a@example.com"},
		"nil pointer": {(*form)(nil), ""},
		"nil":         {nil, ""},
		"other type":  {"x", ""},
		"no field":    {struct{ Other int }{}, ""},
	} {
		if got := formField(tc.form, "Values", "email"); got != tc.want {
			t.Errorf("%s: formField = %q, want %q", name, got, tc.want)
		}
	}
}
