package app_test

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"wiregui/app"
	"wiregui/app/apptest"
	"wiregui/app/auth"
	"wiregui/app/dataplane"
	"wiregui/app/devices"
	"wiregui/app/mail"
	"wiregui/app/mfa"
	"wiregui/app/rules"
	"wiregui/app/users"
	"wiregui/collector"
	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg"
)

// env is a web server on a real SQLite store.
type env struct {
	store   *store.Store
	devices *devices.Service
	rules   *rules.Service
	users   *users.Service
	mail    *mail.Mailer
	dbPath  string // the SQLite file, or PostgreSQL's URL
	url     string
	changed []string // the users whose devices changed, in order; "" is everyone
	live    *collector.Hub
	web     *app.Server
	// wg is what the data plane reports; set it before the requests that should see it.
	wg dataplane.Status
	// mfa checks second factors.
	mfa *mfa.Service
}

// newEnv starts a web server on a fresh SQLite store; opts adjust its options.
func newEnv(t testing.TB, opts ...func(*app.Options)) *env {
	t.Helper()
	return newEnvOn(t, "sqlite", storetest.DSN(t, "sqlite"), opts...)
}

// newEnvOn is newEnv on the database dsn of driver.
func newEnvOn(t testing.TB, driver, dsn string, opts ...func(*app.Options)) *env {
	t.Helper()
	e := &env{dbPath: dsn}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.store = st
	if _, err := st.EnsureServerKeys(ctx, func() (store.ServerKeys, error) {
		priv, pub, err := wg.GenerateKeyPair()
		return store.ServerKeys{PrivateKey: priv.String(), PublicKey: pub.String()}, err
	}); err != nil {
		t.Fatal(err)
	}
	v4, _ := wg.NewPool(netip.MustParsePrefix("10.3.2.0/24"))
	v6, _ := wg.NewPool(netip.MustParsePrefix("fd00::3:2:0/120"))
	srv := httptest.NewUnstartedServer(nil)
	e.url = "http://" + srv.Listener.Addr().String()
	e.devices = &devices.Service{Store: st, Pools: store.AddressPools{IPv4: v4, IPv6: v6},
		Client: devices.ClientDefaults{EndpointHost: "vpn.example.com", EndpointPort: 51820, DNS: []string{"1.1.1.1"},
			MTU: 1280, PersistentKeepalive: 25, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		Tunnels: []netip.Prefix{netip.MustParsePrefix("10.3.2.0/24"), netip.MustParsePrefix("fd00::3:2:0/120")},
		Changed: func(userID string) { e.changed = append(e.changed, userID) }}
	e.live = collector.NewHub(collector.DefaultPoints)
	e.rules = &rules.Service{Store: st, Interface: "wg0", Networks: e.devices.Tunnels,
		Changed: func(userID string) { e.changed = append(e.changed, userID) }}
	e.mail = &mail.Mailer{Store: st}
	e.users = &users.Service{Store: st, Changed: func(userID string) { e.changed = append(e.changed, userID) },
		Mail: e.mail, Tokens: auth.NewTokens(testSecretKey), URL: e.url}
	o := app.Options{
		Store:         st,
		Devices:       e.devices,
		Rules:         e.rules,
		Users:         e.users,
		Mail:          e.mail,
		ExternalURL:   e.url,
		SecretKey:     testSecretKey,
		Version:       "test",
		Live:          e.live,
		WireGuard:     func() dataplane.Status { return e.wg },
		AccessChanged: func(userID string) { e.changed = append(e.changed, userID) },
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.MFA == nil {
		if o.MFA, err = mfa.New(mfa.Options{Store: st, ExternalURL: o.ExternalURL, Key: o.SecretKey}); err != nil {
			t.Fatal(err)
		}
	}
	e.mfa = o.MFA
	web, err := app.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.web = web
	srv.Config.Handler = web.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(web.Close) // before srv.Close, which waits for the live streams
	return e
}

// testSecretKey is the secret key of the servers under test.
var testSecretKey = []byte("test-secret-key-of-32-bytes-at-least")

func (e *env) user(t testing.TB, email, password string, role string) *store.User {
	t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: email, PasswordHash: hash, Role: role}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSignInFailuresAllSayTheSame(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	off := e.user(t, "off@example.com", "right-password", store.RoleUnprivileged)
	at := time.Now()
	e.store.SetUserDisabled(context.Background(), off.ID, &at)

	for name, creds := range map[string][2]string{
		"wrong password": {"alice@example.com", "wrong-password"},
		"unknown user":   {"nobody@example.com", "right-password"},
		"disabled user":  {"off@example.com", "right-password"},
	} {
		t.Run(name, func(t *testing.T) {
			c := apptest.New(t, e.url)
			c.Get("/login")
			r := c.Post("/login", url.Values{"email": {creds[0]}, "password": {creds[1]}})
			if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Invalid email or password") {
				t.Errorf("got %d, want 401 with the generic message", r.Status)
			}
			if !strings.Contains(r.Body, `value="`+creds[0]+`"`) {
				t.Errorf("the typed email %q was not kept in the form", creds[0])
			}
			if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
				t.Errorf("after a failed sign-in /devices went to %s, want /login", r.URL)
			}
		})
	}
}

func TestSignInIsCaseInsensitiveAndSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("Alice@Example.com", "right-password")
	u, _ := e.store.UserByEmail(context.Background(), "alice@example.com")
	if u.LastSignedInAt == nil {
		t.Error("sign-in time not recorded")
	}
	r := c.Post("/logout", nil)
	if !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("sign out landed on %s, want /login", r.URL)
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("after sign out /devices went to %s, want /login", r.URL)
	}
}

func TestEmptyFieldsAreNamed(t *testing.T) {
	e := newEnv(t)
	c := apptest.New(t, e.url)
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {""}, "password": {""}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Enter your email address.") ||
		!strings.Contains(r.Body, "Enter your password.") {
		t.Errorf("got %d; want 422 naming both fields", r.Status)
	}
}

// An email that is no text a user could have is refused by name before it is looked up.
func TestSignInRefusesAnEmailThatIsNoText(t *testing.T) {
	e := newEnv(t)
	c := apptest.New(t, e.url)
	c.Get("/login")
	for in, want := range map[string]string{
		"alice\x00@example.com":   "An email address cannot contain NUL bytes.",
		"alice\xff@example.com":   "An email address must be UTF-8 text",
		"alice\u202e@example.com": "An email address cannot contain invisible formatting characters such as U+202E.",
	} {
		r := c.Post("/login", url.Values{"email": {in}, "password": {"right-password"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), want) {
			t.Errorf("sign in as %q: got %d, want 422 with %q", in, r.Status, want)
		}
	}
}

func TestStateChangesNeedTheSessionsCSRFToken(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("alice@example.com", "right-password")

	other := apptest.New(t, e.url)
	other.Get("/login")
	foreign := apptest.CSRFToken(other.Get("/login").Body)

	for name, tok := range map[string]string{"missing": "", "another session's": foreign} {
		form := url.Values{"name": {"laptop"}}
		form.Set("csrf_token", tok)
		if tok == "" {
			form.Set("csrf_token", "x")
		}
		if r := c.Post("/devices", form); r.Status != http.StatusForbidden {
			t.Errorf("%s token: got %d, want 403", name, r.Status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/devices", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := c.Do(req); r.Status != http.StatusForbidden {
		t.Errorf("cross-site request: got %d, want 403", r.Status)
	}
	if list, _ := e.store.ListDevices(context.Background()); len(list) != 0 {
		t.Errorf("a refused request created %d devices", len(list))
	}
}

func TestEveryRequestRereadsTheUser(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("alice@example.com", "right-password")
	at := time.Now()
	if err := e.store.SetUserDisabled(context.Background(), u.ID, &at); err != nil {
		t.Fatal(err)
	}
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("a disabled user's session reached %s, want /login", r.URL)
	}
	e.store.SetUserDisabled(context.Background(), u.ID, nil)
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("the session survived being disabled: reached %s", r.URL)
	}
}

var privateKeyLine = regexp.MustCompile(`PrivateKey = (\S+)`)

func TestCreateDeviceShowsTheConfigOnceAndNeverStoresThePrivateKey(t *testing.T) {
	e := newEnv(t)
	alice := e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("alice@example.com", "right-password")
	if !slices.Equal(e.changed, []string{alice.ID}) {
		t.Errorf("signing in told the reconciler about %q, want alice only (her session renews)", e.changed)
	}
	before := len(e.changed)
	r := c.Post("/devices", url.Values{"name": {"Alice's laptop"}})
	if r.Status != http.StatusOK {
		t.Fatalf("create: got %d", r.Status)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the private key has Cache-Control %q, want no-store", cc)
	}
	conf := apptest.ConfigFromPage(r.Body)
	m := privateKeyLine.FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("no PrivateKey in the config shown:\n%s", conf)
	}
	for _, want := range []string{"[Interface]", "Address = 10.3.2.2/32, fd00::3:2:2/128", "DNS = 1.1.1.1", "[Peer]",
		"Endpoint = vpn.example.com:51820", "PresharedKey = ", "PersistentKeepalive = 25"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if got := e.changed[before:]; !slices.Equal(got, []string{alice.ID}) {
		t.Errorf("creating the device told the reconciler about %q, want alice once", got)
	}
	devices, _ := e.store.ListDevices(context.Background())
	if len(devices) != 1 || devices[0].Name != "Alice's laptop" {
		t.Fatalf("stored devices: %+v", devices)
	}
	priv := m[1]
	for _, f := range []string{e.dbPath, e.dbPath + "-wal"} {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), priv) {
			t.Errorf("the private key is stored in %s", f)
		}
	}
	if r := c.Get("/devices"); strings.Contains(r.Body, priv) || !strings.Contains(r.Body, "Alice&#39;s laptop") {
		t.Error("the device list shows the private key, or not the device")
	}
}

