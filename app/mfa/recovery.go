package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"wiregui/store"
)

// RecoveryCodes is how many recovery codes a user gets at a time.
const RecoveryCodes = 10

// recoveryEncoding writes recovery codes: RFC 4648's base32 alphabet (A–Z, 2–7) has no 0, 1
// or 8, so a code typed with those for O, I and B is read as meant (normalRecovery).
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes makes RecoveryCodes new single-use codes for u, which replace any codes u
// had, and returns them: they are shown now, once, and stored only as hashes. Each holds 80
// random bits, written as four groups of four characters.
func (s *Service) NewRecoveryCodes(ctx context.Context, u *store.User) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 10)
		rand.Read(b)
		c := recoveryEncoding.EncodeToString(b) // 16 characters
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = recoveryHash(c)
	}
	if err := s.store.SetRecoveryCodes(ctx, u.ID, hashes); err != nil {
		return nil, fmt.Errorf("new recovery codes: %w", err)
	}
	s.changed(u, "recovery_code", "recovery codes made")
	return codes, nil
}

// recoveryHash is what is stored of a recovery code: SHA-256 of its 16 characters. The code
// holds 80 random bits, so a plain hash is as good as a slow one.
func recoveryHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// normalRecovery is a recovery code as typed, reduced to its 16 characters: the hyphens and
// spaces dropped, the letters upper-cased, and 0, 1 and 8 read as O, I and B.
func normalRecovery(code string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', ' ':
			return -1
		case '0':
			return 'O'
		case '1':
			return 'I'
		case '8':
			return 'B'
		}
		return r
	}, strings.ToUpper(code))
}

// UseRecoveryCode checks code against u's unused recovery codes and uses it up: ErrWrongCode
// when it is not one of them (or was used).
func (s *Service) UseRecoveryCode(ctx context.Context, u *store.User, code string) error {
	return s.attempt(u, "recovery code", func() (bool, error) {
		c := normalRecovery(code)
		if len(c) != 16 {
			return false, nil
		}
		used, err := s.store.UseRecoveryCode(ctx, u.ID, recoveryHash(c), s.now())
		if used {
			s.log.Info("mfa recovery code used", slog.String("user", u.Email))
		}
		return used, err
	})
}

// RecoveryCodesLeft returns how many unused recovery codes u has.
func (s *Service) RecoveryCodesLeft(ctx context.Context, u *store.User) (int, error) {
	return s.store.RecoveryCodesLeft(ctx, u.ID)
}
