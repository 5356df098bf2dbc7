package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"wiregui/wg/internal/netnsx"
)

// Table is WireGUI's nftables table, inet wiregui, in one network namespace. It writes a
// Ruleset there through netlink in one atomic batch, reads it back, and repairs what others
// changed in it. It never touches another table. Its methods are safe for concurrent use.
type Table struct {
	mu   sync.Mutex
	ns   *os.File       // nil: the caller's namespace
	conn *nftables.Conn // reads
	nl   *netlink.Conn  // writes (see batch)
	// applied is the rule set the kernel holds, as the last successful write or read found;
	// nil when that is unknown (before the first write, after a write whose outcome is unclear).
	applied *Ruleset
	// written is the rule set of the last batch the kernel took.
	written *Ruleset
	// beforeFlush, if set, is called with every batch before it is sent (tests add to it).
	beforeFlush func(*nftables.Conn)
}

// Option changes how Open works.
type Option func(*options)

type options struct{ netnsPath string }

// WithNetNS opens the table in the network namespace at path (such as /var/run/netns/NAME)
// instead of the caller's, as wg.WithNetNS does for the interface.
func WithNetNS(path string) Option { return func(o *options) { o.netnsPath = path } }

// ErrUnavailable is wrapped by the errors of a host where nftables cannot be used: the
// process lacks CAP_NET_ADMIN, or the kernel has no nf_tables.
var ErrUnavailable = errors.New("nftables unavailable")

// batchBuffer is the size of the writing socket's send buffer: the whole batch goes to the
// kernel in one message, about 4 MB at 10,000 devices, 1,000 users and 5,000 rules; the
// default (212 KB) refuses more with EMSGSIZE.
const batchBuffer = 32 << 20

// Open opens the table's netlink connection. It does not write anything.
func Open(opts ...Option) (*Table, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t := &Table{}
	fd := 0
	if o.netnsPath != "" {
		f, err := netnsx.Open(o.netnsPath)
		if err != nil {
			return nil, fmt.Errorf("open nftables: %w", err)
		}
		t.ns, fd = f, int(f.Fd())
	}
	conn, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("open nftables: %w", classify(err))
	}
	t.conn = conn
	if t.nl, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fd}); err == nil {
		err = bigBuffers(t.nl)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("open nftables: %w", classify(err))
	}
	return t, nil
}

// bigBuffers sets the send buffer to batchBuffer, beyond the sysctl limit when the process
// may (CAP_NET_ADMIN, which writing the table needs anyway).
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBuffer) != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, batchBuffer)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	// The kernel's own words for a refused batch ("Could not process rule: ...").
	return c.SetOption(netlink.ExtendedAcknowledge, true)
}

// classify wraps the errors that mean nftables cannot be used here in ErrUnavailable, with
// what to do about it.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: permission denied (the server needs CAP_NET_ADMIN, as it does for WireGuard): %w", ErrUnavailable, err)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: the kernel has no nf_tables (load the nf_tables module, or use a kernel built with it): %w", ErrUnavailable, err)
	}
	return err
}

// Close closes the connection. The table stays in the kernel: the tunnels it filters may
// outlive the process (a kernel WireGuard link does); Remove deletes it.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	if t.conn != nil {
		errs = append(errs, t.conn.CloseLasting())
		t.conn = nil
	}
	if t.nl != nil {
		errs = append(errs, t.nl.Close())
		t.nl = nil
	}
	if t.ns != nil {
		errs = append(errs, t.ns.Close())
		t.ns = nil
	}
	return errors.Join(errs...)
}

// Remove deletes the table from the kernel, in one batch; a table that is not there is not
// an error. It is for a gateway that ends with the process: a userspace WireGuard link goes
// with it, and nothing is left for the table to filter. A later Apply writes the table whole.
func (t *Table) Remove() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nl == nil {
		return errors.New("nftables: table is closed")
	}
	b := newBatch()
	// Creating the table first makes deleting it succeed when it is missing (as batchReplace).
	b.AddTable(nftTableRef)
	b.DelTable(nftTableRef)
	t.applied, t.written = nil, nil
	if _, err := b.send(t.nl); err != nil {
		return fmt.Errorf("delete table inet %s: %w", TableName, classify(err))
	}
	return nil
}

// Result is what one Apply or Sync did.
type Result struct {
	// Written: a batch changed the kernel's table.
	Written bool
	// Replaced: the batch deleted and re-created the whole table (the first write, after
	// drift, or after a write whose outcome was unclear); otherwise only what changed.
	Replaced bool
	// Messages is how many netlink messages the batch had.
	Messages int
	// Drift lists what Sync found changed by others since the last write, each repaired.
	Drift []string
}

