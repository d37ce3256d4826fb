package casil

import "bytes"

// Go's regexp engine needs tens of microseconds for the seven
// case-insensitive default secret patterns on a typical message, which is
// most of the cost of an inspection. defaultSecretMatch is an exact
// hand-written equivalent for the common case; BenchmarkInspectMonitor and
// TestDefaultScanMatchesRegexp (which checks it against defaultScan) back it.

// Under (?i) Go also folds U+212A KELVIN SIGN to k and U+017F LATIN SMALL
// LETTER LONG S to s. A window holding either is scanned with the regexp.
var (
	kelvinSign = []byte("\u212A")
	longS      = []byte("\u017F")
)

// scanDefault reports whether any default secret pattern matches w.
func scanDefault(w []byte) bool {
	for _, c := range w {
		if c >= 0x80 {
			if bytes.Contains(w, kelvinSign) || bytes.Contains(w, longS) {
				return defaultScan.Match(w)
			}
			break
		}
	}
	return defaultSecretMatch(w)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasFoldPrefix reports whether w starts with the lower-case ASCII word,
// ignoring ASCII case.
func hasFoldPrefix(w []byte, word string) bool {
	if len(w) < len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if lower(w[i]) != word[i] {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// isPerlSpace is RE2's \s: [\t\n\f\r ].
func isPerlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// startsPattern marks the bytes a default pattern can start with.
var startsPattern = func() (t [256]bool) {
	for _, c := range []byte("aAsStTpPbB") {
		t[c] = true
	}
	return t
}()

func defaultSecretMatch(w []byte) bool {
	for i := 0; i < len(w); i++ {
		if !startsPattern[w[i]] {
			continue
		}
		rest := w[i:]
		switch lower(w[i]) {
		case 'a': // (?i)api[_-]?key
			if hasFoldPrefix(rest, "api") {
				r := rest[3:]
				if len(r) > 0 && (r[0] == '_' || r[0] == '-') && hasFoldPrefix(r[1:], "key") {
					return true
				}
				if hasFoldPrefix(r, "key") {
					return true
				}
			}
		case 's': // (?i)secret, sk_(live|test)_[0-9a-zA-Z]{16,}
			if hasFoldPrefix(rest, "secret") {
				return true
			}
			if w[i] == 's' && stripeKey(rest) {
				return true
			}
		case 't': // (?i)token
			if hasFoldPrefix(rest, "token") {
				return true
			}
		case 'p': // (?i)password, pk_(live|test)_[0-9a-zA-Z]{16,}
			if hasFoldPrefix(rest, "password") {
				return true
			}
			if w[i] == 'p' && stripeKey(rest) {
				return true
			}
		case 'b': // (?i)bearer\s+[A-Za-z0-9._-]+
			if hasFoldPrefix(rest, "bearer") {
				j := 6
				for j < len(rest) && isPerlSpace(rest[j]) {
					j++
				}
				if j > 6 && j < len(rest) && (isAlnum(rest[j]) || rest[j] == '.' || rest[j] == '_' || rest[j] == '-') {
					return true
				}
			}
		}
	}
	return false
}

// stripeKey matches `[sp]k_(live|test)_[0-9a-zA-Z]{16,}` at the start of w
// (case-sensitive, w[0] already checked).
func stripeKey(w []byte) bool {
	if len(w) < 8+16 || w[1] != 'k' || w[2] != '_' || w[7] != '_' {
		return false
	}
	if mode := string(w[3:7]); mode != "live" && mode != "test" {
		return false
	}
	for _, c := range w[8 : 8+16] {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}
