package auth

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
