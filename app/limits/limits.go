// Package limits slows down guessing: every way of proving who one is (a password, a code,
// a link) asks the one Limiter before it checks anything.
//
// An attempt counts against the account it names and against the address it comes from,
// each by its Kind. After a few failures in a row the next attempt must wait, and each
// further failure doubles the wait up to a cap (Policy: 5 failures → 30 s, 1 min, 2 min …
// 15 min). An attempt counts as failed from the moment it begins, before the secret is
// checked, so that attempts sent at once cannot all slip in before the first failure is
// written; Succeed takes it back. Usage:
//
//	v, err := l.Begin(ctx, limits.Attempt{Kind: limits.Password, UserID: u.ID, Addr: addr})
//	if v.Wait > 0 { answer 429 with Retry-After v.Wait and limits.Message(v.Wait) }
//	… check the secret …
//	ok: l.Succeed(ctx, a)      failed: log a lockout when v.Lock > 0
//
// An account's failures are stored (they outlive a restart); a success of the same factor
// clears them, so an attacker who keeps a password locked does not lock its owner out of a
// sign-in link for good: the link's success clears the password's failures. A name that is
// no account's (an unknown email) is counted like one, in memory, so that the answers do not
// tell which emails have accounts. Addresses are counted in memory only, bounded: they are
// what anonymous visitors send, which is never written, and a restart forgetting them costs
// little while the accounts' own counts stand.
package limits

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"wiregui/store"
)

// Kind is what an attempt tries; each kind counts its own failures.
type Kind string

// The kinds of attempts.
const (
	Password   Kind = "password"   // a password sign-in
	MagicLink  Kind = "magic_link" // a request for a sign-in link, or the use of one
	Invitation Kind = "invitation" // the acceptance of an invitation
	MFA        Kind = "mfa"        // a second factor's code
)

// factor groups the kinds whose success clears each other's failures: any first factor
// (something that signs in on its own) clears the first factors; a second factor clears its
// own. A correct password must not reset the count of wrong codes.
func (k Kind) factor() []Kind {
	if k == MFA {
		return []Kind{MFA}
	}
	return []Kind{Password, MagicLink, Invitation}
}

// Policy is how failures turn into waits.
type Policy struct {
	Free   int           // failures in a row allowed before the first wait
	First  time.Duration // the wait after Free failures; each further failure doubles it
	Max    time.Duration // the longest wait
	Forget time.Duration // failures are forgotten this long after the last one
}

// Record is the failures of one account or address: how many since the last success, and
// when the last one was.
type Record struct {
	Failures int
	Last     time.Time
}

// Wait returns how long, at time now, an attempt must wait after the failures of r; 0 lets it
// in.
func (p Policy) Wait(r Record, now time.Time) time.Duration {
	if r.Failures < p.Free || now.Sub(r.Last) >= p.Forget {
		return 0
	}
	return max(r.Last.Add(p.Lock(r.Failures)).Sub(now), 0)
}

// Lock returns how long an account or address is locked after its failures-th failure in a
// row: 0 before Free, then First, doubling up to Max.
func (p Policy) Lock(failures int) time.Duration {
	if failures < p.Free {
		return 0
	}
	lock := p.First
	for range failures - p.Free {
		if lock >= p.Max {
			break
		}
		lock *= 2
	}
	return min(lock, p.Max)
}

// Fail returns r with one more failure at time now; failures older than Forget are gone.
func (p Policy) Fail(r Record, now time.Time) Record {
	if now.Sub(r.Last) >= p.Forget {
		r.Failures = 0
	}
	return Record{Failures: r.Failures + 1, Last: now}
}

// The policies in force. An address is shared by everyone behind one NAT (an office, a
// carrier), so it has more room before the first wait than one account.
var (
	AccountPolicy = Policy{Free: 5, First: 30 * time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}
	AddressPolicy = Policy{Free: 20, First: 30 * time.Second, Max: 15 * time.Minute, Forget: time.Hour}
)

// maxRemembered bounds the records kept in memory (addresses and unknown names): about
// 100 bytes each, 1 MB at most.
const maxRemembered = 10_000

// Attempt is one try at proving who one is.
type Attempt struct {
	Kind Kind
	// UserID is the account the attempt names, when it names one; its failures are stored.
	UserID string
	// Name is what the attempt named when it is no account's (the email typed): counted in
	// memory, as an account would be, so that it is refused when an account would be.
	Name string
	// Addr is the client's address; the zero Addr is not counted. IPv6 addresses count by
	// their /64, which one client usually holds whole.
	Addr netip.Addr
}

