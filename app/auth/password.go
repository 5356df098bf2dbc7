// Package auth holds the ways a user proves who they are: local passwords, and the tokens
// of the links sent by email (magic links, invitations).
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters: the OWASP recommendation for interactive logins, sized so that a
// two-core server can take a burst of sign-ins without running out of memory. A hash costs
// 25 to 50 ms of CPU on the two-core test machine, nearly all of a sign-in's (issue 17 asks
// ≤ 60 ms). A hash's work is its memory times its passes: of the settings OWASP gives as
// equal, 46 MiB once is a fifth more, and 12 MiB three times, 9 MiB four or 7 MiB five times
// at most 8 % less, so none is worth a change. A hash names its parameters: a change would
// keep every stored hash valid.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// ErrBusy is returned instead of hashing when more passwords wait to be hashed than can be
// hashed in a moment. The caller answers "try again shortly" (HTTP 503 with Retry-After).
var ErrBusy = errors.New("too many passwords are being checked at once; try again in a moment")

// RetryAfter is how long a caller told ErrBusy should wait before trying again.
const RetryAfter = 2 * time.Second

// hashing bounds the hashes that run at once, for every caller in the process: sign-in,
// the first admin, the CLI. An argon2id hash holds argonMemory (19 MiB) while it runs;
// unbounded, 128 parallel wrong sign-ins took serve from 368 MB to 2.8 GB. Hashes get half
// the cores, and the pages keep the other half. Measured with 50 sign-ins at once while 4
// clients load All Devices (10,000 devices) on the shared two-core test machine
// (BenchmarkParallelSignInsWithAllDevices, the process getting 0.5 to 0.8 of the cores): one
// hash at a time kept that page at 14 to 23 ms p50 and 61 to 124 ms p95, one per core made it
// 50 to 59 ms p50 and 145 to 229 ms p95, and the last sign-in was done after 8 to 10 s either
// way; with most of the machine (1.9 cores), one at a time: 10 ms p50, 28 ms p95, every
// sign-in done within 4.5 s. A hash costs 25 to 50 ms of CPU there (BenchmarkPasswordSignIn),
// so a queue of 64 per slot is about 3 s of work: callers past it are told ErrBusy at once,
// and one in it waits up to hashWait for its turn. A waiting caller holds its request, not a
// hash's memory.
var hashing = newLimiter(hashSlots, 64*hashSlots, hashWait)

// hashSlots is how many hashes run at once: half the cores, at least one.
var hashSlots = max(runtime.GOMAXPROCS(0)/2, 1)

// hashWait is how long a password waits for its turn to be hashed before the caller is told
// ErrBusy: three times the queue's work, for a machine that others keep busy.
const hashWait = 10 * time.Second

// HashPassword returns an argon2id hash of password in the PHC string format, or ErrBusy.
// Whether a password is good enough is the user service's to say (users.CheckPassword); an
// empty one is never hashed.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("an empty password is not hashed")
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	var key []byte
	if err := hashing.do(func() {
		key = idKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	}); err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, or returns ErrBusy. It verifies
// argon2id hashes and the bcrypt ($2a$, $2b$, $2y$) hashes of the Python original, so
// imported users can sign in. An empty or malformed hash never matches.
func CheckPassword(hash, password string) (ok bool, err error) {
	err = hashing.do(func() { ok = checkPassword(hash, password) })
	return ok, err
}

func checkPassword(hash, password string) bool {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		ok, err := checkArgon2id(hash, password)
		return err == nil && ok
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	default:
		return false
	}
}

// dummyHash is checked when a sign-in names no known user, so that the answer takes as long
// as for a real user and does not reveal which emails exist.
var dummyHash, _ = HashPassword("wiregui-timing-equaliser")

// CheckNothing spends the time of one CheckPassword, waiting for its turn like one, and
// returns false, or ErrBusy as CheckPassword would.
func CheckNothing(password string) (ok bool, err error) {
	_, err = CheckPassword(dummyHash, password)
	return false, err
}

// limiter runs at most cap(slots) functions at once. A caller that finds every slot taken
// waits for one, up to maxWait, and then gets ErrBusy; when maxWaiting callers wait
// already, it gets ErrBusy at once.
type limiter struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration
}

func newLimiter(slots, maxWaiting int, maxWait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, max(slots, 1)), maxWaiting: int64(maxWaiting), maxWait: maxWait}
}

// do runs fn in a slot, or returns ErrBusy without running it.
func (l *limiter) do(fn func()) error {
	select {
	case l.slots <- struct{}{}:
	default:
		if l.waiting.Add(1) > l.maxWaiting {
			l.waiting.Add(-1)
			return ErrBusy
		}
		timer := time.NewTimer(l.maxWait)
		select {
		case l.slots <- struct{}{}:
			timer.Stop()
			l.waiting.Add(-1)
		case <-timer.C:
			l.waiting.Add(-1)
			return ErrBusy
		}
	}
	defer func() { <-l.slots }()
	fn()
	return nil
}

// idKey is argon2.IDKey, where every hash is computed; a variable for the tests that count
// the hashes running at once.
var idKey = argon2.IDKey

func checkArgon2id(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return false, errors.New("malformed argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("unsupported argon2 version")
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 {
		return false, errors.New("malformed argon2id parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("malformed argon2id salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errors.New("malformed argon2id key")
	}
	got := idKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
