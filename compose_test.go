package main

// compose.test.yml runs the whole stack under Docker, which this machine does not have. These
// tests keep it in step with the binary instead: they parse it, check every WG_* name against
// the settings table and every wiregui command line against the binary's flag sets, run the
// setup script for real against the built binary, run the server's healthcheck against a
// running server, check the scripts' syntax with Debian's sh, and make sure no key is
// committed.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"wiregui/config"
	"wiregui/wg"
)

const (
	composePath = "compose.test.yml"
	dockerDir   = "docker"
)

// The services the stack is made of, and what the tests expect of them.
var (
	mockClients     = []string{"client1", "client2", "client3"}
	requiredVolumes = map[string]string{"wiregui-data": "the server's data dir", "exchange": "public keys out, configs in"}
)

// composeFile is the part of the compose format the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Build       composeBuild      `yaml:"build"`
	Init        bool              `yaml:"init"`
	Pid         string            `yaml:"pid"`
	Entrypoint  shellCommand      `yaml:"entrypoint"`
	Command     shellCommand      `yaml:"command"`
	Environment composeEnv        `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	CapAdd      []string          `yaml:"cap_add"`
	Devices     []string          `yaml:"devices"`
	Sysctls     map[string]string `yaml:"sysctls"`
	Healthcheck struct {
		Test shellCommand `yaml:"test"`
	} `yaml:"healthcheck"`
}

// composeBuild is a service's build: a context directory, or a mapping with one.
type composeBuild struct{ Context, Dockerfile string }

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	var m struct{ Context, Dockerfile string }
	if err := n.Decode(&m); err != nil {
		return err
	}
	*b = composeBuild(m)
	return nil
}

// shellCommand is an entrypoint, command or healthcheck test: a list, or a string in shell form.
type shellCommand []string

func (c *shellCommand) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		for _, w := range shellWords(n.Value) {
			*c = append(*c, w.text)
		}
		return nil
	}
	return n.Decode((*[]string)(c))
}

// composeEnv is a service's environment: a mapping or a list of KEY=VALUE.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	return n.Decode((*map[string]string)(e))
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse %s: %v", composePath, err)
	}
	return f
}

// composeDefaults expands compose's ${VAR:-default}, ${VAR-default}, ${VAR} and $$ the way they
// come out with nothing set in the shell, so that the tests see the defaults people get.
func composeDefaults(s string) string {
	re := regexp.MustCompile(`\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		return re.FindStringSubmatch(m)[1]
	})
}

// mount returns the path a service mounts source (a named volume or a host path) at.
func (s composeService) mount(source string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[0] == source {
			return parts[1]
		}
	}
	return ""
}

// usesWireguiImage reports whether the service runs the image built from the repo's Dockerfile.
func (s composeService) usesWireguiImage() bool {
	return filepath.Clean(s.Build.Context) == "." && (s.Build.Dockerfile == "" || s.Build.Dockerfile == "Dockerfile")
}