// Apply makes the kernel's table rs, trusting that it is as the last write left it: it
// writes only the chains and map elements that differ, in one batch. Before the first write,
// and when the last write's outcome is unclear, it replaces the whole table in one batch.
// A refused batch changes nothing in the kernel; the error says whether the previous rule set
// is still in place (it is read back to make sure).
func (t *Table) Apply(rs *Ruleset) (Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.apply(rs)
}

// Sync is Apply after reading the kernel's table back: what others changed since the last
// write (the table deleted, a chain flushed, a rule added by hand, map elements changed) is
// listed in Result.Drift and repaired by replacing the whole table in one batch.
func (t *Table) Sync(rs *Ruleset) (Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	have, err := t.read()
	if err != nil {
		return Result{}, fmt.Errorf("read table inet %s: %w", TableName, err)
	}
	var drift []string
	if t.applied != nil {
		drift = diff(t.applied.nft(), have)
	} else if len(diff(rs.nft(), have)) == 0 {
		t.applied, t.written = rs, rs // as a previous run left it
		return Result{}, nil
	}
	if len(drift) > 0 {
		t.applied = nil // replace it all
	}
	res, err := t.apply(rs)
	res.Drift = drift
	return res, err
}

// Kernel reads the kernel's table back and renders it as nft text, in the form and order of
// rs.Text(), and reports whether it is rs: what the Rules page's troubleshooting card shows.
// The text of a rule is the one WireGUI wrote with it; a rule someone else added shows as a
// comment with its handle.
func (t *Table) Kernel(rs *Ruleset) (text string, matches bool, err error) {
	want := rs.nft()
	t.mu.Lock()
	have, err := t.read()
	t.mu.Unlock()
	if err != nil {
		return "", false, fmt.Errorf("read table inet %s: %w", TableName, err)
	}
	if have == nil {
		return fmt.Sprintf("# the kernel has no table inet %s\n", TableName), false, nil
	}
	sortChains(have.chains, want)
	text = have.text()
	for _, s := range have.strangers {
		text += "# " + s + "\n"
	}
	return text, len(diff(want, have)) == 0, nil
}

// ForeignChain is a base chain of another table.
type ForeignChain struct {
	Family string // ip, ip6 or inet
	Table  string
	Chain  string
}

func (c ForeignChain) String() string {
	return fmt.Sprintf("table %s %s, chain %s", c.Family, c.Table, c.Chain)
}

// ForeignForwardDrops lists the other tables' forward chains whose policy is drop. A packet
// must pass every forward chain, so such a chain (Docker sets one) drops what ours accepts
// unless it accepts the tunnel's traffic itself. Tables of iptables-legacy are not seen.
func (t *Table) ForeignForwardDrops() ([]ForeignChain, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil, errors.New("nftables: table is closed")
	}
	chains, err := t.conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", classify(err))
	}
	families := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6", nftables.TableFamilyINet: "inet"}
	var out []ForeignChain
	for _, c := range chains {
		fam, ok := families[c.Table.Family]
		if !ok || c.Table.Family == nftables.TableFamilyINet && c.Table.Name == TableName ||
			c.Hooknum == nil || *c.Hooknum != *nftables.ChainHookForward || c.Policy == nil || *c.Policy != nftables.ChainPolicyDrop {
			continue
		}
		out = append(out, ForeignChain{Family: fam, Table: c.Table.Name, Chain: c.Name})
	}
	return out, nil
}

func (t *Table) apply(want *Ruleset) (Result, error) {
	if t.conn == nil {
		return Result{}, errors.New("nftables: table is closed")
	}
	prev := t.applied
	var res Result
	b := newBatch()
	if prev == nil {
		res.Replaced = true
		batchReplace(b, want.nft())
	} else {
		batchChanges(b, prev, want)
	}
	if t.beforeFlush != nil {
		t.beforeFlush(b.Conn)
	}
	n, err := b.send(t.nl)
	res.Messages = n
	if err != nil {
		err = t.failed(classify(err))
		if prev != nil && t.applied == nil && !errors.Is(err, ErrUnavailable) {
			// The kernel's table is not the one the changes were made against (someone
			// deleted or changed it since): write it whole, at once, rather than leave
			// the gateway without its rule set until the next pass.
			return t.apply(want)
		}
		return res, err
	}
	if n > 0 || prev == nil {
		res.Written = true
	}
	t.applied, t.written = want, want
	return res, nil
}

