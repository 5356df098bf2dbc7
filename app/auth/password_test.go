package auth

import (
	"strings"
	"testing"

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
	if !CheckPassword(hash, "correct horse") {
		t.Error("the right password was rejected")
	}
	if CheckPassword(hash, "correct horsE") {
		t.Error("a wrong password was accepted")
	}
}

func TestCheckPasswordAcceptsBcryptFromTheOriginal(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("admin123"), 4)
	if err != nil {
		t.Fatal(err)
	}
	b2b := "$2b$" + strings.TrimPrefix(string(b), "$2a$") // Python's bcrypt writes $2b$
	for _, hash := range []string{string(b), b2b} {
		if !CheckPassword(hash, "admin123") || CheckPassword(hash, "admin124") {
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
		if CheckPassword(hash, "secret") {
			t.Errorf("%s: hash %q matched", name, hash)
		}
	}
}

func TestHashPasswordRejectsShortPasswords(t *testing.T) {
	if _, err := HashPassword("short"); err == nil || !strings.Contains(err.Error(), "at least 8") {
		t.Errorf("got %v, want a length error", err)
	}
}
