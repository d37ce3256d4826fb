// Package auth verifies and mints the JWTs of the bus and of Shield
// (PROTOCOL.md §3.3, SHIELD.md §7) and extracts tokens from WebSocket
// upgrade requests. One Verifier serves both; what differs between them
// (accepted algorithms, leeway, required claims) is its Config.
//
// Only the standard library's crypto is used: the accepted surface is small
// (one configured algorithm, compact JWS only) and a library would bring
// features, such as JWK fetching or algorithm negotiation, that the
// specification forbids.
package auth

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config parameterises a Verifier. The bus sets Algorithm, the key, Leeway and
// RequireExp (staging/production); Shield sets Algorithm HS256 with
// Algorithms {HS384, HS512}, RequireExp, RequireTenant, RequireSubject,
// MaxTokenBytes 8192 and, when configured, Audience and Issuer.
type Config struct {
	// Algorithm is the accepted header "alg": HS256 HS384 HS512 RS256 ES256 EdDSA.
	Algorithm string
	// Algorithms are further accepted algorithms that use the same key
	// (Shield accepts all three HS* with one secret, SHIELD.md §7.1). The bus
	// leaves it empty: exactly one algorithm is accepted.
	Algorithms []string
	// Secret is the HMAC key for HS*: the raw bytes of the configured value.
	Secret []byte
	// PublicKey verifies RS256 (*rsa.PublicKey, ≥ 2048 bits), ES256
	// (*ecdsa.PublicKey on P-256) or EdDSA (ed25519.PublicKey).
	PublicKey crypto.PublicKey
	// Leeway is the clock skew allowed for exp, nbf and iat (≥ 0).
	Leeway time.Duration
	// RequireExp rejects tokens without exp (bus staging/production, Shield).
	RequireExp bool
	// RequireTenant rejects tokens without tenant_id (Shield).
	RequireTenant bool
	// RequireSubject applies Shield's sub rule (SHIELD.md §7.2): present, a
	// string of 1–256 characters without control characters.
	RequireSubject bool
	// IgnoreRole skips the type check of role (Shield has no roles,
	// SHIELD.md §7.2); Identity.Role is then always "user".
	IgnoreRole bool
	// Audience, when non-empty, must be aud (a string) or an element of aud
	// (an array of strings).
	Audience string
	// Issuer, when non-empty, must equal iss.
	Issuer string
	// MaxTokenBytes rejects longer tokens before any decoding (Shield 8192);
	// 0 means no limit.
	MaxTokenBytes int
	// InsecureSkipSignature disables only the algorithm and signature checks;
	// every claim rule still applies. Shield's JWT_SKIP_VALIDATION, development
	// only (SHIELD.md §3.3). A key is still required.
	InsecureSkipSignature bool
}

// Verifier checks compact JWS tokens against one Config. It is immutable and
// safe for concurrent use.
type Verifier struct {
	algs     []string
	secret   []byte
	key      crypto.PublicKey
	leeway   time.Duration
	cfg      Config // requirement flags only; keys live above
	maxBytes int
}

// DefaultRole is the role of a token without a role claim.
const DefaultRole = "user"

// Identity is what a valid token says about its holder (PROTOCOL.md §3.3).
type Identity struct {
	Subject    string
	HasSubject bool
	// Role is the claim value, DefaultRole when absent.
	Role      string
	Tenant    string
	HasTenant bool
	// Expiry is exp, zero when the token has none.
	Expiry time.Time
	// Deadline is Expiry + leeway: the instant after which the session must
	// be closed with 4401 (PROTOCOL.md §3.7, SHIELD.md §7.3). Zero without exp.
	Deadline time.Time
	// Claims holds every claim; JSON numbers are json.Number.
	Claims map[string]any
}

// IsAdmin reports whether the lower-cased role is "admin" (PROTOCOL.md §3.3).
func (i *Identity) IsAdmin() bool {
	return strings.ToLower(i.Role) == "admin"
}

