package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
	"wiregui/wg/wglab"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBrowserSignInAndMyDevices(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{})
	base := startLocal(t).url

	b.Run(t, "open the sign-in page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	b.NoErrors(t, "/login")
	b.Run(t, "sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-list`)))
	heading, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(heading, "My Devices") {
		b.Screenshot(t)
		t.Fatalf("after sign-in the heading is %q (%v), want My Devices", heading, err)
	}
	b.NoErrors(t, "/devices")

	// The add-device form is enhanced by htmx: the config appears without a page load.
	b.Run(t, "add a device",
		chromedp.Click(chromedp.CSS(`a[data-dialog="#add-device-dialog"]`)),
		chromedp.SendKeys(chromedp.CSS(`#add-device-dialog input[name="name"]`), "browser laptop"),
		chromedp.Click(chromedp.CSS(`#add-device-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("device-config")))
	conf, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("device-config")))
	if err != nil || !strings.Contains(conf, "PrivateKey = ") {
		b.Screenshot(t)
		t.Errorf("config shown: %q (%v)", conf, err)
	}
	b.NoErrors(t, "/devices after adding a device")
}

// signIn signs in on the sign-in page from wherever the browser is.
func signIn(t *testing.T, b *apptest.Browser, base, email, password string) {
	t.Helper()
	b.Run(t, "sign in as "+email,
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
	b := apptest.NewBrowser(t, apptest.TabOptions{})
	clientNS := wglab.NewNamespace(t, "wgt-cli")
	s := startServer(t, "sqlite", clientNS)
	if _, err := s.cli(t, "user", "add", "--email", "bob@example.com", "--password", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli(t, "device", "add", "--user", "bob@example.com", "--name", "bob phone"); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.Ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	signIn(t, b, s.url, adminEmail, adminPassword)
	b.NoErrors(t, "/devices")

	// Add a device in the dialog: the configuration, its QR code and the download.
	b.Run(t, "add a device in the dialog",
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
	b.NoErrors(t, "the Add device dialog")

	// Back on the table, the new device is offline until its client comes up; then the
	// pushed status turns it online without a reload, within two ticks (1 s polls here).
	b.Run(t, "back to the table",
		chromedp.Click(chromedp.CSS(`#add-device-dialog a.btn[href="/devices"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows .status-offline`)))
	b.WaitJS(t, "the live stream is open", `document.querySelector("[data-live]").getAttribute("sse-connect") !== null`, "", 5*time.Second)
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[any](`window.__marker = 1`)); err != nil {
		t.Fatal(err)
	}
	client := wglab.StartClient(t, clientNS, wglab.UniqueName("wgc"), conf)
	if err := client.Ping(t, netip.MustParseAddr(tunnelServer)); err != nil {
		t.Fatalf("ping through the tunnel from the downloaded configuration: %v\n%s", err, client.Show(t))
	}
	up := time.Now()
	clientNS.Start(t, "ping", "-q", "-i", "0.2", "-s", "1000", tunnelServer) // traffic for the chart
	b.WaitJS(t, "the status turns online", `document.querySelector("#device-rows .status-online") !== null`, "", 4*time.Second)
	t.Logf("figure: client up to the table showing online: %s", time.Since(up).Round(10*time.Millisecond))
	b.WaitJS(t, "the page was not reloaded", `window.__marker === 1`, "", time.Second)
	b.NoErrors(t, "/devices, live")

	// The row's link opens the device's page: the badge, the pushed traffic and a chart
	// with non-zero points.
	b.Run(t, "open the device from its row",
		chromedp.Click(chromedp.CSS(`#device-rows td[data-label="Name"] a`)),
		chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.Contains(loc, "/devices/") {
		t.Errorf("the row link led to %s", loc)
	}
	b.WaitJS(t, "the badge says online", `document.querySelector(".status-badge .status-online") !== null`, "", 4*time.Second)
	b.WaitJS(t, "the chart has received points above zero", `(() => {
		if (typeof echarts === "undefined") return false;
		const c = echarts.getInstanceByDom(document.getElementById("traffic-chart"));
		if (!c) return false;
		const s = c.getOption().series;
		return s[0].data.some(p => p[1] > 0) && s[1].data.some(p => p[1] > 0);
	})()`, "", 10*time.Second)
	b.WaitJS(t, "the received rate is shown", `/[1-9][0-9.]* (B|KiB|MiB)\/s/.test(document.querySelector('#device-live [sse-swap^="rx-"]').textContent)`, "", 5*time.Second)
	b.NoErrors(t, "the device page")

	// A hung collector: the open page says its data is delayed, until the new one reports.
	hung := collectorPID(t, s.proc.Cmd.Process.Pid)
	if hung == 0 {
		t.Fatal("no collector process")
	}
	syscall.Kill(hung, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(hung, syscall.SIGKILL) })
	b.WaitJS(t, "the page says live data is delayed",
		`document.querySelector(".live-notice")?.textContent.startsWith("Live data is delayed: the collector has not reported for ")`, "", 15*time.Second)
	b.WaitJS(t, "the notice goes once the collector reports again", `document.querySelector(".live-notice") === null`, "", 15*time.Second)
	b.NoErrors(t, "the device page through a hung collector")

	// The admin sees bob's device on All Devices and opens it.
	b.Run(t, "All Devices",
		chromedp.Navigate(s.url+"/admin/devices"),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows`)))
	b.WaitJS(t, "bob's device is listed with its owner", `[...document.querySelectorAll("#device-rows tr")].some(tr =>
		tr.querySelector('td[data-label="Name"]')?.textContent === "bob phone" &&
		tr.querySelector('td[data-label="Owner"]')?.textContent === "bob@example.com")`, "", 2*time.Second)
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[any](`[...document.querySelectorAll('#device-rows td[data-label="Name"] a')]
		.find(a => a.textContent === "bob phone").click()`)); err != nil {
		t.Fatal(err)
	}
	b.Run(t, "open bob's device", chromedp.WaitVisible(chromedp.ID("traffic-chart")))
	bobPage, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(bobPage, "bob@example.com") || !strings.Contains(bobPage, "bob phone") {
		b.Screenshot(t)
		t.Errorf("bob's device page for the admin: %v\n%s", err, bobPage)
	}
	b.NoErrors(t, "bob's device page")
	b.Run(t, "find the admin's device URL",
		chromedp.Navigate(s.url+"/devices"),
		chromedp.WaitVisible(chromedp.CSS(`#device-rows td[data-label="Name"] a`)))
	laptopURL, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector('#device-rows td[data-label="Name"] a').href`))
	if err != nil {
		t.Fatal(err)
	}

	// At a phone's width nothing is wider than the screen: the table turns into cards.
	for _, page := range []string{s.url + "/devices", laptopURL} {
		b.Run(t, "open "+page+" at 375 px", chromedp.EmulateViewport(375, 800),
			chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.WaitJS(t, page+" fits in 375 px", `document.documentElement.scrollWidth <= 375`, "", 2*time.Second)
	}
	b.NoErrors(t, "the pages at 375 px")

	// Bob gets 404 on the admin's device.
	b.Run(t, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	signIn(t, b, s.url, "bob@example.com", "bob-password-1")
	resp, err := chromedp.Run(b.Ctx, chromedp.NavigateResponse(laptopURL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 {
		b.Screenshot(t)
		t.Errorf("bob on the admin's device: %d, want 404", resp.Status)
	}
	b.NoErrors(t, "bob's pages")
}
