package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"wiregui/app/devices"
	"wiregui/app/instance"
	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
	"wiregui/wg"
)

// initSetting is one value `wiregui init` asks for.
type initSetting struct {
	flag   string // the serve flag it maps to
	env    string // the variable written to the config file
	prompt string
	secret bool // read without echo, never written to the config file
	admin  bool // about the admin: asked only when init creates one
}

var initSettings = []initSetting{
	{flag: "data-dir", env: "WG_DATA_DIR", prompt: "Data directory"},
	{flag: "database-url", env: "WG_DATABASE_URL", prompt: "Database (a SQLite path, or postgres://…)"},
	{flag: "external-url", env: "WG_EXTERNAL_URL", prompt: "External URL of the web UI"},
	{flag: "wg-endpoint-host", env: "WG_WG_ENDPOINT_HOST", prompt: "Host name or IP that clients dial"},
	{flag: "admin-email", env: "WG_ADMIN_EMAIL", prompt: "Admin email", admin: true},
	{flag: "admin-password", env: "WG_ADMIN_PASSWORD", prompt: fmt.Sprintf("Admin password (at least %d characters, not a common one)", users.MinPasswordLength), secret: true, admin: true},
}

// initialize sets WireGUI up: it asks for the settings (or takes them as flags with
// --non-interactive), checks what it can, writes the config file and creates the admin.
// The config file is --config, else wiregui.conf in the data directory asked for; the
// defaults it offers come from that file alone. Running it again keeps every existing value,
// user and admin: another --admin-email becomes a second admin only with --add-admin.
func initialize(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "init")
	nonInteractive := fs.Bool("non-interactive", false, "take every value from flags (for scripts)")
	configFile := fs.String("config", "", "the config file to write (default: wiregui.conf in the data directory)")
	addAdmin := fs.Bool("add-admin", false, "create --admin-email as another admin when the database has one already")
	given := map[string]*string{}
	for _, s := range initSettings {
		given[s.flag] = fs.String(s.flag, "", s.prompt)
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if *addAdmin && *nonInteractive && *given["admin-email"] == "" {
		return usagef("--add-admin needs --admin-email")
	}
	values := map[string]string{}
	for _, s := range initSettings {
		if v := *given[s.flag]; v != "" {
			values[s.flag] = v
		}
	}
	// load reads the settings as serve will with the answers so far: an invalid answer stops
	// here, named.
	load := func() (*config.Config, error) {
		return config.LoadForInit(configArgs(*configFile, values), env.Getenv)
	}
	in := bufio.NewReader(env.Stdin)
	askFor := func(admin bool) error {
		for _, s := range initSettings {
			if s.admin != admin || *nonInteractive || values[s.flag] != "" {
				continue
			}
			// Defaults follow the answers so far: the database from the data dir, the
			// endpoint host from the external URL, both from the config file in that dir.
			current, err := load()
			if err != nil {
				return err
			}
			def := defaultFor(env, s, current)
			v, err := ask(env, in, s, def)
			if err != nil {
				return err
			}
			if v != def { // else it stays derived, as serve would derive it
				values[s.flag] = v
			}
		}
		return nil
	}

	if err := askFor(false); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := instance.PrepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	if perm, shared := instance.SharedDataDir(cfg.DataDir); shared {
		fmt.Fprintf(env.Stdout, "warn  %s is open to other users (mode %04o); restrict it with: chmod 700 %s\n", cfg.DataDir, perm, cfg.DataDir)
	}
	st, err := instance.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	fmt.Fprintf(env.Stdout, "ok    database reachable and up to date (%s)\n", st.Driver())
	checkPortFree(env, cfg)
	checkWireGuard(env)
	checkEndpoint(env, cfg)

	admins, err := adminEmails(ctx, st)
	if err != nil {
		return err
	}
	createAdmin := len(admins) == 0 || *addAdmin
	if createAdmin {
		if err := askFor(true); err != nil {
			return err
		}
		if cfg, err = load(); err != nil {
			return err
		}
	} else {
		keptAdmins(env, admins, values["admin-email"])
	}
	if len(admins) > 0 {
		// WG_ADMIN_EMAIL names the admin of the first start, and that was another.
		delete(values, "admin-email")
	}

	existing, err := config.ReadFile(cfg.ConfigFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.ConfigFile), 0o700); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := config.WriteFile(cfg.ConfigFile, mergeConfig(existing, cfg, values)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "ok    wrote %s\n", cfg.ConfigFile)
	if _, err := instance.ServerKeys(ctx, st); err != nil {
		return err
	}
	if createAdmin {
		if err := initAdmin(ctx, env, st, cfg, values["admin-password"]); err != nil {
			return err
		}
	}
	start := "wiregui serve"
	if serveReads, err := config.LoadForInit(nil, env.Getenv); err != nil || serveReads.ConfigFile != cfg.ConfigFile {
		start += " --config " + cfg.ConfigFile
	}
	fmt.Fprintf(env.Stdout, "\nStart WireGUI with:\n\n    %s\n\nthen sign in at %s/login\n", start, cfg.ExternalURL)
	return nil
}

// configArgs turns init's answers into serve flags, so that one parser validates both.
func configArgs(configFile string, values map[string]string) []string {
	var args []string
	if configFile != "" {
		args = append(args, "--config", configFile)
	}
	for _, s := range initSettings {
		if v, ok := values[s.flag]; ok {
			args = append(args, "--"+s.flag, v)
		}
	}
	return args
}

