package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testNow    = time.Unix(1_772_366_400, 0) // 2026-03-01T12:00:00Z
	testSecret = []byte("0123456789abcdef0123456789abcdef-test")

	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// signerFor returns the signing key and the verifying Config for alg.
func signerFor(t testing.TB, alg string) (any, Config) {
	t.Helper()
	testKeys(t)
	switch alg {
	case HS256, HS384, HS512:
		return testSecret, Config{Algorithm: alg, Secret: testSecret}
	case RS256:
		return rsaKey, Config{Algorithm: alg, PublicKey: &rsaKey.PublicKey}
	case ES256:
		return ecKey, Config{Algorithm: alg, PublicKey: &ecKey.PublicKey}
	case EdDSA:
		return edKey, Config{Algorithm: alg, PublicKey: edKey.Public()}
	}
	t.Fatalf("no key for %s", alg)
	return nil, Config{}
}

func mustVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustSign(t testing.TB, alg string, key any, claims map[string]any) string {
	t.Helper()
	tok, err := Sign(alg, key, claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawHS256 builds a token from literal header and claims JSON, signed with
// HS256 over exactly those bytes (to test encodings Sign would never emit).
func rawHS256(t testing.TB, header, claims string) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	sig, err := signBytes(HS256, testSecret, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyAcceptsEveryAlgorithm(t *testing.T) {
	for _, alg := range SupportedAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			key, cfg := signerFor(t, alg)
			v := mustVerifier(t, cfg)
			tok := mustSign(t, alg, key, map[string]any{
				"sub": "user-1", "role": "Admin", "tenant_id": "tenant-a",
				"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix(),
			})
			id, err := v.Verify(tok, testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.Subject != "user-1" || !id.HasSubject || id.Role != "Admin" || !id.IsAdmin() ||
				id.Tenant != "tenant-a" || !id.HasTenant || !id.Expiry.Equal(testNow.Add(time.Hour)) {
				t.Fatalf("identity = %+v", id)
			}
			if id.Claims["sub"] != "user-1" {
				t.Fatalf("claims = %v", id.Claims)
			}
		})
	}
}

func TestVerifyDefaults(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret})
	id, err := v.Verify(mustSign(t, HS256, testSecret, nil), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if id.HasSubject || id.HasTenant || id.Role != "user" || id.IsAdmin() || !id.Expiry.IsZero() || !id.Deadline.IsZero() {
		t.Fatalf("identity = %+v", id)
	}
}

