package firewall

import "github.com/google/nftables"

// forget makes the next Apply replace the whole table, as after a start.
func (t *Table) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.applied = nil
}

// injectBeforeFlush has fn add to every batch before it is sent.
func (t *Table) injectBeforeFlush(fn func(*nftables.Conn)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.beforeFlush = fn
}

// ScaleInput is scaleInput for the benchmarks of package firewall_test.
var ScaleInput = scaleInput

// Figures of the scale benchmarks.
const (
	ScaleDevices = scaleDevices
	ScaleUsers   = scaleUsers
	ScaleRules   = scaleRules
)

// Forget is forget for package firewall_test.
func (t *Table) Forget() { t.forget() }