// defaultFor is the answer init offers for s: what serve would use. For the endpoint host
// that is the address serve would detect, which the prompt explains.
func defaultFor(env Env, s initSetting, cfg *config.Config) string {
	switch s.flag {
	case "data-dir":
		return cfg.DataDir
	case "database-url":
		return cfg.DatabaseURL
	case "external-url":
		return cfg.ExternalURL
	case "wg-endpoint-host":
		endpoint := instance.ChooseEndpoint(cfg)
		if endpoint.Detected {
			fmt.Fprintf(env.Stdout, "      (detected: %s)\n", endpoint.Why)
		}
		return endpoint.Host
	case "admin-email":
		return cfg.AdminEmail
	}
	return ""
}

func ask(env Env, in *bufio.Reader, s initSetting, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(env.Stdout, "%s [%s]: ", s.prompt, def)
	} else {
		fmt.Fprintf(env.Stdout, "%s: ", s.prompt)
	}
	var line string
	if tty, ok := env.Stdin.(*os.File); ok && s.secret && term.IsTerminal(int(tty.Fd())) {
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(env.Stdout)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", s.prompt, err)
		}
		line = string(b)
	} else {
		l, err := in.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && l != "") {
			if errors.Is(err, io.EOF) {
				return def, nil
			}
			return "", fmt.Errorf("read %s: %w", s.prompt, err)
		}
		line = l
	}
	if v := strings.TrimSpace(line); v != "" {
		return v, nil
	}
	return def, nil
}

// mergeConfig keeps every value already in the config file and sets the ones given now.
// The admin password is never written.
func mergeConfig(existing map[string]string, cfg *config.Config, values map[string]string) [][2]string {
	merged := map[string]string{}
	for k, v := range existing {
		merged[k] = v
	}
	for _, s := range initSettings {
		if v, ok := values[s.flag]; ok && !s.secret {
			merged[s.env] = v
		}
	}
	if _, ok := merged["WG_DATA_DIR"]; !ok {
		merged["WG_DATA_DIR"] = cfg.DataDir
	}
	var pairs [][2]string
	for _, v := range config.Variables() {
		if val, ok := merged[v.Name]; ok {
			pairs = append(pairs, [2]string{v.Name, val})
		}
	}
	return pairs
}

func checkPortFree(env Env, cfg *config.Config) {
	addr := cfg.ListenAddr()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(env.Stdout, "warn  %s is in use (is WireGUI already running?)\n", addr)
		return
	}
	l.Close()
	fmt.Fprintf(env.Stdout, "ok    %s is free\n", addr)
}

func checkWireGuard(env Env) {
	if _, err := os.Stat("/sys/module/wireguard"); err == nil {
		fmt.Fprintln(env.Stdout, "ok    kernel WireGuard available")
		return
	}
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err == nil {
		f.Close()
		fmt.Fprintln(env.Stdout, "ok    no kernel WireGuard: the embedded userspace implementation will be used")
		return
	}
	fmt.Fprintln(env.Stdout, "warn  neither kernel WireGuard nor /dev/net/tun is usable: the web UI will run, tunnels will not")
}

// checkEndpoint says which endpoint new devices get, and how to fix one that clients on
// other networks cannot dial.
func checkEndpoint(env Env, cfg *config.Config) {
	endpoint := instance.ChooseEndpoint(cfg)
	dial := wg.JoinEndpoint(endpoint.Host, cfg.WireGuard.EndpointPort)
	if local := devices.LocalEndpoint(dial); local != "" {
		fmt.Fprintf(env.Stdout, "warn  clients dial %s (%s), %s: devices on other networks cannot connect; give --wg-endpoint-host the public IP or host name\n",
			dial, endpoint.Why, local)
		return
	}
	fmt.Fprintf(env.Stdout, "ok    clients dial %s (%s)\n", dial, endpoint.Why)
}

// adminEmails returns the emails of the database's admins.
func adminEmails(ctx context.Context, st *store.Store) ([]string, error) {
	all, err := st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	var admins []string
	for _, u := range all {
		if u.IsAdmin() {
			admins = append(admins, u.Email)
		}
	}
	return admins, nil
}

// keptAdmins says that init keeps the database's admins, and that it did not add asked, an
// --admin-email that is none of them.
func keptAdmins(env Env, admins []string, asked string) {
	fmt.Fprintf(env.Stdout, "ok    kept the admin %s\n", strings.Join(admins, ", "))
	if asked != "" && !slices.Contains(admins, store.NormalizeEmail(asked)) {
		fmt.Fprintf(env.Stdout, "      did not add %s: the database has an admin already; run init again with --add-admin to add another\n",
			store.NormalizeEmail(asked))
	}
}

// initAdmin creates the admin unless a user with that email exists already.
func initAdmin(ctx context.Context, env Env, st *store.Store, cfg *config.Config, password string) error {
	generated := password == ""
	if generated {
		password = users.GeneratePassword()
	}
	u, err := (&users.Service{Store: st}).Create(ctx, users.Spec{Email: cfg.AdminEmail, Password: password, Admin: true})
	if errors.Is(err, store.ErrConflict) {
		fmt.Fprintf(env.Stdout, "ok    user %s exists; left unchanged\n", store.NormalizeEmail(cfg.AdminEmail))
		return nil
	}
	if err != nil {
		return inputError(err, map[string]string{"email": "admin-email", "password": "admin-password"})
	}
	fmt.Fprintf(env.Stdout, "ok    created admin %s\n", u.Email)
	if generated {
		fmt.Fprintf(env.Stdout, "\n    Admin password (shown only now): %s\n", password)
	}
	return nil
}
