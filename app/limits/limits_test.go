package limits

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"wiregui/store"
	"wiregui/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestLockDoublesFromTheFifthFailureUpToTheCap(t *testing.T) {
	p := AccountPolicy
	for failures, want := range map[int]time.Duration{
		0: 0, 4: 0, 5: 30 * time.Second, 6: time.Minute, 7: 2 * time.Minute, 8: 4 * time.Minute,
		9: 8 * time.Minute, 10: 15 * time.Minute, 11: 15 * time.Minute, 1000: 15 * time.Minute,
	} {
		if got := p.Lock(failures); got != want {
			t.Errorf("Lock(%d): got %s, want %s", failures, got, want)
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Record{Failures: 6, Last: at}
	for _, c := range []struct {
		after time.Duration
		want  time.Duration
	}{{0, time.Minute}, {20 * time.Second, 40 * time.Second}, {time.Minute, 0}, {25 * time.Hour, 0}} {
		if got := p.Wait(r, at.Add(c.after)); got != c.want {
			t.Errorf("Wait %s after the 6th failure: got %s, want %s", c.after, got, c.want)
		}
	}
	if got := p.Fail(r, at.Add(25*time.Hour)); got.Failures != 1 {
		t.Errorf("a failure a day after the last: got %d failures, want 1 (the old ones forgotten)", got.Failures)
	}
}

func TestMessageSaysWhenToTryAgain(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		500 * time.Millisecond:                "Too many attempts. Try again in 1 second.",
		30 * time.Second:                      "Too many attempts. Try again in 30 seconds.",
		time.Minute:                           "Too many attempts. Try again in 1 minute.",
		61 * time.Second:                      "Too many attempts. Try again in 2 minutes.",
		2 * time.Minute:                       "Too many attempts. Try again in 2 minutes.",
		14*time.Minute + 59*time.Second + 100: "Too many attempts. Try again in 15 minutes.",
	} {
		if got := Message(wait); got != want {
			t.Errorf("Message(%s): got %q, want %q", wait, got, want)
		}
	}
	if got := RetryAfter(29*time.Second + time.Millisecond); got != "30" {
		t.Errorf("RetryAfter: got %s, want 30 (rounded up)", got)
	}
}

// memoryStore keeps failures as the store does, for the tests of one Limiter's logic; the
// tests on both databases below use the real store.
type memoryStore struct {
	mu sync.Mutex
	m  map[string]store.Failures
}

func (s *memoryStore) UpdateFailures(_ context.Context, userID, kind string, fn func(*store.Failures) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[userID+" "+kind]
	if err := fn(&f); err != nil {
		return err
	}
	s.m[userID+" "+kind] = f
	return nil
}

func (s *memoryStore) ClearFailures(_ context.Context, userID string, kinds ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range kinds {
		delete(s.m, userID+" "+k)
	}
	return nil
}

