package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"wiregui/app/auth"
	"wiregui/store"
	"wiregui/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// cliEnv runs commands in-process against one fresh database of driver.
type cliEnv struct {
	t    *testing.T
	vars map[string]string
}

func newCLI(t *testing.T, driver string) *cliEnv {
	dir := t.TempDir()
	vars := map[string]string{"WG_DATA_DIR": dir, "WG_WG_ENDPOINT_HOST": "vpn.example.com"}
	if driver == "postgres" {
		vars["WG_DATABASE_URL"] = storetest.PostgresURL(t)
	}
	return &cliEnv{t: t, vars: vars}
}

// run runs the command line args with stdin and returns its exit status and output.
func (c *cliEnv) run(stdin string, args ...string) (status int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return c.vars[k] }}
	status = Run(args[0], args[1:], env)
	return status, out.String(), errOut.String()
}

// ok runs args and fails the test unless they succeed; it returns what they printed.
func (c *cliEnv) ok(stdin string, args ...string) string {
	c.t.Helper()
	status, out, errOut := c.run(stdin, args...)
	if status != ExitOK {
		c.t.Fatalf("%q: exit %d, stderr %q", args, status, errOut)
	}
	return out
}

func (c *cliEnv) store() *store.Store {
	c.t.Helper()
	driver, dsn := "sqlite", c.vars["WG_DATA_DIR"]+"/wiregui.db"
	if url := c.vars["WG_DATABASE_URL"]; url != "" {
		driver, dsn = "postgres", url
	}
	key, err := store.ReadOrCreateKeyFile(c.vars["WG_DATA_DIR"] + "/encryption.key")
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := store.Open(c.t.Context(), store.Options{Driver: driver, DSN: dsn, Key: key})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// TestUserCommandsForScripts: every user command through the user service, on both
// databases; what is done already succeeds and says so; usage errors exit 2, others 1.
func TestUserCommandsForScripts(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			out := c.ok("", "user", "add", "--email", "Admin@Example.com", "--admin")
			password, found := strings.CutPrefix(strings.Split(strings.TrimSpace(out), "\n")[1], "password (shown only now): ")
			if !found || len(password) < 20 {
				t.Fatalf("user add without a password printed %q, want a generated password once", out)
			}
			st := c.store()
			admin, err := st.UserByEmail(t.Context(), "admin@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := auth.CheckPassword(admin.PasswordHash, password); !ok {
				t.Error("the printed password does not sign the admin in")
			}
			if out := c.ok("", "user", "add", "--email", "admin@example.com", "--admin"); !strings.Contains(out, "exists as admin; left unchanged") {
				t.Errorf("adding an existing user again: %q", out)
			}
			if status, _, errOut := c.run("", "user", "add", "--email", "admin@example.com"); status != ExitError ||
				!strings.Contains(errOut, "exists as admin; change the role with") {
				t.Errorf("adding an existing admin as a user: exit %d, %q", status, errOut)
			}
			c.ok("bob's password 1\n", "user", "add", "--email", "bob@example.com", "--password-stdin")
			bob, _ := st.UserByEmail(t.Context(), "bob@example.com")
			if ok, _ := auth.CheckPassword(bob.PasswordHash, "bob's password 1"); !ok {
				t.Error("--password-stdin did not set the password read")
			}

			c.ok("", "user", "set", "--email", "bob@example.com", "--role", "admin", "--new-email", "robert@example.com")
			if out := c.ok("", "user", "set", "--email", "robert@example.com", "--role", "admin"); !strings.Contains(out, "nothing to change") {
				t.Errorf("a change that is so already: %q", out)
			}
			c.ok("", "user", "set", "--email", "admin@example.com", "--role", "user")
			if status, _, errOut := c.run("", "user", "delete", "robert@example.com"); status != ExitError ||
				!strings.Contains(errOut, "robert@example.com is the last enabled admin") {
				t.Errorf("deleting the last admin: exit %d, %q", status, errOut)
			}
			if status, _, errOut := c.run("", "user", "disable", "robert@example.com"); status != ExitError ||
				!strings.Contains(errOut, "last enabled admin") {
				t.Errorf("disabling the last admin: exit %d, %q", status, errOut)
			}
			if status, _, errOut := c.run("", "user", "set", "--email", "robert@example.com", "--disabled", "true"); status != ExitError ||
				!strings.Contains(errOut, "robert@example.com is the last enabled admin") {
				t.Errorf("set --disabled true on the last admin: exit %d, %q", status, errOut)
			}
			for i, want := range []string{"changed user admin@example.com (disabled)", "nothing to change"} {
				if out := c.ok("", "user", "set", "--email", "admin@example.com", "--disabled", "true"); !strings.Contains(out, want) {
					t.Errorf("set --disabled true, time %d: %q, want %q", i+1, out, want)
				}
			}
			if u, _ := st.UserByEmail(t.Context(), "admin@example.com"); !u.Disabled() {
				t.Error("set --disabled true left the user enabled")
			}
			for i, want := range []string{"changed user admin@example.com\n", "nothing to change"} {
				if out := c.ok("", "user", "set", "--email", "admin@example.com", "--disabled", "false"); !strings.Contains(out, want) {
					t.Errorf("set --disabled false, time %d: %q, want %q", i+1, out, want)
				}
			}
			c.ok("", "user", "disable", "admin@example.com")
			if out := c.ok("", "user", "disable", "admin@example.com"); !strings.Contains(out, "is disabled already") {
				t.Errorf("disabling twice: %q", out)
			}
			c.ok("", "user", "delete", "admin@example.com")
			if out := c.ok("", "user", "delete", "admin@example.com"); !strings.Contains(out, "nothing to delete") {
				t.Errorf("deleting twice: %q", out)
			}

			var list []userJSON
			if err := json.Unmarshal([]byte(c.ok("", "user", "list", "--json")), &list); err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Email != "robert@example.com" || list[0].Role != "admin" || list[0].Disabled {
				t.Errorf("user list --json = %+v, want robert@example.com, an enabled admin", list)
			}

			for _, tc := range []struct {
				args   []string
				status int
				says   string
			}{
				{[]string{"user", "add"}, ExitUsage, "--email is required"},
				{[]string{"user", "add", "--email", "x@example.com", "--bogus"}, ExitUsage, "flag provided but not defined"},
				{[]string{"user", "set", "--email", "robert@example.com", "--role", "root"}, ExitUsage, `"root" is neither admin nor user`},
				{[]string{"user", "set", "--email", "robert@example.com", "--disabled", "yes"}, ExitUsage, `--disabled: "yes" is neither true nor false`},
				{[]string{"user", "set", "--email", "robert@example.com"}, ExitUsage, "nothing to change: give --role, --new-email, --password-stdin or --disabled"},
				{[]string{"user", "frobnicate"}, ExitUsage, "unknown user command"},
				{[]string{"user", "add", "--email", "not an address"}, ExitError, "--email:"},
				{[]string{"user", "add", "--email", "eve@example.com", "--password", "short"}, ExitError, "--password: The password must have at least 10 characters; this one has 5."},
				{[]string{"user", "add", "--email", "eve@example.com", "--password", "EVE@example.com"}, ExitError, "--password: The password cannot be your email address."},
				{[]string{"user", "add", "--email", "eve@example.com", "--password", "Qwertyuiop"}, ExitError, "--password: This password is one of the 10,000 most common passwords"},
				{[]string{"user", "set", "--email", "robert@example.com", "--password-stdin"}, ExitError, "--password-stdin: This password is one of the 10,000 most common"},
				{[]string{"user", "set", "--email", "nobody@example.com", "--role", "user"}, ExitError, "There is no user with the email nobody@example.com."},
			} {
				if status, _, errOut := c.run("1234567890\n", tc.args...); status != tc.status || !strings.Contains(errOut, tc.says) {
					t.Errorf("%q: exit %d, %q; want %d saying %q", tc.args, status, errOut, tc.status, tc.says)
				}
			}
		})
	}
}

