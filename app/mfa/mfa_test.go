package mfa_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"wiregui/app/mfa"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is a time the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// t0 is the start of a 30-second step, so that the tests move from step to step exactly.
var t0 = time.Unix(1_800_000_000, 0)

type env struct {
	st    *store.Store
	svc   *mfa.Service
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{st: storetest.Open(t, "sqlite"), clock: &clock{t: t0}}
	svc, err := mfa.New(mfa.Options{Store: e.st, ExternalURL: "https://vpn.example.com",
		Key: []byte("a test key of at least thirty-two bytes"), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *env) user(t *testing.T, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email}
	if err := e.st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

const secret = "JBSWY3DPEHPK3PXP"

// totpMethod gives u a TOTP method with secret, as if enrolled long ago.
func (e *env) totpMethod(t *testing.T, u *store.User) {
	t.Helper()
	if err := e.st.CreateMFAMethod(context.Background(), &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: "Phone",
		Secret: secret}); err != nil {
		t.Fatal(err)
	}
}

// code is the TOTP code of secret at time at, as an authenticator app shows it.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := hotp.GenerateCodeCustom(secret, uint64(at.Unix()/30), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func inputField(err error) string {
	bad := text.InputErrors(err)
	if len(bad) == 0 {
		return ""
	}
	fields := make([]string, len(bad))
	for i, b := range bad {
		fields[i] = b.Field
	}
	return strings.Join(fields, ",")
}

// Enrolment: the QR code's secret is saved only once a code from it is confirmed, for the
// user it was made for, within its time; the confirming code does not sign in afterwards.
func TestTOTPEnrolmentIsConfirmedByACode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.user(t, "alice@example.com"), e.user(t, "bob@example.com")
	en, err := e.svc.StartTOTP(alice)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/WireGUI:alice@example.com?") || !strings.Contains(en.URL, "secret="+en.Secret) ||
		!strings.Contains(en.URL, "issuer=WireGUI") || len(en.Secret) < 32 {
		t.Errorf("enrolment %+v: want an otpauth URL for alice with the secret (160 bits) and the issuer", en)
	}
	right := code(t, en.Secret, e.clock.Now())
	wrong := code(t, en.Secret, e.clock.Now().Add(-3*time.Minute))
	for _, c := range []struct {
		name        string
		user        *store.User
		token, code string
		field       string
	}{
		{"a wrong code", alice, en.Token, wrong, "code"},
		{"not six digits", alice, en.Token, "12345", "code"},
		{"letters", alice, en.Token, "12345a", "code"},
		{"another user's enrolment", bob, en.Token, right, "code"},
		{"a secret of the browser's own", alice, "AAAAAAAAAAAAAAAA" + en.Token[len(en.Secret):], right, "code"},
		{"no enrolment", alice, "", right, "code"},
	} {
		if _, err := e.svc.ConfirmTOTP(ctx, c.user, c.token, "Phone", c.code); inputField(err) != c.field {
			t.Errorf("%s: %v, want an input error on %s", c.name, err, c.field)
		}
	}
	if _, err := e.svc.ConfirmTOTP(ctx, alice, en.Token, "bad\u202ename", right); inputField(err) != "name" {
		t.Errorf("a name with a bidi override: %v, want an input error on name", err)
	}
	if list, _ := e.svc.Methods(ctx, alice.ID); len(list) != 0 {
		t.Fatalf("methods saved before a right code: %+v", list)
	}

	m, err := e.svc.ConfirmTOTP(ctx, alice, en.Token, "  ", "  "+right[:3]+" "+right[3:])
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Authenticator app" || m.Kind != store.MFATOTP || m.Secret != en.Secret {
		t.Errorf("saved %+v, want the default name and the enrolment's secret", m)
	}
	if err := e.svc.VerifyTOTP(ctx, alice, right); !errors.Is(err, mfa.ErrWrongCode) {
		t.Errorf("the confirming code at sign-in: %v, want ErrWrongCode", err)
	}
	e.clock.Add(30 * time.Second)
	if _, err := e.svc.ConfirmTOTP(ctx, alice, en.Token, "Again", code(t, en.Secret, e.clock.Now())); inputField(err) != "code" {
		t.Errorf("the same enrolment confirmed twice: %v, want an input error on code", err)
	}
	if err := e.svc.VerifyTOTP(ctx, alice, code(t, en.Secret, e.clock.Now())); err != nil {
		t.Errorf("the next step's code at sign-in: %v", err)
	}

	late, _ := e.svc.StartTOTP(alice)
	e.clock.Add(16 * time.Minute)
	if _, err := e.svc.ConfirmTOTP(ctx, alice, late.Token, "Late", code(t, late.Secret, e.clock.Now())); inputField(err) != "code" {
		t.Errorf("an enrolment 16 minutes old: %v, want an input error on code", err)
	}
}

