package apptest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian installs Chromium.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds a test's whole time in the browser, unless TabOptions.Timeout says
// otherwise: chromedp's waits have no end of their own.
const browserTimeout = 90 * time.Second

// Browser is a headless Debian Chromium tab, 1280×900, that records JS exceptions, console
// errors and error log entries; a failed step fails the test and saves a screenshot.
type Browser struct {
	Ctx  context.Context // for chromedp calls of the test's own
	opts TabOptions

	mu     sync.Mutex
	errors []string
}

// TabOptions say how a tab is named and which errors it reports.
type TabOptions struct {
	// Name, when set, prefixes the tab's failure messages and its screenshot's file name.
	Name string
	// ReportCSP turns every Content-Security-Policy violation into a console error, whether
	// or not Chromium logs it.
	ReportCSP bool
	// AllowErrors are the errors the page is expected to log, exactly as NoErrors would
	// report them, e.g. `console.error: "[object Event]"`.
	AllowErrors []string
	// Private opens the tab (Browser.Tab) in a browser context of its own, as a private
	// window: it shares no cookies with the others, so it holds a session of its own.
	Private bool
	// Hidden makes the tab's pages believe they are in the background, as in a tab opened
	// with a middle click: document.visibilityState is "hidden" until SetVisible. (Headless
	// Chromium shows every tab.)
	Hidden bool
	// Timeout bounds the whole time of the browser NewBrowser starts, for a test that goes
	// through many pages; browserTimeout when zero.
	Timeout time.Duration
}

// NewBrowser starts Chromium and opens its first tab. Without Chromium or root the test is
// skipped, unless CI=true, where it fails.
func NewBrowser(t testing.TB, opts TabOptions) *Browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) and root are required under CI", chromiumPath)
		}
		t.Skip("skipped outside CI: needs Debian's chromium and root")
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	timeout := browserTimeout
	if opts.Timeout > 0 {
		timeout = opts.Timeout
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return openTab(t, ctx, opts)
}

