package casil

import (
	"errors"
	"unicode/utf8"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

var (
	errUnterminated = errors.New("unterminated string")
	errBadString    = errors.New("invalid string")
	errBadJSON      = errors.New("invalid JSON value")
	errTooDeep      = errors.New("nesting too deep")
)

// canonicalize appends to dst the compact serialisation S of the JSON value
// src (OPERATIONS.md §8.2): whitespace outside strings removed, key order
// and number literals kept, strings re-encoded with the minimal escapes
// (`\"`, `\\`, and control characters), UTF-8 written as is, no HTML
// escaping. Invalid UTF-8 becomes U+FFFD, as encoders do. It does not check
// the grammar outside strings: the redaction walker does.
func canonicalize(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
			// Dropping whitespace must not join two scalars ("[1 2]").
			if n := len(dst); n > 0 && i < len(src) && isScalarByte(dst[n-1]) && isScalarByte(src[i]) {
				return dst, errBadJSON
			}
		case '"':
			var err error
			dst, i, err = canonString(dst, src, i)
			if err != nil {
				return dst, err
			}
		default:
			// Copy the run up to the next string or whitespace in one go.
			j := i + 1
			for j < len(src) {
				d := src[j]
				if d == '"' || d == ' ' || d == '\t' || d == '\n' || d == '\r' {
					break
				}
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j
		}
	}
	return dst, nil
}

func isScalarByte(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '.' || c == '-' || c == '+'
}

// canonString re-encodes the string that starts at src[i] == '"'.
func canonString(dst, src []byte, i int) ([]byte, int, error) {
	dst = append(dst, '"')
	i++
	for {
		// Fast path: copy a run of bytes that need no change.
		j := i
		for j < len(src) {
			c := src[j]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			j++
		}
		dst = append(dst, src[i:j]...)
		i = j
		if i >= len(src) {
			return dst, i, errUnterminated
		}
		c := src[i]
		switch {
		case c == '"':
			return append(dst, '"'), i + 1, nil
		case c < 0x20:
			return dst, i, errBadString
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, src[i:i+size]...)
			}
			i += size
		default: // backslash
			if i+1 >= len(src) {
				return dst, i, errUnterminated
			}
			e := src[i+1]
			i += 2
			switch e {
			case '"', '\\':
				dst = append(dst, '\\', e)
			case '/':
				dst = append(dst, '/')
			case 'b', 'f', 'n', 'r', 't':
				dst = append(dst, '\\', e)
			case 'u':
				r, ok := hex4(src, i)
				if !ok {
					return dst, i, errBadString
				}
				i += 4
				if 0xD800 <= r && r < 0xDC00 {
					// A high surrogate must be followed by an escaped low one.
					if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
						if lo, ok := hex4(src, i+2); ok && 0xDC00 <= lo && lo < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				} else if 0xDC00 <= r && r < 0xE000 {
					r = utf8.RuneError
				}
				dst = appendStringRune(dst, r)
			default:
				return dst, i, errBadString
			}
		}
	}
}

func hex4(src []byte, i int) (rune, bool) {
	if i+4 > len(src) {
		return 0, false
	}
	var r rune
	for _, c := range src[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// appendStringRune appends r as it appears inside a canonical JSON string.
func appendStringRune(dst []byte, r rune) []byte {
	switch r {
	case '"', '\\':
		return append(dst, '\\', byte(r))
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if r < 0x20 {
		return append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
	}
	return utf8.AppendRune(dst, r)
}

// appendJSONString appends s as a canonical JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		dst = appendStringRune(dst, r)
	}
	return append(dst, '"')
}

// decodeCanonString decodes the body of a canonical string (without its
// quotes). A canonical string is a valid JSON string, so the protocol's
// unescaper serves.
func decodeCanonString(b []byte) string {
	return string(protocol.AppendUnescaped(make([]byte, 0, len(b)), b))
}
