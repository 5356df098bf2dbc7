package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"wiregui/wg/wglab"
)

const chromiumPath = "/usr/bin/chromium"

// browser is a headless Debian Chromium that records every JS error and console error.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) and root are required under CI", chromiumPath)
		}
		t.Skip("skipped outside CI: needs Debian's chromium and root")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg = fmt.Sprintf("exception: %s at %s:%d", d.Text, d.URL, d.LineNumber)
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console.error: " + strings.Join(parts, " ")
			}
		case *log.EventEntryAdded:
			// Chromium logs every 4xx answer as a network error; those are expected answers.
			if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
				msg = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	})
	return b
}

// run performs steps; on failure it saves a screenshot under .artifacts/ and fails the test.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot(t)
		t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) screenshot(t *testing.T) {
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return
	}
	dir := filepath.Join(".artifacts", "screenshots")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if os.WriteFile(path, shot, 0o644) == nil {
		t.Logf("screenshot saved to %s", path)
	}
}

// noErrors fails the test if the page logged any JS or console error.
func (b *browser) noErrors(t *testing.T, page string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		b.screenshot(t)
		t.Errorf("JS errors on %s:\n%s", page, strings.Join(b.errors, "\n"))
		b.errors = nil
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startWebOnly runs wiregui serve on loopback with WireGuard off: for tests of the pages.
func startWebOnly(t *testing.T) string {
	t.Helper()
	port := freeLoopbackPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "WG_DATA_DIR="+t.TempDir(), "WG_HOST=127.0.0.1", fmt.Sprintf("WG_PORT=%d", port),
		"WG_EXTERNAL_URL="+base, "WG_WG_ENABLED=false", "WG_ADMIN_EMAIL="+adminEmail, "WG_ADMIN_PASSWORD="+adminPassword)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	wglab.WaitDial(t, fmt.Sprintf("127.0.0.1:%d", port), 20*time.Second)
	return base
}

func TestBrowserSignInAndMyDevices(t *testing.T) {
	b := newBrowser(t)
	base := startWebOnly(t)

	b.run(t, "open the sign-in page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	b.noErrors(t, "/login")
	b.run(t, "sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)))
	heading, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(heading, "My Devices") {
		b.screenshot(t)
		t.Fatalf("after sign-in the heading is %q (%v), want My Devices", heading, err)
	}
	b.noErrors(t, "/devices")

	// The add-device form is enhanced by htmx: the config appears without a page load.
	b.run(t, "add a device",
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "browser laptop"),
		chromedp.Click(chromedp.CSS(`form[action="/devices"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("device-config")))
	conf, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("device-config")))
	if err != nil || !strings.Contains(conf, "PrivateKey = ") {
		b.screenshot(t)
		t.Errorf("config shown: %q (%v)", conf, err)
	}
	b.noErrors(t, "/devices after adding a device")
}
