package protocol

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 1, 987654321, time.UTC)

var serverIDRe = regexp.MustCompile(`^arq_[0-9A-HJKMNP-TV-Z]{26}$`)

func mustDecode(t *testing.T, in string) *Envelope {
	t.Helper()
	e, fe := Decode([]byte(in), testNow)
	if fe != nil {
		t.Fatalf("Decode(%s) failed: %+v", in, *fe)
	}
	return e
}

// TestRegressionDecodeValidationErrors pins upstream defects (PROTOCOL.md
// §13.3): unknown keys and bad timestamps gave INTERNAL_ERROR, inbound
// error/operator.join frames were accepted, and signed ids such as
// arq_-5_+3_ABCDEF passed. Each is a VALIDATION_ERROR naming the field.
func TestRegressionDecodeValidationErrors(t *testing.T) {
	long := "arq_" + strings.Repeat("a", 124)
	tests := []struct {
		name  string
		in    string
		errs  []string
		reqID string
	}{
		{"unknown fields sorted and deduplicated",
			`{"type":"ping","zeta":1,"alpha":2,"alpha":3,"Beta":1}`,
			[]string{"Unknown field: Beta", "Unknown field: alpha", "Unknown field: zeta"}, ""},
		{"escaped unknown key is decoded", `{"type":"ping","f\u006fo":1}`, []string{"Unknown field: foo"}, ""},
		{"id with dash", `{"id":"msg-1","type":"ping"}`, []string{"Invalid message ID format: msg-1"}, "msg-1"},
		{"id upper prefix", `{"id":"ARQ_1","type":"ping"}`, []string{"Invalid message ID format: ARQ_1"}, "ARQ_1"},
		{"id prefix only", `{"id":"arq_","type":"ping"}`, []string{"Invalid message ID format: arq_"}, "arq_"},
		{"id with space", `{"id":"arq_a b","type":"ping"}`, []string{"Invalid message ID format: arq_a b"}, "arq_a b"},
		{"id with plus", `{"id":"arq_-5_+3_ABCDEF","type":"ping"}`, []string{"Invalid message ID format: arq_-5_+3_ABCDEF"}, "arq_-5_+3_ABCDEF"},
		{"id with dot", `{"id":"arq_a.b","type":"ping"}`, []string{"Invalid message ID format: arq_a.b"}, "arq_a.b"},
		{"empty id", `{"id":"","type":"ping"}`, []string{"Invalid message ID format: "}, ""},
		{"numeric id rendered as JSON, no request_id", `{"id":123,"type":"ping"}`, []string{"Invalid message ID format: 123"}, ""},
		{"object id rendered compact", `{"id":{ "a" : 1 },"type":"ping"}`, []string{`Invalid message ID format: {"a":1}`}, ""},
		{"129-char id: no request_id", `{"id":"` + long + `x","type":"ping"}`, []string{"Invalid message ID format: " + long + "x"}, ""},
		{"128-char invalid id keeps request_id", `{"id":"` + long[:127] + `.","type":"ping"}`,
			[]string{"Invalid message ID format: " + long[:127] + "."}, long[:127] + "."},
		{"type absent", `{"payload":{}}`, []string{"Message type is required"}, ""},
		{"type empty", `{"type":""}`, []string{"Message type is required"}, ""},
		{"type null", `{"type":null}`, []string{"Message type is required"}, ""},
		{"type unknown", `{"type":"shout","payload":{}}`, []string{"Unsupported message type: shout"}, ""},
		{"type error is not inbound", `{"type":"error"}`, []string{"Unsupported message type: error"}, ""},
		{"type operator.join", `{"type":"operator.join"}`, []string{"Unsupported message type: operator.join"}, ""},
		{"type pong", `{"type":"pong"}`, []string{"Unsupported message type: pong"}, ""},
		{"type number", `{"type":5}`, []string{"Unsupported message type: 5"}, ""},
		{"version number 1.0", `{"type":"ping","version":1.0}`, []string{"Unsupported protocol version: 1.0"}, ""},
		{"version 2.0", `{"type":"ping","version":"2.0"}`, []string{"Unsupported protocol version: 2.0"}, ""},
		{"timestamp text", `{"type":"ping","timestamp":"yesterday"}`, []string{"Invalid timestamp: yesterday"}, ""},
		{"timestamp number", `{"type":"ping","timestamp":12345}`, []string{"Invalid timestamp: 12345"}, ""},
		{"timestamp with space separator", `{"type":"ping","timestamp":"2026-03-01 12:00:00Z"}`,
			[]string{"Invalid timestamp: 2026-03-01 12:00:00Z"}, ""},
		{"string type errors in order",
			`{"type":"ping","error_code":6,"error":5,"status":"x","request_id":3,"command":2,"to_client":1,"from_client":{},"from":[],"sender":5,"channel":true,"room":1}`,
			[]string{"Field 'room' must be a string", "Field 'channel' must be a string", "Field 'sender' must be a string",
				"Field 'from' must be a string", "Field 'from_client' must be a string", "Field 'to_client' must be a string",
				"Field 'command' must be a string", "Field 'request_id' must be a string",
				"Field 'error' must be a string", "Field 'error_code' must be a string"}, ""},
		{"object type errors", `{"type":"ping","metadata":"x","args":[]}`,
			[]string{"Field 'args' must be an object", "Field 'metadata' must be an object"}, ""},
		{"message payload null", `{"id":"arq_n1","type":"message","room":"science","channel":"general","payload":null}`,
			[]string{"Field 'payload' is required for message messages"}, "arq_n1"},
		{"event payload null", `{"type":"event","payload":null}`, []string{"Field 'payload' is required for message messages"}, ""},
		{"private payload null and no target", `{"type":"private","payload":null}`,
			[]string{"Field 'payload' is required for private messages", "Field 'to_client' is required for private messages"}, ""},
		{"private without target", `{"type":"private","payload":{"t":1}}`, []string{"Field 'to_client' is required for private messages"}, ""},
		{"private with non-string payload.target", `{"type":"private","payload":{"target":5}}`,
			[]string{"Field 'to_client' is required for private messages"}, ""},
		{"private with empty to_client", `{"type":"private","to_client":"","payload":{}}`,
			[]string{"Field 'to_client' is required for private messages"}, ""},
		{"command without command", `{"type":"command","args":{}}`, []string{"Field 'command' is required for command messages"}, ""},
		{"command with empty command", `{"type":"command","command":""}`, []string{"Field 'command' is required for command messages"}, ""},
		{"command with non-string payload.command", `{"type":"command","payload":{"command":5}}`,
			[]string{"Field 'command' is required for command messages"}, ""},
		{"response missing everything", `{"type":"response"}`,
			[]string{"Field 'request_id' is required for response messages", "Response messages must include status"}, ""},
		{"response bad status", `{"type":"response","request_id":"arq_1","status":"done"}`, []string{"Invalid status: done"}, ""},
		{"response numeric status", `{"type":"response","request_id":"arq_1","status":5}`,
			[]string{"Field 'status' must be a string", "Invalid status: 5"}, ""},
		{"telemetry string payload", `{"type":"telemetry","payload":"x"}`,
			[]string{"Field 'payload' must be an object for telemetry messages"}, ""},
		{"telemetry null payload", `{"type":"telemetry","payload":null}`,
			[]string{"Field 'payload' must be an object for telemetry messages"}, ""},
		{"per-type checks skipped for unsupported type", `{"type":"shout","payload":null}`, []string{"Unsupported message type: shout"}, ""},
		{"everything wrong, in spec order",
			`{"zz":1,"id":"bad","type":"private","version":"0.9","timestamp":"x","room":1,"args":5,"payload":null,"aa":2}`,
			[]string{"Unknown field: aa", "Unknown field: zz", "Invalid message ID format: bad",
				"Unsupported protocol version: 0.9", "Invalid timestamp: x", "Field 'room' must be a string",
				"Field 'args' must be an object", "Field 'payload' is required for private messages",
				"Field 'to_client' is required for private messages"}, "bad"},
		{"missing type with unknown field", `{"foo":1}`, []string{"Unknown field: foo", "Message type is required"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, fe := Decode([]byte(tc.in), testNow)
			if fe == nil {
				t.Fatalf("accepted: %s", e.AppendJSON(nil))
			}
			if fe.Code != CodeValidation || fe.Message != "Message validation failed" {
				t.Errorf("code/message = %q/%q", fe.Code, fe.Message)
			}
			if !slices.Equal(fe.Errors, tc.errs) {
				t.Errorf("errors:\n got %q\nwant %q", fe.Errors, tc.errs)
			}
			if fe.RequestID != tc.reqID {
				t.Errorf("request id = %q, want %q", fe.RequestID, tc.reqID)
			}
		})
	}
}

