package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestSetStreamPosition(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{}`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
		{``, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
		{`{"a":1,"offset":5,"epoch":"client","b":{"c":[2]}}`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60","a":1,"b":{"c":[2]}}`},
		{`{"\u006fffset":"x","casil":{"decision":"ALLOW"}}`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60","casil":{"decision":"ALLOW"}}`},
		{`{ "a" : [ 1 ] }`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60","a":[1]}`},
		{`null`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
		{`[1]`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
		{`{"a":`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
		{`{"a":1} x`, `{"offset":42,"epoch":"8f3c1a9d2b7e4f60"}`},
	}
	for _, tc := range tests {
		if got := string(SetStreamPosition(json.RawMessage(tc.in), 42, "8f3c1a9d2b7e4f60")); got != tc.want {
			t.Errorf("SetStreamPosition(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := string(SetStreamPosition(nil, 1<<53-1, `e"`)); got != `{"offset":9007199254740991,"epoch":"e\""}` {
		t.Errorf("got %s", got)
	}
	md := json.RawMessage(`{"offset":1}`)
	SetStreamPosition(md, 2, "e")
	if string(md) != `{"offset":1}` {
		t.Errorf("input modified: %s", md)
	}
}

func TestInjectStreamPosition(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"id":"arq_1","type":"message","payload":{},"args":{},"metadata":{},"room":"r","channel":"c"}`,
			`{"id":"arq_1","type":"message","payload":{},"args":{},"metadata":{"offset":7,"epoch":"ep"},"room":"r","channel":"c"}`},
		{`{"id":"arq_1","metadata":{"k":"v","epoch":"old"}}`, `{"id":"arq_1","metadata":{"offset":7,"epoch":"ep","k":"v"}}`},
		{`{"id":"arq_1"}`, `{"id":"arq_1","metadata":{"offset":7,"epoch":"ep"}}`},
		{`{}`, `{"metadata":{"offset":7,"epoch":"ep"}}`},
		{` { } `, ` { "metadata":{"offset":7,"epoch":"ep"}} `},
		{`{"metadata":null,"x":1}`, `{"metadata":{"offset":7,"epoch":"ep"},"x":1}`},
		{`{"payload":{"metadata":{}},"metadata":{}}`, `{"payload":{"metadata":{}},"metadata":{"offset":7,"epoch":"ep"}}`},
	}
	for _, tc := range tests {
		got, err := InjectStreamPosition([]byte(tc.in), 7, "ep")
		if err != nil || string(got) != tc.want {
			t.Errorf("InjectStreamPosition(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{``, `[]`, `"x"`, `{"a":1`, `{"a":1}}`, `{"a":"` + "\xff" + `"}`} {
		if _, err := InjectStreamPosition([]byte(in), 7, "ep"); !errors.Is(err, ErrNotEnvelope) {
			t.Errorf("InjectStreamPosition(%q) error = %v", in, err)
		}
	}
}

func TestSetStreamPositionAllocations(t *testing.T) {
	md := json.RawMessage(`{"trace":"abc"}`)
	if n := testing.AllocsPerRun(100, func() { SetStreamPosition(md, 42, "8f3c1a9d2b7e4f60") }); n != 1 {
		t.Errorf("SetStreamPosition allocates %v times, want 1", n)
	}
}
