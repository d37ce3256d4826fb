package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzVerify: Verify never panics, and never accepts a token whose signature
// does not verify under the configured algorithm, checked independently of
// the verifier's own code path.
func FuzzVerify(f *testing.F) {
	edPriv := ed25519.NewKeyFromSeed([]byte("arqonbus fuzz seed 0123456789abc"))
	edPub := edPriv.Public().(ed25519.PublicKey)
	hs := mustVerifier(f, Config{Algorithm: HS256, Secret: testSecret})
	ed := mustVerifier(f, Config{Algorithm: EdDSA, PublicKey: edPub})
	shield := mustVerifier(f, Config{Algorithm: HS256, Algorithms: []string{HS384, HS512}, Secret: testSecret,
		RequireExp: true, RequireTenant: true, RequireSubject: true, MaxTokenBytes: 8192})

	claims := map[string]any{"sub": "user-1", "tenant_id": "tenant-a", "role": "admin", "exp": testNow.Unix() + 60}
	for _, tok := range []string{
		mustSign(f, HS256, testSecret, claims),
		mustSign(f, HS512, testSecret, claims),
		mustSign(f, EdDSA, edPriv, claims),
		mustSign(f, HS256, testSecret, map[string]any{"exp": "x", "nbf": true}),
		rawHS256(f, `{"alg":"HS256","alg":"none"}`, `{"a":1,"a":2}`),
		b64(`{"alg":"none"}`) + "." + b64(`{"sub":"u"}`) + ".",
		"..", "a.b.c", "e30.e30.e30", "....",
	} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range []*Verifier{hs, ed, shield} {
			id, err := v.Verify(tok, testNow)
			if err != nil {
				if id != nil {
					t.Fatal("identity returned with an error")
				}
				continue
			}
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("accepted %d segments", len(parts))
			}
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatalf("accepted undecodable signature: %v", err)
			}
			input := []byte(parts[0] + "." + parts[1])
			var valid bool
			switch v {
			case ed:
				valid = ed25519.Verify(edPub, input, sig)
			default:
				for _, h := range []string{HS256, HS384, HS512} {
					if v == hs && h != HS256 {
						continue
					}
					mac := hmac.New(hmacHash(h), testSecret)
					mac.Write(input)
					valid = valid || hmac.Equal(mac.Sum(nil), sig)
				}
			}
			if !valid {
				t.Fatalf("accepted a token without a valid signature: %q", tok)
			}
			if id.HasTenant && !ValidTenant(id.Tenant) {
				t.Fatalf("accepted tenant %q", id.Tenant)
			}
		}
	})
}
