package casil

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
)

// policyWith returns the default policy, enabled, with the reload args
// applied on top.
func policyWith(t testing.TB, args string) Policy {
	t.Helper()
	base, err := ParseReload(DefaultPolicy(), json.RawMessage(`{"enabled":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if args == "" {
		return base
	}
	p, err := ParseReload(base, json.RawMessage(args))
	if err != nil {
		t.Fatalf("ParseReload(%s): %v", args, err)
	}
	return p
}

const (
	fwdUnchanged = ""
	fwdBlocked   = "not delivered"
)

// TestDecisionTable has one case per row of OPERATIONS.md §8.8.
func TestDecisionTable(t *testing.T) {
	cases := []struct {
		name      string
		settings  string
		kind      Kind
		target    string
		payload   string
		decision  string
		reason    string
		flags     map[string]any // nil: "–" (no flags at all)
		forwarded string         // fwdUnchanged, fwdBlocked, or the redacted JSON
	}{
		{"row01_disabled", `{"enabled":false}`, KindMessage, "r:c", `{"password":"x"}`, Allow, ReasonDisabled, nil, fwdUnchanged},
		{"row02_cron_schedule_without_target", "", KindCronSchedule, "", `{"password":"x"}`, Allow, ReasonOutOfScope, nil, fwdUnchanged},
		{"row03_scope_include_other_room", `{"scope_include":["secure:*"]}`, KindMessage, "r:c", `{"password":"x"}`, Allow, ReasonOutOfScope, nil, fwdUnchanged},
		{"row04_monitor_clean", `{"mode":"monitor"}`, KindMessage, "r:c", `{"ping":"pong"}`, Allow, ReasonAllowed, map[string]any{}, fwdUnchanged},
		{"row05_monitor_password_path", `{"mode":"monitor"}`, KindMessage, "r:c", `{"password":"hunter2","user":"ann"}`,
			AllowWithRedaction, ReasonRedacted, map[string]any{FlagContainsProbableSecret: true}, fwdUnchanged},
		{"row06_enforce_transport_redaction", `{"mode":"enforce","transport_redaction":true}`, KindMessage, "r:c", `{"password":"hunter2","user":"ann"}`,
			AllowWithRedaction, ReasonRedacted, map[string]any{FlagContainsProbableSecret: true}, `{"password":"***REDACTED***","user":"ann"}`},
		{"row07_enforce_block_on_secret", `{"mode":"enforce","block_on_probable_secret":true}`, KindMessage, "r:c", `{"data":"token-123"}`,
			Block, ReasonBlockedSecret, map[string]any{FlagContainsProbableSecret: true}, fwdBlocked},
		{"row08_monitor_would_block_secret", `{"mode":"monitor","block_on_probable_secret":true}`, KindMessage, "r:c", `{"data":"token-123"}`,
			Allow, ReasonMonitorMode, map[string]any{FlagContainsProbableSecret: true, FlagWouldBlock: ReasonBlockedSecret}, fwdUnchanged},
		{"row09_enforce_oversize", `{"mode":"enforce","max_payload_bytes":10}`, KindMessage, "r:c", `{"data":"xxxxxxxxxxxxxxxxxxxx"}`,
			Block, ReasonOversize, map[string]any{FlagOversizePayload: true}, fwdBlocked},
		{"row10_enforce_size_check_disabled", `{"mode":"enforce","max_payload_bytes":0}`, KindMessage, "r:c", `{"data":"xxxxxxxxxxxxxxxxxxxx"}`,
			Allow, ReasonAllowed, map[string]any{}, fwdUnchanged},
		{"row11_secret_replaces_oversize", `{"mode":"enforce","block_on_probable_secret":true,"max_payload_bytes":10}`, KindMessage, "r:c", `{"data":"token-xxxxxxxxxxxxxxxx"}`,
			Block, ReasonBlockedSecret, map[string]any{FlagOversizePayload: true, FlagContainsProbableSecret: true}, fwdBlocked},
		{"row12_enforce_pattern_redaction", `{"mode":"enforce","transport_redaction":true,"redaction_patterns":["\\d{16}"]}`, KindMessage, "r:c", `{"card":"4111111111111111","n":1}`,
			AllowWithRedaction, ReasonRedacted, map[string]any{FlagContainsProbableSecret: true}, `{"card":"***REDACTED***","n":1}`},
		{"row13_redaction_beyond_scan_window", `{"mode":"enforce","redaction_paths":[],"redaction_patterns":["zzz"],"max_inspect_bytes":8}`, KindMessage, "r:c", `{"a":"........zzz"}`,
			AllowWithRedaction, ReasonRedacted, map[string]any{FlagInspectionTruncated: true}, fwdUnchanged},
		// Rows 14 and 15 are also covered for both modes and for a panic by
		// TestAdversarialInternalErrorBothModes.
		{"row14_internal_error_default_block", `{"mode":"enforce","default_decision":"block"}`, KindMessage, "r:c", `{"a":`,
			Block, ReasonInternalError, map[string]any{FlagInternalError: "invalid JSON value"}, fwdBlocked},
		{"row15_internal_error_default_allow", `{"mode":"monitor","default_decision":"allow"}`, KindMessage, "r:c", `{"a":`,
			Allow, ReasonInternalError, map[string]any{FlagInternalError: "invalid JSON value"}, fwdUnchanged},
		{"row16_private_monitor", `{"mode":"monitor"}`, KindPrivate, "", `{"password":"x"}`,
			AllowWithRedaction, ReasonRedacted, map[string]any{FlagContainsProbableSecret: true}, fwdUnchanged},
		{"row17_private_excluded", `{"scope_exclude":["@private"]}`, KindPrivate, "", `{"password":"x"}`, Allow, ReasonOutOfScope, nil, fwdUnchanged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(policyWith(t, tc.settings))
			res := e.Inspect(tc.kind, tc.target, json.RawMessage(tc.payload))
			if res.Decision != tc.decision || res.ReasonCode != tc.reason {
				t.Fatalf("got %s/%s, want %s/%s", res.Decision, res.ReasonCode, tc.decision, tc.reason)
			}
			if tc.flags == nil {
				if res.Flags != nil || res.InScope {
					t.Fatalf("flags = %v, inScope = %v; want no flags, out of scope", res.Flags, res.InScope)
				}
			} else if !maps.Equal(res.Flags, tc.flags) {
				t.Fatalf("flags = %v, want %v", res.Flags, tc.flags)
			}
			switch tc.forwarded {
			case fwdBlocked:
				if !res.Blocked() {
					t.Fatal("expected the envelope to be blocked")
				}
			case fwdUnchanged:
				if res.Blocked() || res.Redacted != nil {
					t.Fatalf("expected unchanged traffic, got blocked=%v redacted=%s", res.Blocked(), res.Redacted)
				}
			default:
				if string(res.Redacted) != tc.forwarded {
					t.Fatalf("forwarded %s, want %s", res.Redacted, tc.forwarded)
				}
			}
		})
	}
}

func TestAdversarialInternalErrorBothModes(t *testing.T) {
	for _, mode := range []string{ModeMonitor, ModeEnforce} {
		for _, dd := range []string{DefaultAllow, DefaultBlock} {
			want := Allow
			if dd == DefaultBlock {
				want = Block
			}
			t.Run(mode+"_"+dd, func(t *testing.T) {
				e := NewEngine(policyWith(t, `{"mode":"`+mode+`","default_decision":"`+dd+`","transport_redaction":true}`))
				for _, bad := range []string{`{"a":`, `[1 2]`, `"\x01"`, `{"a":1}x`, `nul`} {
					res := e.Inspect(KindMessage, "r:c", json.RawMessage(bad))
					if res.Decision != want || res.ReasonCode != ReasonInternalError || res.Flags[FlagInternalError] == nil || res.Redacted != nil {
						t.Fatalf("%q: got %v", bad, res)
					}
				}
				testHookPanic = func() { panic("boom") }
				defer func() { testHookPanic = nil }()
				res := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"ok":1}`))
				if res.Decision != want || res.ReasonCode != ReasonInternalError || res.Flags[FlagInternalError] != "panic during inspection" {
					t.Fatalf("panic: got %v", res)
				}
			})
		}
	}
}