// TestDeviceCommandsForScripts: device add --json gives a script what it needs; deleting a
// device that is gone succeeds.
func TestDeviceCommandsForScripts(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			c.ok("", "user", "add", "--email", "ann@example.com", "--admin")
			var added addedJSON
			if err := json.Unmarshal([]byte(c.ok("", "device", "add", "--user", "ann@example.com", "--name", "Ann\u0301's phone", "--json")), &added); err != nil {
				t.Fatal(err)
			}
			if added.ID == "" || added.Name != "An\u0144's phone" || added.IPv4 == "" || added.PublicKey == "" ||
				!strings.Contains(added.Config, "PrivateKey = ") || !strings.Contains(added.Config, "Address = "+added.IPv4+"/32") {
				t.Errorf("device add --json = %+v", added)
			}
			// The name is typed decomposed again: it is the same name.
			c.ok("", "device", "delete", "--user", "ann@example.com", "--name", "Ann\u0301's phone")
			if out := c.ok("", "device", "delete", "--user", "ann@example.com", "--name", "Ann\u0301's phone"); !strings.Contains(out, "nothing to delete") {
				t.Errorf("deleting a device that is gone: %q", out)
			}
			if status, _, errOut := c.run("", "device", "add", "--user", "nobody@example.com", "--name", "x"); status != ExitError ||
				!strings.Contains(errOut, "--user: There is no user") {
				t.Errorf("a device for nobody: exit %d, %q", status, errOut)
			}
			if status, _, errOut := c.run("", "device", "add", "--user", "ann@example.com"); status != ExitUsage || !strings.Contains(errOut, "--name is required") {
				t.Errorf("device add without a name: exit %d, %q", status, errOut)
			}
		})
	}
}

