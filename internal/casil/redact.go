package casil

import (
	"bytes"
	"regexp"
)

// RedactedValue replaces every redacted leaf value (OPERATIONS.md §8.4).
const RedactedValue = "***REDACTED***"

var redactedToken = []byte(`"` + RedactedValue + `"`)

// maxRedactDepth is the deepest nesting level kept by redaction; values
// nested deeper are replaced as a whole (OPERATIONS.md §8.4). The top-level
// value is at level 0, the members of a top-level object at level 1.
const maxRedactDepth = 32

// maxRedactedKeys bounds Result.RedactedKeys (OPERATIONS.md §8.4).
const maxRedactedKeys = 16

// walker parses a canonical serialisation S (canonicalize), validates its
// grammar and computes R = redact(V) in one pass. R is built copy-on-write:
// unchanged stretches of S are copied only once a change is found, and only
// when build is set, so an inspection that needs just the "redacted" bit
// allocates nothing.
type walker struct {
	s     []byte
	pos   int
	c     *compiled
	build bool

	changed bool
	out     []byte
	last    int // s[:last] has been written to out
	keys    []string
	stack   []byte // skip's container stack, reused
}

func (w *walker) run() error {
	if err := w.value(0, nil); err != nil {
		return err
	}
	if w.pos != len(w.s) {
		return errBadJSON
	}
	if w.build && w.changed {
		w.out = append(w.out, w.s[w.last:]...)
	}
	return nil
}

// replace records that s[start:end] becomes repl.
func (w *walker) replace(start, end int, repl []byte, key []byte) {
	w.changed = true
	if w.build {
		if w.out == nil {
			w.out = make([]byte, 0, len(w.s)+len(repl))
		}
		w.out = append(w.out, w.s[w.last:start]...)
		w.out = append(w.out, repl...)
		w.last = end
	}
	if key != nil && len(w.keys) < maxRedactedKeys {
		k := string(key)
		if bytes.IndexByte(key, '\\') >= 0 {
			k = decodeCanonString(key)
		}
		for _, have := range w.keys {
			if have == k {
				return
			}
		}
		w.keys = append(w.keys, k)
	}
}

// value walks one value at nesting level depth; key is the raw (canonical,
// unquoted) member name when the value is an object member.
func (w *walker) value(depth int, key []byte) error {
	if w.pos >= len(w.s) {
		return errBadJSON
	}
	if depth > maxRedactDepth || (key != nil && w.pathMatch(key)) {
		start := w.pos
		if err := w.skip(); err != nil {
			return err
		}
		if !bytes.Equal(w.s[start:w.pos], redactedToken) {
			w.replace(start, w.pos, redactedToken, key)
		}
		return nil
	}
	switch c := w.s[w.pos]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(depth)
	case c == '"':
		return w.str(key)
	default:
		return w.scalar()
	}
}

func (w *walker) object(depth int) error {
	w.pos++ // {
	if w.pos < len(w.s) && w.s[w.pos] == '}' {
		w.pos++
		return nil
	}
	for {
		if w.pos >= len(w.s) || w.s[w.pos] != '"' {
			return errBadJSON
		}
		kStart := w.pos + 1
		if err := w.skipString(); err != nil {
			return err
		}
		key := w.s[kStart : w.pos-1]
		if w.pos >= len(w.s) || w.s[w.pos] != ':' {
			return errBadJSON
		}
		w.pos++
		if err := w.value(depth+1, key); err != nil {
			return err
		}
		if w.pos >= len(w.s) {
			return errBadJSON
		}
		switch w.s[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			return nil
		default:
			return errBadJSON
		}
	}
}

func (w *walker) array(depth int) error {
	w.pos++ // [
	if w.pos < len(w.s) && w.s[w.pos] == ']' {
		w.pos++
		return nil
	}
	for {
		if err := w.value(depth+1, nil); err != nil {
			return err
		}
		if w.pos >= len(w.s) {
			return errBadJSON
		}
		switch w.s[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			return nil
		default:
			return errBadJSON
		}
	}
}

