package auth

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestHashAndCheckPassword(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$") {
		t.Errorf("hash %q is not argon2id PHC", hash)
	}
	other, _ := HashPassword("correct horse")
	if other == hash {
		t.Error("two hashes of one password are equal: salt missing")
	}
	if ok, err := CheckPassword(hash, "correct horse"); !ok || err != nil {
		t.Errorf("the right password: got %v, %v; want true", ok, err)
	}
	if ok, err := CheckPassword(hash, "correct horsE"); ok || err != nil {
		t.Errorf("a wrong password: got %v, %v; want false", ok, err)
	}
}

func TestCheckPasswordAcceptsBcryptFromTheOriginal(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("admin123"), 4)
	if err != nil {
		t.Fatal(err)
	}
	b2b := "$2b$" + strings.TrimPrefix(string(b), "$2a$") // Python's bcrypt writes $2b$
	for _, hash := range []string{string(b), b2b} {
		right, _ := CheckPassword(hash, "admin123")
		wrong, _ := CheckPassword(hash, "admin124")
		if !right || wrong {
			t.Errorf("bcrypt %q: wrong verdicts", hash[:4])
		}
	}
}

func TestCheckPasswordRejectsMalformedHashes(t *testing.T) {
	for name, hash := range map[string]string{
		"empty":        "",
		"plaintext":    "secret",
		"short parts":  "$argon2id$v=19$m=1,t=1,p=1$abc",
		"bad params":   "$argon2id$v=19$m=x,t=1,p=1$c2FsdA$a2V5",
		"huge memory":  "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5",
		"wrong scheme": "$1$abc$def",
	} {
		if ok, _ := CheckPassword(hash, "secret"); ok {
			t.Errorf("%s: hash %q matched", name, hash)
		}
	}
}

func TestHashPasswordRefusesTheEmptyPassword(t *testing.T) {
	if _, err := HashPassword(""); err == nil || !strings.Contains(err.Error(), "empty password") {
		t.Errorf("got %v, want an error", err)
	}
}

// The limiter never runs more than its slots at once, lets a short queue wait its turn, and
// turns away at once whoever would make the queue longer.
func TestLimiterBoundsConcurrencyAndQueue(t *testing.T) {
	l := newLimiter(2, 3, time.Minute)
	release := make(chan struct{})
	var running, most atomic.Int64
	work := func() {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 { // two run, three wait
		wg.Go(func() { errs <- l.do(work) })
	}
	for l.waiting.Load() != 3 || running.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	if err := l.do(work); !errors.Is(err, ErrBusy) {
		t.Errorf("a sixth caller with the queue full: got %v, want ErrBusy at once", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a caller that fit in the queue: got %v, want its turn", err)
		}
	}
	if got := most.Load(); got != 2 {
		t.Errorf("at most %d ran at once, want 2", got)
	}
}

func TestLimiterWaitRunsOut(t *testing.T) {
	l := newLimiter(1, 10, 50*time.Millisecond)
	release := make(chan struct{})
	go l.do(func() { <-release })
	defer close(release)
	for len(l.slots) != 1 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	ran := false
	if err := l.do(func() { ran = true }); !errors.Is(err, ErrBusy) || ran {
		t.Errorf("got %v (ran %v), want ErrBusy without running", err, ran)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("gave up after %s, want the 50ms wait", waited)
	}
	if n := l.waiting.Load(); n != 0 {
		t.Errorf("%d still counted as waiting", n)
	}
}

// countHashes replaces idKey, for the test, with a hash that waits for release and counts
// the hashes that have started and the most that ran at once; it allocates nothing.
func countHashes(t *testing.T, release <-chan struct{}) (running, most, started *atomic.Int64) {
	running, most, started = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	real := idKey
	t.Cleanup(func() { idKey = real })
	idKey = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		started.Add(1)
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
		return make([]byte, keyLen)
	}
	return running, most, started
}

