package casil

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Kind is what is being inspected (OPERATIONS.md §8).
type Kind string

// Inspected kinds.
const (
	KindMessage      Kind = "message"          // client message (and its event alias)
	KindPrivate      Kind = "private"          // private envelope; target is always @private
	KindCron         Kind = "cron"             // cron firing
	KindStoreSet     Kind = "op.store.set"     // args.value; target is always @store
	KindCronSchedule Kind = "op.cron.schedule" // args.payload; target from its room/channel args
)

// Fixed scope targets (OPERATIONS.md §8.1).
const (
	TargetPrivate = "@private"
	TargetStore   = "@store"
)

const (
	classData            = "data"
	classControl         = "control"
	riskLow              = "low"
	riskMedium           = "medium"
	riskHigh             = "high"
	maxPooledBufferBytes = 1 << 20
)

// Decisions (OPERATIONS.md §8.5), in their upper-case wire form.
const (
	Allow              = "ALLOW"
	AllowWithRedaction = "ALLOW_WITH_REDACTION"
	Block              = "BLOCK"
)

// Reason codes (OPERATIONS.md §8).
const (
	ReasonDisabled      = "CASIL_DISABLED"
	ReasonOutOfScope    = "CASIL_OUT_OF_SCOPE"
	ReasonAllowed       = "CASIL_POLICY_ALLOWED"
	ReasonRedacted      = "CASIL_POLICY_REDACTED"
	ReasonMonitorMode   = "CASIL_MONITOR_MODE"
	ReasonBlockedSecret = "CASIL_POLICY_BLOCKED_SECRET"
	ReasonOversize      = "CASIL_POLICY_OVERSIZE"
	ReasonInternalError = "CASIL_INTERNAL_ERROR"
)

// Flag names (OPERATIONS.md §8.3–§8.5).
const (
	FlagOversizePayload        = "oversize_payload"
	FlagInspectionTruncated    = "inspection_truncated"
	FlagContainsProbableSecret = "contains_probable_secret"
	FlagWouldBlock             = "would_block"
	FlagInternalError          = "internal_error"
)

// Engine evaluates inspections against the current policy snapshot. Swap
// replaces the snapshot atomically; an inspection already running finishes
// with the snapshot it started with. The zero Engine inspects with
// DefaultPolicy (disabled).
type Engine struct {
	cur atomic.Pointer[snapshot]
}

// snapshot is one installed policy. c is nil when the installed policy did
// not compile: every in-scope inspection then fails as an internal error.
type snapshot struct {
	p Policy
	c *compiled
}

var defaultSnapshot = func() *snapshot {
	p := DefaultPolicy()
	return &snapshot{p: p, c: p.c}
}()

// NewEngine returns an engine with p installed.
func NewEngine(p Policy) *Engine {
	e := &Engine{}
	e.Swap(p)
	return e
}

// Swap installs p for all subsequent inspections. A Policy from
// DefaultPolicy, FromValues or ParseReload is installed as compiled; one
// built by hand is compiled here, and if it is invalid every in-scope
// inspection reports CASIL_INTERNAL_ERROR under its default_decision
// (fail-closed when that is block).
func (e *Engine) Swap(p Policy) {
	c, ok := compiledFor(p)
	p = p.clone()
	p.c = nil
	if ok {
		p.c = c
	}
	e.cur.Store(&snapshot{p: p, c: p.c})
}

// Policy returns a copy of the installed policy.
func (e *Engine) Policy() Policy {
	s := e.load()
	p := s.p.clone()
	p.c = s.c
	return p
}

func (e *Engine) load() *snapshot {
	if s := e.cur.Load(); s != nil {
		return s
	}
	return defaultSnapshot
}