func TestInvalidHandBuiltPolicyFailsPerDefaultDecision(t *testing.T) {
	p := policyWith(t, `{"default_decision":"block"}`)
	p.RedactionPatterns = []string{"("} // bypasses validation
	e := NewEngine(p)
	res := e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`))
	if res.Decision != Block || res.ReasonCode != ReasonInternalError {
		t.Fatalf("got %v", res)
	}
}

// TestRegressionMonitorNeverAltersPayload pins an upstream defect
// (OPERATIONS.md §12): transport redaction was applied in monitor mode.
// Monitor mode reports what enforce would do (flags.would_block, redacted
// keys) and never alters the payload.
func TestRegressionMonitorNeverAltersPayload(t *testing.T) {
	e := NewEngine(policyWith(t, `{"mode":"monitor","transport_redaction":true,"redaction_patterns":["secret"],"max_payload_bytes":5,"block_on_probable_secret":true}`))
	res := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"password":"a","note":"my secret"}`))
	if res.Decision != AllowWithRedaction || res.ReasonCode != ReasonMonitorMode || res.Redacted != nil {
		t.Fatalf("got %v redacted=%s", res, res.Redacted)
	}
	if res.Flags[FlagWouldBlock] != ReasonBlockedSecret || !res.WouldBlock() {
		t.Fatalf("flags %v", res.Flags)
	}
	if got := strings.Join(res.RedactedKeys, ","); got != "password,note" {
		t.Fatalf("redacted keys %q", got)
	}
}

