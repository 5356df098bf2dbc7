// Package wglab builds throwaway network labs for tests: network namespaces,
// veth links between them and to the host, and independent WireGuard clients
// run with Debian's own tools (wireguard-go, wg, wg-quick).
//
// Everything a lab creates is removed in t.Cleanup. Tests that use it need
// root; Require skips them elsewhere, except under CI=true where a missing
// requirement fails the test, so CI can never pass by skipping.
package wglab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// labTools is what Require looks for.
var labTools = []string{"ip", "wireguard-go", "wg", "wg-quick", "ping"}

// Require stops the test unless it runs as root on a machine with
// /dev/net/tun and wireguard-go, wg, wg-quick, ping and ip.
func Require(t testing.TB) {
	t.Helper()
	RequireRoot(t, labTools...)
}

// RequireRoot stops the test unless it runs as root and finds the tools in
// PATH. It also requires /dev/net/tun when "wireguard-go" is among them.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	var problems, missing []string
	if os.Geteuid() != 0 {
		problems = append(problems, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
		if tool == "wireguard-go" {
			if _, err := os.Stat("/dev/net/tun"); err != nil {
				problems = append(problems, "/dev/net/tun")
			}
		}
	}
	if len(missing) > 0 {
		problems = append(problems, strings.Join(missing, ", ")+" in PATH (Debian packages: wireguard-go wireguard-tools iputils-ping iproute2)")
	}
	if len(problems) > 0 {
		unavailable(t, "needs %s", strings.Join(problems, "; "))
	}
}

// unavailable skips the test, or fails it when CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " [CI=true: not skipping]")
	}
	t.Skip(msg)
}

// UniqueName returns prefix followed by random hex, at most 15 characters:
// a valid interface name that no other test in any process will pick.
// /var/run/wireguard is shared by all namespaces, so WireGuard interface
// names must be unique on the whole machine.
func UniqueName(prefix string) string {
	const maxLen, suffixLen = 15, 6
	if len(prefix) > maxLen-suffixLen {
		prefix = prefix[:maxLen-suffixLen]
	}
	return prefix + randomHex(suffixLen/2)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
