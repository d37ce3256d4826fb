package protocol

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONFullEnvelope(t *testing.T) {
	e := &Envelope{
		ID: "arq_01JNB8Z6W3K4N5P6Q7R8S9T0V1", Type: "response", Version: "1.0", Timestamp: "2026-03-01T12:00:01.000Z",
		Room: "science", Channel: "general", Sender: "arqonbus", ToClient: "arq_client_b",
		Payload: json.RawMessage(`{"message":"m","data":{}}`), Command: "join_channel", Args: json.RawMessage(`{"a":1}`),
		RequestID: "arq_cmd_001", Status: "error", Error: "e", ErrorCode: "VALIDATION_ERROR",
		Metadata: json.RawMessage(`{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`),
	}
	want := `{"id":"arq_01JNB8Z6W3K4N5P6Q7R8S9T0V1","timestamp":"2026-03-01T12:00:01.000Z","type":"response","version":"1.0",` +
		`"payload":{"message":"m","data":{}},"args":{"a":1},"metadata":{"offset":42,"epoch":"8f3c1a9d2b7e4f60"},` +
		`"room":"science","channel":"general","sender":"arqonbus","to_client":"arq_client_b","command":"join_channel",` +
		`"request_id":"arq_cmd_001","status":"error","error":"e","error_code":"VALIDATION_ERROR"}`
	if got := string(e.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if b, err := json.Marshal(e); err != nil || string(b) != want {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
}

func TestAppendJSONMinimal(t *testing.T) {
	e := &Envelope{ID: "arq_X", Type: "pong", Timestamp: "2026-03-01T12:00:04.000Z"}
	want := `{"id":"arq_X","timestamp":"2026-03-01T12:00:04.000Z","type":"pong","version":"1.0","payload":{},"args":{},"metadata":{}}`
	if got := string(e.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote`, `back\slash`, "nl\ncr\rtab\tbs\bff\f", "\x00\x01\x1f\x7f", "ünïcödé 日本 😀",
		"\u2028\u2029", "</script>&",
	} {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != s {
			t.Errorf("AppendString(%q) = %s (back %q, %v)", s, out, back, err)
		}
	}
	if got := string(AppendString(nil, "a\nb\x01")); got != `"a\nb\u0001"` {
		t.Errorf("escapes: %s", got)
	}
	if got := string(AppendString(nil, "ü")); got != `"ü"` {
		t.Errorf("non-ASCII escaped: %s", got)
	}
	// Invalid UTF-8 becomes U+FFFD so the output stays valid.
	out := AppendString(nil, "a\xffb\xc3")
	if !utf8.Valid(out) || !json.Valid(out) || string(out) != "\"a\ufffdb\ufffd\"" {
		t.Errorf("invalid UTF-8: %q", out)
	}
}

func TestAppendJSONNoAllocations(t *testing.T) {
	e := mustDecode(t, typicalMessage)
	e.Sender = "arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times", n)
	}
}

func TestErrorsPayload(t *testing.T) {
	if got := string(ErrorsPayload([]string{"Unknown field: bar", `q"`})); got != `{"errors":["Unknown field: bar","q\""]}` {
		t.Errorf("got %s", got)
	}
	if got := string(ErrorsPayload(nil)); got != `{"errors":[]}` {
		t.Errorf("got %s", got)
	}
}
