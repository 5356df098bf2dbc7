package wg

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// GenerateKeyPair returns a new Curve25519 private key and its public key.
func GenerateKeyPair() (private, public wgtypes.Key, err error) {
	private, err = wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, wgtypes.Key{}, fmt.Errorf("generate private key: %w", err)
	}
	return private, private.PublicKey(), nil
}

// GeneratePresharedKey returns 32 random bytes for a peer's preshared key.
func GeneratePresharedKey() (wgtypes.Key, error) {
	k, err := wgtypes.GenerateKey()
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("generate preshared key: %w", err)
	}
	return k, nil
}

// The errors of ParsePublicKey are shown to users next to the form field.
var (
	errKeyMissing = errors.New("public key is required")
	errKeyFormat  = errors.New("public key must be 32 bytes of base64")
	errKeyZero    = errors.New("public key must not be all zeros")
)

// ParsePublicKey validates a public key supplied by a user: standard base64
// (with padding) of exactly 32 bytes, not all zeros. Surrounding white space
// is ignored. The error messages are meant for the user.
func ParsePublicKey(s string) (wgtypes.Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return wgtypes.Key{}, errKeyMissing
	}
	// A 32-byte key is always 44 characters; checking first keeps a pasted
	// megabyte from being decoded.
	if len(s) != base64.StdEncoding.EncodedLen(wgtypes.KeyLen) {
		return wgtypes.Key{}, errKeyFormat
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != wgtypes.KeyLen {
		return wgtypes.Key{}, errKeyFormat
	}
	k := wgtypes.Key(b)
	if k == (wgtypes.Key{}) {
		return wgtypes.Key{}, errKeyZero
	}
	return k, nil
}
