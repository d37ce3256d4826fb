package config

import (
	"fmt"
	"strconv"
	"strings"
)

// MirrorRule is one ARQON_SHIELD_MIRROR_RULES entry (SHIELD.md §12.1).
type MirrorRule struct {
	Pattern string
	Percent float64 // 0–100
	tokens  []string
}

// String returns the rule as written in the variable.
func (r MirrorRule) String() string {
	return r.Pattern + "=" + strconv.FormatFloat(r.Percent, 'f', -1, 64)
}

// Matches reports whether subject matches the rule's pattern token by token.
func (r MirrorRule) Matches(subject string) bool {
	toks := r.tokens
	if toks == nil {
		toks = strings.Split(r.Pattern, ".")
	}
	sub := strings.Split(subject, ".")
	for i, t := range toks {
		if t == ">" {
			return len(sub) > i
		}
		if i >= len(sub) || (t != "*" && t != sub[i]) {
			return false
		}
	}
	return len(sub) == len(toks)
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

func parseMirrorRules(label, v string) ([]MirrorRule, []string) {
	items, msg := parseList(label, v)
	if msg != "" {
		return nil, []string{msg}
	}
	out := make([]MirrorRule, 0, len(items))
	var msgs []string
	for _, it := range items {
		r, reason := parseMirrorRule(it)
		if reason != "" {
			msgs = append(msgs, fmt.Sprintf("%s: invalid rule %q: %s", label, it, reason))
			continue
		}
		out = append(out, r)
	}
	if msgs != nil {
		return nil, msgs
	}
	return out, nil
}

func parseMirrorRule(entry string) (MirrorRule, string) {
	i := strings.LastIndex(entry, "=")
	if i < 0 {
		return MirrorRule{}, "missing '='"
	}
	pattern, pct := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
	toks := strings.Split(pattern, ".")
	for j, t := range toks {
		switch {
		case t == "":
			return MirrorRule{}, "empty subject token"
		case t == ">":
			if j != len(toks)-1 {
				return MirrorRule{}, "'>' must be the last token"
			}
		case t == "*":
		case strings.ContainsAny(t, "*>"):
			return MirrorRule{}, "wildcard must be a whole token"
		case strings.ContainsAny(t, " \t\r\n"):
			return MirrorRule{}, "whitespace in subject token"
		}
	}
	p, err := strconv.ParseFloat(pct, 64)
	if err != nil || !numberSyntax.MatchString(pct) || p < 0 || p > 100 {
		return MirrorRule{}, "percent must be between 0 and 100"
	}
	return MirrorRule{Pattern: pattern, Percent: p, tokens: toks}, ""
}
