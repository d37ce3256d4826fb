package telemetry

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"2026-03-01T12:00:00Z", true, "2026-03-01T12:00:00.000Z"},
		{"2026-03-01t12:00:00.123456789z", true, "2026-03-01T12:00:00.123Z"},
		{"2026-03-01T13:30:00.5+01:30", true, "2026-03-01T12:00:00.500Z"},
		{"2026-03-01T10:00:00-02:00", true, "2026-03-01T12:00:00.000Z"},
		{"2026-03-01T12:00:00", false, ""},
		{"2026-03-01 12:00:00Z", false, ""},
		{"2026-02-30T12:00:00Z", false, ""},
		{"2026-03-01T24:00:00Z", false, ""},
		{"2026-03-01T12:00:00.Z", false, ""},
		{"2026-03-01T12:00:00+0100", false, ""},
		{"yesterday", false, ""},
		{"", false, ""},
	} {
		got, ok := parseRFC3339(tc.in)
		if ok != tc.ok || (ok && got.UTC().Format("2006-01-02T15:04:05.000Z") != tc.want) {
			t.Errorf("parseRFC3339(%q) = %v, %v; want %v %s", tc.in, got, ok, tc.ok, tc.want)
		}
	}
}

func TestEnrichOverwritesServerFields(t *testing.T) {
	in := parseFrame([]byte(`{"eventType":"x","event_id":"mine","source":"mine","received_at":"mine","payload":"<&>"}`))
	if in.kind != kindEvent || len(in.errs) > 0 {
		t.Fatalf("parse = %+v", in)
	}
	recv := time.Date(2026, 3, 1, 12, 0, 0, 7e6, time.UTC)
	id, out, err := enrich(in, recv)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"event_type": "x", "event_id": id, "source": "telemetry", "payload": "<&>",
		"timestamp": "2026-03-01T12:00:00.007Z", "received_at": "2026-03-01T12:00:00.007Z"}
	if len(m) != len(want) {
		t.Fatalf("enriched = %s", out)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("enriched[%s] = %v, want %v (%s)", k, m[k], v, out)
		}
	}
}

// FuzzParseFrame checks the inbound parser on arbitrary frames: it never
// panics, every reply it leads to is a JSON object, and a valid event
// enriches into an object carrying its event type.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping"}`, `{"type":"subscribe","events":["a","b"]}`, `{"type":"subscribe","events":[1]}`,
		`{"event_type":"a.b:c-d_e","timestamp":"2026-03-01T12:00:00.123+02:00","client_id":"arq_1","metadata":{},"payload":[null]}`,
		`{"eventType":"x","event_type":"x"}`, `{"eventType":"x","event_type":"y"}`, `{"event_type":7}`,
		`[]`, `null`, `"s"`, `{`, `{"a":1}{"b":2}`, "\xff", `{"event_type":"\u00e9"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := parseFrame(data)
		switch in.kind {
		case kindInvalid:
			if len(in.errs) == 0 {
				t.Fatal("invalid frame without an error")
			}
			if !json.Valid(errorFrame("Invalid JSON", "INVALID_JSON", in.errs)) {
				t.Fatal("error frame is not JSON")
			}
		case kindSubscribe:
			if len(in.errs) == 0 && !json.Valid(subscribedFrame(in.events)) {
				t.Fatal("subscribed frame is not JSON")
			}
		case kindEvent:
			if len(in.errs) > 0 {
				if !json.Valid(errorFrame("Invalid telemetry event", "VALIDATION_ERROR", in.errs)) {
					t.Fatal("error frame is not JSON")
				}
				return
			}
			_, out, err := enrich(in, time.Now())
			if err != nil {
				t.Fatalf("enrich: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("enriched event is not an object: %s", out)
			}
			if m["event_type"] != in.typ || in.typ == "" || m["source"] != "telemetry" {
				t.Fatalf("enriched %s from %q", out, data)
			}
		}
	})
}