// Upstream reported ALLOW_WITH_REDACTION whenever paths were configured
// (OPERATIONS.md §12): redaction is reported only when a value changed.
//
// TestRegressionRedactionReportedOnlyWhenChanged pins that upstream defect.
func TestRegressionRedactionReportedOnlyWhenChanged(t *testing.T) {
	e := NewEngine(policyWith(t, `{"redaction_patterns":["zzz"]}`))
	for _, payload := range []string{
		`{"user":"ann"}`,
		`{"password":"***REDACTED***"}`,
		`{"note":"***REDACTED***"}`,
		`"plain"`,
		`[1,2,{"a":null}]`,
	} {
		res := e.Inspect(KindMessage, "r:c", json.RawMessage(payload))
		if res.Decision != Allow || res.ReasonCode != ReasonAllowed || res.RedactedKeys != nil {
			t.Errorf("%s: got %v keys %v", payload, res, res.RedactedKeys)
		}
	}
}

func TestTargets(t *testing.T) {
	e := NewEngine(policyWith(t, `{"scope_include":["@store","science:*"],"scope_exclude":["science:secret*"]}`))
	for _, tc := range []struct {
		kind    Kind
		target  string
		inScope bool
	}{
		{KindStoreSet, "ignored", true},
		{KindPrivate, "science:general", false}, // always @private
		{KindMessage, "science:general", true},
		{KindCron, "science:general", true},
		{KindCronSchedule, "science:general", true},
		{KindMessage, "science:secrets", false}, // exclude wins
		{KindMessage, "other:general", false},
		{KindCronSchedule, "", false},
	} {
		res := e.Inspect(tc.kind, tc.target, json.RawMessage(`{"a":1}`))
		if res.InScope != tc.inScope {
			t.Errorf("%s %q: inScope=%v (%v)", tc.kind, tc.target, res.InScope, res)
		}
	}
	if r := e.Inspect(KindStoreSet, "", json.RawMessage(`1`)); r.Kind != "control" || r.Target != TargetStore {
		t.Errorf("store: kind %q target %q", r.Kind, r.Target)
	}
	if r := e.Inspect(KindCron, "science:x", json.RawMessage(`1`)); r.Kind != "data" {
		t.Errorf("cron: kind %q", r.Kind)
	}
}

func TestSecretScanCoversKeysAndDefaults(t *testing.T) {
	e := NewEngine(policyWith(t, `{"redaction_paths":[]}`))
	for payload, want := range map[string]bool{
		`{"api_key":1}`:                           true,
		`{"x":"Authorization: Bearer abc.def"}`:   true,
		`{"x":"sk_live_0123456789abcdef"}`:        true,
		`{"x":"pk_test_0123456789abcdefXYZ"}`:     true,
		`{"x":"sk_live_short"}`:                   false,
		`{"x":"SeCrEt"}`:                          true,
		`{"x":"to\u006ben"}`:                      true, // escapes are decoded first
		`{"x":"hello world","n":[1,2,3],"b":1e3}`: false,
	} {
		res := e.Inspect(KindMessage, "r:c", json.RawMessage(payload))
		if got := res.Flags[FlagContainsProbableSecret] == true; got != want {
			t.Errorf("%s: secret=%v want %v", payload, got, want)
		}
	}
}