// Verdict is the Limiter's answer to the beginning of an attempt.
type Verdict struct {
	// Wait is how long the client must wait before trying again; while it is more than 0, the
	// attempt is refused and nothing is counted.
	Wait time.Duration
	// Lock is how long the account or address is locked once this attempt fails (its failure
	// is counted already): more than 0 when its failure is a lockout, to be logged as one.
	Lock time.Duration
}

// Store is where the Limiter keeps accounts' failures.
type Store interface {
	UpdateFailures(ctx context.Context, userID, kind string, fn func(*store.Failures) error) error
	ClearFailures(ctx context.Context, userID string, kinds ...string) error
}

// Limiter counts attempts. Create it with New; it is safe for concurrent use.
type Limiter struct {
	store     Store
	accounts  Policy
	addresses Policy
	now       func() time.Time
	key       []byte // keys the memory's names, so that it holds no email typed

	mu  sync.Mutex
	mem map[string]Record // "addr kind prefix", "name kind hmac" and "acct kind id" → failures
}

// New returns a Limiter that stores accounts' failures in st, with the policies in force.
// now is the clock; nil is time.Now.
func New(st Store, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &Limiter{store: st, accounts: AccountPolicy, addresses: AddressPolicy, now: now, key: key,
		mem: make(map[string]Record)}
}

// errWait ends the transaction of an account that must wait: nothing is written.
var errWait = errors.New("wait")

// Wait returns how long attempt a must wait as far as memory knows, without counting it: its
// address's and name's records, and its account's as last read or written. A caller that
// checks something costly (a password's hash) asks it first, so that an attempt Begin would
// refuse costs nothing; Begin still has the last word.
func (l *Limiter) Wait(a Attempt) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if k := l.addrKey(a); k != "" {
		wait = l.addresses.Wait(l.mem[k], now)
	}
	if a.UserID != "" {
		wait = max(wait, l.accounts.Wait(l.mem[accountKey(a)], now))
	} else if a.Name != "" {
		wait = max(wait, l.accounts.Wait(l.mem[l.nameKey(a)], now))
	}
	return wait
}

// Begin starts attempt a: refused (Verdict.Wait > 0) while its account, name or address
// must wait; otherwise counted as failed until Succeed says it was not.
func (l *Limiter) Begin(ctx context.Context, a Attempt) (Verdict, error) {
	now := l.now()
	addrKey, nameKey := l.addrKey(a), ""
	if a.UserID == "" && a.Name != "" {
		nameKey = l.nameKey(a)
	}
	var v Verdict
	l.mu.Lock()
	if addrKey != "" {
		v.Wait = l.addresses.Wait(l.mem[addrKey], now)
	}
	if nameKey != "" {
		v.Wait = max(v.Wait, l.accounts.Wait(l.mem[nameKey], now))
	}
	if v.Wait > 0 {
		l.mu.Unlock()
		return v, nil
	}
	if addrKey != "" {
		r := l.addresses.Fail(l.mem[addrKey], now)
		l.remember(addrKey, r, now)
		v.Lock = l.addresses.Lock(r.Failures)
	}
	if nameKey != "" {
		r := l.accounts.Fail(l.mem[nameKey], now)
		l.remember(nameKey, r, now)
		v.Lock = max(v.Lock, l.accounts.Lock(r.Failures))
	}
	l.mu.Unlock()
	if a.UserID == "" {
		return v, nil
	}

	wait, lock, stored := time.Duration(0), time.Duration(0), Record{}
	err := l.store.UpdateFailures(ctx, a.UserID, string(a.Kind), func(f *store.Failures) error {
		stored = Record{Failures: f.Count, Last: f.Last}
		if wait = l.accounts.Wait(stored, now); wait > 0 {
			return errWait
		}
		stored = l.accounts.Fail(stored, now)
		f.Count, f.Last = stored.Failures, stored.Last
		lock = l.accounts.Lock(stored.Failures)
		return nil
	})
	switch {
	case errors.Is(err, errWait):
		l.takeBack(addrKey) // refused: not an attempt
		l.mirror(a, stored)
		return Verdict{Wait: wait}, nil
	case err != nil:
		l.takeBack(addrKey)
		return Verdict{}, fmt.Errorf("count the attempt: %w", err)
	}
	l.mirror(a, stored)
	return Verdict{Lock: max(v.Lock, lock)}, nil
}