// clock is a time the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }
func newLimiter(c *clock) *Limiter   { return New(&memoryStore{m: map[string]store.Failures{}}, c.now) }
func addr(s string) netip.Addr       { return netip.MustParseAddr(s) }
func begin(t *testing.T, l *Limiter, a Attempt) Verdict {
	t.Helper()
	v, err := l.Begin(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The same steps for an account and for a name that is no account's: the answers must be
// the same, or they tell which emails have accounts.
func TestAnAccountAndAnUnknownNameWaitAlike(t *testing.T) {
	for name, a := range map[string]Attempt{
		"account":      {Kind: Password, UserID: "u1", Addr: addr("192.0.2.1")},
		"unknown name": {Kind: Password, Name: "Nobody@Example.com", Addr: addr("192.0.2.1")},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClock()
			l := newLimiter(c)
			for i := 1; i <= 4; i++ {
				if v := begin(t, l, a); v != (Verdict{}) {
					t.Fatalf("attempt %d: got %+v, want it let in with no lock", i, v)
				}
			}
			if v := begin(t, l, a); v != (Verdict{Lock: 30 * time.Second}) {
				t.Fatalf("attempt 5: got %+v, want let in, a 30s lock when it fails", v)
			}
			c.add(10 * time.Second)
			if v := begin(t, l, a); v.Wait != 20*time.Second {
				t.Fatalf("attempt 6, 10s later: got %+v, want a 20s wait", v)
			}
			c.add(20 * time.Second)
			if v := begin(t, l, a); v != (Verdict{Lock: time.Minute}) {
				t.Fatalf("attempt 6 after the wait: got %+v, want let in, a 1m lock when it fails (doubled)", v)
			}
			if v := begin(t, l, a); v.Wait != time.Minute {
				t.Fatalf("attempt 7 at once: got %+v, want a 1m wait", v)
			}
			c.add(time.Minute)
			if v := begin(t, l, a); v.Lock != 2*time.Minute {
				t.Fatalf("attempt 7 after the wait: got %+v, want a 2m lock when it fails", v)
			}
			if err := l.Succeed(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if v := begin(t, l, a); v != (Verdict{}) {
				t.Fatalf("after a success: got %+v, want let in, the failures cleared", v)
			}
		})
	}
}

// Attempts made at once cannot all slip in before the first failure is counted.
func TestAttemptsAtOnceAreCountedBeforeTheyAreChecked(t *testing.T) {
	l := newLimiter(newClock())
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			v, err := l.Begin(context.Background(), Attempt{Kind: Password, UserID: "u1", Addr: addr(fmt.Sprintf("198.51.100.%d", i))})
			if err != nil {
				t.Error(err)
			}
			if v.Wait == 0 {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != AccountPolicy.Free {
		t.Errorf("50 attempts at once: %d let in, want %d", admitted, AccountPolicy.Free)
	}
}

// An address waits after its own failures, whichever accounts they named; an IPv6 client
// counts by its /64; a success takes its own attempt back, not the others'.
func TestAnAddressWaitsAfterFailuresOnManyAccounts(t *testing.T) {
	c := newClock()
	l := newLimiter(c)
	from := addr("2001:db8:1:2::10")
	for i := range AddressPolicy.Free {
		a := Attempt{Kind: Password, UserID: fmt.Sprint("user", i), Addr: from}
		if i%2 == 1 {
			a.Addr = addr(fmt.Sprintf("2001:db8:1:2::%x", 0x100+i)) // the same /64
		}
		if v := begin(t, l, a); v.Wait > 0 {
			t.Fatalf("attempt %d: got %+v, want let in", i+1, v)
		}
	}
	next := Attempt{Kind: Password, UserID: "another", Addr: addr("2001:db8:1:2:ffff::1")}
	if v := begin(t, l, next); v.Wait != 30*time.Second {
		t.Errorf("an attempt from the /64 after %d failures: got %+v, want a 30s wait", AddressPolicy.Free, v)
	}
	if v := begin(t, l, Attempt{Kind: Password, UserID: "another", Addr: addr("2001:db8:1:3::1")}); v.Wait > 0 {
		t.Errorf("another /64: got %+v, want let in", v)
	}
	if v := begin(t, l, Attempt{Kind: MagicLink, UserID: "another", Addr: from}); v.Wait > 0 {
		t.Errorf("another kind from the address: got %+v, want let in", v)
	}
	if v := begin(t, l, Attempt{Kind: Password, UserID: "x", Addr: netip.MustParseAddr("::ffff:192.0.2.7")}); v.Wait > 0 {
		t.Errorf("an IPv4-mapped address: got %+v, want let in", v)
	}

	// A refused account attempt is not counted against the address.
	c.add(time.Hour)
	office := addr("203.0.113.9")
	locked := Attempt{Kind: Password, UserID: "locked", Addr: addr("203.0.113.200")}
	for range AccountPolicy.Free {
		begin(t, l, locked)
	}
	for range 30 {
		if v := begin(t, l, Attempt{Kind: Password, UserID: "locked", Addr: office}); v.Wait == 0 {
			t.Fatalf("the locked account from the office: got %+v, want a wait", v)
		}
	}
	good := Attempt{Kind: Password, UserID: "colleague", Addr: office}
	for i := range 30 {
		if v := begin(t, l, good); v.Wait > 0 {
			t.Fatalf("sign-in %d of a colleague who succeeds each time: got %+v, want let in", i+1, v)
		}
		if err := l.Succeed(context.Background(), good); err != nil {
			t.Fatal(err)
		}
	}
}

// A success of a first factor clears the failures of every first factor, not the second
// factor's; a second factor's success clears only its own.
func TestASuccessClearsTheFailuresOfItsFactor(t *testing.T) {
	c := newClock()
	l := newLimiter(c)
	ctx := context.Background()
	for _, k := range []Kind{Password, MFA} {
		for range AccountPolicy.Free {
			begin(t, l, Attempt{Kind: k, UserID: "u1"})
		}
	}
	wait := func(k Kind) time.Duration {
		t.Helper()
		v := begin(t, l, Attempt{Kind: k, UserID: "u1"})
		if v.Wait == 0 { // let in: take the probe back
			l.Succeed(ctx, Attempt{Kind: k, UserID: "u1"})
		}
		return v.Wait
	}
	if wait(Password) == 0 || wait(MFA) == 0 {
		t.Fatal("after 5 failures of each: want both to wait")
	}
	if err := l.Succeed(ctx, Attempt{Kind: MFA, UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if wait(Password) == 0 {
		t.Error("a code's success cleared the password's failures")
	}
	for range AccountPolicy.Free {
		begin(t, l, Attempt{Kind: MFA, UserID: "u1"})
	}
	// The owner, locked out of the password by someone guessing, signs in with a link.
	if err := l.Succeed(ctx, Attempt{Kind: MagicLink, UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if w := wait(Password); w != 0 {
		t.Errorf("after a link's success the password still waits %s", w)
	}
	if wait(MFA) == 0 {
		t.Error("a link's success cleared the codes' failures")
	}
}

// The memory of addresses and names stays bounded whatever a flood of addresses sends.
func TestTheMemoryIsBounded(t *testing.T) {
	c := newClock()
	l := newLimiter(c)
	for i := range maxRemembered + 500 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		begin(t, l, Attempt{Kind: Password, Name: fmt.Sprint("n", i%3), Addr: a})
		c.add(time.Millisecond)
	}
	if n := len(l.mem); n > maxRemembered {
		t.Errorf("%d records in memory, want at most %d", n, maxRemembered)
	}
	// The names survive the flood of addresses: theirs are the newest failures.
	if v := begin(t, l, Attempt{Kind: Password, Name: "n0"}); v.Wait == 0 {
		t.Errorf("a name with thousands of failures: got %+v, want a wait", v)
	}
}

// An account's failures outlive a restart: a new Limiter on the same database (a new
// process) makes the account wait, on both databases.
func TestAnAccountsFailuresOutliveARestart(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, driver)
			open := func() *store.Store {
				st, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn, Key: storetest.Key})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if _, err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return st
			}
			st := open()
			u := &store.User{Email: "victim@example.com"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			c := newClock()
			a := Attempt{Kind: Password, UserID: u.ID, Addr: addr("192.0.2.50")}
			first := New(st, c.now)
			for range AccountPolicy.Free {
				if v, err := first.Begin(ctx, a); err != nil || v.Wait > 0 {
					t.Fatalf("got %+v, %v; want let in", v, err)
				}
			}
			st.Close()

			c.add(10 * time.Second)
			restarted := New(open(), c.now)
			a.Addr = addr("192.0.2.51") // the addresses were in the old process's memory
			if v, err := restarted.Begin(ctx, a); err != nil || v.Wait != 20*time.Second {
				t.Errorf("after the restart: got %+v, %v; want a 20s wait", v, err)
			}
			c.add(20 * time.Second)
			if v, err := restarted.Begin(ctx, a); err != nil || v.Lock != time.Minute {
				t.Errorf("after the wait: got %+v, %v; want let in, a 1m lock when it fails", v, err)
			}
		})
	}
}

