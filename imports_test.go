package main

// The import rules of ../shared/DESIGN.md §2, checked on what `go list` says: wg imports none
// of ours, store only migrations, nothing imports app but this package, and the services
// (app/devices, app/users, app/access, app/cli, later app/api) never import app. Every
// package of ours has a rule; a new one fails here until it says where it sits.

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// mayImport lists, for each package of ours, the packages of ours it may import; a trailing
// "/" allows a whole subtree.
var mayImport = map[string][]string{
	"wiregui":                    {"wiregui/"},
	"wiregui/app":                {"wiregui/app/", "wiregui/assets", "wiregui/collector", "wiregui/store", "wiregui/wg"},
	"wiregui/app/access":         {"wiregui/store"},
	"wiregui/app/apptest":        {},
	"wiregui/app/audit":          {},
	"wiregui/app/auth":           {},
	"wiregui/app/cli":            {"wiregui/app/access", "wiregui/app/devices", "wiregui/app/instance", "wiregui/app/mfa", "wiregui/app/rules", "wiregui/app/text", "wiregui/app/users", "wiregui/config", "wiregui/store", "wiregui/wg"},
	"wiregui/app/dataplane":      {"wiregui/store", "wiregui/wg", "wiregui/wg/firewall"},
	"wiregui/app/devices":        {"wiregui/app/text", "wiregui/store", "wiregui/wg"},
	"wiregui/app/instance":       {"wiregui/app/auth", "wiregui/app/devices", "wiregui/app/mail", "wiregui/app/rules", "wiregui/app/users", "wiregui/config", "wiregui/store", "wiregui/wg"},
	"wiregui/app/limits":         {"wiregui/store"},
	"wiregui/app/mail":           {"wiregui/app/text", "wiregui/store", "wiregui/wg"},
	"wiregui/app/mail/mailtest":  {},
	"wiregui/app/mfa":            {"wiregui/app/audit", "wiregui/app/text", "wiregui/store"},
	"wiregui/app/rules":          {"wiregui/app/devices", "wiregui/app/text", "wiregui/store", "wiregui/wg/firewall"},
	"wiregui/app/text":           {"wiregui/wg"},
	"wiregui/app/users":          {"wiregui/app/audit", "wiregui/app/auth", "wiregui/app/mail", "wiregui/app/text", "wiregui/store"},
	"wiregui/assets":             {},
	"wiregui/collector":          {"wiregui/store", "wiregui/wg"},
	"wiregui/collector/vmtest":   {},
	"wiregui/config":             {"wiregui/app/text", "wiregui/wg"},
	"wiregui/migrations":         {},
	"wiregui/store":              {"wiregui/migrations"},
	"wiregui/store/storetest":    {"wiregui/store"},
	"wiregui/wg":                 {"wiregui/wg/firewall", "wiregui/wg/internal/"},
	"wiregui/wg/firewall":        {"wiregui/wg/internal/"},
	"wiregui/wg/internal/netnsx": {},
	"wiregui/wg/wglab":           {"wiregui/wg/internal/"},
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rule, ok := mayImport[p.ImportPath]
		if !ok {
			t.Errorf("%s has no import rule; add one to mayImport", p.ImportPath)
			continue
		}
		for _, imp := range ours(p.Imports) {
			if !allowed(rule, imp) {
				t.Errorf("%s imports %s; its rule allows only %v", p.ImportPath, imp, rule)
			}
		}
		// Tests may use the test helpers, but app stays out of every package but its own.
		for _, imp := range ours(append(p.TestImports, p.XTestImports...)) {
			if imp == "wiregui/app" && p.ImportPath != "wiregui" && p.ImportPath != "wiregui/app" {
				t.Errorf("the tests of %s import wiregui/app", p.ImportPath)
			}
		}
	}
}

func TestImportRulesCatchABreach(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		ok       bool
	}{
		{"wiregui/wg", "wiregui/store", false},
		{"wiregui/wg", "wiregui/wg/internal/netnsx", true},
		{"wiregui/store", "wiregui/wg", false},
		{"wiregui/app/devices", "wiregui/app", false},
		{"wiregui/app/cli", "wiregui/app", false},
		{"wiregui/app", "wiregui/app/devices", true},
		{"wiregui", "wiregui/app", true},
	} {
		if got := allowed(mayImport[c.pkg], c.imp); got != c.ok {
			t.Errorf("%s importing %s: allowed %v, want %v", c.pkg, c.imp, got, c.ok)
		}
	}
}

func allowed(rule []string, imp string) bool {
	return slices.ContainsFunc(rule, func(r string) bool {
		return r == imp || strings.HasSuffix(r, "/") && strings.HasPrefix(imp, r)
	})
}

func ours(imports []string) []string {
	var out []string
	for _, imp := range imports {
		if imp == "wiregui" || strings.HasPrefix(imp, "wiregui/") {
			out = append(out, imp)
		}
	}
	return out
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "wiregui/...").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v: %s", err, exit.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(strings.NewReader(string(out))); ; {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}