// Result is the outcome of one inspection. Decision and ReasonCode are
// upper-case, as on the wire.
type Result struct {
	Decision   string
	ReasonCode string
	// Flags holds exactly the flags that were set (OPERATIONS.md §8.3–§8.5):
	// oversize_payload, inspection_truncated, contains_probable_secret (true),
	// would_block (a reason code), internal_error (a short text). It is
	// empty, not nil, for every in-scope result, and nil for CASIL_DISABLED
	// and CASIL_OUT_OF_SCOPE.
	Flags     map[string]any
	RiskLevel string // low, medium or high ("" when out of scope or disabled)
	// Redacted is the value R to forward, store and send to webhooks instead
	// of the original. It is set only when transport redaction applies
	// (enforce mode, transport_redaction=true, ALLOW_WITH_REDACTION); nil
	// means traffic is unchanged.
	Redacted json.RawMessage
	// InScope is false for CASIL_DISABLED and CASIL_OUT_OF_SCOPE.
	InScope bool
	// Kind is "data" (message, private, cron) or "control" (the commands).
	Kind string
	// Target is the scope target evaluated: "room:channel", "@private" or
	// "@store".
	Target string
	// RedactedKeys holds the names of the object members whose values were
	// redacted, at most 16, in order of appearance.
	RedactedKeys []string
	// NeverLog is true when the target matches never_log_payload_for: logs
	// and telemetry then report flags as {} and omit redacted_keys.
	NeverLog bool

	toLogs, toTelemetry, toEnvelope bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Inspect evaluates one value (OPERATIONS.md §8.1–§8.5). value is the
// payload for message, private and cron, args.value for op.store.set and
// args.payload for op.cron.schedule; an empty value is treated as null.
// target is the resolved "room:channel" (empty when it could not be
// resolved, which is out of scope); for KindPrivate and KindStoreSet it is
// ignored and @private or @store is used. Inspect never panics: an internal
// failure becomes a CASIL_INTERNAL_ERROR outcome under default_decision.
func (e *Engine) Inspect(kind Kind, target string, value json.RawMessage) (res Result) {
	s := e.load()
	p := &s.p
	if !p.Enabled {
		return Result{Decision: Allow, ReasonCode: ReasonDisabled}
	}
	class := classData
	switch kind {
	case KindPrivate:
		target = TargetPrivate
	case KindStoreSet:
		target = TargetStore
		class = classControl
	case KindCronSchedule:
		class = classControl
	case KindMessage, KindCron:
	default:
		class = ""
	}
	base := Result{
		Kind: class, Target: target,
		toLogs: p.MetadataToLogs, toTelemetry: p.MetadataToTelemetry, toEnvelope: p.MetadataToEnvelope,
	}
	c := s.c
	if c == nil {
		// The installed policy does not compile; scope cannot be evaluated,
		// so the failure applies to every target.
		return internalError(p, base, "policy does not compile")
	}
	if target == "" || c.exclude.any(target) || (len(c.include) > 0 && !c.include.any(target)) {
		base.Decision, base.ReasonCode = Allow, ReasonOutOfScope
		return base
	}
	base.InScope = true
	base.NeverLog = len(c.neverLog) > 0 && c.neverLog.any(target)
	if class == "" {
		return internalError(p, base, "unknown inspection kind")
	}
	defer func() {
		if r := recover(); r != nil {
			res = internalError(p, base, "panic during inspection")
		}
	}()
	if testHookPanic != nil {
		testHookPanic()
	}
	return inspect(p, c, base, value)
}

// testHookPanic lets tests simulate an engine failure.
var testHookPanic func()

func inspect(p *Policy, c *compiled, res Result, value json.RawMessage) Result {
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	bp := bufPool.Get().(*[]byte)
	s, err := canonicalize((*bp)[:0], value)
	defer func() {
		if cap(s) <= maxPooledBufferBytes {
			*bp = s[:0]
			bufPool.Put(bp)
		}
	}()
	if err != nil {
		return internalError(p, res, "invalid JSON value")
	}
	size := len(s)

	var oversize, truncated, secret bool
	candidate := ""
	risk := riskLow
	if p.MaxPayloadBytes > 0 && size > p.MaxPayloadBytes {
		oversize = true
		risk = riskMedium
		candidate = ReasonOversize
	}
	window := s
	if size > p.MaxInspectBytes {
		truncated = true
		cut := p.MaxInspectBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		window = s[:cut]
	}
	if c.scan == defaultScan {
		secret = scanDefault(window)
	} else if c.scan != nil {
		secret = c.scan.Match(window)
	} else {
		for _, re := range c.scanList {
			if re.Match(window) {
				secret = true
				break
			}
		}
	}
	if secret {
		risk = riskHigh
		if p.BlockOnProbableSecret {
			candidate = ReasonBlockedSecret
		}
	}

	enforce := p.Mode == ModeEnforce
	w := walker{s: s, c: c, build: enforce && p.TransportRedaction && candidate == ""}
	if err := w.run(); err != nil {
		return internalError(p, res, "invalid JSON value")
	}

	switch {
	case candidate != "" && enforce:
		res.Decision, res.ReasonCode = Block, candidate
	case candidate != "":
		res.Decision, res.ReasonCode = Allow, ReasonMonitorMode
		if w.changed {
			res.Decision = AllowWithRedaction
		}
	case w.changed:
		res.Decision, res.ReasonCode = AllowWithRedaction, ReasonRedacted
	default:
		res.Decision, res.ReasonCode = Allow, ReasonAllowed
	}
	if w.changed {
		res.RedactedKeys = w.keys
	}
	if w.build && w.changed && res.Decision == AllowWithRedaction {
		res.Redacted = json.RawMessage(w.out)
	}
	res.RiskLevel = risk
	flags := make(map[string]any, 4)
	if oversize {
		flags[FlagOversizePayload] = true
	}
	if truncated {
		flags[FlagInspectionTruncated] = true
	}
	if secret {
		flags[FlagContainsProbableSecret] = true
	}
	if candidate != "" && !enforce {
		flags[FlagWouldBlock] = candidate
	}
	res.Flags = flags
	return res
}

// internalError is the outcome of a failure during §8.2–§8.5: BLOCK when
// default_decision=block and ALLOW otherwise, in either mode. The risk level
// is high: nothing is known about the value.
func internalError(p *Policy, res Result, detail string) Result {
	res.InScope = true
	res.Decision = Allow
	if p.DefaultDecision == DefaultBlock {
		res.Decision = Block
	}
	res.ReasonCode = ReasonInternalError
	res.RiskLevel = riskHigh
	res.Flags = map[string]any{FlagInternalError: detail}
	res.Redacted = nil
	res.RedactedKeys = nil
	return res
}

// String summarises the result without any payload content, for tests and
// debugging.
func (r Result) String() string {
	return fmt.Sprintf("%s %s %v", r.Decision, r.ReasonCode, r.Flags)
}
