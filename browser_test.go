package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
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
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
	heading, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(heading, "My Devices") {
		b.screenshot(t)
		t.Fatalf("after sign-in the heading is %q (%v), want My Devices", heading, err)
	}
	b.noErrors(t, "/devices")

	// The add-device form is enhanced by htmx: the config appears without a page load.
	b.run(t, "add a device",
		chromedp.Click(chromedp.CSS(`a[data-dialog="#add-device-dialog"]`)),
		chromedp.SendKeys(chromedp.CSS(`#add-device-dialog input[name="name"]`), "browser laptop"),
		chromedp.Click(chromedp.CSS(`#add-device-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("device-config")))
	conf, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("device-config")))
	if err != nil || !strings.Contains(conf, "PrivateKey = ") {
		b.screenshot(t)
		t.Errorf("config shown: %q (%v)", conf, err)
	}
	b.noErrors(t, "/devices after adding a device")
}

// poll waits until the JavaScript expression is true on the page, within d.
func (b *browser) poll(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d),
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.screenshot(t)
		t.Fatalf("%s (within %s): %v", what, d, err)
	}
}

// signIn signs in on the sign-in page from wherever the browser is.
func (b *browser) signIn(t *testing.T, base, email, password string) {
	t.Helper()
	b.run(t, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
}

// TestBrowserLiveDevicePages is the whole path of a user through the device pages with the
// real binary, a real client that uses the configuration the browser downloaded, and the
// collector's ticks pushed to the open pages.
func TestBrowserLiveDevicePages(t *testing.T) {
	wglab.Require(t)
	b := newBrowser(t)
	clientNS := wglab.NewNamespace(t, "wgt-cli")
	s := startServer(t, "sqlite", clientNS)
	if _, err := s.cli(t, "user", "add", "--email", "bob@example.com", "--password", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli(t, "device", "add", "--user", "bob@example.com", "--name", "bob phone"); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	b.signIn(t, s.url, adminEmail, adminPassword)
	b.noErrors(t, "/devices")

	// Add a device in the dialog: the configuration, its QR code and the download.
	b.run(t, "add a device in the dialog",
		chromedp.Click(chromedp.CSS(`a[data-dialog="#add-device-dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#add-device-dialog #device-name`)),
		chromedp.SendKeys(chromedp.CSS(`#add-device-dialog #device-name`), "browser laptop"),
		chromedp.Click(chromedp.CSS(`#add-device-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("device-config")),
		chromedp.WaitVisible(chromedp.CSS(`#add-device-dialog img.qr`)),
		chromedp.Click(chromedp.CSS(`button[data-download="#device-config"]`)))
	var conf []byte
	waitFor(t, 10*time.Second, "the downloaded configuration", func() bool {
		conf, _ = os.ReadFile(filepath.Join(downloads, "browser-laptop.conf"))
		return len(conf) > 0
	})
	if !strings.Contains(string(conf), "PrivateKey = ") {
		t.Fatalf("the downloaded configuration has no private key:\n%s", conf)
	}
	b.noErrors(t, "the Add device dialog")

	// Back on the table, the new device is offline until its client comes up; then the
	// pushed status turns it online without a reload, within two ticks (1 s polls here).
	b.run(t, "back to the table",
		chromedp.Click(chromedp.CSS(`#add-device-dialog a.btn[href="/devices"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows .status-offline`)))
	b.poll(t, "the live stream is open", `document.querySelector("[data-live]").getAttribute("sse-connect") !== null`, 5*time.Second)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](`window.__marker = 1`)); err != nil {
		t.Fatal(err)
	}
	client := wglab.StartClient(t, clientNS, wglab.UniqueName("wgc"), conf)
	if err := client.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
		t.Fatalf("ping through the tunnel from the downloaded configuration: %v\n%s", err, client.Show(t))
	}
	up := time.Now()
	clientNS.Start(t, "ping", "-q", "-i", "0.2", "-s", "1000", tunnelServer) // traffic for the chart
	b.poll(t, "the status turns online", `document.querySelector("#device-rows .status-online") !== null`, 4*time.Second)
	t.Logf("figure: client up to the table showing online: %s", time.Since(up).Round(10*time.Millisecond))
	b.poll(t, "the page was not reloaded", `window.__marker === 1`, time.Second)
	b.noErrors(t, "/devices, live")

	// The row's link opens the device's page: the badge, the pushed traffic and a chart
	// with non-zero points.
	b.run(t, "open the device from its row",
		chromedp.Click(chromedp.CSS(`#device-rows td[data-label="Name"] a`)),
		chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); !strings.Contains(loc, "/devices/") {
		t.Errorf("the row link led to %s", loc)
	}
	b.poll(t, "the badge says online", `document.querySelector(".status-badge .status-online") !== null`, 4*time.Second)
	b.poll(t, "the chart has received points above zero", `(() => {
		if (typeof echarts === "undefined") return false;
		const c = echarts.getInstanceByDom(document.getElementById("traffic-chart"));
		if (!c) return false;
		const s = c.getOption().series;
		return s[0].data.some(p => p[1] > 0) && s[1].data.some(p => p[1] > 0);
	})()`, 10*time.Second)
	b.poll(t, "the received rate is shown", `/[1-9][0-9.]* (B|KiB|MiB)\/s/.test(document.querySelector('#device-live [sse-swap^="rx-"]').textContent)`, 5*time.Second)
	b.noErrors(t, "the device page")

	// The admin sees bob's device on All Devices and opens it.
	b.run(t, "All Devices",
		chromedp.Navigate(s.url+"/admin/devices"),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows`)))
	b.poll(t, "bob's device is listed with its owner", `[...document.querySelectorAll("#device-rows tr")].some(tr =>
		tr.querySelector('td[data-label="Name"]')?.textContent === "bob phone" &&
		tr.querySelector('td[data-label="Owner"]')?.textContent === "bob@example.com")`, 2*time.Second)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](`[...document.querySelectorAll('#device-rows td[data-label="Name"] a')]
		.find(a => a.textContent === "bob phone").click()`)); err != nil {
		t.Fatal(err)
	}
	b.run(t, "open bob's device", chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	bobPage, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(bobPage, "bob@example.com") || !strings.Contains(bobPage, "bob phone") {
		b.screenshot(t)
		t.Errorf("bob's device page for the admin: %v\n%s", err, bobPage)
	}
	b.noErrors(t, "bob's device page")
	b.run(t, "find the admin's device URL",
		chromedp.Navigate(s.url+"/devices"),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows td[data-label="Name"] a`)))
	laptopURL, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#device-rows td[data-label="Name"] a').href`))
	if err != nil {
		t.Fatal(err)
	}

	// At a phone's width nothing is wider than the screen: the table turns into cards.
	for _, page := range []string{s.url + "/devices", laptopURL} {
		b.run(t, "open "+page+" at 375 px", chromedp.EmulateViewport(375, 800),
			chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.poll(t, page+" fits in 375 px", `document.documentElement.scrollWidth <= 375`, 2*time.Second)
	}
	b.noErrors(t, "the pages at 375 px")

	// Bob gets 404 on the admin's device.
	b.run(t, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	b.signIn(t, s.url, "bob@example.com", "bob-password-1")
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(laptopURL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 {
		b.screenshot(t)
		t.Errorf("bob on the admin's device: %d, want 404", resp.Status)
	}
	b.noErrors(t, "bob's pages")
}
