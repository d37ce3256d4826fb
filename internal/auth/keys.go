package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadPublicKey reads the PEM file of ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE and
// checks that its key can verify alg (RS256, ES256 or EdDSA). Accepted blocks:
// "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) and "CERTIFICATE"; other
// blocks such as "EC PARAMETERS" are skipped, and a private key is refused
// because the bus never needs one. A key of the wrong kind gives exactly
// "key type <type> does not match algorithm <alg>"; the config loader adds the
// variable name. A read failure is returned as the *fs.PathError of os.ReadFile.
func LoadPublicKey(path, alg string) (crypto.PublicKey, error) {
	if !Supported(alg) {
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if IsHMAC(alg) {
		return nil, fmt.Errorf("algorithm %s does not use a public key", alg)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, err
	}
	if err := checkPublicKey(alg, key); err != nil {
		return nil, err
	}
	return key, nil
}

// ParsePublicKeyPEM returns the first public key (or certificate key) in data.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM public key found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			key, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("invalid PUBLIC KEY block: %w", err)
			}
			return key, nil
		case "RSA PUBLIC KEY":
			key, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("invalid RSA PUBLIC KEY block: %w", err)
			}
			return key, nil
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("invalid CERTIFICATE block: %w", err)
			}
			return cert.PublicKey, nil
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("file holds a %s, not a public key", block.Type)
		}
	}
}
