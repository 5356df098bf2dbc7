package wg

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestGenerateKeyPair(t *testing.T) {
	priv, pub, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if got := priv.PublicKey(); got != pub {
		t.Errorf("public key = %s, want %s derived from the private key", pub, got)
	}
	priv2, _, _ := GenerateKeyPair()
	if priv == priv2 {
		t.Error("two key pairs are equal")
	}
	psk, err := GeneratePresharedKey()
	if err != nil {
		t.Fatal(err)
	}
	if psk == priv || psk == [32]byte{} {
		t.Errorf("preshared key %s is not fresh", psk)
	}
}

func TestParsePublicKey(t *testing.T) {
	_, pub, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	valid := pub.String()
	tests := []struct {
		name, in, wantErr string
	}{
		{"valid", valid, ""},
		{"surrounding space", "  " + valid + "\n", ""},
		{"empty", "", "public key is required"},
		{"blank", "   ", "public key is required"},
		{"too short", valid[:43], "public key must be 32 bytes of base64"},
		{"missing padding", strings.TrimSuffix(valid, "="), "public key must be 32 bytes of base64"},
		{"too long", valid + "AAAA", "public key must be 32 bytes of base64"},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), "public key must be 32 bytes of base64"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(pub[:], 1)), "public key must be 32 bytes of base64"},
		{"not base64", strings.Repeat("!", 43) + "=", "public key must be 32 bytes of base64"},
		{"url alphabet", strings.Repeat("-", 43) + "=", "public key must be 32 bytes of base64"},
		{"inner space", valid[:20] + " " + valid[21:], "public key must be 32 bytes of base64"},
		{"hex", strings.Repeat("ab", 32), "public key must be 32 bytes of base64"},
		{"non-canonical padding bits", valid[:42] + "B=", "public key must be 32 bytes of base64"},
		{"all zero", base64.StdEncoding.EncodeToString(make([]byte, 32)), "public key must not be all zeros"},
		{"order 4", base64.StdEncoding.EncodeToString(lowOrderPoints[1][:]), "public key is a low-order point, which no WireGuard peer can use"},
		{"order 8", base64.StdEncoding.EncodeToString(lowOrderPoints[3][:]), "public key is a low-order point, which no WireGuard peer can use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParsePublicKey(%q) error %v, want nil", tt.in, err)
				}
				if got != pub {
					t.Errorf("ParsePublicKey(%q) = %s, want %s", tt.in, got, pub)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParsePublicKey(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// noSharedSecret reports whether a Diffie-Hellman with pub yields no secret (the all-zero
// one), as the standard library's X25519 says: the independent oracle for IsLowOrder.
func noSharedSecret(t testing.TB, priv *ecdh.PrivateKey, pub wgtypes.Key) bool {
	t.Helper()
	pk, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		t.Fatalf("NewPublicKey(%x): %v", pub[:], err)
	}
	_, err = priv.ECDH(pk)
	return err != nil
}

// TestIsLowOrder checks every encoding of every low-order point, and random keys, against
// crypto/ecdh.
func TestIsLowOrder(t *testing.T) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var weak []wgtypes.Key
	for _, p := range lowOrderPoints {
		k := wgtypes.Key(p)
		weak = append(weak, k)
		high := k // the top bit, which X25519 ignores
		high[31] |= 0x80
		weak = append(weak, high)
		// u + p, where it still fits in 255 bits (u ≤ 18): the same point.
		if p[31] == 0 && p[0] <= 18 && allZero(p[1:31]) {
			plusP := wgtypes.Key{p[0] + 0xed}
			for j := 1; j < 31; j++ {
				plusP[j] = 0xff
			}
			plusP[31] = 0x7f
			weak = append(weak, plusP, withTopBit(plusP))
		}
	}
	if len(weak) != 14 {
		t.Fatalf("%d encodings of low-order points, want 14", len(weak))
	}
	for _, k := range weak {
		if !IsLowOrder(k) {
			t.Errorf("IsLowOrder(%x) = false, want true", k[:])
		}
		if !noSharedSecret(t, priv, k) {
			t.Errorf("crypto/ecdh makes a secret with %x, which IsLowOrder calls low-order", k[:])
		}
	}
	for range 1000 {
		_, pub, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if IsLowOrder(pub) || noSharedSecret(t, priv, pub) {
			t.Errorf("key %s: IsLowOrder %v, no shared secret %v; want both false", pub, IsLowOrder(pub), noSharedSecret(t, priv, pub))
		}
	}
}

func withTopBit(k wgtypes.Key) wgtypes.Key {
	k[31] |= 0x80
	return k
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// FuzzIsLowOrder holds IsLowOrder to crypto/ecdh's verdict for any 32 bytes.
func FuzzIsLowOrder(f *testing.F) {
	for _, p := range lowOrderPoints {
		f.Add(p[:])
		high := withTopBit(p)
		f.Add(high[:])
	}
	f.Add(make([]byte, 32))
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 32 {
			return
		}
		k := wgtypes.Key(b)
		if got, want := IsLowOrder(k), noSharedSecret(t, priv, k); got != want {
			t.Errorf("IsLowOrder(%x) = %v, crypto/ecdh says %v", b, got, want)
		}
	})
}