// A user's device names are unique without regard to letter case: device add refuses a taken
// one, naming the flag, and device delete finds the device by its name in any case.
func TestDeviceNamesAreOnePerUser(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			c := newCLI(t, driver)
			c.ok("", "user", "add", "--email", "ann@example.com")
			c.ok("", "user", "add", "--email", "bob@example.com")
			c.ok("", "device", "add", "--user", "ann@example.com", "--name", "Laptop")
			status, _, errOut := c.run("", "device", "add", "--user", "ann@example.com", "--name", " LAPTOP")
			if status != ExitError || !strings.Contains(errOut, "--name: A device named “Laptop” exists already for this user") {
				t.Errorf("a second LAPTOP: exit %d, %q; want 1 and the message on --name", status, errOut)
			}
			c.ok("", "device", "add", "--user", "bob@example.com", "--name", "laptop")
			if out := c.ok("", "device", "delete", "--user", "ann@example.com", "--name", "lapTOP"); out != "deleted device \"Laptop\" of ann@example.com\n" {
				t.Errorf("device delete --name lapTOP printed %q", out)
			}
			devices, err := c.store().ListDevices(t.Context())
			var left []string
			for _, d := range devices {
				left = append(left, d.UserEmail+" "+d.Name)
			}
			if err != nil || len(left) != 1 || left[0] != "bob@example.com laptop" {
				t.Errorf("left %q, %v; want bob's laptop only", left, err)
			}
		})
	}
}

// device add warns, with how to fix it, when the configuration dials an endpoint that
// devices on other networks cannot reach; not when it is public.
func TestDeviceAddWarnsOfAPrivateEndpoint(t *testing.T) {
	c := newCLI(t, "sqlite")
	c.ok("", "user", "add", "--email", "ann@example.com")
	c.vars["WG_WG_ENDPOINT_HOST"] = "192.168.1.5"
	status, out, errOut := c.run("", "device", "add", "--user", "ann@example.com", "--name", "phone")
	want := "warning: this configuration dials 192.168.1.5:51820, a private address: devices on other networks cannot connect. " +
		"To fix it, set WG_WG_ENDPOINT_HOST to this server's public IP address or host name (or the Endpoint default on the Settings page).\n"
	if status != ExitOK || !strings.Contains(errOut, want) || !strings.Contains(out, "Endpoint = 192.168.1.5:51820") {
		t.Errorf("exit %d, stderr %q; want the warning", status, errOut)
	}
	c.vars["WG_WG_ENDPOINT_HOST"] = "vpn.example.com"
	if _, _, errOut := c.run("", "device", "add", "--user", "ann@example.com", "--name", "laptop"); strings.Contains(errOut, "warning") {
		t.Errorf("a public endpoint warned: %q", errOut)
	}
}
