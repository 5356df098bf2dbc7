package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"wiregui/app/apptest"
)

// localCLI runs a wiregui command on the data directory dir, as an operator next to the server.
func localCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(envWithoutSettings(), "WG_DATA_DIR="+dir, "WG_WG_ENDPOINT_HOST=vpn.example.com")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("wiregui %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// ruleOrderJS is the destinations of the rules table's rows, in order.
const ruleOrderJS = `[...document.querySelectorAll("#rules-list tbody tr td[data-label=Destination]")].map(td => td.textContent.trim()).join(" ")`

// TestBrowserRulesPage is an admin's way through the Rules page with the real binary: a rule
// added in the dialog after its mistakes were named, rows reordered by dragging and by
// keyboard, a stale order refused, a delete confirmed, Explain asked, in light and dark and at
// a phone's width; and the user who reads the rules for their devices.
func TestBrowserRulesPage(t *testing.T) {
	b := apptest.NewBrowser(t, apptest.TabOptions{ReportCSP: true})
	dir := t.TempDir()
	s := startLocal(t, "WG_DATA_DIR="+dir)
	localCLI(t, dir, "user", "add", "--email", "ann@example.com", "--password", "ann-password-1")
	localCLI(t, dir, "device", "add", "--user", "ann@example.com", "--name", "laptop")
	for _, d := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		localCLI(t, dir, "rule", "add", "--user", "ann@example.com", "--action", "drop", "--destination", d)
	}
	signIn(t, b, s.url, adminEmail, adminPassword)
	b.Run(t, "open ann's rules",
		chromedp.Navigate(s.url+"/admin/rules?user=ann@example.com"),
		chromedp.WaitVisible(chromedp.CSS(`#rules-list tbody [data-drag-handle]`)))
	b.NoErrors(t, "/admin/rules")

	// Add a rule in the dialog: two mistakes, each named next to its field, with what was typed.
	b.Run(t, "open the Add rule dialog",
		chromedp.Click(chromedp.CSS(`#rules-list a[data-dialog="#rule-dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-dialog #rule-destination`)),
		chromedp.SendKeys(chromedp.CSS(`#rule-destination`), "10.0.0.0/33"),
		chromedp.SendKeys(chromedp.CSS(`#rule-ports`), "22"),
		chromedp.Click(chromedp.CSS(`#rule-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-destination-error`)))
	for id, want := range map[string]string{"rule-destination-error": "Destination must be a CIDR such as 10.0.0.0/24",
		"rule-ports-error": "Ports need TCP or UDP"} {
		if got := apptest.Eval[string](t, b, `document.getElementById("`+id+`").textContent`); !strings.Contains(got, want) {
			t.Errorf("%s says %q, want %q", id, got, want)
		}
	}
	if got := apptest.Eval[string](t, b, `[document.getElementById("rule-destination").value, document.getElementById("rule-ports").value,
		document.getElementById("rule-user").value].join(" ")`); got != "10.0.0.0/33 22 ann@example.com" {
		t.Errorf("the form kept %q, want what was typed", got)
	}
	b.Run(t, "correct the rule, keeping the port",
		chromedp.Clear(chromedp.CSS(`#rule-destination`)),
		chromedp.SendKeys(chromedp.CSS(`#rule-destination`), "10.0.0.4"),
		chromedp.SetValue(chromedp.CSS(`#rule-protocol`), "tcp"),
		chromedp.Click(chromedp.CSS(`#rule-dialog button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-dialog [data-close][autofocus]`)),
		chromedp.Click(chromedp.CSS(`#rule-dialog [data-close][autofocus]`)),
		chromedp.WaitNotVisible(chromedp.ID("rule-dialog")))
	b.WaitJS(t, "the table shows the new rule", ruleOrderJS+` === "10.0.0.1/32 10.0.0.2/32 10.0.0.3/32 10.0.0.4/32"`, ruleOrderJS, 5*time.Second)
	b.NoErrors(t, "the Add rule dialog")

	// Drag the last row's handle above the first: the order is saved at once.
	apptest.Eval[bool](t, b, `(document.querySelector("#rules-list tbody").scrollIntoView({block: "center"}), true)`)
	handles := apptest.Eval[[]float64](t, b, `[...document.querySelectorAll("#rules-list [data-drag-handle]")]
		.flatMap(h => { const r = h.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })`)
	if len(handles) != 8 {
		t.Fatalf("%d handle coordinates, want 4 rows", len(handles)/2)
	}
	fromX, fromY, toY := handles[6], handles[7], handles[1]-12
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, fromX, fromY),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, fromX, fromY, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	}
	for i := 1; i <= 8; i++ {
		steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, fromX, fromY+(toY-fromY)*float64(i)/8,
			chromedp.ButtonLeft))
	}
	steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, fromX, toY, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	b.Run(t, "drag the last rule to the top", steps...)
	b.WaitJS(t, "the dragged order is saved", `document.querySelector("#rules-list .flash")?.textContent === "Order saved." && `+
		ruleOrderJS+` === "10.0.0.4/32 10.0.0.1/32 10.0.0.2/32 10.0.0.3/32"`, ruleOrderJS, 5*time.Second)
	if got := localCLI(t, dir, "rule", "list", "--user", "ann@example.com"); !inOrder(got, "10.0.0.4/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32") {
		t.Errorf("the stored order after the drag:\n%s", got)
	}
	b.NoErrors(t, "dragging a rule")

	// The keyboard: the second rule's down button, pressed with Enter; the focus stays on the rule.
	b.Run(t, "move a rule down by keyboard",
		chromedp.Focus(chromedp.CSS(`#rules-list tbody tr:nth-child(2) button[value="1"]`)),
		chromedp.KeyEvent("\r"))
	b.WaitJS(t, "the moved order is shown", ruleOrderJS+` === "10.0.0.4/32 10.0.0.2/32 10.0.0.1/32 10.0.0.3/32"`, ruleOrderJS, 5*time.Second)
	b.WaitJS(t, "the focus stays on the moved rule", `document.activeElement?.getAttribute("aria-label")?.endsWith("drop to 10.0.0.1/32")`,
		`document.activeElement?.outerHTML`, 2*time.Second)

	// Another admin reorders meanwhile, in another tab: this page's next move is refused.
	other := b.Tab(t, apptest.TabOptions{Name: "other admin"})
	other.Run(t, "open ann's rules",
		chromedp.Navigate(s.url+"/admin/rules?user=ann@example.com"),
		chromedp.WaitVisible(chromedp.CSS(`#rules-list tbody tr:nth-child(1) button[value="1"]`)),
		chromedp.Click(chromedp.CSS(`#rules-list tbody tr:nth-child(1) button[value="1"]`)))
	other.WaitJS(t, "the other admin's move is saved", `document.querySelector("#rules-list .flash")?.textContent === "Order saved."`, "", 5*time.Second)
	b.Run(t, "move on the stale page", chromedp.Click(chromedp.CSS(`#rules-list tbody tr:nth-child(3) button[value="-1"]`)))
	b.WaitJS(t, "the stale order is refused", `document.querySelector("#rules-list .form-error")?.textContent.startsWith("Another admin changed these rules")`,
		`document.querySelector("#rules-list")?.innerText`, 5*time.Second)
	b.WaitJS(t, "the table shows the order as it is", ruleOrderJS+` === "10.0.0.2/32 10.0.0.4/32 10.0.0.1/32 10.0.0.3/32"`, ruleOrderJS, 2*time.Second)
	b.NoErrors(t, "a stale reorder")

	// Delete with a confirmation.
	b.Run(t, "delete a rule",
		chromedp.Click(chromedp.CSS(`#rules-list a[aria-label="Delete: drop to 10.0.0.3/32"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-delete-dialog button.btn-danger`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("#rule-delete-dialog").innerText`); !strings.Contains(got, "drop to 10.0.0.3/32") {
		t.Errorf("the confirmation says %q", got)
	}
	b.Run(t, "confirm the delete",
		chromedp.Click(chromedp.CSS(`#rule-delete-dialog button.btn-danger`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-delete-dialog [data-close][autofocus]`)),
		chromedp.Click(chromedp.CSS(`#rule-delete-dialog [data-close][autofocus]`)))
	b.WaitJS(t, "the rule is gone", ruleOrderJS+` === "10.0.0.2/32 10.0.0.4/32 10.0.0.1/32"`, ruleOrderJS, 5*time.Second)

	// Explain.
	b.Run(t, "explain",
		chromedp.SendKeys(chromedp.CSS(`#explain-user`), "ann@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#explain-device`), "laptop"),
		chromedp.SendKeys(chromedp.CSS(`#explain-destination`), "10.0.0.4"),
		chromedp.SendKeys(chromedp.CSS(`#explain-port`), "22"),
		chromedp.Click(chromedp.CSS(`#explain button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#explain .verdict`)))
	if got := apptest.Eval[string](t, b, `document.querySelector("#explain .verdict").textContent`); !strings.Contains(got,
		`Accepted, by rule "accept tcp 22 to 10.0.0.4/32" (priority 20) of ann@example.com`) {
		t.Errorf("explain says %q", got)
	}
	b.NoErrors(t, "Explain")

	// Light and dark, and a phone's width.
	background := `getComputedStyle(document.querySelector("#rules-list").closest(".card")).backgroundColor`
	light := apptest.Eval[string](t, b, background)
	b.Run(t, "the dark scheme", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	if dark := apptest.Eval[string](t, b, background); dark == light {
		t.Errorf("the card is %s in the dark scheme too", dark)
	}
	b.Run(t, "ann's rules at 375 px", chromedp.EmulateViewport(375, 800),
		chromedp.Navigate(s.url+"/admin/rules?user=ann@example.com"), chromedp.WaitVisible(chromedp.CSS("#rules-list")))
	b.WaitJS(t, "the Rules page fits in 375 px", `document.documentElement.scrollWidth <= 375`, tooWideInPage, 2*time.Second)
	b.NoErrors(t, "the Rules page at 375 px, dark")

	// Ann reads the rules that apply to her devices on My Devices.
	b.Run(t, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	signIn(t, b, s.url, "ann@example.com", "ann-password-1")
	b.WaitJS(t, "ann sees her rules", `document.querySelector("#firewall-title")?.closest(".card").innerText.includes("10.0.0.4/32")`,
		`document.querySelector("main").innerText`, 2*time.Second)
	b.WaitJS(t, "My Devices fits in 375 px", `document.documentElement.scrollWidth <= 375`, tooWideInPage, 2*time.Second)
	b.NoErrors(t, "ann's devices with their rules")
}

// tooWideInPage lists the elements that reach past the right edge of the screen.
const tooWideInPage = `[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).slice(0, 10)
  .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " right=" + Math.round(e.getBoundingClientRect().right))`

// inOrder reports whether the words appear in text in this order.
func inOrder(text string, words ...string) bool {
	at := -1
	for _, w := range words {
		i := strings.Index(text, w)
		if i <= at {
			return false
		}
		at = i
	}
	return true
}
