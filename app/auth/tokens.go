package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Tokens makes the single-use tokens that links sent by email carry (a magic link, an
// invitation) and the hash of each, which is all that is stored: an HMAC under a key derived
// from the secret key (WG_SECRET_KEY), which the database does not hold, so that neither a
// copy of the database nor its hashes sign anyone in. The purpose is part of the hash: a
// token made for one purpose is no token of another.
type Tokens struct{ key []byte }

// NewTokens returns the tokens of the secret key.
func NewTokens(secret []byte) *Tokens {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("wiregui sign-in tokens")) // a key of its own for this use of the secret
	return &Tokens{key: mac.Sum(nil)}
}

// tokenBytes is a token's randomness: 256 bits.
const tokenBytes = 32

// New returns a new token for purpose and its hash.
func (t *Tokens) New(purpose string) (token, hash string) {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, t.Hash(purpose, token)
}

// Hash returns the hash of token for purpose, or "" when token is not of the form New makes,
// so that what a visitor sends is not looked up.
func (t *Tokens) Hash(purpose, token string) string {
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != tokenBytes {
		return ""
	}
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}
