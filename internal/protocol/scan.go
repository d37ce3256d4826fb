package protocol

import (
	"strconv"
	"unicode/utf8"
)

// This file is a small validating JSON scanner. Decode uses it instead of
// encoding/json so that one pass over the frame validates it (including UTF-8
// inside strings, which encoding/json silently repairs), locates the top-level
// members and learns whether a value needs compaction, without building maps.

// maxDepth matches encoding/json's nesting limit so both accept the same
// documents.
const maxDepth = 10000

// Kinds of JSON values, as recorded in a span.
const (
	kindAbsent byte = iota
	kindObject
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

const detailEOF = "unexpected end of JSON input"

// span locates one JSON value inside a buffer.
type span struct {
	start, end int  // d[start:end] is the value text
	kind       byte // kindAbsent when the key was not present
	esc        bool // string with escape sequences
	ws         bool // insignificant whitespace inside the value
}

// present reports whether the key was given with a non-null value.
func (s span) present() bool { return s.kind != kindAbsent && s.kind != kindNull }

var wsTable = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func skipWS(d []byte, i int) int {
	for i < len(d) && wsTable[d[i]] {
		i++
	}
	return i
}

// quoteChar renders a byte for an error detail the way encoding/json does.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// syntaxError says why input is not JSON. The zero value means no error.
// The text is built only by String, so rejecting input (which SplitBatch
// does for every batch frame) allocates nothing.
type syntaxError struct {
	msg  string // the context after the character, or the whole text
	c    byte
	char bool // the text is "invalid character <c> <msg>"
}

var errEOF = syntaxError{msg: detailEOF}

func (e syntaxError) ok() bool { return e.msg == "" }

func (e syntaxError) String() string {
	if !e.char {
		return e.msg
	}
	return "invalid character " + quoteChar(e.c) + " " + e.msg
}

func badChar(c byte, context string) syntaxError {
	return syntaxError{msg: context, c: c, char: true}
}

// scanString validates the string starting at d[i] == '"' and returns the
// index after its closing quote.
func scanString(d []byte, i int) (end int, esc bool, detail syntaxError) {
	j := i + 1
	for j < len(d) {
		c := d[j]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			j++
			continue
		}
		switch {
		case c == '"':
			return j + 1, esc, syntaxError{}
		case c == '\\':
			esc = true
			j++
			if j >= len(d) {
				return 0, esc, errEOF
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				j++
				for k := 0; k < 4; k++ {
					if j >= len(d) {
						return 0, esc, errEOF
					}
					if !isHex(d[j]) {
						return 0, esc, badChar(d[j], "in \\u hexadecimal character escape")
					}
					j++
				}
			default:
				return 0, esc, badChar(d[j], "in string escape code")
			}
		case c < 0x20:
			return 0, esc, badChar(c, "in string literal")
		default:
			r, size := utf8.DecodeRune(d[j:])
			if r == utf8.RuneError && size == 1 {
				return 0, esc, syntaxError{msg: "invalid UTF-8 in string"}
			}
			j += size
		}
	}
	return 0, esc, errEOF
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber validates the number starting at d[i].
func scanNumber(d []byte, i int) (int, syntaxError) {
	if d[i] == '-' {
		i++
		if i >= len(d) {
			return 0, errEOF
		}
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		return 0, badChar(d[i], "in numeric literal")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) {
			return 0, errEOF
		}
		if !isDigit(d[i]) {
			return 0, badChar(d[i], "after decimal point in numeric literal")
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) {
			return 0, errEOF
		}
		if !isDigit(d[i]) {
			return 0, badChar(d[i], "in exponent of numeric literal")
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	return i, syntaxError{}
}

func literalContext(lit string) string {
	switch lit {
	case "true":
		return "in literal true"
	case "false":
		return "in literal false"
	}
	return "in literal null"
}

func scanLiteral(d []byte, i int, lit string) (int, syntaxError) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(d) {
			return 0, errEOF
		}
		if d[i+k] != lit[k] {
			return 0, badChar(d[i+k], literalContext(lit))
		}
	}
	return i + len(lit), syntaxError{}
}