// failed reports a refused batch. The kernel applies a batch entirely or not at all; what
// is left is read back so that the error can say so, and so that the next write knows what
// it starts from.
func (t *Table) failed(err error) error {
	err = fmt.Errorf("write table inet %s: %w", TableName, err)
	t.applied = nil
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	have, rerr := t.read()
	switch {
	case rerr != nil:
		return fmt.Errorf("%w; reading the table back failed too: %w", err, rerr)
	case have == nil:
		return fmt.Errorf("%w; the kernel has no WireGUI rule set", err)
	case t.written != nil && len(diff(t.written.nft(), have)) == 0:
		t.applied = t.written
		return fmt.Errorf("%w; the previous rule set stays in place", err)
	}
	return fmt.Errorf("%w; the kernel's table is not the last rule set written and will be replaced", err)
}

// InKernel reports whether the kernel holds a rule set that this Table wrote: after a
// successful write or a refused one that left the previous set in place.
func (t *Table) InKernel() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applied != nil
}

var nftTableRef = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// batchReplace queues the whole table, after deleting whatever the kernel has of it. Creating the table first makes deleting it succeed
// when it is missing; the three steps commit together, so no packet sees a gap.
func batchReplace(b *batch, want *nftTable) {
	c := b.Conn
	c.AddTable(nftTableRef)
	c.DelTable(nftTableRef)
	c.AddTable(nftTableRef)
	for i, m := range want.maps {
		c.AddSet(m.set(uint32(i+1)), nil)
	}
	for _, ch := range want.chains {
		c.AddChain(ch.nftables())
	}
	for _, m := range want.maps {
		b.elements(m.name, m.raw(), false)
	}
	for _, ch := range want.chains {
		for _, r := range ch.rules {
			b.rule(ch.name, r)
		}
	}
}

// batchChanges queues what turns prev into want: new chains, the map elements that differ,
// the rules of every chain that differs (flushed and written again), and the chains no
// longer wanted, after the elements that jumped to them. Only the parts whose source differs are built: one user's change costs that user's
// chain.
func batchChanges(b *batch, prev, want *Ruleset) {
	c := b.Conn
	before := make(map[string]*Chain, len(prev.Chains))
	for i := range prev.Chains {
		before[prev.Chains[i].Name] = &prev.Chains[i]
	}
	for _, ch := range want.Chains {
		if before[ch.Name] == nil {
			c.AddChain(&nftables.Chain{Name: ch.Name, Table: nftTableRef})
		}
	}
	if !slices.Equal(prev.Owners, want.Owners) {
		pm, wm := prev.maps(), want.maps()
		for i := range wm {
			del, add := diffElements(pm[i].raw(), wm[i].raw())
			b.elements(wm[i].name, del, true)
			b.elements(wm[i].name, add, false)
		}
	}
	rewrite := func(old, new nftChain, existed bool) {
		if existed && sameRules(old.rules, new.rules, false) {
			return
		}
		if existed {
			c.FlushChain(new.nftables())
		}
		for _, r := range new.rules {
			b.rule(new.name, r)
		}
	}
	rewrite(prev.forwardChain(), want.forwardChain(), true)
	if !slices.Equal(prev.Global, want.Global) {
		rewrite(prev.globalChain(), want.globalChain(), true)
	}
	for _, ch := range want.Chains {
		old := before[ch.Name]
		if old != nil && old.Final == ch.Final && slices.Equal(old.Rules, ch.Rules) {
			continue
		}
		rewrite(nftChain{}, ch.nft(), old != nil)
	}
	rewrite(prev.natChain(), want.natChain(), true)
	for _, ch := range prev.Chains {
		if !slices.ContainsFunc(want.Chains, func(w Chain) bool { return w.Name == ch.Name }) {
			gone := &nftables.Chain{Name: ch.Name, Table: nftTableRef}
			c.FlushChain(gone)
			c.DelChain(gone)
		}
	}
}

func (c nftChain) nftables() *nftables.Chain {
	ch := &nftables.Chain{Name: c.name, Table: nftTableRef}
	if c.base != nil {
		hook, prio, policy := c.base.hook, c.base.prio, nftables.ChainPolicyAccept
		ch.Hooknum, ch.Priority, ch.Type, ch.Policy = &hook, &prio, c.base.typ, &policy
	}
	return ch
}

// set is the map as google/nftables describes it; id, if not 0, identifies it in the batch
// that creates it.
func (m nftMap) set(id uint32) *nftables.Set {
	key := nftables.TypeIPAddr
	if m.v6 {
		key = nftables.TypeIP6Addr
	}
	return &nftables.Set{Table: nftTableRef, ID: id, Name: m.name, IsMap: true, Interval: true,
		KeyType: key, DataType: nftables.TypeVerdict}
}

