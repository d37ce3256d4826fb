package auth

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Sign mints a compact JWS with header {"alg":<alg>,"typ":"JWT"} and the given
// claims (nil means {}). key is the raw secret []byte for HS* and a
// crypto.Signer whose public key matches alg otherwise (an *rsa.PrivateKey
// of at least 2048 bits, an *ecdsa.PrivateKey on P-256, an
// ed25519.PrivateKey). Claims are encoded with encoding/json, so pass iat and
// exp as integers to get JSON integers (CLI.md §7).
func Sign(alg string, key any, claims map[string]any) (string, error) {
	if !Supported(alg) {
		return "", fmt.Errorf("unsupported algorithm %q", alg)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}{alg, "JWT"})
	if err != nil {
		return "", err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.WriteString(enc.EncodeToString(header))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	signingInput := b.String()

	sig, err := signBytes(alg, key, []byte(signingInput))
	if err != nil {
		return "", err
	}
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	return b.String(), nil
}

func signBytes(alg string, key any, input []byte) ([]byte, error) {
	if IsHMAC(alg) {
		secret, ok := key.([]byte)
		if !ok {
			return nil, fmt.Errorf("algorithm %s needs a []byte secret, got %T", alg, key)
		}
		if len(secret) == 0 {
			return nil, errors.New("empty HMAC secret")
		}
		mac := hmac.New(hmacHash(alg), secret)
		mac.Write(input)
		return mac.Sum(nil), nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("algorithm %s needs a crypto.Signer, got %T", alg, key)
	}
	if err := checkPublicKey(alg, signer.Public()); err != nil {
		return nil, err
	}
	switch alg {
	case RS256:
		digest := sha256.Sum256(input)
		return signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	case ES256:
		digest := sha256.Sum256(input)
		der, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		var rs struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(der, &rs)
		if err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
			return nil, errors.New("ecdsa signer returned an invalid signature")
		}
		sig := make([]byte, es256SigSize)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
		return sig, nil
	case EdDSA:
		return signer.Sign(rand.Reader, input, crypto.Hash(0))
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}