// dockerfileEnv returns the value of an ENV name=value line of a Dockerfile.
func dockerfileEnv(t *testing.T, path, name string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENV\s+` + regexp.QuoteMeta(name) + `=(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s sets no ENV %s", path, name)
	}
	return string(m[1])
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	for _, name := range append([]string{"wiregui", "victoriametrics", "setup"}, mockClients...) {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("%s has no service %q", composePath, name)
		}
	}
	for name, why := range requiredVolumes {
		if _, ok := f.Volumes[name]; !ok {
			t.Errorf("%s declares no volume %q (%s)", composePath, name, why)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	server, vm, setup := f.Services["wiregui"], f.Services["victoriametrics"], f.Services["setup"]

	t.Run("wiregui", func(t *testing.T) {
		if !server.usesWireguiImage() {
			t.Errorf("build is %+v, want the repo's Dockerfile (.)", server.Build)
		}
		checkTunnelAccess(t, server)
		for key, want := range map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"} {
			if got := server.Sysctls[key]; got != want {
				t.Errorf("sysctl %s = %q, want %q (clients reach each other through the server)", key, got, want)
			}
		}
		env := server.Environment
		for key, want := range map[string]string{"WG_METRICS_ENABLED": "true", "WG_METRICS_POLL_INTERVAL": "5"} {
			if got := env[key]; got != want {
				t.Errorf("%s = %q, want %q", key, got, want)
			}
		}
		for _, key := range []string{"WG_ADMIN_EMAIL", "WG_ADMIN_PASSWORD"} {
			if composeDefaults(env[key]) == "" {
				t.Errorf("%s is not set: the admin comes from the environment", key)
			}
		}
		interval, err := time.ParseDuration(env["WG_RECONCILE_INTERVAL"])
		if err != nil || interval > 10*time.Second {
			t.Errorf("WG_RECONCILE_INTERVAL = %q, want a duration of at most 10s", env["WG_RECONCILE_INTERVAL"])
		}
		// The CLI signals the pid in the server's pid file, and never pid 1.
		if !server.Init {
			t.Errorf("init is false: wiregui is then PID 1, which the CLI in setup does not signal")
		}
		if !slices.Contains(server.Ports, "13000:13000/tcp") && !slices.Contains(server.Ports, "13000:13000") {
			t.Errorf("ports %v do not publish the web UI on 13000", server.Ports)
		}
	})

	t.Run("victoriametrics", func(t *testing.T) {
		if !slices.Contains(vm.Command, "-retentionPeriod=7d") {
			t.Errorf("command %v, want -retentionPeriod=7d", vm.Command)
		}
		for _, arg := range vm.Command {
			if addr, ok := strings.CutPrefix(arg, "-httpListenAddr="); ok && !strings.HasSuffix(addr, ":8428") {
				t.Errorf("%s, want port 8428", arg)
			}
		}
		if !slices.Contains(vm.Ports, "8428:8428") {
			t.Errorf("ports %v, want 8428:8428", vm.Ports)
		}
		want := "http://victoriametrics:8428"
		if got := strings.TrimSuffix(server.Environment["WG_VICTORIAMETRICS_URL"], "/"); got != want {
			t.Errorf("wiregui's WG_VICTORIAMETRICS_URL = %q, want %q (the service's name and port)", got, want)
		}
	})

	t.Run("setup", func(t *testing.T) {
		if !setup.usesWireguiImage() {
			t.Errorf("build is %+v, want the wiregui image (.), so that it runs the same binary", setup.Build)
		}
		// The same database: the same volume at the same data dir, and the same settings.
		imageDataDir := dockerfileEnv(t, "Dockerfile", "WG_DATA_DIR")
		for name, s := range map[string]composeService{"wiregui": server, "setup": setup} {
			dataDir := imageDataDir
			if d, ok := s.Environment["WG_DATA_DIR"]; ok {
				dataDir = d
			}
			if got := s.mount("wiregui-data"); got != dataDir {
				t.Errorf("%s mounts wiregui-data at %q, want the data dir %q", name, got, dataDir)
			}
		}
		for key, v := range server.Environment {
			if strings.HasPrefix(key, "WG_") && setup.Environment[key] != v {
				t.Errorf("setup's %s = %q, want the server's %q", key, setup.Environment[key], v)
			}
		}
		for key := range setup.Environment {
			if _, ok := server.Environment[key]; strings.HasPrefix(key, "WG_") && !ok {
				t.Errorf("setup sets %s and the server does not", key)
			}
		}
		if setup.Pid != "service:wiregui" {
			t.Errorf("pid = %q, want service:wiregui: the CLI signals the server by the pid in its pid file", setup.Pid)
		}
		if got := strings.Fields(setup.Environment["CLIENTS"]); !slices.Equal(got, mockClients) {
			t.Errorf("CLIENTS = %q, want %q", got, mockClients)
		}
		checkExchange(t, "setup", setup)
		setupScript(t, setup)
	})

	for _, name := range mockClients {
		t.Run(name, func(t *testing.T) {
			c := f.Services[name]
			checkTunnelAccess(t, c)
			if got := c.Build.Context; got != "docker/mock-client" {
				t.Errorf("build is %q, want docker/mock-client", got)
			}
			env := c.Environment
			if env["CLIENT_NAME"] != name {
				t.Errorf("CLIENT_NAME = %q, want %q", env["CLIENT_NAME"], name)
			}
			var others []string
			for _, o := range mockClients {
				if o != name {
					others = append(others, o)
				}
			}
			if got := strings.Fields(env["PEERS"]); !slices.Equal(got, others) {
				t.Errorf("PEERS = %q, want the other clients %q", got, others)
			}
			if env["PING_INTERVAL"] != "3" {
				t.Errorf("PING_INTERVAL = %q, want 3 (seconds)", env["PING_INTERVAL"])
			}
			checkExchange(t, name, c)
		})
	}

	t.Run("mock-client image", func(t *testing.T) {
		b, err := os.ReadFile("docker/mock-client/Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^COPY\s+(.+)\s+\S+$`).FindAllSubmatch(b, -1) {
			for _, src := range strings.Fields(string(m[1])) {
				if _, err := os.Stat(filepath.Join("docker/mock-client", src)); err != nil {
					t.Errorf("the Dockerfile copies %s: %v", src, err)
				}
			}
		}
		script, err := os.ReadFile("docker/mock-client/client.sh")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(script, []byte(`sleep "$PING_INTERVAL"`)) {
			t.Errorf("client.sh does not wait PING_INTERVAL between rounds of pings")
		}
	})
}