func TestCreateDeviceRejectsBadNamesAndSavesNothing(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("alice@example.com", "right-password")
	for name, tc := range map[string]struct{ input, message string }{
		"empty":    {"  ", "Enter a name for the device."},
		"too long": {strings.Repeat("x", 65), "at most 64 characters"},
		"control":  {"a\x07b", "control characters"},
		"bidi":     {"gpj\u202e.exe", "A device name cannot contain invisible formatting characters such as U+202E."},
		"NUL":      {"a\x00b", "A device name cannot contain NUL bytes."},
	} {
		r := c.Post("/devices", url.Values{"name": {tc.input}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), tc.message) {
			t.Errorf("%s: got %d, want 422 with %q", name, r.Status, tc.message)
		}
	}
	if list, _ := e.store.ListDevices(context.Background()); len(list) != 0 {
		t.Errorf("invalid input saved %d devices", len(list))
	}
}

func TestHTMXCreateAnswersWithTheFragmentOnly(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice@example.com", "right-password", store.RoleUnprivileged)
	c := apptest.New(t, e.url)
	c.SignIn("alice@example.com", "right-password")
	r := c.HTMX("/devices", url.Values{"name": {"phone"}})
	if r.Status != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "PrivateKey = ") {
		t.Errorf("got %d, want the device-created fragment without the layout:\n%.300s", r.Status, r.Body)
	}
}

// An HX-Trigger event is for a listener on the page the request came from
// (hx-trigger="EVENT from:body"): an htmx change sends only events its page listens for, and
// adding a device, which the table behind the dialog does not show yet, sends one.
func TestHTMXEventsHaveListeners(t *testing.T) {
	e := newEnv(t)
	alice, user := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	_, admin := e.signedIn(t, "admin@example.com", store.RoleAdmin)
	dev := e.device(t, alice, "laptop")
	for _, tc := range []struct {
		name      string
		c         *apptest.Client
		path      string // the page, and where its form posts unless post says
		form      url.Values
		wantEvent bool
		post      string
	}{
		{"add a device", user, "/devices", url.Values{"name": {"phone"}}, true, ""},
		{"add a device on All Devices", admin, "/admin/devices", url.Values{"user_email": {"alice@example.com"}, "name": {"tablet"}}, true, ""},
		{"edit a device", user, "/devices/" + dev.ID, defaultsForm("name", "work laptop"), false, ""},
		{"save a Settings card", admin, "/admin/settings", url.Values{"vpn_session_duration": {"0"}}, false, "/admin/settings/session"},
		{"add a rule in the dialog", admin, "/admin/rules", url.Values{"action": {"drop"}, "destination": {"10.9.0.0/16"}}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listens := captures(listener, tc.c.Get(tc.path).Body)
			post := cmp.Or(tc.post, tc.path)
			r := tc.c.HTMX(post, tc.form)
			if r.Status != http.StatusOK {
				t.Fatalf("got %d, want 200:\n%.300s", r.Status, r.Body)
			}
			switch event := r.Header.Get("HX-Trigger"); {
			case event == "" && tc.wantEvent:
				t.Errorf("no HX-Trigger: the page (listening for %q) would not show the change", listens)
			case event != "" && !slices.Contains(listens, event):
				t.Errorf("HX-Trigger %q, which nothing on %s listens for (it listens for %q)", event, tc.path, listens)
			}
		})
	}
}

