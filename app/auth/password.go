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
// two-core server can take a burst of sign-ins without running out of memory.
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
// unbounded, 128 parallel wrong sign-ins took serve from 368 MB to 2.8 GB. One hash per core
// keeps every core busy, so the bound costs no throughput. A hash takes about 60 ms on this
// project's two-core test machine, so a queue of 16 per core is at most a second's wait.
var hashing = newLimiter(runtime.GOMAXPROCS(0), 16*runtime.GOMAXPROCS(0), RetryAfter)

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
		key = argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
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
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