// rawElement is an element of an interval map as the kernel holds it: the start of an
// interval, with its verdict, or the address after its end.
type rawElement struct {
	key   netip.Addr
	end   bool
	chain string
}

// raw is the map's elements as the kernel holds them, in the form nft writes them: an end
// element at the zero address first unless an interval starts there, then each interval's
// start and the address after its end (none for an interval that reaches the last address).
func (m nftMap) raw() []rawElement {
	zero := netip.IPv4Unspecified()
	if m.v6 {
		zero = netip.IPv6Unspecified()
	}
	out := make([]rawElement, 0, 2*len(m.elems)+1)
	if len(m.elems) > 0 && m.elems[0].from != zero {
		out = append(out, rawElement{key: zero, end: true})
	}
	for _, e := range m.elems {
		out = append(out, rawElement{key: e.from, chain: e.chain})
		if next := e.to.Next(); next.IsValid() {
			out = append(out, rawElement{key: next, end: true})
		}
	}
	return out
}

// diffElements returns the elements of have that want lacks or maps elsewhere (to delete)
// and those of want that have lacks or maps elsewhere (to add).
func diffElements(have, want []rawElement) (del, add []rawElement) {
	type key struct {
		addr netip.Addr
		end  bool
	}
	index := make(map[key]string, len(have))
	for _, e := range have {
		index[key{e.key, e.end}] = e.chain
	}
	wanted := make(map[key]bool, len(want))
	for _, e := range want {
		k := key{e.key, e.end}
		wanted[k] = true
		if chain, ok := index[k]; !ok || chain != e.chain {
			add = append(add, e)
			if ok {
				del = append(del, rawElement{key: e.key, end: e.end, chain: chain})
			}
		}
	}
	for _, e := range have {
		if !wanted[key{e.key, e.end}] {
			del = append(del, e)
		}
	}
	return del, add
}

// User data of our rules: nft(8)'s comment, and the rule's text in a type of our own, which
// nft ignores. Read back, the text shows the kernel's rules, and its presence tells our rules
// from those others added.
const (
	udataComment = 0    // NFTNL_UDATA_RULE_COMMENT
	udataText    = 0x57 // 'W'
	// maxUserData is the kernel's limit for a rule's user data (NFT_USERDATA_MAXLEN).
	maxUserData = 256
)

// userData is the rule's user data: its text and comment, each cut to what fits.
func (r nftRule) userData() []byte {
	text := r.text
	if len(text) > 200 {
		text = text[:200]
	}
	b := append([]byte{udataText, byte(len(text))}, text...)
	if r.comment != "" {
		comment := r.comment
		if room := maxUserData - len(b) - 3; len(comment) > room {
			comment = comment[:room]
		}
		b = append(b, udataComment, byte(len(comment)+1))
		b = append(b, comment...)
		b = append(b, 0)
	}
	return b
}

// parseUserData reads what userData wrote; ok is false for user data without our text.
func parseUserData(b []byte) (text, comment string, ok bool) {
	for len(b) >= 2 && len(b) >= 2+int(b[1]) {
		typ, val := b[0], b[2:2+int(b[1])]
		switch typ {
		case udataText:
			text, ok = string(val), true
		case udataComment:
			comment = string(val)
			if len(comment) > 0 && comment[len(comment)-1] == 0 {
				comment = comment[:len(comment)-1]
			}
		}
		b = b[2+int(b[1]):]
	}
	return text, comment, ok
}

// sameRules reports whether two rule lists are the same. The text and comment of a rule we
// build determine its expressions; a rule read back from the kernel has its expressions
// compared too (withExprs), as someone may have replaced it and kept its user data.
func sameRules(a, b []nftRule, withExprs bool) bool {
	return slices.EqualFunc(a, b, func(x, y nftRule) bool {
		return x.text == y.text && x.comment == y.comment && x.foreign == y.foreign && (!withExprs || sameExprs(x.exprs, y.exprs))
	})
}

// sameExprs compares expressions as google/nftables reads them back (the lookup's set id,
// which the kernel assigns, aside). Comparing their netlink encoding instead cost 50 ms of a
// Sync at 7,000 rules.
func sameExprs(a, b []expr.Any) bool {
	return slices.EqualFunc(a, b, func(x, y expr.Any) bool {
		if lx, ok := x.(*expr.Lookup); ok {
			ly, ok := y.(*expr.Lookup)
			if !ok {
				return false
			}
			cx, cy := *lx, *ly
			cx.SetID, cy.SetID = 0, 0
			return cx == cy
		}
		return reflect.DeepEqual(x, y)
	})
}

