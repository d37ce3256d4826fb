package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// mirrorRulesVar is the variable ParseMirrorRules and ParseMirrorRule name
// in their errors.
const mirrorRulesVar = "ARQON_SHIELD_MIRROR_RULES"

// MirrorRule is one ARQON_SHIELD_MIRROR_RULES entry (SHIELD.md §12.1). This
// is the only mirror-rule type: Shield uses it as shield.MirrorRule.
type MirrorRule struct {
	Pattern string  // validated NATS-style subject pattern
	Percent float64 // 0–100
}

// String returns the rule as written in the variable.
func (r MirrorRule) String() string {
	return r.Pattern + "=" + strconv.FormatFloat(r.Percent, 'f', -1, 64)
}

// Matches reports whether subject matches the rule's pattern token by token
// (SHIELD.md §12.1): a literal must be equal, `*` consumes one token, `>`
// needs at least one remaining token, and otherwise both lists must end
// together. It does not allocate; Shield calls it for every connection.
func (r MirrorRule) Matches(subject string) bool {
	pat, sub, subLeft := r.Pattern, subject, true
	for {
		if !subLeft {
			return false
		}
		pt, pRest, pMore := strings.Cut(pat, ".")
		if pt == ">" {
			return true
		}
		st, sRest, sMore := strings.Cut(sub, ".")
		if pt != "*" && pt != st {
			return false
		}
		if !pMore {
			return !sMore
		}
		pat, sub, subLeft = pRest, sRest, sMore
	}
}

// MirrorPercent returns the percentage of the first rule matching subject,
// and false when no rule matches.
func MirrorPercent(rules []MirrorRule, subject string) (float64, bool) {
	for _, r := range rules {
		if r.Matches(subject) {
			return r.Percent, true
		}
	}
	return 0, false
}

// DefaultMirrorRules returns the default rule list `in.t.>=0`: one rule at
// 0 %, so nothing is mirrored.
func DefaultMirrorRules() []MirrorRule {
	return []MirrorRule{{Pattern: "in.t.>", Percent: 0}}
}

// ParseMirrorRule parses one `<pattern>=<percent>` entry. The error is the
// configuration message `ARQON_SHIELD_MIRROR_RULES: invalid rule "R": <reason>`.
func ParseMirrorRule(entry string) (MirrorRule, error) {
	r, reason := parseMirrorRule(entry)
	if reason != "" {
		return MirrorRule{}, errors.New(invalidRule(mirrorRulesVar, entry, reason))
	}
	return r, nil
}

// ParseMirrorRules parses a rule list written as the variable's value (the
// list syntax of OPERATIONS.md §2.3: items split on `,` and trimmed, empty
// items dropped, or a JSON array). It returns the valid rules in order and
// one error per malformed entry; the loader refuses the whole list if there
// is any error.
func ParseMirrorRules(s string) ([]MirrorRule, []error) {
	rules, msgs := mirrorRules(mirrorRulesVar, s)
	var errs []error
	for _, m := range msgs {
		errs = append(errs, errors.New(m))
	}
	return rules, errs
}

// parseMirrorRules is the loader's form: all rules, or nil and every message.
func parseMirrorRules(label, v string) ([]MirrorRule, []string) {
	rules, msgs := mirrorRules(label, v)
	if msgs != nil {
		return nil, msgs
	}
	return rules, nil
}

func mirrorRules(label, v string) ([]MirrorRule, []string) {
	items, msg := parseList(label, v)
	if msg != "" {
		return nil, []string{msg}
	}
	out := make([]MirrorRule, 0, len(items))
	var msgs []string
	for _, it := range items {
		r, reason := parseMirrorRule(it)
		if reason != "" {
			msgs = append(msgs, invalidRule(label, it, reason))
			continue
		}
		out = append(out, r)
	}
	return out, msgs
}

func invalidRule(label, entry, reason string) string {
	return fmt.Sprintf("%s: invalid rule %q: %s", label, entry, reason)
}

// parseMirrorRule returns the rule, or the §12.1 reason it is malformed.
// The reasons are a closed set, so a literal token containing whitespace is
// reported like one containing `*` or `>`: "wildcard must be a whole token".
func parseMirrorRule(entry string) (MirrorRule, string) {
	i := strings.LastIndexByte(entry, '=')
	if i < 0 {
		return MirrorRule{}, "missing '='"
	}
	pattern, pct := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
	rest, more := pattern, true
	for more {
		var t string
		t, rest, more = strings.Cut(rest, ".")
		switch {
		case t == "":
			return MirrorRule{}, "empty subject token"
		case t == ">":
			if more {
				return MirrorRule{}, "'>' must be the last token"
			}
		case t == "*":
		case strings.ContainsAny(t, "*>") || strings.IndexFunc(t, unicode.IsSpace) >= 0:
			return MirrorRule{}, "wildcard must be a whole token"
		}
	}
	p, err := strconv.ParseFloat(pct, 64)
	if err != nil || !numberSyntax.MatchString(pct) || p < 0 || p > 100 {
		return MirrorRule{}, "percent must be between 0 and 100"
	}
	return MirrorRule{Pattern: pattern, Percent: p}, ""
}