// S is compact, so formatting does not change the size decision.
func TestSizeUsesCompactSerialisation(t *testing.T) {
	e := NewEngine(policyWith(t, `{"mode":"enforce","max_payload_bytes":10}`))
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage("{ \"a\" :\n \"\\u00e9\" }")); r.Decision != Allow {
		t.Fatalf(`{"a":"é"} is 10 bytes: %v`, r)
	}
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"a":"éé"}`)); r.Decision != Block {
		t.Fatalf("12 bytes: %v", r)
	}
}

func TestInspectionWindowCutsAtRuneBoundary(t *testing.T) {
	// `"é` is 3 bytes; a window of 2 bytes must not split é, and a
	// pattern matching é must therefore not see it.
	e := NewEngine(policyWith(t, `{"redaction_patterns":["é"],"max_inspect_bytes":2}`))
	r := e.Inspect(KindMessage, "r:c", json.RawMessage(`"é"`))
	if r.Flags[FlagContainsProbableSecret] != nil || r.Flags[FlagInspectionTruncated] != true || r.Decision != AllowWithRedaction {
		t.Fatalf("got %v", r)
	}
}

func TestEnvelopeMetadata(t *testing.T) {
	e := NewEngine(policyWith(t, `{"metadata_to_envelope":true,"scope_exclude":["x:*"]}`))
	r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"password":"p"}`))
	want := `{"decision":"ALLOW_WITH_REDACTION","reason_code":"CASIL_POLICY_REDACTED","flags":{"contains_probable_secret":true},"risk_level":"high","kind":"data"}`
	if got := string(r.EnvelopeMetadata()); got != want {
		t.Fatalf("metadata %s\nwant %s", got, want)
	}
	r = e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`))
	if got := string(r.EnvelopeMetadata()); got != `{"decision":"ALLOW","reason_code":"CASIL_POLICY_ALLOWED","flags":{},"risk_level":"low","kind":"data"}` {
		t.Fatalf("metadata %s", got)
	}
	if m := e.Inspect(KindMessage, "x:y", json.RawMessage(`{}`)).EnvelopeMetadata(); m != nil {
		t.Fatalf("out of scope got metadata %s", m)
	}
	off := NewEngine(policyWith(t, `{"metadata_to_envelope":true,"enabled":false}`))
	if m := off.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)).EnvelopeMetadata(); m != nil {
		t.Fatalf("disabled got metadata %s", m)
	}
	blk := NewEngine(policyWith(t, `{"metadata_to_envelope":true,"mode":"enforce","max_payload_bytes":1}`))
	if m := blk.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)).EnvelopeMetadata(); m != nil {
		t.Fatalf("blocked got metadata %s", m)
	}
	if m := NewEngine(policyWith(t, "")).Inspect(KindMessage, "r:c", json.RawMessage(`{}`)).EnvelopeMetadata(); m != nil {
		t.Fatalf("metadata_to_envelope=false got %s", m)
	}
}

