package redact

import "strings"

// Text scrubs credentials out of free text such as an error message that
// quotes a URL, leaving everything else verbatim:
//   - the user-info password of every "scheme://user:pass@" becomes "***"
//     (a user name alone becomes "***");
//   - the value of token=, access_token=, auth_token=, api_key= and jwt=
//     (case-insensitive, at a word boundary) becomes "REDACTED";
//   - anything shaped like a JWT ("eyJ…" with two dots) becomes "REDACTED".
//
// Text is a no-op (and does not allocate) on text with none of "://", "=" or "eyJ".
func Text(s string) string {
	if !strings.Contains(s, "://") && strings.IndexByte(s, '=') < 0 && !strings.Contains(s, "eyJ") {
		return s
	}
	s = scrubUserinfo(s)
	s = scrubParams(s)
	return scrubJWTs(s)
}

// endOfValue reports characters that end a URL authority or a parameter
// value in free text.
func endOfValue(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '`', '<', '>', '&', '#', ';', ',', ')', ']', '}', '\\':
		return true
	}
	return false
}

// endOfAuthority ends "user:pass@host:port" in free text. Sub-delimiters such
// as '&', ';' and ',' may appear in a password, so they do not end it.
func endOfAuthority(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\r', '\n', '"', '\'', '`', '<', '>', '\\':
		return true
	}
	return false
}

func scrubUserinfo(s string) string {
	var b strings.Builder
	last, changed := 0, false // s[last:] not yet copied
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		start := i + j + 3
		end := start
		for end < len(s) && !endOfAuthority(s[end]) {
			end++
		}
		i = start
		at := strings.LastIndexByte(s[start:end], '@')
		if at < 0 {
			continue
		}
		ui := s[start : start+at]
		from := start // first byte of the secret part
		if c := strings.IndexByte(ui, ':'); c >= 0 {
			from = start + c + 1
		}
		if s[from:start+at] == Mask || (from == start && ui == "") {
			i = start + at + 1
			continue
		}
		b.WriteString(s[last:from])
		b.WriteString(Mask)
		last, changed = start+at, true
		i = start + at + 1
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

func scrubParams(s string) string {
	var b strings.Builder
	last, changed := 0, false
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			continue
		}
		k := i
		for k > 0 && isWordByte(s[k-1]) {
			k--
		}
		if k == i || !isSecretParam(s[k:i]) {
			continue
		}
		end := i + 1
		for end < len(s) && !endOfValue(s[end]) {
			end++
		}
		if v := s[i+1 : end]; v == "" || v == Redacted {
			continue
		}
		b.WriteString(s[last : i+1])
		b.WriteString(Redacted)
		last, changed = end, true
		i = end - 1
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isB64URLByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// scrubJWTs replaces "eyJ<b64>.<b64>.<b64>*": every JWS header is a JSON
// object, and base64url of `{"` always starts with "eyJ".
func scrubJWTs(s string) string {
	var b strings.Builder
	last, changed := 0, false
	for i := 0; ; {
		j := strings.Index(s[i:], "eyJ")
		if j < 0 {
			break
		}
		start := i + j
		i = start + 3
		if start > 0 && isB64URLByte(s[start-1]) {
			continue
		}
		end, dots := start, 0
		for end < len(s) {
			c := s[end]
			if c == '.' && dots < 2 && end > start && s[end-1] != '.' {
				dots++
			} else if !isB64URLByte(c) {
				break
			}
			end++
		}
		if dots < 2 {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last, changed = end, true
		i = end
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