// read returns the kernel's table; nil when there is none.
func (t *Table) read() (*nftTable, error) {
	if t.conn == nil {
		return nil, errors.New("nftables: table is closed")
	}
	tables, err := t.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, classify(err)
	}
	if !slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == TableName }) {
		return nil, nil
	}
	have := &nftTable{maps: [2]nftMap{{name: mapOwners4}, {name: mapOwners6, v6: true}}}
	sets, err := t.conn.GetSets(nftTableRef)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", classify(err))
	}
	found := [2]bool{}
	for _, s := range sets {
		// google/nftables v0.3.0 reads a verdict map's key type as "verdict"; the keys' length
		// and the elements' verdicts are checked by intervals instead.
		i := slices.IndexFunc(have.maps[:], func(m nftMap) bool { return m.name == s.Name })
		if i < 0 || !s.IsMap || !s.Interval {
			have.strangers = append(have.strangers, fmt.Sprintf("set %s is not WireGUI's", s.Name))
			continue
		}
		found[i] = true
		elems, err := t.conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list elements of %s: %w", s.Name, classify(err))
		}
		if have.maps[i].elems, err = intervals(elems, have.maps[i].v6); err != nil {
			have.strangers = append(have.strangers, fmt.Sprintf("map %s: %v", s.Name, err))
		}
	}
	for i, ok := range found {
		if !ok {
			have.strangers = append(have.strangers, fmt.Sprintf("map %s is missing", have.maps[i].name))
		}
	}

	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", classify(err))
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != TableName {
			continue
		}
		ch := nftChain{name: c.Name}
		if c.Hooknum != nil {
			ch.base = &baseChain{typ: c.Type, hook: *c.Hooknum}
			if c.Priority != nil {
				ch.base.prio = *c.Priority
			}
			if c.Policy != nil && *c.Policy != nftables.ChainPolicyAccept {
				ch.base.policyDrop = true
			}
		}
		rules, err := t.conn.GetRules(nftTableRef, c)
		if err != nil {
			return nil, fmt.Errorf("list rules of %s: %w", c.Name, classify(err))
		}
		for _, r := range rules {
			text, comment, ours := parseUserData(r.UserData)
			if !ours {
				text = fmt.Sprintf("# a rule WireGUI did not write (handle %d)", r.Handle)
			}
			ch.rules = append(ch.rules, nftRule{text: text, comment: comment, exprs: r.Exprs, foreign: !ours})
		}
		have.chains = append(have.chains, ch)
	}
	return have, nil
}

// intervals turns a map's elements, as the kernel lists them, into intervals.
func intervals(elems []nftables.SetElement, v6 bool) ([]interval, error) {
	raw := make([]rawElement, 0, len(elems))
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok || a.Is6() != v6 {
			return nil, fmt.Errorf("an element's key %x is no %s address", e.Key, map[bool]string{false: "IPv4", true: "IPv6"}[v6])
		}
		re := rawElement{key: a, end: e.IntervalEnd}
		if !e.IntervalEnd {
			chain, err := jumpTarget(e.Val)
			if err != nil {
				return nil, fmt.Errorf("element %s: %w", a, err)
			}
			re.chain = chain
		}
		raw = append(raw, re)
	}
	// By address; at one address the end of an interval comes before the start of the next.
	slices.SortFunc(raw, func(a, b rawElement) int {
		if c := a.key.Compare(b.key); c != 0 {
			return c
		}
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	var out []interval
	for i, e := range raw {
		if e.end {
			continue
		}
		iv := interval{from: e.key, chain: e.chain, to: lastOf(v6)}
		if i+1 < len(raw) {
			iv.to = raw[i+1].key.Prev()
		}
		out = append(out, iv)
	}
	return out, nil
}

func lastOf(v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff,
			8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
	}
	return netip.AddrFrom4([4]byte{0xff, 0xff, 0xff, 0xff})
}

// jumpTarget reads the chain of a "jump" verdict from an element's data as google/nftables
// returns it: the verdict's attributes.
func jumpTarget(data []byte) (string, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return "", err
	}
	ad.ByteOrder = binary.BigEndian
	var code uint32
	var chain string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = ad.Uint32()
		case unix.NFTA_VERDICT_CHAIN:
			chain = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return "", err
	}
	if int32(code) != unix.NFT_JUMP {
		return "", fmt.Errorf("verdict %d is not a jump", int32(code))
	}
	return chain, nil
}