// checkTunnelAccess checks what a container needs for WireGuard, in the kernel or in userspace.
func checkTunnelAccess(t *testing.T, s composeService) {
	t.Helper()
	if !slices.Contains(s.CapAdd, "NET_ADMIN") {
		t.Errorf("cap_add %v lacks NET_ADMIN", s.CapAdd)
	}
	if !slices.Contains(s.Devices, "/dev/net/tun:/dev/net/tun") {
		t.Errorf("devices %v lack /dev/net/tun (userspace WireGuard)", s.Devices)
	}
}

// checkExchange checks that the service mounts the exchange volume where EXCHANGE_DIR says.
func checkExchange(t *testing.T, name string, s composeService) {
	t.Helper()
	if got, want := s.mount("exchange"), s.Environment["EXCHANGE_DIR"]; got == "" || got != want {
		t.Errorf("%s mounts exchange at %q and has EXCHANGE_DIR %q; want one path", name, got, want)
	}
}

// setupScript returns the repo path of the script the setup service runs: its entrypoint is
// sh with a script bind-mounted from the repo.
func setupScript(t *testing.T, setup composeService) string {
	t.Helper()
	if len(setup.Entrypoint) != 2 || setup.Entrypoint[0] != "/bin/sh" {
		t.Fatalf("setup's entrypoint is %q, want /bin/sh and a script", setup.Entrypoint)
	}
	for _, v := range setup.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == setup.Entrypoint[1] && strings.HasPrefix(parts[0], "./") {
			if _, err := os.Stat(parts[0]); err != nil {
				t.Fatalf("setup mounts %s: %v", parts[0], err)
			}
			return filepath.Clean(parts[0])
		}
	}
	t.Fatalf("setup runs %s, which no volume mounts from the repo", setup.Entrypoint[1])
	return ""
}

// dockerFiles returns every file under docker/.
func dockerFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dockerDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dockerScripts returns the shell scripts under docker/.
func dockerScripts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, path := range dockerFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(path, ".sh") || bytes.HasPrefix(b, []byte("#!/bin/sh")) {
			out = append(out, path)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no scripts under %s", dockerDir)
	}
	return out
}

func TestComposeSettingNames(t *testing.T) {
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
	}
	f := loadCompose(t)
	for name, s := range f.Services {
		for key := range s.Environment {
			if strings.HasPrefix(key, "WG_") && !known[key] {
				t.Errorf("service %s sets %s, which is no setting of wiregui", name, key)
			}
		}
	}
	// Any mention counts too: comments, scripts, a ${WG_…} in a value.
	mention := regexp.MustCompile(`\bWG_[A-Z0-9_]+`)
	for _, path := range append(dockerFiles(t), composePath) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, name := range mention.FindAllString(line, -1) {
				if !known[name] {
					t.Errorf("%s:%d: %s is no setting of wiregui", path, i+1, name)
				}
			}
		}
	}
}

// shellWord is one word of a line of shell, unquoted; op marks ; & | < > ( ) { }.
type shellWord struct {
	text   string
	op     bool
	quoted bool
}