func TestNeverLogAndTelemetry(t *testing.T) {
	e := NewEngine(policyWith(t, `{"never_log_payload_for":["vault:*"]}`))
	hidden := e.Inspect(KindMessage, "vault:keys", json.RawMessage(`{"password":"p"}`))
	shown := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"password":"p"}`))
	if !hidden.EmitsTelemetry() || !shown.EmitsTelemetry() {
		t.Fatal("ALLOW_WITH_REDACTION must emit casil_decision")
	}
	d := hidden.TelemetryData("vault", "keys", "cl", "m1")
	if len(d) != 7 || len(d["flags"].(map[string]any)) != 0 {
		t.Fatalf("never-log telemetry data %v", d)
	}
	d = shown.TelemetryData("", "", "cl", "m1")
	if d["room"] != nil || d["flags"].(map[string]any)[FlagContainsProbableSecret] != true {
		t.Fatalf("telemetry data %v", d)
	}

	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	hidden.Log(context.Background(), l, "m1", "cl", "vault", "keys")
	shown.Log(context.Background(), l, "m2", "cl", "r", "c")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines %q", lines)
	}
	if strings.Contains(lines[0], "redacted_keys") || !strings.Contains(lines[0], `"flags":{}`) || !strings.Contains(lines[0], LogRedacted) {
		t.Fatalf("never-log line %s", lines[0])
	}
	if !strings.Contains(lines[1], `"redacted_keys":["password"]`) || strings.Contains(lines[1], `"p"`) {
		t.Fatalf("log line %s", lines[1])
	}

	plain := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"a":1}`))
	buf.Reset()
	plain.Log(context.Background(), l, "m3", "cl", "r", "c")
	if plain.EmitsTelemetry() || buf.Len() != 0 {
		t.Fatalf("ALLOW must not log or emit: %s", buf.String())
	}
	if dec, reason := plain.MetricLabels(); dec != "allow" || reason != "casil_policy_allowed" || !plain.Counted() {
		t.Fatalf("labels %s %s", dec, reason)
	}
	quiet := NewEngine(policyWith(t, `{"metadata_to_logs":false,"metadata_to_telemetry":false}`))
	r := quiet.Inspect(KindMessage, "r:c", json.RawMessage(`{"password":"p"}`))
	buf.Reset()
	r.Log(context.Background(), l, "m", "c", "r", "c")
	if r.EmitsTelemetry() || buf.Len() != 0 {
		t.Fatal("logs/telemetry switched off")
	}
	if NewEngine(DefaultPolicy()).Inspect(KindMessage, "r:c", nil).Counted() {
		t.Fatal("disabled outcomes are not counted")
	}
}

// TestRegressionWouldBlockLogsWarn pins an upstream defect (OPERATIONS.md
// §12): the monitor-mode "would block" outcome could never be reported. It is
// logged at WARN.
func TestRegressionWouldBlockLogsWarn(t *testing.T) {
	e := NewEngine(policyWith(t, `{"max_payload_bytes":1}`))
	r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"a":1}`))
	var buf bytes.Buffer
	r.Log(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), "m", "c", "r", "c")
	if !strings.Contains(buf.String(), `"level":"WARN","msg":"casil would block message"`) || r.EmitsTelemetry() {
		t.Fatalf("got %s emits=%v", buf.String(), r.EmitsTelemetry())
	}
}

func TestZeroEngineAndSwap(t *testing.T) {
	var e Engine
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)); r.ReasonCode != ReasonDisabled {
		t.Fatalf("zero engine: %v", r)
	}
	e.Swap(policyWith(t, `{"mode":"enforce","max_payload_bytes":1}`))
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)); r.Decision != Block {
		t.Fatalf("after swap: %v", r)
	}
	p := e.Policy()
	p.ScopeExclude = append(p.ScopeExclude, "*") // must not leak into the engine
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)); r.Decision != Block {
		t.Fatalf("engine policy was mutated: %v", r)
	}
	e.Swap(p) // hand-modified: recompiled
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{}`)); r.ReasonCode != ReasonOutOfScope {
		t.Fatalf("hand-modified policy: %v", r)
	}
}

// Concurrent swaps and inspections: every inspection sees one whole policy.
func TestConcurrentSwap(t *testing.T) {
	a := policyWith(t, `{"mode":"enforce","max_payload_bytes":1}`)
	b := policyWith(t, `{"mode":"monitor","max_payload_bytes":1}`)
	e := NewEngine(a)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 500; j++ {
				r := e.Inspect(KindMessage, "r:c", json.RawMessage(`{"x":1}`))
				ok := (r.Decision == Block && r.ReasonCode == ReasonOversize && r.Flags[FlagWouldBlock] == nil) ||
					(r.Decision == Allow && r.ReasonCode == ReasonMonitorMode && r.Flags[FlagWouldBlock] == ReasonOversize)
				if !ok {
					t.Errorf("mixed snapshot: %v", r)
					return
				}
			}
		}()
	}
	for j := 0; j < 200; j++ {
		if j%2 == 0 {
			e.Swap(b)
		} else {
			e.Swap(a)
		}
	}
	wg.Wait()
}
