package e2e

import (
	"testing"
)

// FuzzDecodeServerFrame checks the harness's frame decoder (JSON Lines
// splitting and the §4.6 checks) never panics and always yields at least
// one envelope or problem report per line.
func FuzzDecodeServerFrame(f *testing.F) {
	f.Add([]byte(`{"id":"arq_01JNB8Z6W3K4N5P6Q7R8S9T0A0","timestamp":"2026-03-01T12:00:00.000Z","type":"pong","version":"1.0","payload":{},"args":{},"metadata":{},"sender":"arqonbus"}`), false)
	f.Add([]byte("{\"type\":\"pong\"}\n{\"type\":\"pong\",\"room\":null}"), true)
	f.Add([]byte(`[1,2]`), false)
	f.Add([]byte(`{"a":1} {"b":2}`), false)
	f.Add([]byte{0xff, '\n', '{'}, true)
	f.Fuzz(func(t *testing.T, data []byte, batch bool) {
		c := &wsClient{batch: batch}
		frames := c.decode(data)
		if len(frames) == 0 {
			t.Fatalf("decode(%q) returned nothing", data)
		}
		for _, fr := range frames {
			_ = fr.String()
		}
	})
}