// shellWords splits a line of shell into words: quotes group and are removed, operators are
// words of their own, a # that starts a word starts a comment. Enough to find the command
// lines in the small scripts under docker/; not a shell.
func shellWords(line string) []shellWord {
	var words []shellWord
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			words = append(words, shellWord{text: cur.String(), quoted: quoted})
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			return words
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				end = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord, quoted = true, true
			i += end + 1
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			inWord = true
			i++
		case strings.IndexByte(";&|<>(){}", c) >= 0:
			flush()
			words = append(words, shellWord{text: string(c), op: true})
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// cliInvocation is one wiregui command line found in a script or the compose file.
type cliInvocation struct {
	where string   // file:line
	path  []string // the role and subcommand, e.g. ["device", "add"]
	flags []string // flag names without dashes
}

func (c cliInvocation) String() string { return "wiregui " + strings.Join(c.path, " ") }

// findInvocations returns the wiregui command lines in a text of shell: the words after an
// unquoted wiregui up to the next operator.
func findInvocations(where string, text string) []cliInvocation {
	var out []cliInvocation
	text = strings.ReplaceAll(text, "\\\n", " ")
	for i, line := range strings.Split(text, "\n") {
		words := shellWords(line)
		for j, w := range words {
			if w.op || w.quoted || (w.text != "wiregui" && !strings.HasSuffix(w.text, "/wiregui")) {
				continue
			}
			out = append(out, parseInvocation(fmt.Sprintf("%s:%d", where, i+1), words[j+1:]))
		}
	}
	return out
}

func parseInvocation(where string, words []shellWord) cliInvocation {
	inv := cliInvocation{where: where}
	positional := true
	for _, w := range words {
		if w.op {
			break
		}
		switch {
		case !w.quoted && strings.HasPrefix(w.text, "-"):
			name, _, _ := strings.Cut(strings.TrimLeft(w.text, "-"), "=")
			inv.flags = append(inv.flags, name)
			positional = false
		case positional && !w.quoted && regexp.MustCompile(`^[a-z]+$`).MatchString(w.text):
			inv.path = append(inv.path, w.text)
		default:
			positional = false // a value: the subcommand is complete
		}
	}
	return inv
}

// acceptedFlags returns the flags the binary accepts for a command path, read from the usage
// its flag set prints for -h.
func acceptedFlags(t *testing.T, path []string) (map[string]bool, error) {
	t.Helper()
	flags := map[string]bool{}
	if len(path) == 0 || path[0] == "serve" {
		if len(path) > 1 {
			return nil, fmt.Errorf("serve takes no subcommand")
		}
		for _, v := range config.Variables() {
			flags[v.Flag] = true
		}
		return flags, nil
	}
	cmd := exec.Command(binary, append(slices.Clone(path), "-h")...)
	cmd.Env = append(envWithoutSettings(), "WG_DATA_DIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	usage := "Usage: wiregui " + strings.Join(path, " ") + " [flags]"
	if !strings.Contains(stderr.String(), usage) {
		return nil, fmt.Errorf("the binary prints no usage for it with -h, so it is no subcommand with flags:\n%s", stderr.String())
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		flags[m[1]] = true
	}
	return flags, nil
}

// envWithoutSettings is the test's environment without WG_* variables, so that none leaks into a run
// of the binary.
func envWithoutSettings() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WG_") {
			env = append(env, kv)
		}
	}
	return env
}

func TestComposeCLIInvocations(t *testing.T) {
	var found []cliInvocation
	for _, path := range dockerScripts(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, findInvocations(path, string(b))...)
	}
	f := loadCompose(t)
	for name, s := range f.Services {
		where := composePath + " " + name
		if s.usesWireguiImage() && len(s.Entrypoint) == 0 && len(s.Command) > 0 {
			// The image's entrypoint is wiregui: the command is its arguments.
			found = append(found, findInvocations(where, "wiregui "+quoteWords(s.Command))...)
		}
		for _, c := range []shellCommand{s.Entrypoint, s.Command, s.Healthcheck.Test} {
			for _, arg := range c {
				found = append(found, findInvocations(where, arg)...)
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no wiregui command line; the setup script creates the devices with the CLI")
	}
	for _, inv := range found {
		flags, err := acceptedFlags(t, inv.path)
		if err != nil {
			t.Errorf("%s: %s: %v", inv.where, inv, err)
			continue
		}
		for _, f := range inv.flags {
			if !flags[f] {
				t.Errorf("%s: %s has no flag --%s", inv.where, inv, f)
			}
		}
	}
}

func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, " ")
}