func TestAdversarialDecodeNonObject(t *testing.T) {
	for _, in := range []string{`"str"`, `123`, `null`, `[]`, ` [1, {"a":2}] `, `true`} {
		_, fe := Decode([]byte(in), testNow)
		if fe == nil || fe.Code != CodeValidation || !slices.Equal(fe.Errors, []string{"Envelope must be a JSON object"}) || fe.RequestID != "" {
			t.Errorf("Decode(%s) = %+v", in, fe)
		}
	}
}

func TestAdversarialDecodeInvalidJSON(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{"type":"message",`, `{"type":"ping"} x`, `{"type":"ping"}{}`, `[1,`, `{"type":'ping'}`,
		`{"type":"ping","payload":{"x":"` + "\xff" + `"}}`, // invalid UTF-8 in a string
		`{"ty` + "\xc3\x28" + `pe":"ping"}`,                // invalid UTF-8 in a key
		`{"type":"ping",}`, `{"type":"ping","n":01}`, `{"type":"ping","s":"a` + "\n" + `b"}`, "\xef\xbb\xbf{}",
		`{"type":"ping","n":-}`, `{"type":"ping","n":1.}`, `{"type":"ping","n":1e}`, `{"type":"ping","s":"\x"}`,
		`{"type":"ping","s":"\u12G4"}`, `{"type":"ping","v":nul}`, `{"type":"ping" "a":1}`, `{"type" "ping"}`,
		`{"id":"arq_1","type":"ping"`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		_, fe := Decode([]byte(in), testNow)
		if fe == nil || fe.Code != CodeInvalidJSON || fe.RequestID != "" || len(fe.Errors) != 1 ||
			fe.Message != "Invalid JSON: "+fe.Errors[0] || fe.Errors[0] == "" {
			t.Errorf("Decode(%q) = %+v, want INVALID_JSON", in, fe)
		}
		if json.Valid([]byte(in)) && utf8.ValidString(in) {
			t.Errorf("test input %q is valid JSON", in)
		}
	}
	_, fe := Decode([]byte(`{"type":"message",`), testNow)
	if fe.Message != "Invalid JSON: unexpected end of JSON input" {
		t.Errorf("detail = %q", fe.Message)
	}
}

func TestDecodeNormalization(t *testing.T) {
	t.Run("minimal envelope gets id, version, timestamp and empty objects", func(t *testing.T) {
		e := mustDecode(t, `{"type":"ping"}`)
		if !serverIDRe.MatchString(e.ID) {
			t.Errorf("id %q", e.ID)
		}
		if e.Version != "1.0" || e.Timestamp != "2026-03-01T12:00:01.987Z" || !e.ClientTime.IsZero() {
			t.Errorf("version %q timestamp %q client %v", e.Version, e.Timestamp, e.ClientTime)
		}
		if string(e.Payload) != "{}" || string(e.Args) != "{}" || string(e.Metadata) != "{}" {
			t.Errorf("payload %s args %s metadata %s", e.Payload, e.Args, e.Metadata)
		}
	})
	t.Run("null optional keys mean absent", func(t *testing.T) {
		e := mustDecode(t, `{"id":null,"type":"ping","version":null,"timestamp":null,"room":null,"args":null,"metadata":null,"payload":null}`)
		if !serverIDRe.MatchString(e.ID) || e.Timestamp != "2026-03-01T12:00:01.987Z" || e.Room != "" ||
			string(e.Args) != "{}" || string(e.Metadata) != "{}" || string(e.Payload) != "{}" {
			t.Errorf("%s", e.AppendJSON(nil))
		}
	})
	t.Run("client id, timestamp and version kept", func(t *testing.T) {
		e := mustDecode(t, `{"id":"arq_msg_001","type":"ping","version":"1.0","timestamp":"2026-03-01T12:00:00.123456+00:00"}`)
		if e.ID != "arq_msg_001" || e.Timestamp != "2026-03-01T12:00:00.123456+00:00" {
			t.Errorf("id %q timestamp %q", e.ID, e.Timestamp)
		}
		if want := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC); !e.ClientTime.Equal(want) {
			t.Errorf("client time %v", e.ClientTime)
		}
	})
	t.Run("sender aliases dropped, event becomes message", func(t *testing.T) {
		e := mustDecode(t, `{"type":"event","sender":"me","from":"x","from_client":"y","room":"science","channel":"general"}`)
		if e.Type != "message" || e.Sender != "" {
			t.Errorf("type %q sender %q", e.Type, e.Sender)
		}
		if out := string(e.AppendJSON(nil)); strings.Contains(out, `"from`) || strings.Contains(out, `"sender"`) {
			t.Errorf("aliases leaked: %s", out)
		}
	})
	t.Run("payload, args and metadata compacted, strings untouched", func(t *testing.T) {
		e := mustDecode(t, "{\"type\":\"command\",\"command\":\"x\",\"payload\":{ \"a\" : [ 1 , 2 ] ,\n\t\"s\":\"x  y\\n\" },"+
			"\"args\": { \"k\" : \"v v\" } , \"metadata\" : {\"m\" : null}}")
		if string(e.Payload) != `{"a":[1,2],"s":"x  y\n"}` || string(e.Args) != `{"k":"v v"}` || string(e.Metadata) != `{"m":null}` {
			t.Errorf("payload %s args %s metadata %s", e.Payload, e.Args, e.Metadata)
		}
	})
	t.Run("non-object payloads are kept", func(t *testing.T) {
		for _, p := range []string{`"text"`, `[1,2]`, `42`, `true`} {
			e := mustDecode(t, `{"type":"message","payload":`+p+`}`)
			if string(e.Payload) != p {
				t.Errorf("payload %s, want %s", e.Payload, p)
			}
		}
	})
	t.Run("escaped strings decoded, compound target kept raw", func(t *testing.T) {
		e := mustDecode(t, `{"type":"message","room":"sci\u0065nce:gen\u00e9ral","request_id":"a\"b","error":"e","error_code":"E","status":"success"}`)
		if e.Room != "science:genéral" || e.Channel != "" || e.RequestID != `a"b` || e.Error != "e" || e.ErrorCode != "E" || e.Status != "success" {
			t.Errorf("%+v", e)
		}
	})
	t.Run("private target", func(t *testing.T) {
		e := mustDecode(t, `{"type":"private","payload":{"target":"arq_client_x","target":"arq_client_y","text":"hi"}}`)
		if e.PayloadTarget != "arq_client_y" || e.ToClient != "" {
			t.Errorf("target %q to_client %q", e.PayloadTarget, e.ToClient)
		}
		e = mustDecode(t, `{"type":"private","to_client":"arq_client_a","payload":{"text":"psst"}}`)
		if e.ToClient != "arq_client_a" || e.PayloadTarget != "" {
			t.Errorf("target %q to_client %q", e.PayloadTarget, e.ToClient)
		}
		e = mustDecode(t, `{"type":"message","room":"r","channel":"c","payload":{"target":"arq_client_a"}}`)
		if e.PayloadTarget != "" {
			t.Errorf("payload.target set for a message: %q", e.PayloadTarget)
		}
	})
	t.Run("response with status", func(t *testing.T) {
		for _, st := range []string{"success", "error", "pending"} {
			e := mustDecode(t, `{"type":"response","request_id":"arq_1","status":"`+st+`"}`)
			if e.Status != st || e.RequestID != "arq_1" {
				t.Errorf("%+v", e)
			}
		}
	})
	t.Run("telemetry without payload", func(t *testing.T) {
		e := mustDecode(t, `{"type":"telemetry"}`)
		if string(e.Payload) != "{}" {
			t.Errorf("payload %s", e.Payload)
		}
	})
	t.Run("duplicate keys: last wins", func(t *testing.T) {
		e := mustDecode(t, `{"type":"shout","type":"ping","room":"a","room":"b"}`)
		if e.Type != "ping" || e.Room != "b" {
			t.Errorf("%+v", e)
		}
	})
	t.Run("decoded envelope does not alias the frame", func(t *testing.T) {
		frame := []byte(`{"id":"arq_keep","type":"message","room":"science","channel":"general","payload":{"content":"hi"}}`)
		e, fe := Decode(frame, testNow)
		if fe != nil {
			t.Fatal(fe)
		}
		for i := range frame {
			frame[i] = 'X'
		}
		if e.ID != "arq_keep" || e.Room != "science" || string(e.Payload) != `{"content":"hi"}` {
			t.Errorf("envelope changed with the frame: %+v", e)
		}
	})
}

func TestDecodeLegacyCommand(t *testing.T) {
	tests := []struct{ in, command, args, payload string }{
		{`{"type":"command","id":"arq_cmd_001","payload":{"command":"join_channel","parameters":{"room":"science","channel":"general"}}}`,
			"join_channel", `{"room":"science","channel":"general"}`,
			`{"command":"join_channel","parameters":{"room":"science","channel":"general"}}`},
		{`{"type":"command","command":"status","payload":{"command":"ping"}}`, "status", "{}", `{"command":"ping"}`},
		{`{"type":"command","command":"status","args":{"a":1},"payload":{"command":"ping","parameters":{"b":2}}}`, "status", `{"a":1}`,
			`{"command":"ping","parameters":{"b":2}}`},
		{`{"type":"command","command":null,"args":null,"payload":{"command":"help","parameters":{"b":2}}}`, "help", `{"b":2}`,
			`{"command":"help","parameters":{"b":2}}`},
		{`{"type":"command","payload":{"command":"help","parameters":[1]}}`, "help", "{}", `{"command":"help","parameters":[1]}`},
		{`{"type":"command","command":"x","payload":{"parameters":{"p":true}}}`, "x", `{"p":true}`, `{"parameters":{"p":true}}`},
	}
	for _, tc := range tests {
		e := mustDecode(t, tc.in)
		if e.Command != tc.command || string(e.Args) != tc.args || string(e.Payload) != tc.payload {
			t.Errorf("%s:\n command %q args %s payload %s", tc.in, e.Command, e.Args, e.Payload)
		}
	}
	// Mapping applies only to type "command".
	e := mustDecode(t, `{"type":"message","payload":{"command":"x","parameters":{"a":1}}}`)
	if e.Command != "" || string(e.Args) != "{}" {
		t.Errorf("mapped a message: %+v", e)
	}
}

// TestAppendixVectors checks Appendix A vectors 4–8, 16 and 23 at the codec
// level (target resolution for vector 8 is the bus's step 7).
func TestAppendixVectors(t *testing.T) {
	check := func(in, code string, errs []string, reqID string) {
		t.Helper()
		_, fe := Decode([]byte(in), testNow)
		if fe == nil {
			t.Fatalf("%s accepted", in)
		}
		if fe.Code != code || fe.RequestID != reqID || errs != nil && !slices.Equal(fe.Errors, errs) {
			t.Errorf("%s: %+v", in, *fe)
		}
	}
	// 4
	check(`{"type":"message",`, CodeInvalidJSON, nil, "")
	if _, fe := Decode([]byte(`{"type":"ping"}`), testNow); fe != nil {
		t.Errorf("a later valid frame fails: %+v", fe)
	}
	// 5
	check(`{"type":"message","room":"science","channel":"general","payload":{},"foo":1,"bar":2}`, CodeValidation,
		[]string{"Unknown field: bar", "Unknown field: foo"}, "")
	// 6
	check(`{"id":"msg-1","type":"message","room":"science","channel":"general","payload":{}}`, CodeValidation,
		[]string{"Invalid message ID format: msg-1"}, "msg-1")
	// 7
	check(`{"type":"shout","payload":{}}`, CodeValidation, []string{"Unsupported message type: shout"}, "")
	// 8: the codec accepts it; the target is missing.
	e := mustDecode(t, `{"id":"arq_t8","type":"message","payload":{"x":1}}`)
	if _, _, st, _ := ResolveTarget(e.Room, e.Channel); e.ID != "arq_t8" || st != TargetNone {
		t.Errorf("vector 8: id %q status %v", e.ID, st)
	}
	// 16
	e = mustDecode(t, `{"id":"arq_u1","type":"command","payload":{"command":"no.such","parameters":{}}}`)
	if e.Command != "no.such" || string(e.Args) != "{}" || e.ID != "arq_u1" {
		t.Errorf("vector 16: %+v", e)
	}
	// 23
	check(`{"id":"arq_n1","type":"message","room":"science","channel":"general","payload":null}`, CodeValidation,
		[]string{"Field 'payload' is required for message messages"}, "arq_n1")
	e = mustDecode(t, `{"id":"arq_n1","type":"message","room":"science","channel":"general"}`)
	if string(e.Payload) != "{}" {
		t.Errorf("vector 23: payload %s", e.Payload)
	}
}

// TestDecodeRoundTrip: every decoded envelope encodes to valid compact JSON
// holding the §4.6 keys with the decoded values.
func TestDecodeRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"type":"message","room":"science","channel":"general","payload":{"content":"hi"}}`,
		`{ "id" : "arq_1795735985497689027_3_cd88aa" , "type" : "private" , "to_client" : "arq_client_b", "payload" : { "text" : "ü \u2028 \"q\"" } }`,
		`{"type":"command","command":"history","args":{"room":"science","limit":5},"metadata":{"trace":[1,2]},"request_id":"r"}`,
		`{"type":"response","request_id":"arq_r","status":"error","error":"boom","error_code":"X","payload":[]}`,
		`{"type":"telemetry","payload":{"eventType":"metric","payload":{"cpu":0.42}}}`,
	} {
		e := mustDecode(t, in)
		e.Sender = "arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
		out := e.AppendJSON(nil)
		var compact bytes.Buffer
		if err := json.Compact(&compact, out); err != nil || !bytes.Equal(compact.Bytes(), out) {
			t.Fatalf("not valid compact JSON (%v): %s", err, out)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "timestamp", "type", "version", "payload", "args", "metadata", "sender"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: key %q missing", out, k)
			}
		}
		var back struct {
			ID, Type, Room, Sender string
			Payload                json.RawMessage
		}
		_ = json.Unmarshal(out, &back)
		if back.ID != e.ID || back.Type != e.Type || back.Room != e.Room || back.Sender != e.Sender || !bytes.Equal(back.Payload, e.Payload) {
			t.Errorf("round trip mismatch: %s", out)
		}
		// Decoding the encoded frame again is stable apart from the sender.
		e2 := mustDecode(t, strings.Replace(string(out), `,"sender":"`+e.Sender+`"`, "", 1))
		e2.Sender = e.Sender
		if out2 := e2.AppendJSON(nil); !bytes.Equal(out, out2) {
			t.Errorf("second round trip differs:\n%s\n%s", out, out2)
		}
	}
}