// Succeed takes back the failure Begin counted for a, which succeeded: it clears the
// account's (or name's) failures of every kind of the same factor, and takes this one
// attempt off the address's count, which others behind the address share.
func (l *Limiter) Succeed(ctx context.Context, a Attempt) error {
	l.takeBack(l.addrKey(a))
	if a.UserID == "" && a.Name != "" {
		l.mu.Lock()
		for _, k := range a.Kind.factor() {
			delete(l.mem, l.nameKey(Attempt{Kind: k, Name: a.Name}))
		}
		l.mu.Unlock()
	}
	if a.UserID == "" {
		return nil
	}
	var kinds []string
	l.mu.Lock()
	for _, k := range a.Kind.factor() {
		kinds = append(kinds, string(k))
		delete(l.mem, accountKey(Attempt{Kind: k, UserID: a.UserID}))
	}
	l.mu.Unlock()
	if err := l.store.ClearFailures(ctx, a.UserID, kinds...); err != nil {
		return fmt.Errorf("clear the failures: %w", err)
	}
	return nil
}

// takeBack takes one failure off the address key ("" is none).
func (l *Limiter) takeBack(key string) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.mem[key]; ok && r.Failures > 0 {
		r.Failures--
		l.mem[key] = r
	}
}

// addrKey is the memory's key of a's address, or "" when it has none.
func (l *Limiter) addrKey(a Attempt) string {
	if !a.Addr.IsValid() {
		return ""
	}
	addr := a.Addr.Unmap()
	prefix := netip.PrefixFrom(addr, addr.BitLen())
	if addr.Is6() {
		prefix, _ = addr.Prefix(64)
	}
	return "addr " + string(a.Kind) + " " + prefix.String()
}

// accountKey is the memory's key of a's account: its stored record as last read or written
// (mirror), which Wait reads.
func accountKey(a Attempt) string { return "acct " + string(a.Kind) + " " + a.UserID }

// mirror remembers r, the stored record of a's account.
func (l *Limiter) mirror(a Attempt, r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remember(accountKey(a), r, l.now())
}

// nameKey is the memory's key of a's name: an HMAC under a key of this process, so that the
// memory holds no email typed.
func (l *Limiter) nameKey(a Attempt) string {
	mac := hmac.New(sha256.New, l.key)
	mac.Write([]byte(strings.ToLower(strings.TrimSpace(a.Name))))
	return "name " + string(a.Kind) + " " + hex.EncodeToString(mac.Sum(nil)[:16])
}

// remember stores r under key, making room when the memory is full: first by dropping what
// is forgotten or no longer waits, else the record whose last failure is the oldest. l.mu is
// held.
func (l *Limiter) remember(key string, r Record, now time.Time) {
	if _, ok := l.mem[key]; !ok && len(l.mem) >= maxRemembered {
		for k, old := range l.mem {
			if old.Failures == 0 || now.Sub(old.Last) >= l.policy(k).Forget {
				delete(l.mem, k)
			}
		}
		if len(l.mem) >= maxRemembered {
			oldest := ""
			for k, old := range l.mem {
				if oldest == "" || old.Last.Before(l.mem[oldest].Last) {
					oldest = k
				}
			}
			delete(l.mem, oldest)
		}
	}
	l.mem[key] = r
}

// policy is the policy of the memory's key: an address's, or a name's or an account's.
func (l *Limiter) policy(key string) Policy {
	if strings.HasPrefix(key, "addr ") {
		return l.addresses
	}
	return l.accounts
}

// Message is what a person reads when they must wait: "Too many attempts. Try again in 2
// minutes."
func Message(wait time.Duration) string {
	return "Too many attempts. Try again in " + Words(wait) + "."
}

// Words says a wait in words, rounded up: "30 seconds", "1 minute", "15 minutes".
func Words(wait time.Duration) string {
	secs := int((wait + time.Second - 1) / time.Second)
	switch {
	case secs <= 1:
		return "1 second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs <= 60:
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
}

// RetryAfter is the value of a Retry-After header for wait: whole seconds, rounded up.
func RetryAfter(wait time.Duration) string {
	return fmt.Sprint(max(int((wait+time.Second-1)/time.Second), 1))
}
