package casil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ReloadError lists every problem of an op.casil.reload. Its text is the
// problems joined by "; "; the bus prefixes "Validation error: "
// (OPERATIONS.md §8.7).
type ReloadError struct {
	Problems []string
}

func (e *ReloadError) Error() string { return strings.Join(e.Problems, "; ") }

var boolKeys = map[string]func(*Policy) *bool{
	"enabled":                  func(p *Policy) *bool { return &p.Enabled },
	"block_on_probable_secret": func(p *Policy) *bool { return &p.BlockOnProbableSecret },
	"transport_redaction":      func(p *Policy) *bool { return &p.TransportRedaction },
	"metadata_to_logs":         func(p *Policy) *bool { return &p.MetadataToLogs },
	"metadata_to_telemetry":    func(p *Policy) *bool { return &p.MetadataToTelemetry },
	"metadata_to_envelope":     func(p *Policy) *bool { return &p.MetadataToEnvelope },
}

var listKeys = map[string]func(*Policy) *[]string{
	"scope_include":         func(p *Policy) *[]string { return &p.ScopeInclude },
	"scope_exclude":         func(p *Policy) *[]string { return &p.ScopeExclude },
	"redaction_paths":       func(p *Policy) *[]string { return &p.RedactionPaths },
	"redaction_patterns":    func(p *Policy) *[]string { return &p.RedactionPatterns },
	"never_log_payload_for": func(p *Policy) *[]string { return &p.NeverLogPayloadFor },
}

var intKeys = map[string]struct {
	field func(*Policy) *int
	min   int
	msg   string
}{
	"max_payload_bytes": {func(p *Policy) *int { return &p.MaxPayloadBytes }, 0, "'max_payload_bytes' must be >= 0"},
	"max_inspect_bytes": {func(p *Policy) *int { return &p.MaxInspectBytes }, 1, "'max_inspect_bytes' must be > 0"},
	"max_patterns":      {func(p *Policy) *int { return &p.MaxPatterns }, 0, "'max_patterns' must be >= 0"},
}

// ParseReload applies the args object of an op.casil.reload to current and
// validates the result (OPERATIONS.md §8.7). Keys not given keep their
// current values. On any problem it returns current unchanged and a
// *ReloadError listing every problem. On success the returned Policy is
// compiled and ready for Engine.Swap. Absent or null args change nothing.
func ParseReload(current Policy, args json.RawMessage) (Policy, error) {
	next := current.clone()
	next.c = nil
	var members map[string]json.RawMessage
	if t := bytes.TrimSpace(args); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if t[0] != '{' || json.Unmarshal(t, &members) != nil {
			return current, &ReloadError{Problems: []string{"'args' must be an object"}}
		}
	}
	var probs []string
	typeFailed := map[string]bool{}
	fail := func(key, msg string) {
		typeFailed[key] = true
		probs = append(probs, msg)
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := bytes.TrimSpace(members[k])
		switch {
		case boolKeys[k] != nil:
			b, ok := reloadBool(raw)
			if !ok {
				fail(k, fmt.Sprintf("'%s' must be a boolean", k))
				continue
			}
			*boolKeys[k](&next) = b
		case listKeys[k] != nil:
			l, msg := reloadList(k, raw)
			if msg != "" {
				fail(k, msg)
				continue
			}
			*listKeys[k](&next) = l
		case k == "mode" || k == "default_decision":
			var s string
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				fail(k, fmt.Sprintf("'%s' must be a string", k))
				continue
			}
			s = strings.ToLower(strings.TrimSpace(s))
			if k == "mode" {
				next.Mode = s
			} else {
				next.DefaultDecision = s
			}
		default:
			ik, ok := intKeys[k]
			if !ok {
				probs = append(probs, "Unknown CASIL policy field: "+k)
				continue
			}
			n, ok := reloadInt(raw)
			if !ok {
				fail(k, fmt.Sprintf("'%s' must be an integer", k))
				continue
			}
			if n < ik.min {
				fail(k, ik.msg)
				continue
			}
			*ik.field(&next) = n
		}
	}

	if next.Mode != ModeMonitor && next.Mode != ModeEnforce {
		probs = append(probs, "Invalid CASIL mode: "+next.Mode)
	}
	if next.DefaultDecision != DefaultAllow && next.DefaultDecision != DefaultBlock {
		probs = append(probs, "Invalid CASIL default_decision: "+next.DefaultDecision)
	}
	c, cprobs := compile(next)
	for _, pr := range cprobs {
		switch pr.kind {
		case probGlob:
			probs = append(probs, "Invalid CASIL glob: "+pr.item)
		case probRegex:
			probs = append(probs, "Invalid redaction pattern: "+pr.item)
		case probTooMany:
			probs = append(probs, fmt.Sprintf("'redaction_patterns' has %d patterns, more than max_patterns (%d)",
				len(next.RedactionPatterns), next.MaxPatterns))
		}
	}
	if len(probs) > 0 {
		return current, &ReloadError{Problems: probs}
	}
	next.c = c
	return next, nil
}

// reloadBool accepts JSON booleans, integral numbers (0 is false, any other
// value true) and the strings true/1/yes/on and false/0/no/off.
func reloadBool(raw []byte) (bool, bool) {
	switch {
	case bytes.Equal(raw, []byte("true")):
		return true, true
	case bytes.Equal(raw, []byte("false")):
		return false, true
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false, false
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1", "yes", "on":
			return true, true
		case "false", "0", "no", "off":
			return false, true
		}
		return false, false
	}
	if isNumber(raw) {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) {
			return false, false
		}
		return f != 0, true
	}
	return false, false
}

// reloadInt accepts integral JSON numbers (1, 1.0, 1e3) that fit an int.
func reloadInt(raw []byte) (int, bool) {
	if !isNumber(raw) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return int(n), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int(f), true
}

func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9'))
}

func reloadList(key string, raw []byte) ([]string, string) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Sprintf("'%s' must be a list", key)
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Sprintf("'%s' must be a list", key)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var s string
		it = bytes.TrimSpace(it)
		if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
			return nil, fmt.Sprintf("'%s' items must be strings", key)
		}
		out = append(out, s)
	}
	return out, ""
}