var listener = regexp.MustCompile(`hx-trigger="([^"\s]+) from:body"`)

func TestSignedOutVisitorsGoToSignIn(t *testing.T) {
	e := newEnv(t)
	c := apptest.New(t, e.url)
	for _, path := range []string{"/", "/devices"} {
		if r := c.Get(path); !strings.HasSuffix(r.URL, "/login") || r.Status != http.StatusOK {
			t.Errorf("GET %s: got %d at %s, want the sign-in page", path, r.Status, r.URL)
		}
	}
	if r := c.Get("/no-such-page"); r.Status != http.StatusNotFound {
		t.Errorf("unknown page: got %d, want 404", r.Status)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	c := apptest.New(t, e.url)
	r := c.Get("/healthz")
	var body struct {
		Status   string
		Database struct{ OK bool }
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || r.Status != 200 || !body.Database.OK || body.Status != "ok" {
		t.Fatalf("healthz = %d %s (%v)", r.Status, r.Body, err)
	}
	e.store.Close()
	if r := c.Get("/healthz"); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"unavailable"`) {
		t.Errorf("with the database closed: got %d %s, want 503", r.Status, r.Body)
	}
}

// /healthz answers anyone, so every error in it is a fixed reason: the texts of the errors
// behind them name files, hosts, interfaces and keys, and go to the log.
func TestHealthzSaysFixedReasonsOnly(t *testing.T) {
	e := newEnv(t)
	secrets := []string{"/var/secret", "vm.internal", "10.9.8.7", "wg7", "peer-key="}
	e.wg = dataplane.Status{Enabled: true, Interface: "wg0", Error: "create wg7: open /var/secret/tun: permission denied",
		Reconcile: &dataplane.ReconcileStatus{Error: "set peer peer-key=: no such device"}, NotApplied: map[string]string{"d1": "peer-key= is not a key"}}
	e.live.Publish(collector.Message{Health: collector.Health{LastTick: time.Now(), Errors: 1,
		LastError: "read peers: open /var/secret/wg7.sock: permission denied",
		Push:      collector.PushHealth{State: "failing", LastError: `Post "http://vm.internal:8428/api/v1/import/prometheus": dial tcp 10.9.8.7:8428: connection refused`}}})
	r := apptest.New(t, e.url).Get("/healthz")
	for _, s := range secrets {
		if strings.Contains(r.Body, s) {
			t.Errorf("/healthz shows %q of an error's text:\n%s", s, r.Body)
		}
	}
	var body struct {
		Status    string
		WireGuard struct {
			Error         string
			LastReconcile struct{ Error string } `json:"last_reconcile"`
		}
		Collector struct {
			LastError string `json:"last_error"`
			Push      struct {
				LastError string `json:"last_error"`
			} `json:"victoriametrics"`
		}
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"status", body.Status, "degraded"},
		{"wireguard error", body.WireGuard.Error, "reconcile failed"},
		{"reconcile error", body.WireGuard.LastReconcile.Error, "failed"},
		{"collector error", body.Collector.LastError, "poll failed"},
		{"push error", body.Collector.Push.LastError, "push failed"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}

// While PostgreSQL is down, pages and /healthz answer 503 and say that the database is
// unavailable, never with the error's text; once it is back the same session works again.
func TestPagesSayWhenTheDatabaseIsUnavailable(t *testing.T) {
	pg := storetest.NewCluster(t)
	e := newEnvOn(t, "postgres", pg.NewDatabase(t))
	_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	pg.Stop(t)
	// A visitor has no session: the form needs no database, signing in does.
	visitor := apptest.New(t, e.url)
	if r := visitor.Get("/login"); r.Status != http.StatusOK {
		t.Errorf("a visitor's sign-in form: got %d, want 200", r.Status)
	}
	signIn := func() apptest.Response {
		return visitor.Post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}})
	}
	for _, tc := range []struct {
		path string
		get  func() apptest.Response
	}{
		{"GET /devices", func() apptest.Response { return c.Get("/devices") }},
		{"GET /login", func() apptest.Response { return c.Get("/login") }},
		{"POST /login", signIn},
		{"GET /healthz", func() apptest.Response { return c.Get("/healthz") }},
	} {
		path := tc.path
		r := tc.get()
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: got %d with Retry-After %q, want 503 with one", path, r.Status, r.Header.Get("Retry-After"))
		}
		if strings.Contains(r.Body, "PGSQL") || strings.Contains(r.Body, "dial") {
			t.Errorf("%s shows the error's text:\n%s", path, r.Body)
		}
		if n := strings.Count(r.Body, "<html"); n > 1 {
			t.Errorf("%s: got %d pages in one answer, want the error page alone:\n%s", path, n, r.Body)
		}
		if path == "GET /healthz" {
			var body struct{ Database struct{ Error string } }
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Database.Error != "database unavailable" {
				t.Errorf("healthz: got %s, want the database's error %q", r.Body, "database unavailable")
			}
		} else if !strings.Contains(r.Body, "The database is unavailable") {
			t.Errorf("%s does not say that the database is unavailable:\n%s", path, r.Body)
		} else if strings.HasPrefix(path, "GET ") && r.Header.Get("Refresh") == "" {
			t.Errorf("%s does not reload itself", path)
		}
	}
	pg.Start(t)
	if r := c.Get("/devices"); r.Status != http.StatusOK || !strings.HasSuffix(r.URL, "/devices") {
		t.Errorf("after the database is back: got %d at %s, want the devices page", r.Status, r.URL)
	}
	if r := c.Get("/healthz"); r.Status != http.StatusOK {
		t.Errorf("healthz after the database is back: got %d %s", r.Status, r.Body)
	}
}

// Until serve has opened the database, its gate answers every page with 503 and the same
// message, /healthz too, and serves static files; once open, the real handler answers.
func TestGateAnswersUnavailableUntilOpen(t *testing.T) {
	g, err := app.NewGate("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	c := apptest.New(t, srv.URL)
	for _, path := range []string{"/", "/login", "/devices", "/healthz"} {
		r := c.Get(path)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
			!strings.Contains(r.Body, "The database is unavailable") && !strings.Contains(r.Body, `"database unavailable"`) {
			t.Errorf("GET %s: got %d (Retry-After %q):\n%s", path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	css := regexp.MustCompile(`href="(/static/[^"]+\.css)"`).FindStringSubmatch(c.Get("/login").Body)
	if css == nil {
		t.Fatal("the unavailable page links no style sheet")
	}
	if r := c.Get(css[1]); r.Status != http.StatusOK {
		t.Errorf("GET %s: got %d, want the style sheet", css[1], r.Status)
	}
	g.Open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if r := c.Get("/login"); r.Status != http.StatusTeapot {
		t.Errorf("after Open: got %d, want the real handler's answer", r.Status)
	}
}

