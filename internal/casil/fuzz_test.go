package casil

import (
	"encoding/json"
	"testing"
)

var fuzzPolicies = []string{
	`{"mode":"monitor"}`,
	`{"mode":"enforce","transport_redaction":true,"redaction_patterns":["\\d{3}","(?i)key","x*"],"max_inspect_bytes":7,"max_payload_bytes":40}`,
	`{"mode":"enforce","block_on_probable_secret":true,"default_decision":"block","scope_exclude":["x:*"]}`,
}

// FuzzInspect checks that Inspect never panics and that its outcomes hold
// the invariants of OPERATIONS.md §8 for any payload bytes.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		`{"password":"hunter2","user":"ann"}`, `{"data":"token-123"}`, `"bare 12345 string"`,
		`[1,{"a":[true,null,-1.5e3]}]`, `{"a":"\u00e9\ud83d\ude00\""}`, `{"a":`, ``, `nul`, `[1 2]`,
		nest(40, `{"token":"x"}`), "{\"k\":\"\xff\"}",
	} {
		f.Add([]byte(s), uint8(0))
	}
	engines := make([]*Engine, len(fuzzPolicies))
	for i, s := range fuzzPolicies {
		engines[i] = NewEngine(policyWith(f, s))
	}
	f.Fuzz(func(t *testing.T, payload []byte, which uint8) {
		e := engines[int(which)%len(engines)]
		r := e.Inspect(KindMessage, "r:c", json.RawMessage(payload))
		switch r.Decision {
		case Allow, AllowWithRedaction, Block:
		default:
			t.Fatalf("decision %q", r.Decision)
		}
		if r.Decision == AllowWithRedaction && r.ReasonCode != ReasonRedacted && r.ReasonCode != ReasonMonitorMode {
			t.Fatalf("redaction with reason %s", r.ReasonCode)
		}
		if r.Redacted != nil {
			if r.Decision != AllowWithRedaction || e.Policy().Mode != ModeEnforce {
				t.Fatalf("redacted payload with %v", r)
			}
			if !json.Valid(r.Redacted) {
				t.Fatalf("redacted payload not valid JSON: %q", r.Redacted)
			}
		}
		if json.Valid(payload) && r.ReasonCode == ReasonInternalError {
			t.Fatalf("valid JSON %q gave an internal error: %v", payload, r)
		}
		if !json.Valid(payload) && len(payload) > 0 && r.ReasonCode != ReasonInternalError {
			t.Fatalf("invalid JSON %q was not an internal error: %v", payload, r)
		}
		_ = r.EnvelopeMetadata()
	})
}

// FuzzParseReload checks that ParseReload never panics, and that a policy
// it accepts survives a round trip through its own snapshot.
func FuzzParseReload(f *testing.F) {
	for _, s := range []string{
		`{"mode":"enforce"}`, `{"enabled":"yes","max_patterns":1e2}`, `{"redaction_patterns":["(","\\d"]}`,
		`{"scope_include":["[a-"],"bogus":1}`, `[]`, `null`, `{"max_inspect_bytes":-0.0}`, `{"enabled":1e999}`,
	} {
		f.Add([]byte(s))
	}
	base := DefaultPolicy()
	f.Fuzz(func(t *testing.T, args []byte) {
		p, err := ParseReload(base, json.RawMessage(args))
		if err != nil {
			if err.Error() == "" || !p.sameAs(base) {
				t.Fatalf("error %q changed the policy", err)
			}
			return
		}
		snap, merr := json.Marshal(p.Snapshot())
		if merr != nil {
			t.Fatal(merr)
		}
		q, err := ParseReload(DefaultPolicy(), snap)
		if err != nil || !q.sameAs(p) {
			t.Fatalf("snapshot %s does not reload: %v", snap, err)
		}
		NewEngine(p).Inspect(KindMessage, "r:c", json.RawMessage(`{"a":"b"}`))
	})
}

func TestDefaultScanMatchesRegexp(t *testing.T) {
	for _, s := range []string{
		"", "api", "apikey", "API_KEY", "api-Key", "api__key", "apkey", "xsecretx", "SECRET", "tok", "ToKeN", "passwor", "PassWord",
		"bearer", "bearer ", "bearer x", "Bearer\t\t.", "bearer\v x", "bearerx", "bearer  ~",
		"sk_live_0123456789abcdef", "sk_live_0123456789abcde", "SK_live_0123456789abcdef", "pk_test_0123456789ABCDEFghij",
		"pk_prod_0123456789abcdef", "sk_test_0123456789abcde-", "xsk_live_0123456789abcdefy",
		"to\u212Aen", "\u017Fecret", "é token", "éé",
	} {
		if got, want := scanDefault([]byte(s)), defaultScan.MatchString(s); got != want {
			t.Errorf("%q: scanner %v, regexp %v", s, got, want)
		}
	}
}

// FuzzDefaultScan compares the hand-written default scanner with the
// default patterns compiled by regexp.
func FuzzDefaultScan(f *testing.F) {
	for _, s := range []string{"bearer abc", "sk_live_0123456789abcdef", "API-key", "to\u212Aen"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, w []byte) {
		if got, want := scanDefault(w), defaultScan.Match(w); got != want {
			t.Fatalf("%q: scanner %v, regexp %v", w, got, want)
		}
	})
}
