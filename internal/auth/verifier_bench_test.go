package auth

import (
	"testing"
	"time"
)

func benchmarkVerify(b *testing.B, alg string) {
	key, cfg := signerFor(b, alg)
	cfg.RequireExp = true
	v := mustVerifier(b, cfg)
	tok := mustSign(b, alg, key, map[string]any{
		"sub": "user-1", "role": "user", "tenant_id": "tenant-a",
		"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix(),
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) { benchmarkVerify(b, HS256) }
func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, RS256) }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, ES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, EdDSA) }
