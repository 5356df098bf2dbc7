// Command wiregui is a self-hosted WireGuard VPN manager. One binary, several roles: the role
// is picked from the first argument before any flag is parsed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"

	"wiregui/app/cli"
	"wiregui/config"
)

// version is stamped in at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `wiregui: a self-hosted WireGuard VPN manager

Usage:
  wiregui [serve] [flags]     run the web server, the reconciler and the collector (default)
  wiregui init [flags]        set up: ask for (or take as flags) the settings, write the config file, create the admin
  wiregui migrate [flags]     apply database migrations and exit
  wiregui user add --email E [--admin] [--password-stdin]
  wiregui user list [--json]
  wiregui user set --email E [--role admin|user] [--new-email E2] [--password-stdin]
  wiregui user disable|enable|delete EMAIL
  wiregui device add --user E --name N [--public-key K] [--json]
  wiregui device delete --user E --name N
  wiregui device list [--json]
  wiregui rule add --action accept|drop --destination CIDR [--protocol any|tcp|udp|icmp] [--ports N|A-B]
                   [--priority N] [--user EMAIL] [--description TEXT]
  wiregui rule list [--user EMAIL] [--json]
  wiregui rule delete ID
  wiregui rule default --user EMAIL --action accept|drop|global
  wiregui rule explain --device NAME --user EMAIL --to ADDR[:PORT] [--protocol tcp|udp|icmp] [--json]
  wiregui rule test add --device NAME --user EMAIL --to ADDR[:PORT] [--protocol P] --expect accept|drop
  wiregui rule test list [--json]
  wiregui rule test delete ID
  wiregui settings get [--json]
  wiregui settings set KEY=VALUE …
  wiregui version             print the version
  wiregui --collector         the metrics collector (started by serve; not for direct use)

Each setting is a flag of serve, a WG_* environment variable, or a line of the config file.
`

func main() {
	// No file WireGUI makes is for other users: keys, the database, its WAL and SHM, backups,
	// the config file, sockets. The umask covers them all, in every role, including the
	// files SQLite and other libraries create themselves (SQLite gives the WAL and SHM the
	// database's mode, and a VACUUM INTO backup 0644 less the umask).
	syscall.Umask(0o077)
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return // a subcommand's flag set printed its usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiregui:", err)
		os.Exit(1)
	}
}

func printHelp() {
	fmt.Print(usage, "\n")
	config.Usage(os.Stdout)
}

// serveHelp prints the help when serve was asked for it (-h): serve's flags are the settings.
func serveHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		printHelp()
		return nil
	}
	return err
}

func run(args []string) error {
	role, rest := "serve", args
	if len(args) > 0 {
		role, rest = args[0], args[1:]
	}
	if cli.Commands(role) {
		os.Exit(cli.Run(role, rest, cli.OS()))
	}
	switch role {
	case "serve":
		return serveHelp(serve(rest))
	case "--collector":
		return collect(rest)
	case "version", "--version":
		fmt.Println("wiregui", version)
		return nil
	case "help", "-h", "--help":
		printHelp()
		return nil
	default:
		if len(role) > 0 && role[0] == '-' {
			return serveHelp(serve(args)) // flags without a role: serve is the default
		}
		return fmt.Errorf("unknown role %q (run wiregui --help)", role)
	}
}