// Wait answers from memory what Begin would: an address's, a name's and an account's wait as
// last read or written, without counting. A limiter started afresh (a restart) learns an
// account's lock from its first refused Begin; a success clears what it remembers.
func TestWaitKnowsWhatBeginWouldRefuse(t *testing.T) {
	c := newClock()
	st := &memoryStore{m: map[string]store.Failures{}}
	l := New(st, c.now)
	ctx := context.Background()
	account := Attempt{Kind: Password, UserID: "u1", Addr: addr("192.0.2.1")}
	name := Attempt{Kind: Password, Name: "nobody@example.com", Addr: addr("192.0.2.2")}
	for _, a := range []Attempt{account, name} {
		for i := range AccountPolicy.Free {
			if w := l.Wait(a); w != 0 {
				t.Fatalf("%+v before failure %d: waits %s", a, i+1, w)
			}
			begin(t, l, a)
		}
		if w := l.Wait(a); w != 30*time.Second {
			t.Errorf("%+v after 5 failures: waits %s, want 30s", a, w)
		}
	}
	if w := l.Wait(Attempt{Kind: MFA, UserID: "u1"}); w != 0 {
		t.Errorf("the account's codes wait %s for the password's failures", w)
	}
	if n := st.m["u1 password"].Count; n != AccountPolicy.Free {
		t.Errorf("Wait counted: %d failures stored, want %d", n, AccountPolicy.Free)
	}

	restarted := New(st, c.now)
	if w := restarted.Wait(account); w != 0 {
		t.Fatalf("a new limiter knows nothing yet, but waits %s", w)
	}
	if v := begin(t, restarted, account); v.Wait != 30*time.Second {
		t.Fatalf("Begin after the restart: waits %s, want 30s", v.Wait)
	}
	if w := restarted.Wait(account); w != 30*time.Second {
		t.Errorf("after a refused Begin: Wait says %s, want 30s", w)
	}
	c.add(30 * time.Second)
	begin(t, restarted, account)
	if err := restarted.Succeed(ctx, account); err != nil {
		t.Fatal(err)
	}
	if w := restarted.Wait(account); w != 0 {
		t.Errorf("after a success: waits %s", w)
	}
}
