// Package redact keeps secrets out of logs and configuration output
// (OPERATIONS.md §4.14 and §9, SHIELD.md §14): URL passwords become "***",
// token-bearing query parameters and JWTs become "REDACTED", and secret
// variables are only ever shown as set/unset.
package redact

import (
	"net/url"
	"strconv"
	"strings"
)

const (
	// Redacted replaces secret values: query parameters, secret attributes, JWTs.
	Redacted = "REDACTED"
	// Mask replaces the user-info password of a URL.
	Mask = "***"
	// InvalidURL is what URL returns for input that does not parse. The input
	// is never echoed, since the reason it fails may be the password in it.
	InvalidURL = "<invalid url>"
)

// secretParams are the query parameters whose values are credentials
// (OPERATIONS.md §4.14 and §9). Matching is case-insensitive.
var secretParams = []string{"token", "access_token", "auth_token", "api_key", "jwt"}

func isSecretParam(name string) bool {
	for _, p := range secretParams {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// placeholder stands in for the mask while net/url builds the string: url
// would percent-encode "*" in user info. It uses unreserved characters only.
const placeholder = "arqonbusMASKarqonbus"

// URL returns raw with its user-info password replaced by "***" (a user name
// without a password, which is how NATS token URLs look, is replaced too) and
// the values of the query and fragment parameters token, access_token,
// auth_token, api_key and jwt replaced by "REDACTED". Everything else is kept.
// Input that does not parse yields "<invalid url>".
//
//	URL("redis://:pw@db:6379/0")          == "redis://:***@db:6379/0"
//	URL("ws://h/ws?token=eyJ...&room=a")  == "ws://h/ws?token=REDACTED&room=a"
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return InvalidURL
	}
	var userinfo, masked string // escaped user info as url writes it, and its replacement
	if u.User != nil {
		name := u.User.Username()
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(name, placeholder)
			userinfo = u.User.String()
			masked = url.User(name).String() + ":" + Mask
		} else if name != "" {
			u.User = url.User(placeholder)
			userinfo, masked = placeholder, Mask
		}
	}
	u.RawQuery = redactParams(u.RawQuery)
	if frag := u.EscapedFragment(); strings.IndexByte(frag, '=') >= 0 {
		if red := redactParams(frag); red != frag {
			u.Fragment, u.RawFragment = unescapeOr(red), red
		}
	}
	out := u.String()
	if userinfo != "" {
		// The first "//" is the authority marker: a scheme cannot contain '/'.
		if i := strings.Index(out, "//"+userinfo+"@"); i >= 0 {
			out = out[:i+2] + masked + out[i+2+len(userinfo):]
		} else {
			return InvalidURL // unreachable in practice; never risk leaking
		}
	}
	return out
}

func unescapeOr(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// redactParams rewrites "k=v&k2=v2" keeping order and raw encoding, replacing
// non-empty values of secret parameters. A key is compared after unescaping,
// so "%74oken=" is caught too.
func redactParams(q string) string {
	if q == "" {
		return q
	}
	var b strings.Builder
	changed := false
	for i, piece := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, v, hasValue := strings.Cut(piece, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && v != "" && v != Redacted && isSecretParam(name) {
			b.WriteString(k)
			b.WriteString("=" + Redacted)
			changed = true
			continue
		}
		b.WriteString(piece)
	}
	if !changed {
		return q
	}
	return b.String()
}

// IsSecretName reports whether a configuration variable (or its flag, e.g.
// "--admin-api-key") holds a secret (OPERATIONS.md §4.14): its name contains
// SECRET, PASSWORD, TOKEN or API_KEY, or it is ARQONBUS_AUTH_JWT.
func IsSecretName(name string) bool {
	n := strings.ToUpper(strings.ReplaceAll(strings.TrimLeft(name, "-"), "-", "_"))
	if booleanNotSecret[n] {
		return false
	}
	for _, w := range []string{"SECRET", "PASSWORD", "TOKEN", "API_KEY"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "ARQONBUS_AUTH_JWT" || n == "AUTH_JWT"
}

// booleanNotSecret lists switches whose names match the §4.14 name rule but
// whose values are plain booleans, not secrets. Redacting them would only
// hide configuration from operators (reported as a spec bug).
var booleanNotSecret = map[string]bool{
	"ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET": true, "CASIL_BLOCK_ON_PROBABLE_SECRET": true,
	"ARQON_SHIELD_ALLOW_QUERY_TOKEN": true, "ALLOW_QUERY_TOKEN": true, "SHIELD_ALLOW_QUERY_TOKEN": true,
}

// Summary shows a secret the way preflight output does (OPERATIONS.md
// §4.14): "<set, N bytes>" or "<unset>" for "".
func Summary(value string) string {
	if value == "" {
		return "<unset>"
	}
	return "<set, " + strconv.Itoa(len(value)) + " bytes>"
}

// State shows a secret the way log lines do: "set" or "unset" for "".
func State(value string) string {
	if value == "" {
		return "unset"
	}
	return "set"
}
