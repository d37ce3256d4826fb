package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPayloadHasExactSizeAndIsJSON(t *testing.T) {
	for _, size := range []int{MinPayload, MinPayload + 1, 200, 4096} {
		p := appendPayload(nil, size, 1234567890123)
		if len(p) != size {
			t.Errorf("size %d: got %d bytes", size, len(p))
		}
		var v struct{ Bt, Pad string }
		if err := json.Unmarshal(p, &v); err != nil || v.Bt != "0000001234567890123" {
			t.Errorf("size %d: %s: %v", size, p, err)
		}
	}
	msg := appendMessage(nil, 100, 42)
	var env map[string]any
	if err := json.Unmarshal(msg, &env); err != nil || env["type"] != "message" {
		t.Errorf("message %s: %v", msg, err)
	}
	sm := appendShieldMessage(nil, 100, 42, 3, 7)
	if err := json.Unmarshal(sm, &env); err != nil || env["id"] != "arq_b3_7" {
		t.Errorf("shield message %s: %v", sm, err)
	}
}

func TestParseEnvelope(t *testing.T) {
	stamped := string(appendPayload(nil, 80, 987654321))
	for _, tc := range []struct {
		in    string
		kind  kind
		stamp int64
		ok    bool
	}{
		{`{"id":"arq_1","timestamp":"2026-01-01T00:00:00.000Z","type":"message","version":"1.0","payload":` + stamped + `,"args":{},"metadata":{"offset":1},"room":"r","channel":"c","sender":"arq_client_x"}`, kindMessage, 987654321, true},
		{`{"id":"arq_1","type":"message_response","payload":` + stamped + `}`, kindAck, 987654321, true},
		{`{"type":"ack","id":"arq_b1_1","subject":"in.t.x.raw"}`, kindAck, 0, false},
		{`{"type":"error","error_code":"RATE_LIMITED","payload":` + stamped + `}`, kindError, 0, false},
		{`{"type":"pong"}`, kindPong, 0, false},
		{`{"id":"w","type":"message","payload":{"welcome":"Connected to ArqonBus"}}`, kindMessage, 0, false},
		{`{"type":"system"}`, kindOther, 0, false},
		{`not json`, kindInvalid, 0, false},
		{`{"type":"message","payload":{"bt":"12"}}`, kindMessage, 0, false},
		{`{"type":"message","payload":{"bt":"9999999999999999999"}}`, kindMessage, 0, false},
	} {
		k, s, ok := parseEnvelope([]byte(tc.in))
		if k != tc.kind || s != tc.stamp || ok != tc.ok {
			t.Errorf("%s: got (%d, %d, %v), want (%d, %d, %v)", tc.in, k, s, ok, tc.kind, tc.stamp, tc.ok)
		}
	}
}

func TestForEachLine(t *testing.T) {
	var got []string
	forEachLine([]byte("a\nbb\n\nccc\n"), func(l []byte) { got = append(got, string(l)) })
	if strings.Join(got, "|") != "a|bb|ccc" {
		t.Errorf("lines %q", got)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"type":"message","payload":` + string(appendPayload(nil, 60, 5)) + `}`))
	f.Add([]byte(`{"type":"message_response","payload":{"bt":"99999999999999999999"}}`))
	f.Add([]byte(`{"type":"`))
	f.Add([]byte("a\n\n{\"type\":\"error\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		forEachLine(b, func(line []byte) {
			k, s, ok := parseEnvelope(line)
			if ok && (s < 0 || (k != kindMessage && k != kindAck)) {
				t.Fatalf("stamp %d ok for kind %d", s, k)
			}
		})
	})
}