// Tab opens another tab, in a window of its own, in the same browser; with opts.Private, in
// a browser context of its own. The browser must have started: call it after b ran a step.
func (b *Browser) Tab(t testing.TB, opts TabOptions) *Browser {
	t.Helper()
	var ctxOpts []chromedp.ContextOption
	if opts.Private {
		ctxOpts = append(ctxOpts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.Ctx, ctxOpts...)
	t.Cleanup(cancel)
	return openTab(t, ctx, opts)
}

// hideTab is the script behind TabOptions.Hidden; SetVisible calls window.__setVisibility.
const hideTab = `(() => {
  let state = "hidden";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
  window.__setVisibility = (s) => { state = s; document.dispatchEvent(new Event("visibilitychange")); };
})();`

// reportCSP is the script behind TabOptions.ReportCSP.
const reportCSP = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " " + (e.sample || ""));
});`

func openTab(t testing.TB, ctx context.Context, opts TabOptions) *Browser {
	t.Helper()
	b := &Browser{Ctx: ctx, opts: opts}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("%sstart chromium: %v", b.prefix(), err)
	}
	for _, script := range []struct {
		on         bool
		what, code string
	}{{opts.ReportCSP, "the CSP reporter", reportCSP}, {opts.Hidden, "the hidden tab", hideTab}} {
		if !script.on {
			continue
		}
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: script.code}); err != nil {
			t.Fatalf("%sadd %s: %v", b.prefix(), script.what, err)
		}
	}
	return b
}

// SetVisible shows or hides the page of a tab opened with TabOptions.Hidden, firing
// visibilitychange as a browser does when the user switches tabs.
func (b *Browser) SetVisible(t testing.TB, visible bool) {
	t.Helper()
	if !b.opts.Hidden {
		t.Fatalf("%sSetVisible needs a tab opened with TabOptions.Hidden", b.prefix())
	}
	state := "hidden"
	if visible {
		state = "visible"
	}
	Eval[bool](t, b, `(window.__setVisibility("`+state+`"), true)`)
}

// record keeps the errors among the tab's events. It runs in the loop that reads the tab's
// messages, so it must not wait for the browser.
func (b *Browser) record(ev any) {
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
		// Chromium logs every 4xx and 5xx answer as a network error; tests ask for those.
		if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
			msg = "log (" + string(e.Entry.Source) + "): " + e.Entry.Text + " " + e.Entry.URL
		}
	}
	if msg == "" || slices.Contains(b.opts.AllowErrors, msg) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// Name is the tab's name from its TabOptions.
func (b *Browser) Name() string { return b.opts.Name }

// prefix starts the tab's failure messages.
func (b *Browser) prefix() string {
	if b.opts.Name == "" {
		return ""
	}
	return b.opts.Name + ": "
}

// Run performs steps; on failure it saves a screenshot and fails the test.
func (b *Browser) Run(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, steps...); err != nil {
		b.Screenshot(t)
		t.Fatalf("%s%s: %v", b.prefix(), what, err)
	}
}

// Eval returns the value of a JS expression; on failure it saves a screenshot and fails the
// test.
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.Screenshot(t)
		t.Fatalf("%sevaluate %s: %v", b.prefix(), expr, err)
	}
	return v
}

// WaitJS waits until a JS expression is true. On timeout it saves a screenshot and fails the
// test, with the JSON of the expression show unless that is empty.
//
// It evaluates in a loop rather than with chromedp.Poll, which builds its predicate with new
// Function inside the page: a loop of Evaluate asks nothing a Content-Security-Policy could refuse.
func (b *Browser) WaitJS(t testing.TB, what, expr, show string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !Eval[bool](t, b, "Boolean("+expr+")") {
		if time.Now().After(deadline) {
			b.Screenshot(t)
			if show == "" {
				t.Fatalf("%s%s: not within %v", b.prefix(), what, within)
			}
			t.Fatalf("%s%s: not within %v; now %s", b.prefix(), what, within, Eval[string](t, b, "JSON.stringify("+show+")"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Screenshot saves the whole page to .artifacts/screenshots/ in the module's directory (git
// ignores it), named after the test and the tab.
func (b *Browser) Screenshot(t testing.TB) {
	t.Helper()
	shot, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("%sno screenshot: %v", b.prefix(), err)
		return
	}
	name := t.Name()
	if b.opts.Name != "" {
		name += "_" + b.opts.Name
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("%sno screenshot: %v", b.prefix(), err)
		return
	}
	path := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Logf("%sno screenshot: %v", b.prefix(), err)
		return
	}
	t.Logf("%sscreenshot saved to %s", b.prefix(), path)
}

// screenshotDir is .artifacts/screenshots in the module's directory.
func screenshotDir() string { return filepath.Join(moduleDir(), ".artifacts", "screenshots") }

// moduleDir is the directory of the nearest go.mod above the package's directory, where tests
// run; the package's directory when there is none.
func moduleDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for root := dir; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return root
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir
		}
		root = parent
	}
}

// axeSource is axe-core, which assets/vendor.sh vendors for the tests alone.
var axeSource = sync.OnceValues(func() ([]byte, error) {
	return os.ReadFile(filepath.Join(moduleDir(), "assets", "testdata", "vendor", "axe.min.js"))
})

// axeRun runs every axe-core rule but the experimental ones on the page and returns the
// violations, a line each: the rule, its impact, what it asks and the elements that fail it.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v =>
	v.id + " (" + v.impact + "): " + v.help + "\n\t" + v.nodes.map(n => n.target.join(" ") + ": " +
	n.failureSummary.replaceAll("\n", " ")).join("\n\t")))`

// Accessible fails the test, with a screenshot, when axe-core finds a violation on the page
// as it is now (rendered, its dialogs as they are open); page says where the test is.
func (b *Browser) Accessible(t testing.TB, page string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("axe-core: %v (run assets/vendor.sh)", err)
	}
	loaded, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`typeof axe === "object"`))
	if err == nil && !loaded { // once a page: a navigation forgets it
		_, err = chromedp.Run(b.Ctx, chromedp.Evaluate[bool](string(src)+";\ntrue"))
	}
	var violations []string
	if err == nil {
		violations, err = chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		b.Screenshot(t)
		t.Fatalf("%saxe-core on %s: %v", b.prefix(), page, err)
	}
	if len(violations) > 0 {
		b.Screenshot(t)
		t.Errorf("%saccessibility of %s: %d violations:\n%s", b.prefix(), page, len(violations), strings.Join(violations, "\n"))
	}
}

// NoErrors fails the test, with a screenshot, if the tab logged an error it was not told to
// expect since the last call; page says where the test is.
func (b *Browser) NoErrors(t testing.TB, page string) {
	t.Helper()
	b.mu.Lock()
	errs := b.errors
	b.errors = nil
	b.mu.Unlock()
	if len(errs) > 0 {
		b.Screenshot(t)
		t.Errorf("%sJS errors on %s:\n%s", b.prefix(), page, strings.Join(errs, "\n"))
	}
}