// NewVerifier validates cfg and returns a Verifier. Configuration mistakes
// (unknown algorithm, missing or mismatched key, both a secret and a public
// key, negative leeway) are errors.
func NewVerifier(cfg Config) (*Verifier, error) {
	list := cfg.Algorithms
	if cfg.Algorithm != "" || len(list) == 0 {
		list = append([]string{cfg.Algorithm}, list...)
	}
	var algs []string
	for _, a := range list {
		if !Supported(a) {
			return nil, fmt.Errorf("unsupported algorithm %q (expected one of %s)", a, strings.Join(SupportedAlgorithms(), ", "))
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(cfg.Secret) > 0 && cfg.PublicKey != nil {
		return nil, errors.New("a JWT secret and a public key are mutually exclusive")
	}
	for _, a := range algs {
		if IsHMAC(a) {
			if len(cfg.Secret) == 0 {
				return nil, fmt.Errorf("algorithm %s requires a secret", a)
			}
			continue
		}
		if cfg.PublicKey == nil {
			return nil, fmt.Errorf("algorithm %s requires a public key", a)
		}
		if err := checkPublicKey(a, cfg.PublicKey); err != nil {
			return nil, err
		}
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("leeway must not be negative (got %s)", cfg.Leeway)
	}
	if cfg.MaxTokenBytes < 0 {
		return nil, fmt.Errorf("max token bytes must not be negative (got %d)", cfg.MaxTokenBytes)
	}
	v := &Verifier{
		algs:     algs,
		secret:   bytes.Clone(cfg.Secret),
		key:      cfg.PublicKey,
		leeway:   cfg.Leeway,
		maxBytes: cfg.MaxTokenBytes,
	}
	v.cfg = Config{
		RequireExp:            cfg.RequireExp,
		RequireTenant:         cfg.RequireTenant,
		RequireSubject:        cfg.RequireSubject,
		IgnoreRole:            cfg.IgnoreRole,
		Audience:              cfg.Audience,
		Issuer:                cfg.Issuer,
		InsecureSkipSignature: cfg.InsecureSkipSignature,
	}
	return v, nil
}

// Leeway returns the configured clock-skew allowance.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

// Verify checks token at instant now and returns the identity it carries.
// Errors wrap one of the Err* sentinels and never contain the token.
func (v *Verifier) Verify(token string, now time.Time) (*Identity, error) {
	if v.maxBytes > 0 && len(token) > v.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTokenTooLarge, len(token), v.maxBytes)
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return nil, fmt.Errorf("%w: expected 3 segments, got 1", ErrMalformed)
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return nil, fmt.Errorf("%w: expected 3 segments, got 2", ErrMalformed)
	}
	d2 += d1 + 1
	if n := strings.Count(token[d2+1:], "."); n > 0 {
		return nil, fmt.Errorf("%w: expected 3 segments, got %d", ErrMalformed, 3+n)
	}
	headerB, err := decodeSegment(token[:d1])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	claimsB, err := decodeSegment(token[d1+1 : d2])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	sig, err := decodeSegment(token[d2+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	header, err := decodeObject(headerB)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	// RFC 7515 §4.1.11: critical extensions must be understood; we know none.
	if _, ok := header["crit"]; ok {
		return nil, fmt.Errorf("%w: header: unsupported crit parameter", ErrMalformed)
	}
	if !v.cfg.InsecureSkipSignature {
		alg, ok := header["alg"].(string)
		if !ok {
			return nil, fmt.Errorf("%w: header alg missing or not a string", ErrAlgorithm)
		}
		if !slices.Contains(v.algs, alg) {
			return nil, fmt.Errorf("%w: alg %q", ErrAlgorithm, truncate(alg, 16))
		}
		if len(sig) == 0 || !verifySignature(alg, v.secret, v.key, []byte(token[:d2]), sig) {
			return nil, ErrSignature
		}
	}
	claims, err := decodeObject(claimsB)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return v.identity(claims, now)
}

func (v *Verifier) identity(claims map[string]any, now time.Time) (*Identity, error) {
	id := &Identity{Role: DefaultRole, Claims: claims}

	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return nil, err
	}
	if hasExp {
		id.Expiry = exp
		id.Deadline = exp.Add(v.leeway)
		if now.After(id.Deadline) {
			return nil, fmt.Errorf("%w at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
		}
	} else if v.cfg.RequireExp {
		return nil, ErrMissingExp
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, err
	}
	if ok && now.Before(nbf.Add(-v.leeway)) {
		return nil, fmt.Errorf("%w before %s", ErrNotYetValid, nbf.UTC().Format(time.RFC3339))
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return nil, err
	}
	if ok && iat.After(now.Add(v.leeway)) {
		return nil, fmt.Errorf("%w: iat %s", ErrIssuedInFuture, iat.UTC().Format(time.RFC3339))
	}

	if raw, ok := claims["sub"]; ok {
		s, isStr := raw.(string)
		if !isStr {
			return nil, fmt.Errorf("%w: sub must be a string", ErrClaimType)
		}
		id.Subject, id.HasSubject = s, true
	}
	if v.cfg.RequireSubject {
		if !id.HasSubject {
			return nil, ErrMissingSubject
		}
		if !validSubject(id.Subject) {
			return nil, ErrInvalidSubject
		}
	}
	if raw, ok := claims["role"]; ok && !v.cfg.IgnoreRole {
		s, isStr := raw.(string)
		if !isStr {
			return nil, fmt.Errorf("%w: role must be a string", ErrClaimType)
		}
		id.Role = s
	}
	if raw, ok := claims["tenant_id"]; ok {
		s, isStr := raw.(string)
		if !isStr {
			return nil, fmt.Errorf("%w: tenant_id must be a string", ErrClaimType)
		}
		if !ValidTenant(s) {
			return nil, ErrInvalidTenant
		}
		id.Tenant, id.HasTenant = s, true
	} else if v.cfg.RequireTenant {
		return nil, ErrMissingTenant
	}
	if v.cfg.Audience != "" && !audienceContains(claims["aud"], v.cfg.Audience) {
		return nil, ErrAudience
	}
	if v.cfg.Issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.cfg.Issuer {
			return nil, ErrIssuer
		}
	}
	return id, nil
}

// ValidTenant reports whether s matches ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$,
// the tenant grammar of PROTOCOL.md §3.3 and SHIELD.md §7.2.
func ValidTenant(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func validSubject(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= 0x1f || r == 0x7f {
			return false
		}
	}
	return true
}

func audienceContains(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// maxNumericDate bounds exp/nbf/iat (about year 36812) so that absurd values
// stay ordered correctly instead of overflowing time.Time arithmetic.
const maxNumericDate = 1 << 40

// numericDate reads a NumericDate claim (seconds since the epoch, possibly
// fractional). It must be a JSON number when present.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return time.Time{}, false, fmt.Errorf("%w: %s must be a number", ErrClaimType, name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a representable number", ErrClaimType, name)
	}
	f = math.Max(-maxNumericDate, math.Min(maxNumericDate, f))
	sec := math.Floor(f)
	nsec := math.Round((f - sec) * 1e9)
	return time.Unix(int64(sec), int64(nsec)).UTC(), true, nil
}

// decodeSegment decodes unpadded base64url, rejecting the padding, line
// breaks and non-canonical trailing bits that encoding/base64 would tolerate.
func decodeSegment(seg string) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("invalid base64url character at offset %d", i)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, errors.New("invalid base64url")
	}
	return b, nil
}

// decodeObject decodes one JSON object with numbers as json.Number. Duplicate
// member names and trailing data are rejected: two parsers reading different
// "alg" or "exp" members is a classic token-confusion hole.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	obj := make(map[string]any)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate member %q", truncate(key, 16))
		}
		var val any
		if err := dec.Decode(&val); err != nil {
			return nil, errors.New("invalid JSON")
		}
		obj[key] = val
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return obj, nil
}

// truncate bounds attacker-chosen text that goes into error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