// A code is accepted for its own step and the one before and after, not further; no code
// works twice, nor one of a step before the last accepted.
func TestTOTPWindowAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false},
	} {
		u := e.user(t, "w"+c.offset.String()+"@example.com")
		e.totpMethod(t, u)
		err := e.svc.VerifyTOTP(ctx, u, code(t, secret, e.clock.Now().Add(c.offset)))
		if c.ok && err != nil || !c.ok && !errors.Is(err, mfa.ErrWrongCode) {
			t.Errorf("the code of %v from now: %v, want ok %v", c.offset, err, c.ok)
		}
	}

	u := e.user(t, "replay@example.com")
	e.totpMethod(t, u)
	now := e.clock.Now()
	steps := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"the current code", now, true},
		{"the same code again", now, false},
		{"the previous step's code, after the current one", now.Add(-30 * time.Second), false},
		{"the next step's code", now.Add(30 * time.Second), true},
		{"the next step's code again", now.Add(30 * time.Second), false},
	}
	for _, s := range steps {
		err := e.svc.VerifyTOTP(ctx, u, code(t, secret, s.at))
		if s.ok && err != nil || !s.ok && !errors.Is(err, mfa.ErrWrongCode) {
			t.Errorf("%s: %v, want ok %v", s.name, err, s.ok)
		}
	}
	list, _ := e.svc.Methods(ctx, u.ID)
	if list[0].LastUsedAt == nil {
		t.Error("the method's last use was not recorded")
	}
}

// Recovery codes: ten, different, shown once; each works once, typed any way; new codes
// replace the old.
func TestRecoveryCodesWorkOnceAndAreReplaced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(t, "r@example.com")
	codes, err := e.svc.NewRecoveryCodes(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	shape := regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Errorf("code %q: want four groups of four base32 characters, each code different", c)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	if err := e.svc.UseRecoveryCode(ctx, u, codes[0]); err != nil {
		t.Errorf("a code: %v", err)
	}
	if err := e.svc.UseRecoveryCode(ctx, u, codes[0]); !errors.Is(err, mfa.ErrWrongCode) {
		t.Errorf("the code again: %v, want ErrWrongCode", err)
	}
	typed := strings.ToLower(strings.ReplaceAll(codes[1], "-", " "))
	if err := e.svc.UseRecoveryCode(ctx, u, typed); err != nil {
		t.Errorf("a code typed %q: %v", typed, err)
	}
	if n, _ := e.svc.RecoveryCodesLeft(ctx, u); n != 8 {
		t.Errorf("%d codes left, want 8", n)
	}
	if _, err := e.svc.NewRecoveryCodes(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UseRecoveryCode(ctx, u, codes[2]); !errors.Is(err, mfa.ErrWrongCode) {
		t.Errorf("an old code after new ones: %v, want ErrWrongCode", err)
	}
}

// Reset takes every method and code, says how many, and may be done twice.
func TestResetRemovesEverything(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(t, "reset@example.com")
	e.totpMethod(t, u)
	e.svc.NewRecoveryCodes(ctx, u)
	if methods, codes, err := e.svc.Reset(ctx, u); err != nil || methods != 1 || codes != 10 {
		t.Errorf("reset: %d, %d, %v; want 1 method and 10 codes", methods, codes, err)
	}
	if methods, codes, err := e.svc.Reset(ctx, u); err != nil || methods != 0 || codes != 0 {
		t.Errorf("reset again: %d, %d, %v; want nothing", methods, codes, err)
	}
}

// WebAuthn needs a domain name: with an IP address in the external URL it is off and says
// why, and nothing else is.
func TestWebAuthnNeedsADomainName(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	for _, c := range []struct {
		url string
		off bool
	}{{"https://vpn.example.com", false}, {"http://localhost:13000", false}, {"http://127.0.0.1:13000", true}, {"https://[::1]", true}} {
		svc, err := mfa.New(mfa.Options{Store: st, ExternalURL: c.url, Key: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		why := svc.WebAuthnUnavailable()
		if (why != "") != c.off {
			t.Errorf("%s: unavailable %q, want off %v", c.url, why, c.off)
		}
		u := &store.User{ID: "u", Email: "u@example.com"}
		_, _, err = svc.BeginRegistration(context.Background(), u, "Key")
		if c.off && !errors.Is(err, mfa.ErrWebAuthnUnavailable) || !c.off && err != nil {
			t.Errorf("%s: begin registration: %v", c.url, err)
		}
		if c.off && !strings.Contains(why, "domain name") {
			t.Errorf("%s: the reason %q does not say what is needed", c.url, why)
		}
	}
}

// Two sign-ins that bring the same code at the same moment: exactly one gets in.
func TestTOTPCodeUsedAtOnceTwiceWorksOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.user(t, "race@example.com")
	e.totpMethod(t, u)
	right := code(t, secret, e.clock.Now())
	const racers = 16
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	start := make(chan struct{})
	for range racers {
		wg.Go(func() { <-start; errs <- e.svc.VerifyTOTP(ctx, u, right) })
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, mfa.ErrWrongCode):
			t.Error(err)
		}
	}
	if ok != 1 {
		t.Errorf("%d sign-ins with one code at once: %d got in, want 1", racers, ok)
	}
}

// A wrong code shows the same QR code again: the enrolment resumes from its token, for its
// user only.
func TestTOTPEnrolmentResumes(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(t, "alice@example.com"), e.user(t, "bob@example.com")
	en, _ := e.svc.StartTOTP(alice)
	again, err := e.svc.ResumeTOTP(alice, en.Token)
	if err != nil || again != en {
		t.Errorf("resumed %+v, %v; want %+v", again, err, en)
	}
	if _, err := e.svc.ResumeTOTP(bob, en.Token); inputField(err) != "code" {
		t.Errorf("bob resumes alice's enrolment: %v, want an input error on code", err)
	}
}