// TestComposeSetupScript runs the setup service's script as compose would, with the setup
// service's environment, against the real binary and a fresh data dir: the mock clients'
// public keys go in, their configs come out, and a client recreated with a new key gets its
// device replaced.
func TestComposeSetupScript(t *testing.T) {
	f := loadCompose(t)
	setup := f.Services["setup"]
	script := setupScript(t, setup)

	bin := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(bin, "wiregui")); err != nil {
		t.Fatal(err)
	}
	exchange := t.TempDir()
	env := append(envWithoutSettings(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range setup.Environment {
		env = append(env, k+"="+composeDefaults(v))
	}
	env = append(env, "WG_DATA_DIR="+t.TempDir(), "EXCHANGE_DIR="+exchange)

	clients := strings.Fields(setup.Environment["CLIENTS"])
	privateKeys := map[string]string{}
	newKey := func(name string) {
		priv, pub, err := wg.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		privateKeys[name] = priv.String()
		if err := os.WriteFile(filepath.Join(exchange, name+".pub"), []byte(pub.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range clients {
		newKey(name)
	}
	runSetup(t, script, env, exchange, clients)
	confs := readConfigs(t, exchange, clients)
	checkClientConfigs(t, f, setup, confs)

	t.Run("complete-config", func(t *testing.T) {
		for _, name := range clients {
			keyFile := filepath.Join(t.TempDir(), "private.key")
			if err := os.WriteFile(keyFile, []byte(privateKeys[name]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "docker/mock-client/complete-config.sh", keyFile)
			cmd.Stdin = strings.NewReader(confs[name])
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("complete-config.sh for %s: %v", name, err)
			}
			got := string(out)
			if !strings.Contains(got, "\nPrivateKey = "+privateKeys[name]+"\n") {
				t.Errorf("%s's completed config has no PrivateKey line with its key:\n%s", name, got)
			}
			if strings.Contains(got, "# PrivateKey") || strings.Contains(got, "\nDNS = ") {
				t.Errorf("%s's completed config keeps the placeholder or the DNS line:\n%s", name, got)
			}
		}
	})

	t.Run("recreated client", func(t *testing.T) {
		// A second start finds the user and the devices there; client2 comes back with a new key.
		newKey(clients[1])
		runSetup(t, script, env, exchange, clients)
		cmd := exec.Command(binary, "device", "list", "--json")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("device list: %v", err)
		}
		var devices []listedDevice
		if err := json.Unmarshal(out, &devices); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range devices {
			got[d.Name] = d.PublicKey
		}
		want := map[string]string{}
		for _, name := range clients {
			want[name] = publicKeyFile(t, exchange, name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("devices (name: public key) = %v, want %v", got, want)
		}
	})
}

func publicKeyFile(t *testing.T, exchange, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exchange, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// runSetup starts the setup script, waits until every client has a config made for its
// current public key, and stops it as docker compose down would, with SIGTERM.
func runSetup(t *testing.T, script string, env []string, exchange string, clients []string) {
	t.Helper()
	cmd := exec.Command("sh", script)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.After(60 * time.Second)
	for _, name := range clients {
		marker := "# for public key " + publicKeyFile(t, exchange, name) + "\n"
		for {
			b, _ := os.ReadFile(filepath.Join(exchange, name+".conf"))
			if strings.HasPrefix(string(b), marker) {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("%s exited before %s had its config: %v\n%s", script, name, err, out.String())
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("%s made no config for %s's key within 60s\n%s", script, name, out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s on SIGTERM: %v, want exit 0\n%s", script, err, out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not stop within 10s of SIGTERM\n%s", script, out.String())
	}
}

func readConfigs(t *testing.T, exchange string, clients []string) map[string]string {
	t.Helper()
	confs := map[string]string{}
	for _, name := range clients {
		b, err := os.ReadFile(filepath.Join(exchange, name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		confs[name] = string(b)
	}
	return confs
}

// checkClientConfigs checks what the clients do with the configs setup made: fill in the
// placeholder, dial the wiregui service, and reach each other through the tunnel.
func checkClientConfigs(t *testing.T, f composeFile, setup composeService, confs map[string]string) {
	t.Helper()
	field := func(conf, key string) []string {
		var vals []string
		for _, line := range strings.Split(conf, "\n") {
			if v, ok := strings.CutPrefix(line, key+" = "); ok {
				vals = append(vals, v)
			}
		}
		return vals
	}
	addrs := map[string]netip.Addr{}
	for name, conf := range confs {
		if n := strings.Count(conf, "\n# PrivateKey = "); n != 1 {
			t.Errorf("%s's config has %d PrivateKey placeholder lines, want 1 (complete-config.sh fills it in):\n%s", name, n, conf)
		}
		if len(field(conf, "PrivateKey")) != 0 {
			t.Errorf("%s's config has a private key; it must only have a placeholder", name)
		}
		for _, a := range field(conf, "Address") {
			first, _, _ := strings.Cut(a, ",")
			p, err := netip.ParsePrefix(strings.TrimSpace(first))
			if err != nil || !p.Addr().Is4() || p.Bits() != 32 {
				t.Errorf("%s's Address = %q; client.sh reads an IPv4 /32 first", name, a)
				continue
			}
			addrs[name] = p.Addr()
		}
		endpoint := field(conf, "Endpoint")
		host, port, err := net.SplitHostPort(strings.Join(endpoint, ""))
		if err != nil {
			t.Errorf("%s's Endpoint = %q: %v", name, endpoint, err)
			continue
		}
		if _, ok := f.Services[host]; !ok || host != "wiregui" {
			t.Errorf("%s dials %s, want the wiregui service", name, host)
		}
		if p, _ := strconv.Atoi(port); p != 51820 {
			t.Errorf("%s dials port %s, want 51820, where the server listens", name, port)
		}
	}
	for name, conf := range confs {
		var allowed []netip.Prefix
		for _, list := range field(conf, "AllowedIPs") {
			for _, s := range strings.Split(list, ",") {
				if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
					allowed = append(allowed, p)
				}
			}
		}
		for peer, addr := range addrs {
			if peer != name && !slices.ContainsFunc(allowed, func(p netip.Prefix) bool { return p.Contains(addr) }) {
				t.Errorf("%s's AllowedIPs %v do not route %s's address %s through the tunnel", name, allowed, peer, addr)
			}
		}
	}
	seen := map[netip.Addr]string{}
	for name, a := range addrs {
		if other, dup := seen[a]; dup {
			t.Errorf("%s and %s share the address %s", name, other, a)
		}
		seen[a] = name
	}
}

// TestComposeHealthcheck runs the server's healthcheck against a running server (WireGuard
// off: the check is about HTTP) and without one.
func TestComposeHealthcheck(t *testing.T) {
	f := loadCompose(t)
	server := f.Services["wiregui"]
	test := server.Healthcheck.Test
	if len(test) < 2 || test[0] != "CMD" {
		t.Fatalf("healthcheck test %q, want CMD and a command", test)
	}
	port := unusedLocalPort(t)
	check := func() error {
		args := slices.Clone(test[1:])
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "13000", strconv.Itoa(port))
		}
		cmd := exec.Command(args[0], args[1:]...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := check(); err == nil {
		t.Fatal("the healthcheck passes with no server listening")
	}

	cmd := exec.Command(binary, "serve")
	cmd.Env = append(envWithoutSettings(), "WG_DATA_DIR="+t.TempDir(), "WG_WG_ENABLED=false", "WG_HOST=127.0.0.1",
		"WG_PORT="+strconv.Itoa(port), "WG_ADMIN_PASSWORD=admin-password-1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healthcheck still fails 20s after the server started: %v\nserver: %s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func unusedLocalPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestComposeScriptSyntax checks every script under docker/ with sh -n (dash on Debian, as
// in the wiregui image; busybox sh in the clients is no stricter about syntax).
func TestComposeScriptSyntax(t *testing.T) {
	for _, path := range dockerScripts(t) {
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", path, err, out)
		}
	}
}

// TestComposeNoKeys makes sure no WireGuard key is committed with the stack: the clients
// make their key pairs at start, and only public keys travel.
func TestComposeNoKeys(t *testing.T) {
	privateKey := regexp.MustCompile(`(?i)private[ _-]?key\s*[=:]\s*["']?[A-Za-z0-9+/]{43}=`)
	anyKey := regexp.MustCompile(`(^|[^A-Za-z0-9+/])[A-Za-z0-9+/]{43}=`)
	files := append(dockerFiles(t), composePath)
	sort.Strings(files)
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			switch {
			case privateKey.MatchString(line):
				t.Errorf("%s:%d holds a WireGuard private key", path, i+1)
			case anyKey.MatchString(line):
				t.Errorf("%s:%d holds a WireGuard key; keys are made at start, never committed", path, i+1)
			}
		}
	}
}
