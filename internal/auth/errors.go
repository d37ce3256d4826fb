package auth

import "errors"

// Verification failures. Verify wraps exactly one of these (errors.Is works),
// so a caller can log or count a reason without ever seeing the token. The
// client only learns "Invalid token" / "JWT decode failed" (PROTOCOL.md §3.3,
// SHIELD.md §6.3).
var (
	// ErrMalformed: not a compact JWS of three unpadded base64url segments,
	// or a header/claims segment that is not a single JSON object (duplicate
	// member names included), or a "crit" header.
	ErrMalformed = errors.New("malformed token")
	// ErrTokenTooLarge: longer than Config.MaxTokenBytes (Shield: 8192).
	ErrTokenTooLarge = errors.New("token too large")
	// ErrAlgorithm: the header "alg" is not the configured algorithm
	// ("none" and other members of the same family included).
	ErrAlgorithm = errors.New("algorithm not accepted")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("signature invalid")
	// ErrExpired: now > exp + leeway.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: now < nbf - leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuedInFuture: iat > now + leeway.
	ErrIssuedInFuture = errors.New("token issued in the future")
	// ErrClaimType: exp/nbf/iat not a JSON number, or sub/role/tenant_id not a string.
	ErrClaimType = errors.New("claim has the wrong type")
	// ErrMissingExp: Config.RequireExp and no exp claim.
	ErrMissingExp = errors.New("exp claim required")
	// ErrMissingTenant: Config.RequireTenant and no tenant_id claim.
	ErrMissingTenant = errors.New("tenant_id claim required")
	// ErrInvalidTenant: tenant_id does not match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
	ErrInvalidTenant = errors.New("tenant_id invalid")
	// ErrMissingSubject: Config.RequireSubject and no sub claim.
	ErrMissingSubject = errors.New("sub claim required")
	// ErrInvalidSubject: Config.RequireSubject and sub is empty, longer than
	// 256 characters or contains a control character (SHIELD.md §7.2).
	ErrInvalidSubject = errors.New("sub invalid")
	// ErrAudience: Config.Audience is set and aud does not contain it.
	ErrAudience = errors.New("audience not accepted")
	// ErrIssuer: Config.Issuer is set and iss does not equal it.
	ErrIssuer = errors.New("issuer not accepted")
)

// Reason returns a short snake_case label for a Verify error, suitable as a
// log attribute ("expired", "signature", ...); "invalid_token" for anything
// else. It never contains token material.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "invalid_token"
}

var reasons = []struct {
	err   error
	label string
}{
	{ErrMalformed, "malformed"},
	{ErrTokenTooLarge, "too_large"},
	{ErrAlgorithm, "algorithm"},
	{ErrSignature, "signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrIssuedInFuture, "issued_in_future"},
	{ErrClaimType, "claim_type"},
	{ErrMissingExp, "missing_exp"},
	{ErrMissingTenant, "missing_tenant"},
	{ErrInvalidTenant, "invalid_tenant"},
	{ErrMissingSubject, "missing_subject"},
	{ErrInvalidSubject, "invalid_subject"},
	{ErrAudience, "audience"},
	{ErrIssuer, "issuer"},
}
