package wg

import (
	"encoding/base64"
	"strings"
	"testing"
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
