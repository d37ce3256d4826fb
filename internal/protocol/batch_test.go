package protocol

import (
	"slices"
	"testing"
)

func TestSplitBatch(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"type":"ping"}`, []string{`{"type":"ping"}`}},
		{"{\"type\":\"ping\"}\n", []string{"{\"type\":\"ping\"}\n"}},
		{"{\n  \"type\": \"ping\"\n}", []string{"{\n  \"type\": \"ping\"\n}"}},
		{"{\"type\":\"ping\",\"id\":\"arq_b1\"}\n{\"type\":\"ping\",\"id\":\"arq_b2\"}\n{\"type\":\"ping\",\"id\":\"arq_b3\"}\n",
			[]string{`{"type":"ping","id":"arq_b1"}`, `{"type":"ping","id":"arq_b2"}`, `{"type":"ping","id":"arq_b3"}`}},
		{"{\"a\":1}\n\n\n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}},
		{"{\"a\":1}\r\n{\"b\":2}\r\n", []string{"{\"a\":1}\r", "{\"b\":2}\r"}},
		{"{\"a\":1}\n{bad\n", []string{`{"a":1}`, `{bad`}},
		{`{bad`, []string{`{bad`}},
		{"", nil},
		{"\n", nil},
		{"\n\n", nil},
	}
	for _, tc := range tests {
		got := SplitBatch([]byte(tc.in))
		var gs []string
		for _, l := range got {
			gs = append(gs, string(l))
		}
		if !slices.Equal(gs, tc.want) {
			t.Errorf("SplitBatch(%q) = %q, want %q", tc.in, gs, tc.want)
		}
	}
	// Lines alias the frame and cannot grow into each other.
	lines := SplitBatch([]byte("{\"a\":1}\n{\"b\":2}"))
	_ = append(lines[0], 'X')
	if string(lines[1]) != `{"b":2}` {
		t.Errorf("append clobbered the next line: %q", lines[1])
	}
}