// Every way of hashing a password (HashPassword, CheckPassword, CheckNothing) goes through
// the one limiter as sized for serve: with more callers at once than it has slots and queue,
// no more hashes than slots run, the queue waits its turn, and the rest are told ErrBusy at
// once without hashing.
func TestPasswordHashingIsBoundedAcrossCallers(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	slots, queue := cap(hashing.slots), int(hashing.maxWaiting)
	if queue < 50 {
		t.Errorf("a queue of %d: 50 sign-ins at once would be told busy", queue)
	}
	release := make(chan struct{})
	running, most, started := countHashes(t, release)
	callers := []func() error{
		func() error { _, err := HashPassword("correct horse"); return err },
		func() error { _, err := CheckPassword(hash, "correct horse"); return err },
		func() error { _, err := CheckNothing("correct horse"); return err },
	}
	const extra = 6
	errs := make(chan error, slots+queue+extra)
	var wg sync.WaitGroup
	for i := range slots + queue + extra {
		wg.Go(func() { errs <- callers[i%len(callers)]() })
	}
	var busy int
	for range extra {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrBusy) {
				t.Errorf("a caller past the queue: got %v, want ErrBusy", err)
			}
			busy++
		case <-time.After(hashing.maxWait / 2):
			t.Fatalf("after %d callers told ErrBusy, the others past the queue still wait (%d running, %d waiting)",
				busy, running.Load(), hashing.waiting.Load())
		}
	}
	// The callers with a slot may not have begun hashing yet.
	for deadline := time.Now().Add(5 * time.Second); running.Load() < int64(slots) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got, waiting := running.Load(), hashing.waiting.Load(); got != int64(slots) || waiting != int64(queue) {
		t.Errorf("%d hashing and %d waiting, want %d and %d", got, waiting, slots, queue)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a caller that fit in the slots or the queue: got %v, want its turn", err)
		}
	}
	if got := most.Load(); got != int64(slots) {
		t.Errorf("at most %d hashes ran at once, want %d", got, slots)
	}
	if got := started.Load(); got != int64(slots+queue) {
		t.Errorf("%d hashes started, want %d: the callers told ErrBusy must not hash", got, slots+queue)
	}
}

// A caller that waits longer than the limiter's wait for a slot is told ErrBusy and goes:
// it never hashes, so callers that pile up cost no hashing memory (19 MiB each).
func TestPasswordCheckWaitingTooLongIsBusyAndAllocatesNoHash(t *testing.T) {
	real := hashing
	t.Cleanup(func() { hashing = real })
	hashing = newLimiter(cap(real.slots), int(real.maxWaiting), 100*time.Millisecond) // serve's sizes, a short wait
	slots := int64(cap(hashing.slots))
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// The first hashes hold every slot until release; any other is the real one.
	release := make(chan struct{})
	var started atomic.Int64
	t.Cleanup(func() { idKey = argon2.IDKey })
	idKey = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		if started.Add(1) <= slots {
			<-release
			return make([]byte, keyLen)
		}
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	}
	var wg sync.WaitGroup
	for range slots {
		wg.Go(func() { CheckPassword(hash, "correct horse") })
	}
	for started.Load() != slots {
		time.Sleep(time.Millisecond)
	}
	const waiters = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	errs := make(chan error, waiters)
	var waited sync.WaitGroup
	for range waiters {
		waited.Go(func() { _, err := CheckPassword(hash, "correct horse"); errs <- err })
	}
	waited.Wait()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("a caller with every slot taken for longer than the wait: got %v, want ErrBusy", err)
		}
	}
	if took < hashing.maxWait {
		t.Errorf("the waiters gave up after %s, want the %s wait", took, hashing.maxWait)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > argonMemory*1024/2 {
		t.Errorf("%d callers told ErrBusy allocated %d KiB, want far less than one hash's %d KiB",
			waiters, grown/1024, argonMemory)
	}
	if got := started.Load(); got != slots {
		t.Errorf("%d hashes started, want the %d that held the slots", got, slots)
	}
	if n := hashing.waiting.Load(); n != 0 {
		t.Errorf("%d still counted as waiting", n)
	}
}

func TestTokensAreHashedUnderTheSecretAndPurpose(t *testing.T) {
	a, b := NewTokens([]byte("secret-a-of-at-least-32-bytes-long")), NewTokens([]byte("secret-b-of-at-least-32-bytes-long"))
	token, hash := a.New("magic_link")
	if len(token) != 43 || len(hash) != 64 || strings.Contains(hash, token) {
		t.Fatalf("token %q, hash %q", token, hash)
	}
	if got := a.Hash("magic_link", token); got != hash {
		t.Errorf("the hash again: got %q, want %q", got, hash)
	}
	if a.Hash("invitation", token) == hash {
		t.Error("another purpose gave the same hash")
	}
	if b.Hash("magic_link", token) == hash {
		t.Error("another secret key gave the same hash")
	}
	for _, bad := range []string{"", "short", token + "x", strings.Repeat("!", 43)} {
		if got := a.Hash("magic_link", bad); got != "" {
			t.Errorf("Hash(%q): got %q, want \"\" for what New does not make", bad, got)
		}
	}
	if other, _ := a.New("magic_link"); other == token {
		t.Error("two tokens alike")
	}
}