// scanValue validates the JSON value starting at d[i] (no leading whitespace)
// and returns the span it occupies. depth is the nesting depth of the
// enclosing containers.
func scanValue(d []byte, i, depth int) (span, syntaxError) {
	sp := span{start: i}
	if i >= len(d) {
		return sp, errEOF
	}
	var stackBuf [32]byte
	stack := stackBuf[:0]
	first := true
	for {
		// Parse one value at i (or open a container).
		if i >= len(d) {
			return sp, errEOF
		}
		c := d[i]
		var detail syntaxError
		switch {
		case c == '{' || c == '[':
			if len(stack)+depth >= maxDepth {
				return sp, syntaxError{msg: "exceeded max depth"}
			}
			if first {
				sp.kind = kindObject
				if c == '[' {
					sp.kind = kindArray
				}
			}
			j := i + 1
			i = skipWS(d, j)
			if i != j {
				sp.ws = true
			}
			if i >= len(d) {
				return sp, errEOF
			}
			if c == '{' && d[i] == '}' || c == '[' && d[i] == ']' {
				i++
				break
			}
			stack = append(stack, c)
			first = false
			if c == '{' {
				var ok bool
				if i, ok, detail = objectKey(d, i, &sp); !ok {
					return sp, detail
				}
			}
			continue
		case c == '"':
			var esc bool
			if i, esc, detail = scanString(d, i); !detail.ok() {
				return sp, detail
			}
			if first {
				sp.kind, sp.esc = kindString, esc
			}
		case c == '-' || isDigit(c):
			if i, detail = scanNumber(d, i); !detail.ok() {
				return sp, detail
			}
			if first {
				sp.kind = kindNumber
			}
		case c == 't':
			if i, detail = scanLiteral(d, i, "true"); !detail.ok() {
				return sp, detail
			}
			if first {
				sp.kind = kindBool
			}
		case c == 'f':
			if i, detail = scanLiteral(d, i, "false"); !detail.ok() {
				return sp, detail
			}
			if first {
				sp.kind = kindBool
			}
		case c == 'n':
			if i, detail = scanLiteral(d, i, "null"); !detail.ok() {
				return sp, detail
			}
			if first {
				sp.kind = kindNull
			}
		default:
			return sp, badChar(c, "looking for beginning of value")
		}
		first = false
		// A value ended at i: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				sp.end = i
				return sp, syntaxError{}
			}
			j := i
			i = skipWS(d, i)
			if i != j {
				sp.ws = true
			}
			if i >= len(d) {
				return sp, errEOF
			}
			top := stack[len(stack)-1]
			if d[i] == ',' {
				j = i + 1
				i = skipWS(d, j)
				if i != j {
					sp.ws = true
				}
				if top == '{' {
					var ok bool
					if i, ok, detail = objectKey(d, i, &sp); !ok {
						return sp, detail
					}
				}
				break
			}
			if top == '{' && d[i] == '}' || top == '[' && d[i] == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if top == '{' {
				return sp, badChar(d[i], "after object key:value pair")
			}
			return sp, badChar(d[i], "after array element")
		}
	}
}

// objectKey scans `"key" :` at d[i] and returns the index of the value.
func objectKey(d []byte, i int, sp *span) (int, bool, syntaxError) {
	if i >= len(d) {
		return 0, false, errEOF
	}
	if d[i] != '"' {
		return 0, false, badChar(d[i], "looking for beginning of object key string")
	}
	end, _, detail := scanString(d, i)
	if !detail.ok() {
		return 0, false, detail
	}
	i = skipWS(d, end)
	if i != end {
		sp.ws = true
	}
	if i >= len(d) {
		return 0, false, errEOF
	}
	if d[i] != ':' {
		return 0, false, badChar(d[i], "after object key")
	}
	j := i + 1
	i = skipWS(d, j)
	if i != j {
		sp.ws = true
	}
	return i, true, syntaxError{}
}

