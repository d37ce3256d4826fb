package casil

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// errBadGlob is returned by compileGlob for a pattern that does not compile.
var errBadGlob = errors.New("invalid glob")

// ValidateGlob reports whether g is a valid CASIL glob (OPERATIONS.md §8.1):
// fnmatch-style and case-sensitive, where `*` matches any run of characters
// (including `:`), `?` matches one character, `[…]` is a character class
// (`[!…]` or `[^…]` negates it, `a-z` is a range, a `]` right after the
// opening bracket is literal) and `\x` matches x literally. An unterminated
// class, an inverted range or a trailing backslash does not compile.
//
// The configuration loader uses it so that the environment and
// op.casil.reload accept exactly the same globs.
func ValidateGlob(g string) error {
	_, err := compileGlob(g)
	return err
}

type globOp uint8

const (
	globLiteral globOp = iota
	globAny            // ?
	globStar           // *
	globClass          // [...]
)

type globAtom struct {
	op     globOp
	r      rune
	negate bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

// glob is a compiled pattern. Patterns without metacharacters, and patterns
// that are a literal prefix followed by one `*`, are matched without the
// general algorithm because they are by far the most common.
type glob struct {
	src    string
	atoms  []globAtom
	exact  bool   // src has no metacharacters: plain equality
	prefix string // non-empty with prefixOnly: strings.HasPrefix
	prefOK bool
}

func compileGlob(g string) (glob, error) {
	out := glob{src: g}
	meta := false
	for i := 0; i < len(g); {
		r, size := utf8.DecodeRuneInString(g[i:])
		switch r {
		case '*':
			meta = true
			// Consecutive stars are equivalent to one.
			if n := len(out.atoms); n == 0 || out.atoms[n-1].op != globStar {
				out.atoms = append(out.atoms, globAtom{op: globStar})
			}
			i += size
		case '?':
			meta = true
			out.atoms = append(out.atoms, globAtom{op: globAny})
			i += size
		case '\\':
			meta = true
			i += size
			if i >= len(g) {
				return glob{}, errBadGlob
			}
			lr, lsize := utf8.DecodeRuneInString(g[i:])
			out.atoms = append(out.atoms, globAtom{op: globLiteral, r: lr})
			i += lsize
		case '[':
			meta = true
			a, n, err := compileClass(g[i:])
			if err != nil {
				return glob{}, err
			}
			out.atoms = append(out.atoms, a)
			i += n
		default:
			out.atoms = append(out.atoms, globAtom{op: globLiteral, r: r})
			i += size
		}
	}
	if !meta {
		out.exact = true
		return out, nil
	}
	// "literal-prefix*" fast path.
	if n := len(out.atoms); n > 0 && out.atoms[n-1].op == globStar {
		var b strings.Builder
		ok := true
		for _, a := range out.atoms[:n-1] {
			if a.op != globLiteral {
				ok = false
				break
			}
			b.WriteRune(a.r)
		}
		if ok {
			out.prefix, out.prefOK = b.String(), true
		}
	}
	return out, nil
}

// compileClass parses a class starting at s[0] == '[' and returns the number
// of bytes consumed.
func compileClass(s string) (globAtom, int, error) {
	a := globAtom{op: globClass}
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		a.negate = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return globAtom{}, 0, errBadGlob
		}
		if s[i] == ']' && !first {
			return a, i + 1, nil
		}
		first = false
		lo, n, err := classRune(s, i)
		if err != nil {
			return globAtom{}, 0, err
		}
		i += n
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, n, err = classRune(s, i+1)
			if err != nil {
				return globAtom{}, 0, err
			}
			if hi < lo {
				return globAtom{}, 0, errBadGlob
			}
			i += 1 + n
		}
		a.ranges = append(a.ranges, runeRange{lo, hi})
	}
}

func classRune(s string, i int) (rune, int, error) {
	if s[i] == '\\' {
		if i+1 >= len(s) {
			return 0, 0, errBadGlob
		}
		r, n := utf8.DecodeRuneInString(s[i+1:])
		return r, n + 1, nil
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, nil
}

func (a *globAtom) matches(r rune) bool {
	switch a.op {
	case globLiteral:
		return a.r == r
	case globAny:
		return true
	case globClass:
		in := false
		for _, rg := range a.ranges {
			if r >= rg.lo && r <= rg.hi {
				in = true
				break
			}
		}
		return in != a.negate
	}
	return false
}

// match reports whether the whole of s matches the glob. It is the classic
// two-pointer wildcard algorithm: on a mismatch it backtracks to the last
// star only, which is correct because every other atom matches exactly one
// character. It runs in O(len(atoms)·len(s)) and never allocates.
func (g *glob) match(s string) bool {
	if g.exact {
		return s == g.src
	}
	if g.prefOK {
		return strings.HasPrefix(s, g.prefix)
	}
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for {
		if pi < len(g.atoms) && g.atoms[pi].op == globStar {
			starPi, starSi = pi, si
			pi++
			continue
		}
		if si >= len(s) {
			if pi == len(g.atoms) {
				return true
			}
		} else if pi < len(g.atoms) {
			r, size := utf8.DecodeRuneInString(s[si:])
			if g.atoms[pi].matches(r) {
				pi++
				si += size
				continue
			}
		}
		if starPi < 0 || starSi >= len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSi:])
		starSi += size
		pi, si = starPi+1, starSi
	}
}

type globSet []glob

func (gs globSet) any(s string) bool {
	for i := range gs {
		if gs[i].match(s) {
			return true
		}
	}
	return false
}
