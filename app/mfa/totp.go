package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"wiregui/app/text"
	"wiregui/store"
)

// TOTP is RFC 6238 as every authenticator app does it: SHA-1, 6 digits, 30-second steps. A
// code is accepted for its own step and the one before and after (clocks differ, people
// type slowly), and for a step later than the last one accepted only.
const (
	totpPeriod = 30 * time.Second
	totpDigits = otp.DigitsSix
	totpSkew   = 1
)

// enrolmentLifetime is how long the QR code of a TOTP enrolment may be confirmed.
const enrolmentLifetime = 15 * time.Minute

// Enrolment is a new TOTP secret that waits for its first code: the secret in text and as an
// otpauth:// URL (for the QR code), and Token, which carries both through the confirming form.
// Token is signed, so that the browser can bring back the secret the server made, and no
// other; nothing is stored until the code is confirmed.
type Enrolment struct {
	Secret string
	URL    string
	Token  string
}

// StartTOTP makes a new TOTP secret for u.
func (s *Service) StartTOTP(u *store.User) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: u.Email, Period: uint(totpPeriod / time.Second),
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("new totp secret: %w", err)
	}
	expires := strconv.FormatInt(s.now().Add(enrolmentLifetime).Unix(), 10)
	token := key.Secret() + "." + expires + "." + s.signEnrolment(u.ID, key.Secret(), expires)
	return Enrolment{Secret: key.Secret(), URL: key.URL(), Token: token}, nil
}

// ResumeTOTP returns the enrolment of a token StartTOTP made for u, to show its QR code
// again (after a wrong code); an InputError on "code" when the token is not valid.
func (s *Service) ResumeTOTP(u *store.User, token string) (Enrolment, error) {
	secret, err := s.enrolmentSecret(u, token)
	if err != nil {
		return Enrolment{}, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return Enrolment{}, errEnrolmentExpired
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: u.Email, Period: uint(totpPeriod / time.Second),
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil || key.Secret() != secret {
		return Enrolment{}, errEnrolmentExpired
	}
	return Enrolment{Secret: secret, URL: key.URL(), Token: token}, nil
}

// signEnrolment is the signature of an enrolment of secret for user id until expires.
func (s *Service) signEnrolment(userID, secret, expires string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("totp enrolment\x00" + userID + "\x00" + secret + "\x00" + expires))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// errEnrolmentExpired is a token that is not one StartTOTP made for the user, or is too old.
var errEnrolmentExpired = &text.InputError{Field: "code",
	Message: "This QR code has expired. Start again to get a new one."}

// enrolmentSecret returns the secret of a token StartTOTP made for the user, if it is still
// valid.
func (s *Service) enrolmentSecret(u *store.User, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errEnrolmentExpired
	}
	secret, expires, sig := parts[0], parts[1], parts[2]
	if !hmac.Equal([]byte(sig), []byte(s.signEnrolment(u.ID, secret, expires))) {
		return "", errEnrolmentExpired
	}
	until, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || s.now().Unix() > until {
		return "", errEnrolmentExpired
	}
	return secret, nil
}

// ConfirmTOTP saves the enrolment of token as u's TOTP method name, once code shows that the
// authenticator app has its secret. The code confirmed cannot sign in afterwards. Errors
// about the input are *text.InputError on "name" or "code"; an enrolment confirmed already
// is one on "code".
func (s *Service) ConfirmTOTP(ctx context.Context, u *store.User, token, name, code string) (*store.MFAMethod, error) {
	name, nameErr := cleanName(name, "Authenticator app")
	secret, err := s.enrolmentSecret(u, token)
	if err != nil {
		return nil, errors.Join(nameErr, err)
	}
	digits, codeErr := cleanCode(code)
	if nameErr != nil || codeErr != nil {
		return nil, errors.Join(nameErr, codeErr)
	}
	step, ok := matchStep(secret, digits, s.now(), 0)
	if !ok {
		return nil, &text.InputError{Field: "code", Message: "That code does not match. Check that the app shows WireGUI " +
			"with your email address, and enter its current code."}
	}
	methods, err := s.store.MFAMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range methods {
		if m.Kind == store.MFATOTP && subtle.ConstantTimeCompare([]byte(m.Secret), []byte(secret)) == 1 {
			return nil, &text.InputError{Field: "code", Message: "This authenticator app is added already."}
		}
	}
	m := &store.MFAMethod{UserID: u.ID, Kind: store.MFATOTP, Name: name, Secret: secret, LastStep: step}
	if err := s.store.CreateMFAMethod(ctx, m); err != nil {
		return nil, err
	}
	s.changed(u, m.Kind, "added")
	return m, nil
}

// VerifyTOTP checks code against u's TOTP methods and records its use: ErrWrongCode when no
// method takes it (a code used already included).
func (s *Service) VerifyTOTP(ctx context.Context, u *store.User, code string) error {
	return s.attempt(u, "totp", func() (bool, error) {
		digits, err := cleanCode(code)
		if err != nil {
			return false, nil
		}
		methods, err := s.store.MFAMethods(ctx, u.ID)
		if err != nil {
			return false, err
		}
		now := s.now()
		for _, m := range methods {
			if m.Kind != store.MFATOTP {
				continue
			}
			step, ok := matchStep(m.Secret, digits, now, m.LastStep)
			if !ok {
				continue
			}
			used, err := s.store.UseTOTPStep(ctx, m.ID, step, now)
			if err != nil || used {
				return used, err
			}
		}
		return false, nil
	})
}

// cleanCode returns the 6 digits of a code as typed ("123 456" and "123-456" included).
func cleanCode(code string) (string, error) {
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(digits) != totpDigits.Length() || strings.Trim(digits, "0123456789") != "" {
		return "", &text.InputError{Field: "code", Message: "Enter the 6-digit code your authenticator app shows."}
	}
	return digits, nil
}

// matchStep returns the time step, at most totpSkew steps from now's and later than after,
// whose code for secret is digits.
func matchStep(secret, digits string, now time.Time, after int64) (int64, bool) {
	current := now.Unix() / int64(totpPeriod/time.Second)
	for step := current - totpSkew; step <= current+totpSkew; step++ {
		if step <= after {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(digits)) == 1 {
			return step, true
		}
	}
	return 0, false
}
