package shield

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// MirrorRule is one `<pattern>=<percent>` entry of
// ARQON_SHIELD_MIRROR_RULES (SHIELD.md §12.1).
type MirrorRule struct {
	Pattern string
	Percent float64
	tokens  []string
}

// Mirror-rule error reasons (SHIELD.md §12.1).
var (
	errEmptyToken     = errors.New("empty subject token")
	errGTNotLast      = errors.New("'>' must be the last token")
	errWildcardToken  = errors.New("wildcard must be a whole token")
	errPercentRange   = errors.New("percent must be between 0 and 100")
	errMissingEquals  = errors.New("missing '='")
	defaultMirrorRule = MirrorRule{Pattern: "in.t.>", Percent: 0, tokens: []string{"in", "t", ">"}}
)

// DefaultMirrorRules is the default `in.t.>=0`, i.e. mirroring off.
func DefaultMirrorRules() []MirrorRule { return []MirrorRule{defaultMirrorRule} }

// ParseMirrorRule parses one entry. The error has the full configuration
// message form `ARQON_SHIELD_MIRROR_RULES: invalid rule "R": <reason>`.
func ParseMirrorRule(entry string) (MirrorRule, error) {
	r, err := parseMirrorRule(entry)
	if err != nil {
		return MirrorRule{}, fmt.Errorf("ARQON_SHIELD_MIRROR_RULES: invalid rule %q: %w", entry, err)
	}
	return r, nil
}

// ParseMirrorRules parses a comma-separated rule list (items trimmed, empty
// items dropped, as for every list variable) and returns every error.
func ParseMirrorRules(s string) ([]MirrorRule, []error) {
	var rules []MirrorRule
	var errs []error
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := ParseMirrorRule(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errs
}

func parseMirrorRule(entry string) (MirrorRule, error) {
	i := strings.LastIndexByte(entry, '=')
	if i < 0 {
		return MirrorRule{}, errMissingEquals
	}
	pattern, pct := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
	tokens := strings.Split(pattern, ".")
	for k, t := range tokens {
		switch {
		case t == "":
			return MirrorRule{}, errEmptyToken
		case t == ">":
			if k != len(tokens)-1 {
				return MirrorRule{}, errGTNotLast
			}
		case t == "*":
		case strings.ContainsAny(t, "*>") || strings.IndexFunc(t, unicode.IsSpace) >= 0:
			return MirrorRule{}, errWildcardToken
		}
	}
	p, err := strconv.ParseFloat(pct, 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
		return MirrorRule{}, errPercentRange
	}
	return MirrorRule{Pattern: pattern, Percent: p, tokens: tokens}, nil
}

// Matches reports whether subject matches the rule's pattern token by token.
func (r MirrorRule) Matches(subject string) bool {
	toks := r.tokens
	if toks == nil {
		toks = strings.Split(r.Pattern, ".")
	}
	rest := subject
	for i, t := range toks {
		if t == ">" {
			return rest != ""
		}
		if rest == "" && i < len(toks) {
			return false
		}
		var tok string
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			tok, rest = rest[:j], rest[j+1:]
			if rest == "" {
				return false // trailing dot: empty last token
			}
		} else {
			tok, rest = rest, ""
		}
		if t != "*" && t != tok {
			return false
		}
	}
	return rest == ""
}

// mirrorPercent returns the percent of the first matching rule, or -1.
func mirrorPercent(rules []MirrorRule, subject string) float64 {
	for _, r := range rules {
		if r.Matches(subject) {
			return r.Percent
		}
	}
	return -1
}

// SampleUnit is u(conn_id) of SHIELD.md §12.2: the first 8 bytes of
// SHA-256(conn_id) as a big-endian uint64, shifted right by 11, over 2^53.
func SampleUnit(connID string) float64 {
	sum := sha256.Sum256([]byte(connID))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// Sampled reports whether a connection with unit u is mirrored at percent.
func Sampled(u, percent float64) bool {
	if percent <= 0 {
		return false
	}
	if percent >= 100 {
		return true
	}
	return u < percent/100
}
