package redact

import (
	"log/slog"
	"net/url"
	"strings"
)

// secretKeys are attribute keys whose value is always replaced (OPERATIONS.md
// §9), compared case-insensitively with '-' read as '_'. access_token and
// auth_token are added for symmetry with the query parameters.
var secretKeys = []string{"token", "secret", "password", "authorization", "api_key", "x_api_key", "jwt", "access_token", "auth_token"}

func isSecretKey(k string) bool {
	k = strings.ReplaceAll(k, "-", "_")
	for _, s := range secretKeys {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

// urlKeyWords mark attributes that hold a URL or address ("url",
// "redis_url", "nats.urls", "addr", ...).
var urlKeyWords = []string{"url", "urls", "uri", "addr", "address", "dsn", "endpoint"}

func isURLKey(k string) bool {
	for w := range strings.FieldsFuncSeq(k, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		for _, u := range urlKeyWords {
			if strings.EqualFold(w, u) {
				return true
			}
		}
	}
	return false
}

// ReplaceAttr is the central slog.HandlerOptions.ReplaceAttr of every
// subcommand (OPERATIONS.md §9):
//   - an attribute whose key (or enclosing group) is token, secret, password,
//     authorization, api_key, x-api-key or jwt (any case) becomes "REDACTED";
//   - every other string, error or []string value goes through Text, so a
//     URL password, a token query parameter or a JWT never reaches the output;
//   - a URL-named attribute (url, uri, addr, *_url, ...) holding one URL also
//     goes through URL; *url.URL values do too.
//
// The message goes through Text; time, level and source are left alone.
func ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey, slog.LevelKey, slog.SourceKey:
			return a
		case slog.MessageKey:
			// Messages should be constants, but a formatted one must not leak.
			if v := a.Value.String(); Text(v) != v {
				return slog.String(a.Key, Text(v))
			}
			return a
		}
	}
	if isSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if isSecretKey(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		v := a.Value.String()
		if r := scrubValue(a.Key, v); r != v {
			return slog.String(a.Key, r)
		}
	case slog.KindAny:
		switch x := a.Value.Any().(type) {
		case error:
			if x == nil {
				return a
			}
			msg := x.Error()
			if r := Text(msg); r != msg {
				return slog.String(a.Key, r)
			}
		case *url.URL:
			if x != nil {
				return slog.String(a.Key, URL(x.String()))
			}
		case []string:
			var out []string
			for i, v := range x {
				if r := scrubValue(a.Key, v); r != v {
					if out == nil {
						out = append([]string(nil), x...)
					}
					out[i] = r
				}
			}
			if out != nil {
				return slog.Any(a.Key, out)
			}
		}
	}
	return a
}

func scrubValue(key, v string) string {
	r := Text(v)
	if isURLKey(key) && strings.Contains(r, "://") && !strings.ContainsAny(r, " \t\r\n,") {
		if u := URL(r); u != InvalidURL {
			r = u
		}
	}
	return r
}