// str applies the redaction patterns to one string value.
func (w *walker) str(key []byte) error {
	start := w.pos
	if err := w.skipString(); err != nil {
		return err
	}
	if len(w.c.patterns) == 0 {
		return nil
	}
	body := w.s[start+1 : w.pos-1]
	hasEscape := bytes.IndexByte(body, '\\') >= 0
	var decoded string
	if hasEscape {
		decoded = decodeCanonString(body)
	}
	cur := ""
	touched := false
	for _, re := range w.c.patterns {
		if !touched {
			var hit bool
			if hasEscape {
				hit = re.MatchString(decoded)
			} else {
				hit = re.Match(body)
			}
			if !hit {
				continue
			}
			touched = true
			if hasEscape {
				cur = decoded
			} else {
				cur = string(body)
			}
		}
		cur = replaceNonEmpty(re, cur)
	}
	if !touched {
		return nil
	}
	orig := decoded
	if !hasEscape {
		orig = string(body)
	}
	if cur != orig {
		w.replace(start, w.pos, appendJSONString(nil, cur), key)
	}
	return nil
}

// replaceNonEmpty replaces every non-empty match of re in s. Empty matches
// (from patterns such as `\d*`) are left alone: replacing nothing with the
// marker would only insert markers between characters.
func replaceNonEmpty(re *regexp.Regexp, s string) string {
	locs := re.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b []byte
	last := 0
	for _, l := range locs {
		if l[1] == l[0] {
			continue
		}
		b = append(b, s[last:l[0]]...)
		b = append(b, RedactedValue...)
		last = l[1]
	}
	if b == nil {
		return s
	}
	b = append(b, s[last:]...)
	return string(b)
}

func (w *walker) pathMatch(key []byte) bool {
	for _, name := range w.c.paths {
		if len(name) == len(key) && asciiEqualFold(name, key) {
			return true
		}
	}
	if bytes.IndexByte(key, '\\') >= 0 {
		dk := []byte(decodeCanonString(key))
		for _, name := range w.c.paths {
			if len(name) == len(dk) && asciiEqualFold(name, dk) {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold compares lower (already lower-case) with b, folding only
// ASCII letters (OPERATIONS.md §8.4).
func asciiEqualFold(lower, b []byte) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// skipString moves past the canonical string at w.pos.
func (w *walker) skipString() error {
	i := w.pos + 1
	for i < len(w.s) {
		switch w.s[i] {
		case '"':
			w.pos = i + 1
			return nil
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return errBadJSON
}

// scalar moves past a number or literal, checking its grammar.
func (w *walker) scalar() error {
	s := w.s[w.pos:]
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(s, []byte(lit)) {
			w.pos += len(lit)
			return nil
		}
	}
	n := numberLen(s)
	if n == 0 {
		return errBadJSON
	}
	w.pos += n
	return nil
}

// numberLen returns the length of the JSON number at the start of s, or 0.
func numberLen(s []byte) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	return i
}

// skip moves past one value of any depth without recursion, checking its
// grammar.
func (w *walker) skip() error {
	st := w.stack[:0]
	defer func() { w.stack = st[:0] }()
	for {
		// Expect a value.
		if w.pos >= len(w.s) {
			return errBadJSON
		}
		switch w.s[w.pos] {
		case '{':
			w.pos++
			if w.pos < len(w.s) && w.s[w.pos] == '}' {
				w.pos++
				break
			}
			st = append(st, '{')
			if err := w.memberKey(); err != nil {
				return err
			}
			continue
		case '[':
			w.pos++
			if w.pos < len(w.s) && w.s[w.pos] == ']' {
				w.pos++
				break
			}
			st = append(st, '[')
			continue
		case '"':
			if err := w.skipString(); err != nil {
				return err
			}
		default:
			if err := w.scalar(); err != nil {
				return err
			}
		}
		// After a value: close containers until one continues.
		for {
			if len(st) == 0 {
				return nil
			}
			if w.pos >= len(w.s) {
				return errBadJSON
			}
			top, c := st[len(st)-1], w.s[w.pos]
			if c == ',' {
				w.pos++
				if top == '{' {
					if err := w.memberKey(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				w.pos++
				st = st[:len(st)-1]
				continue
			}
			return errBadJSON
		}
	}
}

// memberKey moves past `"key":`.
func (w *walker) memberKey() error {
	if w.pos >= len(w.s) || w.s[w.pos] != '"' {
		return errBadJSON
	}
	if err := w.skipString(); err != nil {
		return err
	}
	if w.pos >= len(w.s) || w.s[w.pos] != ':' {
		return errBadJSON
	}
	w.pos++
	return nil
}
