package config

import (
	"encoding/json"
	"fmt"
	"github.com/arqonbus/arqonbus/internal/casil"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The value parsers of OPERATIONS.md §2.3. Each takes the label used in the
// message (a variable name, or a flag name when the value came from a flag)
// and the trimmed, non-empty raw value. They never panic.

var (
	intSyntax    = regexp.MustCompile(`^-?[0-9]+$`)
	numberSyntax = regexp.MustCompile(`^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`)
)

const boolExpected = "(expected one of true, false, 1, 0, yes, no, on, off)"

func parseBool(label, v string) (bool, string) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, ""
	case "false", "0", "no", "off":
		return false, ""
	}
	return false, fmt.Sprintf("%s: invalid boolean %q %s", label, v, boolExpected)
}

func parseInt(label, v string, r *bounds) (int, string) {
	if !intSyntax.MatchString(v) {
		return 0, fmt.Sprintf("%s: invalid integer %q", label, v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < math.MinInt || n > math.MaxInt {
		if r != nil {
			// Out of int64 range is still a range problem for the user.
			return 0, r.message(label, v, kindInt)
		}
		return 0, fmt.Sprintf("%s: invalid integer %q", label, v)
	}
	if r != nil && !r.contains(float64(n)) {
		return 0, r.message(label, strconv.FormatInt(n, 10), kindInt)
	}
	return int(n), ""
}

func parseNumber(label, v string, r *bounds) (float64, string) {
	if !numberSyntax.MatchString(v) {
		return 0, fmt.Sprintf("%s: invalid number %q", label, v)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Sprintf("%s: invalid number %q", label, v)
	}
	if r != nil && !r.contains(f) {
		return 0, r.message(label, strconv.FormatFloat(f, 'f', -1, 64), kindNumber)
	}
	return f, ""
}

func parseDuration(label, v string, r *bounds) (time.Duration, string) {
	bad := fmt.Sprintf("%s: invalid duration %q (use e.g. 500ms, 5s or a number of seconds)", label, v)
	var d time.Duration
	if numberSyntax.MatchString(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*float64(time.Second) > math.MaxInt64 {
			return 0, bad
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		var err error
		d, err = time.ParseDuration(v)
		if err != nil {
			return 0, bad
		}
	}
	if r != nil && !r.contains(float64(d)) {
		return 0, r.message(label, formatDuration(d), kindDuration)
	}
	return d, ""
}

// formatDuration prints a duration the way the spec writes them: 5m, 1m30s, 500ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func parseEnum(label, v string, values []string, aliases map[string]string) (string, string) {
	lv := strings.ToLower(v)
	for _, c := range values {
		if strings.ToLower(c) == lv {
			return c, ""
		}
	}
	if c, ok := aliases[lv]; ok {
		return c, ""
	}
	return "", fmt.Sprintf("%s: invalid value %q (expected one of: %s)", label, v, strings.Join(values, ", "))
}

// parseList returns a non-nil slice; "-" is an explicitly empty list.
func parseList(label, v string) ([]string, string) {
	if v == "-" {
		return []string{}, ""
	}
	if strings.HasPrefix(v, "[") {
		var items []string
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			return nil, fmt.Sprintf("%s: invalid list (%v)", label, err)
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			if strings.TrimSpace(it) != "" {
				out = append(out, it)
			}
		}
		return out, ""
	}
	out := []string{}
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, ""
}

func parseRegexList(label, v string) ([]*regexp.Regexp, []string) {
	items, msg := parseList(label, v)
	if msg != "" {
		return nil, []string{msg}
	}
	out := make([]*regexp.Regexp, 0, len(items))
	var msgs []string
	for _, p := range items {
		re, err := regexp.Compile(p)
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: invalid regular expression %q: %v", label, p, err))
			continue
		}
		out = append(out, re)
	}
	return out, msgs
}

// parseGlobList accepts the CASIL scope globs of OPERATIONS.md §8.1, with the
// same validator op.casil.reload uses, so the environment and a reload accept
// exactly the same globs.
func parseGlobList(label, v string) ([]string, []string) {
	items, msg := parseList(label, v)
	if msg != "" {
		return nil, []string{msg}
	}
	var msgs []string
	for _, g := range items {
		if err := casil.ValidateGlob(g); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: invalid glob %q", label, g))
		}
	}
	if msgs != nil {
		return nil, msgs
	}
	return items, nil
}

// parseURL never echoes the value: it may hold a password.
func parseURL(label, v string, schemes []string) (string, string) {
	u, err := url.Parse(v)
	if err == nil && u.Host != "" {
		for _, s := range schemes {
			if strings.EqualFold(u.Scheme, s) {
				return v, ""
			}
		}
	}
	return "", fmt.Sprintf("%s: invalid URL (scheme must be %s)", label, strings.Join(schemes, " or "))
}

func parseURLList(label, v string, schemes []string) ([]string, string) {
	items, msg := parseList(label, v)
	if msg != "" {
		return nil, msg
	}
	for _, it := range items {
		if _, msg := parseURL(label, it, schemes); msg != "" {
			return nil, msg
		}
	}
	return items, ""
}

// parseHost accepts a host name or an IP literal (IPv6 with or without brackets).
func parseHost(label, v string) (string, string) {
	h := v
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		if ip := net.ParseIP(h); ip == nil || ip.To4() != nil {
			return "", fmt.Sprintf("%s: invalid host %q", label, v)
		}
		return h, ""
	}
	if strings.Contains(h, ":") {
		if net.ParseIP(h) == nil {
			return "", fmt.Sprintf("%s: invalid host %q", label, v)
		}
		return h, ""
	}
	if strings.ContainsAny(h, " \t\r\n/?#@[]") {
		return "", fmt.Sprintf("%s: invalid host %q", label, v)
	}
	return h, ""
}

// bounds is an inclusive numeric range. Integers and durations (in
// nanoseconds) are exact as float64 for every range this package uses.
type bounds struct {
	min, max float64
	hasMax   bool
	// msg replaces the range form when a specification gives its own text.
	msg string
}

func between(min, max float64) *bounds { return &bounds{min: min, max: max, hasMax: true} }
func atLeast(min float64) *bounds      { return &bounds{min: min} }

func (b *bounds) contains(f float64) bool {
	return f >= b.min && (!b.hasMax || f <= b.max)
}

func (b *bounds) message(label, got string, k kind) string {
	if b.msg != "" {
		return b.msg
	}
	f := func(x float64) string {
		switch k {
		case kindDuration:
			return formatDuration(time.Duration(x))
		case kindNumber:
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return strconv.FormatInt(int64(x), 10)
	}
	if !b.hasMax {
		return fmt.Sprintf("%s: must be >= %s (got %s)", label, f(b.min), got)
	}
	return fmt.Sprintf("%s: must be between %s and %s (got %s)", label, f(b.min), f(b.max), got)
}

func (b *bounds) doc(k kind) string {
	if b == nil {
		return ""
	}
	f := func(x float64) string {
		switch k {
		case kindDuration:
			return formatDuration(time.Duration(x))
		case kindNumber:
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return strconv.FormatInt(int64(x), 10)
	}
	if !b.hasMax {
		return "≥ " + f(b.min)
	}
	return f(b.min) + "–" + f(b.max)
}
