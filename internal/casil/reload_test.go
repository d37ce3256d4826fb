package casil

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestDefaultSnapshot(t *testing.T) {
	got, err := json.Marshal(DefaultPolicy().Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	// The exact snapshot of OPERATIONS.md §8.7 (json.Marshal sorts keys).
	const spec = `{"enabled":false,"mode":"monitor","default_decision":"allow","scope_include":[],"scope_exclude":[],"max_payload_bytes":262144,"max_inspect_bytes":65536,"max_patterns":32,"block_on_probable_secret":false,"redaction_paths":["password","token","secret"],"redaction_patterns":[],"transport_redaction":false,"never_log_payload_for":[],"metadata_to_logs":true,"metadata_to_telemetry":true,"metadata_to_envelope":false}`
	var want map[string]any
	if err := json.Unmarshal([]byte(spec), &want); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("snapshot\n%s\nwant\n%s", got, wantJSON)
	}
	if len(DefaultPolicy().Snapshot()) != 16 || len(SnapshotKeys) != 16 {
		t.Fatal("snapshot must have 16 keys")
	}
}

// TestRegressionParseReloadErrors pins an upstream defect (PROTOCOL.md §13.3,
// "CASIL reload"): unknown keys were ignored and invalid regexes silently
// skipped. Both are rejected, with every problem listed.
func TestRegressionParseReloadErrors(t *testing.T) {
	cases := []struct {
		args string
		want []string // every problem, in any order
	}{
		{`{"bogus":1}`, []string{"Unknown CASIL policy field: bogus"}},
		{`{"enabled":"maybe"}`, []string{"'enabled' must be a boolean"}},
		{`{"enabled":null}`, []string{"'enabled' must be a boolean"}},
		{`{"enabled":1.5}`, []string{"'enabled' must be a boolean"}},
		{`{"transport_redaction":[]}`, []string{"'transport_redaction' must be a boolean"}},
		{`{"mode":1}`, []string{"'mode' must be a string"}},
		{`{"default_decision":true}`, []string{"'default_decision' must be a string"}},
		{`{"mode":"bogus"}`, []string{"Invalid CASIL mode: bogus"}},
		{`{"default_decision":"maybe"}`, []string{"Invalid CASIL default_decision: maybe"}},
		{`{"scope_include":"a:*"}`, []string{"'scope_include' must be a list"}},
		{`{"scope_exclude":{"a":1}}`, []string{"'scope_exclude' must be a list"}},
		{`{"redaction_paths":null}`, []string{"'redaction_paths' must be a list"}},
		{`{"never_log_payload_for":[1]}`, []string{"'never_log_payload_for' items must be strings"}},
		{`{"redaction_patterns":["a",null]}`, []string{"'redaction_patterns' items must be strings"}},
		{`{"max_payload_bytes":"10"}`, []string{"'max_payload_bytes' must be an integer"}},
		{`{"max_payload_bytes":1.5}`, []string{"'max_payload_bytes' must be an integer"}},
		{`{"max_payload_bytes":-1}`, []string{"'max_payload_bytes' must be >= 0"}},
		{`{"max_patterns":-1}`, []string{"'max_patterns' must be >= 0"}},
		{`{"max_inspect_bytes":0}`, []string{"'max_inspect_bytes' must be > 0"}},
		{`{"max_inspect_bytes":1e400}`, []string{"'max_inspect_bytes' must be an integer"}},
		{`{"redaction_patterns":["(unclosed"]}`, []string{"Invalid redaction pattern: (unclosed"}},
		{`{"scope_include":["a:[b"]}`, []string{"Invalid CASIL glob: a:[b"}},
		{`{"scope_exclude":["x\\"]}`, []string{`Invalid CASIL glob: x\`}},
		{`{"never_log_payload_for":["[z-a]"]}`, []string{"Invalid CASIL glob: [z-a]"}},
		{`{"max_patterns":1,"redaction_patterns":["a","b"]}`, []string{"'redaction_patterns' has 2 patterns, more than max_patterns (1)"}},
		{`[]`, []string{"'args' must be an object"}},
		{`"x"`, []string{"'args' must be an object"}},
		{`{"mode":"bogus","enabled":"x","zzz":1,"yyy":2,"redaction_patterns":["[","("],"scope_include":["["]}`, []string{
			"Invalid CASIL mode: bogus", "'enabled' must be a boolean", "Unknown CASIL policy field: zzz",
			"Unknown CASIL policy field: yyy", "Invalid redaction pattern: [", "Invalid redaction pattern: (", "Invalid CASIL glob: [",
		}},
	}
	cur := policyWith(t, `{"mode":"enforce"}`)
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			got, err := ParseReload(cur, json.RawMessage(tc.args))
			if err == nil {
				t.Fatal("expected an error")
			}
			probs := strings.Split(err.Error(), "; ")
			slices.Sort(probs)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(probs, want) {
				t.Fatalf("problems %q\nwant %q", probs, want)
			}
			if !got.sameAs(cur) {
				t.Fatal("the policy must be unchanged on error")
			}
		})
	}
	// The max_patterns check applies to the resulting policy.
	withTwo := policyWith(t, `{"redaction_patterns":["a","b"]}`)
	if _, err := ParseReload(withTwo, json.RawMessage(`{"max_patterns":1}`)); err == nil ||
		err.Error() != "'redaction_patterns' has 2 patterns, more than max_patterns (1)" {
		t.Fatalf("got %v", err)
	}
}

func TestParseReloadCoercions(t *testing.T) {
	cur := DefaultPolicy()
	for _, tc := range []struct {
		args  string
		check func(Policy) bool
	}{
		{`{"enabled":true}`, func(p Policy) bool { return p.Enabled }},
		{`{"enabled":1}`, func(p Policy) bool { return p.Enabled }},
		{`{"enabled":" YES "}`, func(p Policy) bool { return p.Enabled }},
		{`{"enabled":"On"}`, func(p Policy) bool { return p.Enabled }},
		{`{"metadata_to_logs":0}`, func(p Policy) bool { return !p.MetadataToLogs }},
		{`{"metadata_to_logs":"off"}`, func(p Policy) bool { return !p.MetadataToLogs }},
		{`{"metadata_to_logs":"FALSE"}`, func(p Policy) bool { return !p.MetadataToLogs }},
		{`{"mode":"  ENFORCE "}`, func(p Policy) bool { return p.Mode == ModeEnforce }},
		{`{"default_decision":"Block"}`, func(p Policy) bool { return p.DefaultDecision == DefaultBlock }},
		{`{"redaction_paths":[]}`, func(p Policy) bool { return len(p.RedactionPaths) == 0 && p.RedactionPaths != nil }},
		{`{"redaction_paths":["-"]}`, func(p Policy) bool { return slices.Equal(p.RedactionPaths, []string{"-"}) }},
		{`{"max_payload_bytes":0}`, func(p Policy) bool { return p.MaxPayloadBytes == 0 }},
		{`{"max_inspect_bytes":1.0}`, func(p Policy) bool { return p.MaxInspectBytes == 1 }},
		{`{"max_patterns":1e2}`, func(p Policy) bool { return p.MaxPatterns == 100 }},
		{`{}`, func(p Policy) bool { return p.sameAs(cur) }},
		{`null`, func(p Policy) bool { return p.sameAs(cur) }},
		{``, func(p Policy) bool { return p.sameAs(cur) }},
		// Keys not given keep their values.
		{`{"scope_include":["a:*"]}`, func(p Policy) bool {
			return slices.Equal(p.ScopeInclude, []string{"a:*"}) && slices.Equal(p.RedactionPaths, cur.RedactionPaths)
		}},
	} {
		p, err := ParseReload(cur, json.RawMessage(tc.args))
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
			continue
		}
		if !tc.check(p) {
			t.Errorf("%s: unexpected policy %v", tc.args, p.Snapshot())
		}
		if p.c == nil {
			t.Errorf("%s: policy not compiled", tc.args)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	a := DefaultPolicy()
	b, err := ParseReload(a, json.RawMessage(`{"mode":"enforce","scope_include":["x"],"enabled":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ChangedKeys(a, b); !slices.Equal(got, []string{"mode", "scope_include"}) {
		t.Fatalf("changed %v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFromValues(t *testing.T) {
	p, probs := FromValues(PolicyInput{})
	if probs != nil || !p.sameAs(DefaultPolicy()) {
		t.Fatalf("zero input must give the defaults: %v", probs)
	}
	p, probs = FromValues(PolicyInput{
		Enabled:        ptr(true),
		Mode:           ptr("ENFORCE"),
		RedactionPaths: ptr([]string{}),
		ScopeInclude:   ptr([]string{"science:*"}),
	})
	if probs != nil || !p.Enabled || p.Mode != ModeEnforce || len(p.RedactionPaths) != 0 || p.c == nil {
		t.Fatalf("got %v %v", p.Snapshot(), probs)
	}
	_, probs = FromValues(PolicyInput{
		Mode:               ptr("loud"),
		DefaultDecision:    ptr("maybe"),
		MaxInspectBytes:    ptr(0),
		MaxPayloadBytes:    ptr(-1),
		ScopeExclude:       ptr([]string{"[x"}),
		NeverLogPayloadFor: ptr([]string{`a\`}),
		RedactionPatterns:  ptr([]string{"a", "(", "c"}),
		MaxPatterns:        ptr(2),
	})
	var msgs []string
	for _, pr := range probs {
		msgs = append(msgs, pr.Error())
		if !strings.HasPrefix(pr.Message, pr.Vars[0]+": ") {
			t.Errorf("problem %q does not start with its variable %s", pr.Message, pr.Vars[0])
		}
	}
	want := []string{
		`ARQONBUS_CASIL_MODE: invalid value "loud" (expected one of: monitor, enforce)`,
		`ARQONBUS_CASIL_DEFAULT_DECISION: invalid value "maybe" (expected one of: allow, block)`,
		`ARQONBUS_CASIL_MAX_PAYLOAD_BYTES: must be >= 0 (got -1)`,
		`ARQONBUS_CASIL_MAX_INSPECT_BYTES: must be >= 1 (got 0)`,
		`ARQONBUS_CASIL_SCOPE_EXCLUDE: invalid glob "[x"`,
		`ARQONBUS_CASIL_NEVER_LOG_PAYLOAD_FOR: invalid glob "a\\"`,
		`ARQONBUS_CASIL_REDACTION_PATTERNS: 3 patterns exceed ARQONBUS_CASIL_MAX_PATTERNS (2)`,
		"ARQONBUS_CASIL_REDACTION_PATTERNS: invalid regular expression \"(\": error parsing regexp: missing closing ): `(`",
	}
	if !slices.Equal(msgs, want) {
		t.Fatalf("problems\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}
