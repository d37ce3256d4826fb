// Package casil is the content-aware safety inspection layer
// (OPERATIONS.md §8): it classifies message payloads and the values of the
// content-bearing commands, redacts them without changing their structure,
// and decides whether the bus lets them through.
//
// The active policy is an immutable, compiled snapshot that an Engine swaps
// atomically; every inspection sees exactly one snapshot.
package casil

import (
	"fmt"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Modes and default decisions (OPERATIONS.md §4.7).
const (
	ModeMonitor = "monitor"
	ModeEnforce = "enforce"

	DefaultAllow = "allow"
	DefaultBlock = "block"
)

// Policy is one CASIL policy: the 16 keys of the op.casil.get snapshot
// (OPERATIONS.md §8.7), typed. A Policy returned by DefaultPolicy, FromValues
// or ParseReload carries its compiled globs and regular expressions; a Policy
// built or modified by hand is compiled again when it is installed.
type Policy struct {
	Enabled               bool
	Mode                  string // ModeMonitor or ModeEnforce
	DefaultDecision       string // DefaultAllow or DefaultBlock
	ScopeInclude          []string
	ScopeExclude          []string
	MaxPayloadBytes       int // 0 disables the size check
	MaxInspectBytes       int // >= 1
	MaxPatterns           int // 0 means unlimited
	BlockOnProbableSecret bool
	RedactionPaths        []string
	RedactionPatterns     []string
	TransportRedaction    bool
	NeverLogPayloadFor    []string
	MetadataToLogs        bool
	MetadataToTelemetry   bool
	MetadataToEnvelope    bool

	c *compiled
}

// compiled is the part of a policy that inspection uses on the hot path. It
// is built once per snapshot and never modified.
type compiled struct {
	src Policy // the values it was compiled from (slices owned by compiled)

	include, exclude, neverLog globSet
	paths                      [][]byte // lower-case ASCII
	patterns                   []*regexp.Regexp
	scan                       *regexp.Regexp   // all scan patterns as one alternation
	scanList                   []*regexp.Regexp // used when scan could not be combined
}

// defaultSecretPatterns are the secret patterns of OPERATIONS.md §8.3, used
// when no redaction_patterns are configured.
var defaultSecretPatterns = []string{
	`(?i)api[_-]?key`,
	`(?i)secret`,
	`(?i)token`,
	`(?i)password`,
	`(?i)bearer\s+[A-Za-z0-9._-]+`,
	`sk_(live|test)_[0-9a-zA-Z]{16,}`,
	`pk_(live|test)_[0-9a-zA-Z]{16,}`,
}

var defaultScan = regexp.MustCompile(combine(defaultSecretPatterns))

func combine(patterns []string) string {
	var b strings.Builder
	for i, p := range patterns {
		if i > 0 {
			b.WriteByte('|')
		}
		// Flags such as (?i) set inside a group apply to that group only.
		b.WriteString("(?:")
		b.WriteString(p)
		b.WriteByte(')')
	}
	return b.String()
}

// DefaultPolicy returns the built-in defaults of OPERATIONS.md §4.7.
func DefaultPolicy() Policy {
	p := Policy{
		Enabled:             false,
		Mode:                ModeMonitor,
		DefaultDecision:     DefaultAllow,
		ScopeInclude:        []string{},
		ScopeExclude:        []string{},
		MaxPayloadBytes:     262144,
		MaxInspectBytes:     65536,
		MaxPatterns:         32,
		RedactionPaths:      []string{"password", "token", "secret"},
		RedactionPatterns:   []string{},
		NeverLogPayloadFor:  []string{},
		MetadataToLogs:      true,
		MetadataToTelemetry: true,
	}
	c, probs := compile(p)
	if len(probs) > 0 {
		panic("casil: default policy does not compile")
	}
	p.c = c
	return p
}

// PolicyInput carries the configuration values of the ARQONBUS_CASIL_*
// variables (OPERATIONS.md §4.7) after the loader has parsed them by type
// (§2.3): booleans, integers and lists. A nil field was not set and keeps its
// default. For lists, point to an empty slice for an explicitly empty list
// (the `-` form). Globs and regular expressions are validated and compiled by
// FromValues, so the loader need not compile them itself.
type PolicyInput struct {
	Enabled               *bool
	Mode                  *string
	DefaultDecision       *string
	ScopeInclude          *[]string
	ScopeExclude          *[]string
	MaxPayloadBytes       *int
	MaxInspectBytes       *int
	MaxPatterns           *int
	BlockOnProbableSecret *bool
	RedactionPaths        *[]string
	RedactionPatterns     *[]string
	TransportRedaction    *bool
	NeverLogPayloadFor    *[]string
	MetadataToLogs        *bool
	MetadataToTelemetry   *bool
	MetadataToEnvelope    *bool
}

// ConfigProblem is one configuration error found by FromValues. Vars holds
// the canonical variable names it concerns, the owning one first; Message is
// the complete text of OPERATIONS.md §2.3/§4.7, starting with the variable.
type ConfigProblem struct {
	Vars    []string
	Message string
}

func (e ConfigProblem) Error() string { return e.Message }

// Variable names of OPERATIONS.md §4.7.
const (
	VarEnabled               = "ARQONBUS_CASIL_ENABLED"
	VarMode                  = "ARQONBUS_CASIL_MODE"
	VarDefaultDecision       = "ARQONBUS_CASIL_DEFAULT_DECISION"
	VarScopeInclude          = "ARQONBUS_CASIL_SCOPE_INCLUDE"
	VarScopeExclude          = "ARQONBUS_CASIL_SCOPE_EXCLUDE"
	VarMaxPayloadBytes       = "ARQONBUS_CASIL_MAX_PAYLOAD_BYTES"
	VarMaxInspectBytes       = "ARQONBUS_CASIL_MAX_INSPECT_BYTES"
	VarMaxPatterns           = "ARQONBUS_CASIL_MAX_PATTERNS"
	VarBlockOnProbableSecret = "ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET"
	VarRedactionPaths        = "ARQONBUS_CASIL_REDACTION_PATHS"
	VarRedactionPatterns     = "ARQONBUS_CASIL_REDACTION_PATTERNS"
	VarTransportRedaction    = "ARQONBUS_CASIL_TRANSPORT_REDACTION"
	VarNeverLogPayloadFor    = "ARQONBUS_CASIL_NEVER_LOG_PAYLOAD_FOR"
	VarMetadataToLogs        = "ARQONBUS_CASIL_METADATA_TO_LOGS"
	VarMetadataToTelemetry   = "ARQONBUS_CASIL_METADATA_TO_TELEMETRY"
	VarMetadataToEnvelope    = "ARQONBUS_CASIL_METADATA_TO_ENVELOPE"
)

// FromValues builds a compiled policy from configuration values. It returns
// every problem it finds (enum values, ranges, globs, regular expressions,
// the pattern limit), each worded as OPERATIONS.md §2.3 and §4.7 require;
// when there are problems the returned Policy must not be used.
func FromValues(in PolicyInput) (Policy, []ConfigProblem) {
	p := DefaultPolicy()
	p.c = nil
	setB := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setL := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = cloneList(*v)
		}
	}
	setB(&p.Enabled, in.Enabled)
	if in.Mode != nil {
		p.Mode = strings.ToLower(strings.TrimSpace(*in.Mode))
	}
	if in.DefaultDecision != nil {
		p.DefaultDecision = strings.ToLower(strings.TrimSpace(*in.DefaultDecision))
	}
	setL(&p.ScopeInclude, in.ScopeInclude)
	setL(&p.ScopeExclude, in.ScopeExclude)
	setI(&p.MaxPayloadBytes, in.MaxPayloadBytes)
	setI(&p.MaxInspectBytes, in.MaxInspectBytes)
	setI(&p.MaxPatterns, in.MaxPatterns)
	setB(&p.BlockOnProbableSecret, in.BlockOnProbableSecret)
	setL(&p.RedactionPaths, in.RedactionPaths)
	setL(&p.RedactionPatterns, in.RedactionPatterns)
	setB(&p.TransportRedaction, in.TransportRedaction)
	setL(&p.NeverLogPayloadFor, in.NeverLogPayloadFor)
	setB(&p.MetadataToLogs, in.MetadataToLogs)
	setB(&p.MetadataToTelemetry, in.MetadataToTelemetry)
	setB(&p.MetadataToEnvelope, in.MetadataToEnvelope)

	var out []ConfigProblem
	add := func(msg string, vars ...string) { out = append(out, ConfigProblem{Vars: vars, Message: msg}) }
	if p.Mode != ModeMonitor && p.Mode != ModeEnforce {
		add(fmt.Sprintf("%s: invalid value %q (expected one of: monitor, enforce)", VarMode, p.Mode), VarMode)
	}
	if p.DefaultDecision != DefaultAllow && p.DefaultDecision != DefaultBlock {
		add(fmt.Sprintf("%s: invalid value %q (expected one of: allow, block)", VarDefaultDecision, p.DefaultDecision), VarDefaultDecision)
	}
	rangeCheck := func(v, min int, name string) {
		if v < min {
			// The same wording as the configuration loader uses for a
			// range without a maximum.
			add(fmt.Sprintf("%s: must be >= %d (got %d)", name, min, v), name)
		}
	}
	rangeCheck(p.MaxPayloadBytes, 0, VarMaxPayloadBytes)
	rangeCheck(p.MaxInspectBytes, 1, VarMaxInspectBytes)
	rangeCheck(p.MaxPatterns, 0, VarMaxPatterns)

	c, probs := compile(p)
	for _, pr := range probs {
		switch pr.kind {
		case probGlob:
			v := globVar[pr.field]
			add(fmt.Sprintf("%s: invalid glob %q", v, pr.item), v)
		case probRegex:
			add(fmt.Sprintf("%s: invalid regular expression %q: %s", VarRedactionPatterns, pr.item, pr.detail), VarRedactionPatterns)
		case probTooMany:
			add(fmt.Sprintf("%s: %d patterns exceed %s (%d)", VarRedactionPatterns, len(p.RedactionPatterns), VarMaxPatterns, p.MaxPatterns),
				VarRedactionPatterns, VarMaxPatterns)
		}
	}
	if len(out) > 0 {
		return p, out
	}
	p.c = c
	return p, nil
}