func TestIdleSessionsEndAndActiveOnesDoNot(t *testing.T) {
	defer app.SetSessionIdle(time.Second, 0)()
	e := newEnv(t)
	_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	for range 4 { // 2 s of activity, twice the idle time
		time.Sleep(500 * time.Millisecond)
		if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/devices") {
			t.Fatalf("an active session was signed out: at %s", r.URL)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if r := c.Get("/devices"); !strings.HasSuffix(r.URL, "/login") {
		t.Errorf("after 1.5 s idle (the limit is 1 s): at %s, want the sign-in page", r.URL)
	}
}

func TestPagesDoNotWriteTheSession(t *testing.T) {
	e := newEnv(t)
	_, c := e.signedIn(t, "alice@example.com", store.RoleUnprivileged)
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sessions := func() string {
		var data []byte
		var expiry string
		if err := db.QueryRow(`SELECT data, expiry FROM sessions`).Scan(&data, &expiry); err != nil {
			t.Fatal(err)
		}
		return string(data) + expiry
	}
	before := sessions()
	for range 3 {
		c.Get("/devices")
	}
	if sessions() != before {
		t.Error("reading pages wrote the session: every request would wait for the one SQLite writer")
	}
}

// linksOn sets email up with the SMTP server at host:port (no TLS) and turns sign-in links on.
func (e *env) linksOn(t testing.TB, host string, port int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.store.UpdateMailSettings(ctx, func(m *store.MailSettings) error {
		*m = store.MailSettings{Host: host, Port: port, TLS: mail.NoTLS, From: "WireGUI <vpn@example.com>"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateSettings(ctx, func(st *store.Settings) error { st.MagicLinkEnabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
}
