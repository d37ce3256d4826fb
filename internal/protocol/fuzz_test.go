package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzFrames = []string{
	typicalMessage,
	`{"type":"message",`,
	`{"type":"message","room":"science","channel":"general","payload":{},"foo":1,"bar":2}`,
	`{"id":"msg-1","type":"message","room":"science","channel":"general","payload":{}}`,
	`{"type":"shout","payload":{}}`,
	`{"id":"arq_u1","type":"command","payload":{"command":"no.such","parameters":{}}}`,
	`{"id":"arq_n1","type":"message","room":"science","channel":"general","payload":null}`,
	`{"type":"private","payload":{"target":"arq_client_x","text":"h\u00e9\ud83d\ude00\ud800"}}`,
	`{"type":"response","request_id":"r","status":5,"version":1.0,"timestamp":"2026-03-01T12:00:00+05:30"}`,
	"{ \"type\" : \"telemetry\" ,\n \"payload\" : { \"a\" : [ 1 , 2.5e-3 , true , null ] } }",
	`[1,2]`, `"x"`, ``, "{\"a\":\"\xff\"}", `{"t\u0079pe":"ping","x\"y":1}`,
}

// FuzzDecode: Decode never panics, rejects exactly the frames that are not
// valid UTF-8 JSON with INVALID_JSON, and every accepted envelope encodes to
// valid compact JSON with the §4.6 keys.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wellFormed := json.Valid(data) && utf8.Valid(data)
		if _, detail := validJSON(data); (detail.ok()) != wellFormed {
			t.Fatalf("validJSON detail %q, json.Valid&&utf8.Valid = %v", detail, wellFormed)
		}
		if wellFormed {
			var want bytes.Buffer
			_ = json.Compact(&want, data)
			if got := appendCompact(nil, bytes.TrimSpace(data)); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("appendCompact = %s, json.Compact = %s", got, want.Bytes())
			}
		}
		e, fe := Decode(data, testNow)
		if fe != nil {
			if e != nil {
				t.Fatal("both envelope and error")
			}
			if (fe.Code == CodeInvalidJSON) == wellFormed || len(fe.Errors) == 0 {
				t.Fatalf("error %+v for well-formed=%v", *fe, wellFormed)
			}
			if fe.Code == CodeInvalidJSON && fe.Message != "Invalid JSON: "+fe.Errors[0] {
				t.Fatalf("message %q", fe.Message)
			}
			if len(fe.RequestID) > 4*128 || fe.Code == CodeInvalidJSON && fe.RequestID != "" {
				t.Fatalf("request id %q", fe.RequestID)
			}
			return
		}
		if !wellFormed {
			t.Fatalf("accepted malformed frame %q", data)
		}
		e.Sender = "arq_client_x"
		out := e.AppendJSON(nil)
		var compact bytes.Buffer
		if err := json.Compact(&compact, out); err != nil || !bytes.Equal(compact.Bytes(), out) || !utf8.Valid(out) {
			t.Fatalf("AppendJSON output invalid or not compact (%v): %s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "timestamp", "type", "version", "payload", "args", "metadata", "sender"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("key %q missing: %s", k, out)
			}
		}
		if _, ok := m["args"].(map[string]any); !ok {
			t.Fatalf("args not an object: %s", out)
		}
		if _, ok := m["metadata"].(map[string]any); !ok {
			t.Fatalf("metadata not an object: %s", out)
		}
		if m["version"] != "1.0" || e.Type == TypeEvent || !ValidID(e.ID) {
			t.Fatalf("not normalized: %s", out)
		}
		if _, ok := ParseTimestamp(e.Timestamp); !ok {
			t.Fatalf("timestamp %q", e.Timestamp)
		}
		if bytes.ContainsAny(e.Payload, "\n\r") && !bytes.Contains(e.Payload, []byte(`\`)) {
			t.Fatalf("payload not compact: %q", e.Payload)
		}
	})
}

// FuzzSplitBatch: lines never hold a newline unless the frame is one JSON
// value, and dropping empty lines is the only change.
func FuzzSplitBatch(f *testing.F) {
	for _, s := range []string{
		"{\"type\":\"ping\",\"id\":\"arq_b1\"}\n{\"type\":\"ping\",\"id\":\"arq_b2\"}\n",
		"{\n\"a\":1\n}", "\n\n", "", "a\nb", typicalMessage,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		lines := SplitBatch(frame)
		if _, detail := validJSON(frame); detail.ok() {
			if len(lines) != 1 || !bytes.Equal(lines[0], frame) {
				t.Fatalf("valid frame split: %q", lines)
			}
			return
		}
		var kept [][]byte
		for _, l := range bytes.Split(frame, []byte("\n")) {
			if len(l) > 0 {
				kept = append(kept, l)
			}
		}
		if len(kept) != len(lines) {
			t.Fatalf("got %d lines, want %d", len(lines), len(kept))
		}
		for i := range lines {
			if !bytes.Equal(lines[i], kept[i]) {
				t.Fatalf("line %d = %q, want %q", i, lines[i], kept[i])
			}
		}
	})
}

// FuzzInjectStreamPosition: valid JSON objects always gain the position,
// keep their other keys, and stay valid; anything else is an error.
func FuzzInjectStreamPosition(f *testing.F) {
	for _, s := range []string{
		`{"id":"arq_1","metadata":{}}`, `{"metadata":{"offset":"x","k":[1]}}`, `{}`, `[]`, `{"a":`,
		`{"metadata":null}`, ` {"a" : 1 } `, `{"metadata":{"\u0065poch":1}}`,
	} {
		f.Add([]byte(s), uint64(42), "8f3c1a9d2b7e4f60")
	}
	f.Fuzz(func(t *testing.T, env []byte, offset uint64, epoch string) {
		out, err := InjectStreamPosition(env, offset, epoch)
		var in map[string]json.RawMessage
		inOK := json.Unmarshal(env, &in) == nil && utf8.Valid(env) && bytes.HasPrefix(bytes.TrimSpace(env), []byte("{"))
		if err != nil {
			if inOK {
				t.Fatalf("rejected a valid object: %v", err)
			}
			return
		}
		if !inOK {
			t.Fatalf("accepted %q", env)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil || !json.Valid(out) {
			t.Fatalf("output invalid: %v %s", err, out)
		}
		var md struct {
			Offset *uint64 `json:"offset"`
			Epoch  *string `json:"epoch"`
		}
		if err := json.Unmarshal(got["metadata"], &md); err != nil || md.Offset == nil || *md.Offset != offset ||
			md.Epoch == nil || *md.Epoch != jsonRoundTrip(epoch) {
			t.Fatalf("metadata %s (%v)", got["metadata"], err)
		}
		for k, v := range in {
			if k == "metadata" {
				continue
			}
			if !bytes.Equal(got[k], v) {
				t.Fatalf("key %q changed: %s -> %s", k, v, got[k])
			}
		}
	})
}

// FuzzParseTimestamp: never panics; what it accepts is RFC 3339 (checked
// against the standard library when an offset is present) and formats back.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456+05:30", "2026-03-01T12:00:00", "2026-02-29T00:00:00Z",
		"2026-03-01T12:00:00.1234567890Z", "9999-12-31T23:59:59.999999999-23:59",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTimestamp(s)
		if !ok {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("not UTC: %v", got)
		}
		ref := s
		if len(s) == 19 || strings.IndexAny(s[19:], "Z+-") < 0 {
			ref += "Z"
		}
		want, err := time.Parse(time.RFC3339Nano, ref)
		if err != nil || !want.Equal(got) {
			t.Fatalf("ParseTimestamp(%q) = %v; time.Parse = %v, %v", s, got, want, err)
		}
		if y := got.Year(); y < 0 || y > 9999 {
			return // outside the four-digit years FormatTime writes in RFC 3339 form
		}
		if _, ok := ParseTimestamp(FormatTime(got)); !ok {
			t.Fatalf("FormatTime output %q rejected", FormatTime(got))
		}
	})
}

// jsonRoundTrip is what a JSON reader sees for s written by encoding/json
// (each invalid UTF-8 byte becomes U+FFFD, as AppendString does).
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