var globVar = map[string]string{
	"scope_include":         VarScopeInclude,
	"scope_exclude":         VarScopeExclude,
	"never_log_payload_for": VarNeverLogPayloadFor,
}

type probKind int

const (
	probGlob probKind = iota
	probRegex
	probTooMany
)

// problem is a compilation problem, worded by the caller: configuration
// (FromValues) and op.casil.reload (ParseReload) use different texts.
type problem struct {
	kind   probKind
	field  string // snapshot key
	item   string
	detail string
}

// compile validates and compiles the globs and regular expressions of p.
// It does not check enums or ranges.
func compile(p Policy) (*compiled, []problem) {
	c := &compiled{src: p.clone()}
	c.src.c = nil
	var probs []problem
	globs := func(field string, list []string) globSet {
		gs := make(globSet, 0, len(list))
		for _, g := range list {
			cg, err := compileGlob(g)
			if err != nil {
				probs = append(probs, problem{kind: probGlob, field: field, item: g})
				continue
			}
			gs = append(gs, cg)
		}
		return gs
	}
	c.include = globs("scope_include", p.ScopeInclude)
	c.exclude = globs("scope_exclude", p.ScopeExclude)
	c.neverLog = globs("never_log_payload_for", p.NeverLogPayloadFor)
	for _, name := range p.RedactionPaths {
		c.paths = append(c.paths, []byte(asciiLower(name)))
	}
	if p.MaxPatterns > 0 && len(p.RedactionPatterns) > p.MaxPatterns {
		probs = append(probs, problem{kind: probTooMany, field: "redaction_patterns"})
	}
	for _, pat := range p.RedactionPatterns {
		re, err := regexp.Compile(pat)
		if err != nil {
			probs = append(probs, problem{kind: probRegex, field: "redaction_patterns", item: pat, detail: regexDetail(err)})
			continue
		}
		c.patterns = append(c.patterns, re)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	if len(c.patterns) == 0 {
		c.scan = defaultScan
	} else if re, err := regexp.Compile(combine(p.RedactionPatterns)); err == nil {
		c.scan = re
	} else {
		c.scanList = c.patterns
	}
	return c, nil
}

func regexDetail(err error) string {
	if se, ok := err.(*syntax.Error); ok {
		return se.Error()
	}
	return err.Error()
}

// compiledFor returns the compiled form of p, compiling it again when p was
// built or changed by hand. ok is false when p does not compile or has an
// invalid enum or range.
func compiledFor(p Policy) (*compiled, bool) {
	if p.c != nil && p.c.src.sameAs(p) {
		return p.c, true
	}
	if (p.Mode != ModeMonitor && p.Mode != ModeEnforce) ||
		(p.DefaultDecision != DefaultAllow && p.DefaultDecision != DefaultBlock) ||
		p.MaxPayloadBytes < 0 || p.MaxInspectBytes < 1 || p.MaxPatterns < 0 {
		return nil, false
	}
	c, probs := compile(p)
	return c, len(probs) == 0
}

func (p Policy) sameAs(q Policy) bool {
	return p.Enabled == q.Enabled && p.Mode == q.Mode && p.DefaultDecision == q.DefaultDecision &&
		slices.Equal(p.ScopeInclude, q.ScopeInclude) && slices.Equal(p.ScopeExclude, q.ScopeExclude) &&
		p.MaxPayloadBytes == q.MaxPayloadBytes && p.MaxInspectBytes == q.MaxInspectBytes &&
		p.MaxPatterns == q.MaxPatterns && p.BlockOnProbableSecret == q.BlockOnProbableSecret &&
		slices.Equal(p.RedactionPaths, q.RedactionPaths) && slices.Equal(p.RedactionPatterns, q.RedactionPatterns) &&
		p.TransportRedaction == q.TransportRedaction && slices.Equal(p.NeverLogPayloadFor, q.NeverLogPayloadFor) &&
		p.MetadataToLogs == q.MetadataToLogs && p.MetadataToTelemetry == q.MetadataToTelemetry &&
		p.MetadataToEnvelope == q.MetadataToEnvelope
}

// clone returns p with its own copies of every list.
func (p Policy) clone() Policy {
	q := p
	q.ScopeInclude = cloneList(p.ScopeInclude)
	q.ScopeExclude = cloneList(p.ScopeExclude)
	q.RedactionPaths = cloneList(p.RedactionPaths)
	q.RedactionPatterns = cloneList(p.RedactionPatterns)
	q.NeverLogPayloadFor = cloneList(p.NeverLogPayloadFor)
	return q
}

func cloneList(l []string) []string {
	out := make([]string, len(l))
	copy(out, l)
	return out
}

// SnapshotKeys are the 16 keys of the policy snapshot, in the order of
// OPERATIONS.md §8.7.
var SnapshotKeys = []string{
	"enabled", "mode", "default_decision", "scope_include", "scope_exclude",
	"max_payload_bytes", "max_inspect_bytes", "max_patterns", "block_on_probable_secret",
	"redaction_paths", "redaction_patterns", "transport_redaction", "never_log_payload_for",
	"metadata_to_logs", "metadata_to_telemetry", "metadata_to_envelope",
}

// Snapshot returns the 16-key policy snapshot of op.casil.get
// (OPERATIONS.md §8.7). Lists are never nil, so they encode as [].
func (p Policy) Snapshot() map[string]any {
	return map[string]any{
		"enabled":                  p.Enabled,
		"mode":                     p.Mode,
		"default_decision":         p.DefaultDecision,
		"scope_include":            cloneList(p.ScopeInclude),
		"scope_exclude":            cloneList(p.ScopeExclude),
		"max_payload_bytes":        p.MaxPayloadBytes,
		"max_inspect_bytes":        p.MaxInspectBytes,
		"max_patterns":             p.MaxPatterns,
		"block_on_probable_secret": p.BlockOnProbableSecret,
		"redaction_paths":          cloneList(p.RedactionPaths),
		"redaction_patterns":       cloneList(p.RedactionPatterns),
		"transport_redaction":      p.TransportRedaction,
		"never_log_payload_for":    cloneList(p.NeverLogPayloadFor),
		"metadata_to_logs":         p.MetadataToLogs,
		"metadata_to_telemetry":    p.MetadataToTelemetry,
		"metadata_to_envelope":     p.MetadataToEnvelope,
	}
}

// ChangedKeys returns the snapshot keys whose values differ between old and
// next, in snapshot order: the bus logs them with "casil policy reloaded".
func ChangedKeys(old, next Policy) []string {
	a, b := old.Snapshot(), next.Snapshot()
	var out []string
	for _, k := range SnapshotKeys {
		if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, k)
		}
	}
	return out
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
