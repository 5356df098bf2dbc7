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
	errKeyWeak    = errors.New("public key is a low-order point, which no WireGuard peer can use")
)

// ParsePublicKey validates a public key supplied by a user: standard base64
// (with padding) of exactly 32 bytes, not all zeros and no other low-order
// point (see IsLowOrder). Surrounding white space is ignored. The error
// messages are meant for the user.
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
	if IsLowOrder(k) {
		return wgtypes.Key{}, errKeyWeak
	}
	return k, nil
}

// lowOrderPoints are the u-coordinates, little endian and reduced modulo
// p = 2^255 − 19, of the Curve25519 points of small order: 0 (also the
// all-zero key), 1, p − 1, and the two points of order 8. A Diffie-Hellman
// with any of them yields the all-zero secret whatever the private key, so a
// peer with such a key is no peer at all: wireguard-go and the kernel refuse
// every handshake with it.
var lowOrderPoints = [...][32]byte{
	{},
	{1},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
}

// IsLowOrder reports whether k is a point of small order on Curve25519 (see
// lowOrderPoints), in any of its encodings: X25519 ignores the top bit, and a
// u-coordinate from p up to 2^255 − 1 means the same as u − p.
func IsLowOrder(k wgtypes.Key) bool {
	u := [32]byte(k)
	u[31] &= 0x7f
	if u[31] == 0x7f && u[0] >= 0xed && allOnes(u[1:31]) { // u ≥ p
		u = [32]byte{u[0] - 0xed}
	}
	for _, p := range lowOrderPoints {
		if u == p {
			return true
		}
	}
	return false
}

func allOnes(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}
