package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/big"
)

// Algorithm names accepted by ARQONBUS_AUTH_JWT_ALGORITHM (OPERATIONS.md §4.3).
const (
	HS256 = "HS256"
	HS384 = "HS384"
	HS512 = "HS512"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

var supportedAlgorithms = [...]string{HS256, HS384, HS512, RS256, ES256, EdDSA}

// SupportedAlgorithms returns every supported algorithm, HMAC first, in the
// order of the ARQONBUS_AUTH_JWT_ALGORITHM enum.
func SupportedAlgorithms() []string {
	out := supportedAlgorithms
	return out[:]
}

// minRSABits follows RFC 7518 §3.3: RS256 keys MUST be 2048 bits or larger.
const minRSABits = 2048

// es256SigSize is the JWS form of an ES256 signature: R || S, 32 bytes each.
const es256SigSize = 64

// IsHMAC reports whether alg is one of HS256, HS384, HS512 (verified with a secret).
func IsHMAC(alg string) bool {
	return alg == HS256 || alg == HS384 || alg == HS512
}

// Supported reports whether alg is one of SupportedAlgorithms (exact, case-sensitive).
func Supported(alg string) bool {
	for _, a := range supportedAlgorithms {
		if a == alg {
			return true
		}
	}
	return false
}

func hmacHash(alg string) func() hash.Hash {
	switch alg {
	case HS256:
		return sha256.New
	case HS384:
		return sha512.New384
	case HS512:
		return sha512.New
	}
	return nil
}

// keyTypeName names a public key the way configuration errors show it.
func keyTypeName(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "rsa"
	case *ecdsa.PublicKey:
		if k.Curve != nil && k.Curve != elliptic.P256() {
			return "ecdsa " + k.Curve.Params().Name
		}
		return "ecdsa"
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdh.PublicKey:
		if k.Curve() == ecdh.X25519() {
			return "x25519"
		}
		return "ecdh"
	case nil:
		return "none"
	default:
		return fmt.Sprintf("%T", key)
	}
}

func mismatch(key crypto.PublicKey, alg string) error {
	return fmt.Errorf("key type %s does not match algorithm %s", keyTypeName(key), alg)
}

// checkPublicKey validates that key can verify alg (an asymmetric algorithm).
func checkPublicKey(alg string, key crypto.PublicKey) error {
	switch alg {
	case RS256:
		k, ok := key.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return mismatch(key, alg)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("rsa key must be at least %d bits for %s (got %d)", minRSABits, alg, k.N.BitLen())
		}
	case ES256:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k == nil || k.Curve != elliptic.P256() {
			return mismatch(key, alg)
		}
	case EdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok {
			return mismatch(key, alg)
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("ed25519 key must be %d bytes (got %d)", ed25519.PublicKeySize, len(k))
		}
	default:
		return fmt.Errorf("algorithm %s does not use a public key", alg)
	}
	return nil
}

// verifySignature checks sig over signingInput. The caller has already
// matched alg against the configuration and validated the key.
func verifySignature(alg string, secret []byte, key crypto.PublicKey, signingInput, sig []byte) bool {
	switch alg {
	case HS256, HS384, HS512:
		mac := hmac.New(hmacHash(alg), secret)
		mac.Write(signingInput)
		// hmac.Equal is constant-time for equal lengths; a wrong length is
		// not secret.
		return hmac.Equal(mac.Sum(nil), sig)
	case RS256:
		digest := sha256.Sum256(signingInput)
		return rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
	case ES256:
		if len(sig) != es256SigSize {
			return false
		}
		digest := sha256.Sum256(signingInput)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(key.(*ecdsa.PublicKey), digest[:], r, s)
	case EdDSA:
		return ed25519.Verify(key.(ed25519.PublicKey), signingInput, sig)
	}
	return false
}
