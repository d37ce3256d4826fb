package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePEM(t *testing.T, blocks ...*pem.Block) string {
	t.Helper()
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkixBlock(t *testing.T, pub crypto.PublicKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

func TestLoadPublicKeyVerifiesTokens(t *testing.T) {
	testKeys(t)
	cert := selfSignedCert(t)
	cases := []struct {
		name  string
		alg   string
		block *pem.Block
		extra []*pem.Block
	}{
		{"RS256 PKIX", RS256, pkixBlock(t, &rsaKey.PublicKey), nil},
		{"RS256 PKCS1", RS256, &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}, nil},
		{"ES256 PKIX", ES256, pkixBlock(t, &ecKey.PublicKey), nil},
		{"ES256 after EC PARAMETERS", ES256, &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}},
			[]*pem.Block{pkixBlock(t, &ecKey.PublicKey)}},
		{"EdDSA PKIX", EdDSA, pkixBlock(t, edKey.Public()), nil},
		{"ES256 certificate", ES256, &pem.Block{Type: "CERTIFICATE", Bytes: cert}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writePEM(t, append([]*pem.Block{tc.block}, tc.extra...)...)
			key, err := LoadPublicKey(path, tc.alg)
			if err != nil {
				t.Fatalf("LoadPublicKey: %v", err)
			}
			v := mustVerifier(t, Config{Algorithm: tc.alg, PublicKey: key})
			signKey, _ := signerFor(t, tc.alg)
			if _, err := v.Verify(mustSign(t, tc.alg, signKey, map[string]any{"sub": "x"}), testNow); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	testKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	rsaPEM := writePEM(t, pkixBlock(t, &rsaKey.PublicKey))
	ecPEM := writePEM(t, pkixBlock(t, &ecKey.PublicKey))
	edPEM := writePEM(t, pkixBlock(t, edKey.Public()))
	cases := []struct {
		name, path, alg, want string
	}{
		// Exact texts: the config loader prefixes "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: " (OPERATIONS.md §4.3).
		{"rsa for ES256", rsaPEM, ES256, "key type rsa does not match algorithm ES256"},
		{"rsa for EdDSA", rsaPEM, EdDSA, "key type rsa does not match algorithm EdDSA"},
		{"ecdsa for RS256", ecPEM, RS256, "key type ecdsa does not match algorithm RS256"},
		{"ecdsa for EdDSA", ecPEM, EdDSA, "key type ecdsa does not match algorithm EdDSA"},
		{"ed25519 for RS256", edPEM, RS256, "key type ed25519 does not match algorithm RS256"},
		{"ed25519 for ES256", edPEM, ES256, "key type ed25519 does not match algorithm ES256"},
		{"P-384 for ES256", writePEM(t, pkixBlock(t, &p384.PublicKey)), ES256, "key type ecdsa P-384 does not match algorithm ES256"},
		{"x25519 for EdDSA", writePEM(t, pkixBlock(t, x25519.PublicKey())), EdDSA, "key type x25519 does not match algorithm EdDSA"},
		{"private key", writePEM(t, &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), RS256, "file holds a PRIVATE KEY, not a public key"},
		{"no PEM", writePEM(t), RS256, "no PEM public key found"},
		{"corrupt block", writePEM(t, &pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), RS256, "invalid PUBLIC KEY block: "},
		{"HMAC algorithm", rsaPEM, HS256, "algorithm HS256 does not use a public key"},
		{"unknown algorithm", rsaPEM, "PS256", `unsupported algorithm "PS256"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPublicKey(tc.path, tc.alg)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tc.want && !(tc.want[len(tc.want)-1] == ' ' && len(got) > len(tc.want) && got[:len(tc.want)] == tc.want) {
				t.Fatalf("error %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := LoadPublicKey(filepath.Join(t.TempDir(), "missing.pem"), RS256); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func selfSignedCert(t *testing.T) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "arqonbus-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