func TestAdversarialVerifyRejectsOtherAlgorithms(t *testing.T) {
	testKeys(t)
	claims := map[string]any{"sub": "u"}
	cases := []struct {
		name   string
		cfgAlg string
		token  func(t *testing.T) string
	}{
		{"none", HS256, func(t *testing.T) string {
			return b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"u"}`) + "."
		}},
		{"none with signature", HS256, func(t *testing.T) string {
			return b64(`{"alg":"none"}`) + "." + b64(`{"sub":"u"}`) + "." + b64("x")
		}},
		{"None capitalised", HS256, func(t *testing.T) string {
			return b64(`{"alg":"None"}`) + "." + b64(`{"sub":"u"}`) + "." + b64("x")
		}},
		{"HS384 when HS256 configured", HS256, func(t *testing.T) string { return mustSign(t, HS384, testSecret, claims) }},
		{"HS512 when HS256 configured", HS256, func(t *testing.T) string { return mustSign(t, HS512, testSecret, claims) }},
		{"HS256 when HS512 configured", HS512, func(t *testing.T) string { return mustSign(t, HS256, testSecret, claims) }},
		{"ES256 when RS256 configured", RS256, func(t *testing.T) string { return mustSign(t, ES256, ecKey, claims) }},
		{"lower-case hs256", HS256, func(t *testing.T) string {
			return b64(`{"alg":"hs256"}`) + "." + b64(`{}`) + "." + b64("sig")
		}},
		{"alg missing", HS256, func(t *testing.T) string { return rawHS256(t, `{"typ":"JWT"}`, `{}`) }},
		{"alg not a string", HS256, func(t *testing.T) string { return rawHS256(t, `{"alg":256}`, `{}`) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg := signerFor(t, tc.cfgAlg)
			v := mustVerifier(t, cfg)
			_, err := v.Verify(tc.token(t), testNow)
			if !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("err = %v, want ErrAlgorithm", err)
			}
		})
	}
}

// An RS256 public key must never be usable as an HMAC secret (the classic
// alg-confusion attack): an HS256 token "signed" with the PEM bytes fails.
func TestAdversarialVerifyAlgorithmConfusion(t *testing.T) {
	_, cfg := signerFor(t, RS256)
	v := mustVerifier(t, cfg)
	tok := mustSign(t, HS256, []byte("any bytes, e.g. the public key PEM"), map[string]any{"sub": "u"})
	if _, err := v.Verify(tok, testNow); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("err = %v, want ErrAlgorithm", err)
	}
}

func TestAdversarialVerifyBadSignature(t *testing.T) {
	for _, alg := range SupportedAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			key, cfg := signerFor(t, alg)
			v := mustVerifier(t, cfg)
			tok := mustSign(t, alg, key, map[string]any{"sub": "u", "role": "user"})
			parts := strings.Split(tok, ".")

			// Claims swapped after signing: privilege escalation attempt.
			forged := parts[0] + "." + b64(`{"sub":"u","role":"admin"}`) + "." + parts[2]
			if _, err := v.Verify(forged, testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("forged claims: err = %v, want ErrSignature", err)
			}
			// One signature bit flipped.
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)/2] ^= 0x01
			flipped := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			if _, err := v.Verify(flipped, testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("flipped bit: err = %v, want ErrSignature", err)
			}
			// Signature removed.
			if _, err := v.Verify(parts[0]+"."+parts[1]+".", testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("empty signature: err = %v, want ErrSignature", err)
			}
			// Truncated signature.
			short := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1])
			if _, err := v.Verify(short, testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("short signature: err = %v, want ErrSignature", err)
			}
		})
	}
	t.Run("HS256 other secret", func(t *testing.T) {
		v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret})
		tok := mustSign(t, HS256, []byte("another secret of some length 123"), nil)
		if _, err := v.Verify(tok, testNow); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("ES256 other key", func(t *testing.T) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, cfg := signerFor(t, ES256)
		v := mustVerifier(t, cfg)
		if _, err := v.Verify(mustSign(t, ES256, other, nil), testNow); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
}

func TestAdversarialVerifyMalformed(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret})
	good := mustSign(t, HS256, testSecret, map[string]any{"sub": "u"})
	p := strings.Split(good, ".")
	cases := map[string]string{
		"empty":                 "",
		"one segment":           p[0],
		"two segments":          p[0] + "." + p[1],
		"four segments":         good + "." + p[2],
		"four segments, empty":  good + ".",
		"padded header":         p[0] + "=." + p[1] + "." + p[2],
		"std base64 chars":      strings.ReplaceAll(p[0], "J", "+") + "/." + p[1] + "." + p[2],
		"newline in segment":    p[0][:4] + "\n" + p[0][4:] + "." + p[1] + "." + p[2],
		"bad base64 length":     p[0] + "." + p[1] + strings.Repeat("A", (5-len(p[1])%4)%4) + "." + p[2],
		"bad base64 signature":  p[0] + "." + p[1] + ".!!",
		"header not JSON":       b64("alg=HS256") + "." + p[1] + "." + p[2],
		"header JSON array":     b64(`["HS256"]`) + "." + p[1] + "." + p[2],
		"claims not JSON":       rawHS256(t, `{"alg":"HS256"}`, `sub=u`),
		"claims array":          rawHS256(t, `{"alg":"HS256"}`, `[1]`),
		"claims trailing data":  rawHS256(t, `{"alg":"HS256"}`, `{"sub":"u"}{}`),
		"claims trailing comma": rawHS256(t, `{"alg":"HS256"}`, `{"sub":"u",}`),
		"duplicate claim":       rawHS256(t, `{"alg":"HS256"}`, `{"role":"user","role":"admin"}`),
		"duplicate header alg":  rawHS256(t, `{"alg":"none","alg":"HS256"}`, `{}`),
		"crit header":           rawHS256(t, `{"alg":"HS256","crit":["exp"]}`, `{}`),
		"non-canonical base64":  p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + flipLowBits(p[2][len(p[2])-1]),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(tok, testNow); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// flipLowBits changes the unused trailing bits of the last base64 character,
// giving a different string that lenient decoders map to the same bytes.
func flipLowBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestAdversarialVerifyTimeClaims(t *testing.T) {
	now := testNow
	sec := now.Unix()
	cases := []struct {
		name   string
		claims map[string]any
		leeway time.Duration
		want   error
	}{
		{"exp in future", map[string]any{"exp": sec + 60}, 0, nil},
		{"exp equals now", map[string]any{"exp": sec}, 0, nil},
		{"exp one second ago", map[string]any{"exp": sec - 1}, 0, ErrExpired},
		{"exp 60 s ago", map[string]any{"exp": sec - 60}, 0, ErrExpired},
		{"exp 10 s ago within 30 s leeway", map[string]any{"exp": sec - 10}, 30 * time.Second, nil},
		{"exp 10 s ago at 10 s leeway", map[string]any{"exp": sec - 10}, 10 * time.Second, nil},
		{"exp 11 s ago beyond 10 s leeway", map[string]any{"exp": sec - 11}, 10 * time.Second, ErrExpired},
		{"fractional exp just passed", map[string]any{"exp": float64(sec) - 0.5}, 0, ErrExpired},
		{"fractional exp ahead", map[string]any{"exp": float64(sec) + 0.5}, 0, nil},
		{"nbf now", map[string]any{"nbf": sec}, 0, nil},
		{"nbf in future", map[string]any{"nbf": sec + 5}, 0, ErrNotYetValid},
		{"nbf in future within leeway", map[string]any{"nbf": sec + 5}, 5 * time.Second, nil},
		{"iat now", map[string]any{"iat": sec}, 0, nil},
		{"iat past", map[string]any{"iat": sec - 3600}, 0, nil},
		{"iat in future", map[string]any{"iat": sec + 1}, 0, ErrIssuedInFuture},
		{"iat in future within leeway", map[string]any{"iat": sec + 1}, time.Second, nil},
		{"huge exp", map[string]any{"exp": json.Number("1e300")}, 0, nil},
		{"huge negative exp", map[string]any{"exp": json.Number("-1e300")}, 0, ErrExpired},
		{"exp overflowing float64", map[string]any{"exp": json.Number("1e400")}, 0, ErrClaimType},
		{"exp string", map[string]any{"exp": "1772366500"}, 0, ErrClaimType},
		{"exp bool", map[string]any{"exp": true}, 0, ErrClaimType},
		{"exp null", map[string]any{"exp": nil}, 0, ErrClaimType},
		{"nbf string", map[string]any{"nbf": "0"}, 0, ErrClaimType},
		{"iat bool", map[string]any{"iat": false}, 0, ErrClaimType},
		{"iat object", map[string]any{"iat": map[string]any{}}, 0, ErrClaimType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret, Leeway: tc.leeway})
			_, err := v.Verify(mustSign(t, HS256, testSecret, tc.claims), now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyDeadline(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret, Leeway: 5 * time.Second})
	exp := testNow.Add(2 * time.Second)
	id, err := v.Verify(mustSign(t, HS256, testSecret, map[string]any{"exp": exp.Unix()}), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Expiry.Equal(exp) || !id.Deadline.Equal(exp.Add(5*time.Second)) {
		t.Fatalf("expiry %v deadline %v", id.Expiry, id.Deadline)
	}
}

func TestVerifyIdentityClaims(t *testing.T) {
	cases := []struct {
		name   string
		claims map[string]any
		want   error
		check  func(*Identity) bool
	}{
		{"sub number", map[string]any{"sub": 42}, ErrClaimType, nil},
		{"sub null", map[string]any{"sub": nil}, ErrClaimType, nil},
		{"role number", map[string]any{"role": 1}, ErrClaimType, nil},
		{"role array", map[string]any{"role": []string{"admin"}}, ErrClaimType, nil},
		{"role ADMIN is admin", map[string]any{"role": "ADMIN"}, nil, func(i *Identity) bool { return i.IsAdmin() }},
		{"role administrator is not admin", map[string]any{"role": "administrator"}, nil, func(i *Identity) bool { return !i.IsAdmin() }},
		{"tenant default is an ordinary tenant", map[string]any{"tenant_id": "default"}, nil,
			func(i *Identity) bool { return i.HasTenant && i.Tenant == "default" }},
		{"tenant 64 chars", map[string]any{"tenant_id": "a" + strings.Repeat("b", 63)}, nil, nil},
		{"tenant with _ and -", map[string]any{"tenant_id": "Tenant_A-1"}, nil, nil},
		{"tenant 65 chars", map[string]any{"tenant_id": strings.Repeat("a", 65)}, ErrInvalidTenant, nil},
		{"tenant a.b", map[string]any{"tenant_id": "a.b"}, ErrInvalidTenant, nil},
		{"tenant a b", map[string]any{"tenant_id": "a b"}, ErrInvalidTenant, nil},
		{"tenant é", map[string]any{"tenant_id": "é"}, ErrInvalidTenant, nil},
		{"tenant empty", map[string]any{"tenant_id": ""}, ErrInvalidTenant, nil},
		{"tenant leading -", map[string]any{"tenant_id": "-a"}, ErrInvalidTenant, nil},
		{"tenant leading _", map[string]any{"tenant_id": "_"}, ErrInvalidTenant, nil},
		{"tenant trailing newline", map[string]any{"tenant_id": "a\n"}, ErrInvalidTenant, nil},
		{"tenant number", map[string]any{"tenant_id": 7}, ErrClaimType, nil},
		{"aud and iss ignored by default", map[string]any{"aud": 5, "iss": []int{1}}, nil, nil},
	}
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(mustSign(t, HS256, testSecret, tc.claims), testNow)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.check != nil && !tc.check(id) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestVerifyRequiredClaims(t *testing.T) {
	sec := testNow.Unix()
	shield := Config{
		Algorithm: HS256, Algorithms: []string{HS384, HS512}, Secret: testSecret, Leeway: 5 * time.Second,
		RequireExp: true, RequireTenant: true, RequireSubject: true, IgnoreRole: true, MaxTokenBytes: 8192,
	}
	good := map[string]any{"sub": "user-1", "tenant_id": "tenant-a", "exp": sec + 3600}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k2, v2 := range good {
			m[k2] = v2
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		cfg    Config
		alg    string
		claims map[string]any
		want   error
	}{
		{"bus production: no exp", Config{Algorithm: HS256, Secret: testSecret, RequireExp: true}, HS256, map[string]any{"sub": "u"}, ErrMissingExp},
		{"bus production: exp", Config{Algorithm: HS256, Secret: testSecret, RequireExp: true}, HS256, map[string]any{"exp": sec + 1}, nil},
		{"bus development: no exp", Config{Algorithm: HS256, Secret: testSecret}, HS256, map[string]any{"sub": "u"}, nil},
		{"shield: good HS256", shield, HS256, good, nil},
		{"shield: good HS384", shield, HS384, good, nil},
		{"shield: good HS512", shield, HS512, good, nil},
		{"shield: role ignored", shield, HS256, with("role", 12), nil},
		{"shield: no tenant", shield, HS256, with("tenant_id", nil), ErrMissingTenant},
		{"shield: tenant a.b", shield, HS256, with("tenant_id", "a.b"), ErrInvalidTenant},
		{"shield: no exp", shield, HS256, with("exp", nil), ErrMissingExp},
		{"shield: exp 10 s ago", shield, HS256, with("exp", sec-10), ErrExpired},
		{"shield: exp 4 s ago within leeway", shield, HS256, with("exp", sec-4), nil},
		{"shield: no sub", shield, HS256, with("sub", nil), ErrMissingSubject},
		{"shield: empty sub", shield, HS256, with("sub", ""), ErrInvalidSubject},
		{"shield: sub with control char", shield, HS256, with("sub", "a\x7fb"), ErrInvalidSubject},
		{"shield: sub 256 runes", shield, HS256, with("sub", strings.Repeat("é", 256)), nil},
		{"shield: sub 257 chars", shield, HS256, with("sub", strings.Repeat("a", 257)), ErrInvalidSubject},
		{"shield: sub number", shield, HS256, with("sub", 1), ErrClaimType},
		{"audience string", Config{Algorithm: HS256, Secret: testSecret, Audience: "bus"}, HS256, map[string]any{"aud": "bus"}, nil},
		{"audience array", Config{Algorithm: HS256, Secret: testSecret, Audience: "bus"}, HS256, map[string]any{"aud": []string{"x", "bus"}}, nil},
		{"audience missing", Config{Algorithm: HS256, Secret: testSecret, Audience: "bus"}, HS256, map[string]any{}, ErrAudience},
		{"audience other", Config{Algorithm: HS256, Secret: testSecret, Audience: "bus"}, HS256, map[string]any{"aud": []any{"x", 1}}, ErrAudience},
		{"issuer equal", Config{Algorithm: HS256, Secret: testSecret, Issuer: "idp"}, HS256, map[string]any{"iss": "idp"}, nil},
		{"issuer other", Config{Algorithm: HS256, Secret: testSecret, Issuer: "idp"}, HS256, map[string]any{"iss": "IDP"}, ErrIssuer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, tc.cfg)
			_, err := v.Verify(mustSign(t, tc.alg, testSecret, tc.claims), testNow)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAdversarialVerifyMaxTokenBytes(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret, MaxTokenBytes: 8192})
	ok := mustSign(t, HS256, testSecret, map[string]any{"pad": strings.Repeat("x", 5000)})
	if _, err := v.Verify(ok, testNow); err != nil {
		t.Fatalf("%d-byte token: %v", len(ok), err)
	}
	big := mustSign(t, HS256, testSecret, map[string]any{"pad": strings.Repeat("x", 7000)})
	if _, err := v.Verify(big, testNow); !errors.Is(err, ErrTokenTooLarge) {
		t.Fatalf("%d-byte token: err = %v, want ErrTokenTooLarge", len(big), err)
	}
}

func TestVerifyInsecureSkipSignature(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret, InsecureSkipSignature: true, RequireTenant: true})
	unsigned := b64(`{"alg":"none"}`) + "." + b64(`{"sub":"u","tenant_id":"t1"}`) + "."
	id, err := v.Verify(unsigned, testNow)
	if err != nil || id.Tenant != "t1" {
		t.Fatalf("id = %+v, err = %v", id, err)
	}
	// Claim rules still apply.
	noTenant := b64(`{"alg":"none"}`) + "." + b64(`{"sub":"u"}`) + "."
	if _, err := v.Verify(noTenant, testNow); !errors.Is(err, ErrMissingTenant) {
		t.Fatalf("err = %v, want ErrMissingTenant", err)
	}
	if _, err := v.Verify("a.b", testNow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

// Error texts are logged; they must never carry the token or its parts.
func TestAdversarialVerifyErrorNeverContainsToken(t *testing.T) {
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: testSecret, RequireExp: true})
	toks := []string{
		mustSign(t, HS256, []byte("wrong secret wrong secret wrong"), map[string]any{"sub": "u"}),
		mustSign(t, HS256, testSecret, map[string]any{"sub": "u", "exp": 1}),
		mustSign(t, HS256, testSecret, map[string]any{"sub": "u"}),
		mustSign(t, HS384, testSecret, map[string]any{"sub": "u"}),
		"abc.def",
		b64(`{"alg":"HS256"}`) + "." + b64(`{"exp":"soon"}`) + ".c2ln",
	}
	for _, tok := range toks {
		_, err := v.Verify(tok, testNow)
		if err == nil {
			t.Fatalf("accepted %q", tok)
		}
		for _, part := range strings.Split(tok, ".") {
			if len(part) >= 4 && strings.Contains(err.Error(), part) {
				t.Fatalf("error %q contains token segment %q", err, part)
			}
		}
		if Reason(err) == "invalid_token" {
			t.Fatalf("no specific reason for %v", err)
		}
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	testKeys(t)
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty algorithm", Config{Secret: testSecret}, `unsupported algorithm ""`},
		{"none", Config{Algorithm: "none", Secret: testSecret}, `unsupported algorithm "none"`},
		{"lower case", Config{Algorithm: "hs256", Secret: testSecret}, `unsupported algorithm "hs256"`},
		{"PS256", Config{Algorithm: "PS256", PublicKey: &rsaKey.PublicKey}, `unsupported algorithm "PS256"`},
		{"HS256 without secret", Config{Algorithm: HS256}, "algorithm HS256 requires a secret"},
		{"RS256 without key", Config{Algorithm: RS256}, "algorithm RS256 requires a public key"},
		{"both secret and key", Config{Algorithm: RS256, Secret: testSecret, PublicKey: &rsaKey.PublicKey}, "mutually exclusive"},
		{"RS256 with ecdsa key", Config{Algorithm: RS256, PublicKey: &ecKey.PublicKey}, "key type ecdsa does not match algorithm RS256"},
		{"ES256 with rsa key", Config{Algorithm: ES256, PublicKey: &rsaKey.PublicKey}, "key type rsa does not match algorithm ES256"},
		{"ES256 with P-384 key", Config{Algorithm: ES256, PublicKey: &p384.PublicKey}, "key type ecdsa P-384 does not match algorithm ES256"},
		{"EdDSA with rsa key", Config{Algorithm: EdDSA, PublicKey: &rsaKey.PublicKey}, "key type rsa does not match algorithm EdDSA"},
		{"EdDSA with private key", Config{Algorithm: EdDSA, PublicKey: edKey}, "key type ed25519.PrivateKey does not match algorithm EdDSA"},
		{"RS256 1024-bit", Config{Algorithm: RS256, PublicKey: &smallRSA.PublicKey}, "at least 2048 bits"},
		{"negative leeway", Config{Algorithm: HS256, Secret: testSecret, Leeway: -time.Second}, "leeway must not be negative"},
		{"HS mixed with RS", Config{Algorithm: HS256, Algorithms: []string{RS256}, Secret: testSecret}, "algorithm RS256 requires a public key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

// The verifier keeps its own copy of the secret: a caller zeroing or reusing
// its buffer must not change what verifies.
func TestNewVerifierCopiesSecret(t *testing.T) {
	buf := append([]byte(nil), testSecret...)
	v := mustVerifier(t, Config{Algorithm: HS256, Secret: buf})
	for i := range buf {
		buf[i] = 0
	}
	if _, err := v.Verify(mustSign(t, HS256, testSecret, nil), testNow); err != nil {
		t.Fatal(err)
	}
}

func TestSignErrors(t *testing.T) {
	testKeys(t)
	cases := []struct {
		name string
		alg  string
		key  any
	}{
		{"none", "none", testSecret},
		{"HS256 string key", HS256, "secret"},
		{"HS256 empty key", HS256, []byte{}},
		{"RS256 with ecdsa", RS256, ecKey},
		{"ES256 with ed25519", ES256, edKey},
		{"EdDSA with secret", EdDSA, testSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(tc.alg, tc.key, nil); err == nil {
				t.Fatal("Sign succeeded")
			}
		})
	}
	if _, err := Sign(HS256, testSecret, map[string]any{"bad": make(chan int)}); err == nil {
		t.Fatal("Sign accepted unencodable claims")
	}
}

// CLI.md §7: header {"alg":...,"typ":"JWT"}, integer iat/exp.
func TestSignShape(t *testing.T) {
	tok := mustSign(t, HS384, testSecret, map[string]any{"sub": "s", "iat": int64(100), "exp": int64(3700)})
	parts := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if string(h) != `{"alg":"HS384","typ":"JWT"}` {
		t.Fatalf("header = %s", h)
	}
	if string(c) != `{"exp":3700,"iat":100,"sub":"s"}` {
		t.Fatalf("claims = %s", c)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if len(sig) != 48 {
		t.Fatalf("HS384 signature is %d bytes", len(sig))
	}
	es := strings.Split(mustSign(t, ES256, ecKey, nil), ".")
	if sig, _ := base64.RawURLEncoding.DecodeString(es[2]); len(sig) != 64 {
		t.Fatalf("ES256 signature is %d bytes, want raw R||S 64", len(sig))
	}
}

// A generic crypto.Signer (e.g. an HSM or KMS wrapper) works for Sign.
type opaqueSigner struct{ crypto.Signer }

func TestSignWithOpaqueSigner(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		key, cfg := signerFor(t, alg)
		tok := mustSign(t, alg, opaqueSigner{key.(crypto.Signer)}, map[string]any{"sub": "x"})
		if _, err := mustVerifier(t, cfg).Verify(tok, testNow); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
	}
}

func TestReason(t *testing.T) {
	if got := Reason(errors.Join(errors.New("x"), ErrExpired)); got != "expired" {
		t.Fatalf("Reason = %q", got)
	}
	if got := Reason(errors.New("other")); got != "invalid_token" {
		t.Fatalf("Reason = %q", got)
	}
}