// validJSON reports whether d is exactly one JSON value (surrounding
// whitespace allowed) with valid UTF-8 in every string, and a parser detail
// when it is not.
func validJSON(d []byte) (span, syntaxError) {
	i := skipWS(d, 0)
	sp, detail := scanValue(d, i, 0)
	if !detail.ok() {
		return sp, detail
	}
	if j := skipWS(d, sp.end); j < len(d) {
		return sp, badChar(d[j], "after top-level value")
	}
	return sp, syntaxError{}
}

// objIter walks the members of an object. Each value is validated.
type objIter struct {
	d     []byte
	i     int
	depth int
	first bool
}

// newObjIter starts at d[i] == '{'. depth is the nesting depth of the object
// itself (1 for a top-level object).
func newObjIter(d []byte, i, depth int) objIter {
	return objIter{d: d, i: i + 1, depth: depth, first: true}
}

// next returns the next member. ok is false at the closing brace (then it.i is
// the index after it) or on a syntax error (!detail.ok()).
func (it *objIter) next() (key, val span, ok bool, detail syntaxError) {
	d := it.d
	i := skipWS(d, it.i)
	if i >= len(d) {
		return key, val, false, errEOF
	}
	if d[i] == '}' {
		it.i = i + 1
		return key, val, false, syntaxError{}
	}
	if !it.first {
		if d[i] != ',' {
			return key, val, false, badChar(d[i], "after object key:value pair")
		}
		i = skipWS(d, i+1)
		if i >= len(d) {
			return key, val, false, errEOF
		}
	}
	it.first = false
	if d[i] != '"' {
		return key, val, false, badChar(d[i], "looking for beginning of object key string")
	}
	end, esc, detail := scanString(d, i)
	if !detail.ok() {
		return key, val, false, detail
	}
	key = span{start: i, end: end, kind: kindString, esc: esc}
	i = skipWS(d, end)
	if i >= len(d) {
		return key, val, false, errEOF
	}
	if d[i] != ':' {
		return key, val, false, badChar(d[i], "after object key")
	}
	i = skipWS(d, i+1)
	val, detail = scanValue(d, i, it.depth)
	if !detail.ok() {
		return key, val, false, detail
	}
	it.i = val.end
	return key, val, true, syntaxError{}
}

// keyEquals reports whether the key span (a validated JSON string) decodes to
// name.
func keyEquals(d []byte, key span, name string) bool {
	if !key.esc {
		return string(d[key.start+1:key.end-1]) == name
	}
	var buf [64]byte
	return string(AppendUnescaped(buf[:0], d[key.start+1:key.end-1])) == name
}

// strBytes returns the decoded contents of a validated JSON string span. It
// aliases d when the string has no escapes.
func strBytes(d []byte, s span) []byte {
	raw := d[s.start+1 : s.end-1]
	if !s.esc {
		return raw
	}
	return AppendUnescaped(make([]byte, 0, len(raw)), raw)
}

// AppendUnescaped decodes the contents of a validated JSON string (without
// quotes). Lone surrogates become U+FFFD, as in encoding/json.
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if r >= 0xD800 && r < 0xDC00 {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 := hex4(raw[i+3 : i+7])
					if r2 >= 0xDC00 && r2 < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
		i++
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c <= '9':
			r |= rune(c - '0')
		case c >= 'a':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// appendCompact appends the validated JSON value src without insignificant
// whitespace.
func appendCompact(dst, src []byte) []byte {
	inStr := false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// appendValue appends a scanned value, compacting it when needed.
func appendValue(dst, d []byte, s span) []byte {
	if s.ws {
		return appendCompact(dst, d[s.start:s.end])
	}
	return append(dst, d[s.start:s.end]...)
}
