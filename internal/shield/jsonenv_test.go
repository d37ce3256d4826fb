package shield

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

// referenceDecode is the encoding/json decode the pipeline used before
// jsonDecoder; jsonDecoder must agree with it on every input.
func referenceDecode(b []byte) (map[string]any, bool) {
	if len(b) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok && m != nil
}

var jsonSeeds = []string{
	`{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1,"text":"hello world"}}`,
	`{}`, ` { } `, "\t{\"a\" : [ 1 , 2.5e-3 , -0 , true , false , null , { } , [ ] ] }\r\n",
	`{"a":"\u00e9\ud83d\ude00\ud800x\/\"\\\b\f\n\r\t"}`, `{"a":"\ud800\u0041"}`, `{"é":"ü"}`,
	`{"a":1,"a":2}`, `{"metadata":{"tenant_id":"x","tenant_id":"tenant-a"}}`, `{"a":{"b":1,"b":2}}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1E+}`, `{"a":nul}`, `{"a":truex}`,
	`{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1}}`, `{"a":1} x`, `{"a":1} {}`,
	`[]`, `"s"`, `1`, `null`, ``, ` `, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}",
	`{"a":[1,]}`, `{"a":[,1]}`, `{"a":"unterminated}`, "\xef\xbb\xbf{}",
	`{"big":12345678901234567890123,"f":-1.5E+10}`,
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000),
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
	`{"a":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
}

func FuzzDecodeJSONObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantOK := referenceDecode(b)
		var d jsonDecoder
		got, gotOK := d.decode(b)
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("decode %q: got %v %#v, want %v %#v", b, gotOK, got, wantOK, want)
		}
		if !gotOK || d.dup {
			return
		}
		if raw, present := got["metadata"]; present {
			if _, isObj := raw.(map[string]any); !isObj {
				return // rejected before normalisation
			}
		}
		checkNormalised(t, &d, b)
	})
}

// checkNormalised asserts that splicing the received bytes publishes the
// same JSON value as encoding the normalised map.
func checkNormalised(t *testing.T, d *jsonDecoder, frame []byte) []byte {
	t.Helper()
	for _, n := range []envNormaliser{
		{sender: "user-1", tenant: "tenant-a"},
		{id: "arq_01J0000000000000000000000", timestamp: "2026-01-02T03:04:05.678Z", version: true, sender: "u<s\"er>\u2028", tenant: "t&\\é"},
	} {
		spliced, _ := d.appendNormalised(nil, &n, nil)
		env, _ := referenceDecode(frame)
		meta, _ := env["metadata"].(map[string]any)
		viaMap, err := normaliseMap(env, meta, &n)
		if err != nil {
			t.Fatal(err)
		}
		a, okA := referenceDecode(spliced)
		b, _ := referenceDecode(viaMap)
		if !okA || !reflect.DeepEqual(a, b) {
			t.Fatalf("frame %q: spliced %s, map-encoded %s", frame, spliced, viaMap)
		}
		if !json.Valid(spliced) || bytes.ContainsAny(spliced, " \t\r\n") && !bytes.ContainsAny(frame, " \t\r\n") {
			t.Fatalf("frame %q: spliced %s not compact JSON", frame, spliced)
		}
	}
	spliced, _ := d.appendNormalised(nil, &envNormaliser{sender: "user-1", tenant: "tenant-a"}, nil)
	return spliced
}

// For envelopes whose nested objects are compact with sorted keys and no
// escapes, the published bytes are exactly what encoding the map gives.
func TestNormalisedBytesMatchMapEncoding(t *testing.T) {
	for _, frame := range []string{
		`{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1,"text":"hello world"}}`,
		`{"type":"event","from":"spoof","from_client":"x","sender":"y","metadata":{"trace_id":"tr-1","z":[1,2]}}`,
		`{"type":"event", "metadata" : { "tenant_id" : "tenant-a" , "a" : { "b" : [ 1 , "x y" ] } } , "payload" : null }`,
		`{"version":"1.0","timestamp":"2026-01-02T03:04:05Z","type":"message","args":{}}`,
	} {
		var d jsonDecoder
		env, ok := d.decode([]byte(frame))
		if !ok || d.dup {
			t.Fatalf("decode %s: %v %v", frame, ok, d.dup)
		}
		n := envNormaliser{id: "arq_gen", timestamp: "2026-01-02T03:04:05.678Z", sender: "user-1", tenant: "tenant-a"}
		if _, ok := env["id"]; ok {
			n.id = ""
		}
		if _, ok := env["timestamp"]; ok {
			n.timestamp = ""
		}
		_, hasVersion := env["version"]
		n.version = !hasVersion
		got, _ := d.appendNormalised(nil, &n, nil)
		meta, _ := env["metadata"].(map[string]any)
		want, err := normaliseMap(env, meta, &n)
		if err != nil || string(got) != string(want) {
			t.Errorf("frame %s:\n got %s\nwant %s", frame, got, want)
		}
	}
}

func TestAppendJSONStringMatchesEncoding(t *testing.T) {
	for _, s := range []string{"", "tenant-a", `a"b\c`, "<&>", "é\u2028\x01\xff", "user 1"} {
		for _, html := range []bool{false, true} {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			enc.Encode(s)
			if got, want := string(appendJSONString(nil, s, html)), strings.TrimSuffix(buf.String(), "\n"); got != want {
				t.Errorf("appendJSONString(%q, %v) = %s, want %s", s, html, got, want)
			}
		}
	}
}

func BenchmarkDecodeJSONObject(b *testing.B) {
	frame := []byte(`{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1,"text":"hello world"}}`)
	b.Run("jsonDecoder", func(b *testing.B) {
		var d jsonDecoder
		b.ReportAllocs()
		for b.Loop() {
			d.decode(frame)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			referenceDecode(frame)
		}
	})
}

func FuzzBuiltinValid(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1,"text":"hello world"}}`,
		`{"type":"ping"}`, `{"type":"nope"}`, `{"id":"arq_x"}`, `{"type":"event","id":"arq_"}`, `{"type":"event","id":"arq_a\n"}`,
		`{"type":"event","id":"arq_` + strings.Repeat("a", 124) + `"}`, `{"type":"event","id":"arq_` + strings.Repeat("a", 125) + `"}`,
		`{"type":"event","version":"1.0","timestamp":"2026-01-02T03:04:05.1Z"}`, `{"type":"event","version":1.0}`,
		`{"type":"event","timestamp":"2026-13-02T03:04:05Z"}`, `{"type":"event","room":""}`,
		`{"type":"event","room":"` + strings.Repeat("é", 128) + `"}`, `{"type":"event","room":"` + strings.Repeat("é", 129) + `"}`,
		`{"type":"event","sender":"` + strings.Repeat("x", 257) + `"}`, `{"type":"event","args":[]}`, `{"type":"event","args":{}}`,
		`{"type":"event","metadata":{"tenant_id":1}}`, `{"type":"event","metadata":{"trace_id":1}}`, `{"type":"event","extra":1}`,
		`{"type":"event","payload":null,"to_client":null}`,
	} {
		f.Add([]byte(s))
	}
	s, err := LoadSchemas("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, ok := decodeJSONObject(b)
		if !ok {
			return
		}
		fast, full := builtinValid(env), s.builtin.Validate(env) == nil
		if fast != full {
			t.Fatalf("%s: builtinValid %v, schema valid %v", b, fast, full)
		}
	})
}

func TestJSONAckMatchesMarshal(t *testing.T) {
	type ackFrame struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Subject   string `json:"subject"`
		Stream    string `json:"stream,omitempty"`
		Seq       uint64 `json:"seq,omitempty"`
		Duplicate bool   `json:"duplicate,omitempty"`
	}
	for _, id := range []string{"arq_msg_001", `<a&"b">`, "é\u2028"} {
		for _, js := range []bool{false, true} {
			for _, res := range []publishResult{{}, {stream: "IN", seq: 42}, {stream: "IN<>", seq: 1 << 63, duplicate: true}} {
				a := ackFrame{Type: "ack", ID: id, Subject: "in.t.tenant-a.raw"}
				if js {
					a.Stream, a.Seq, a.Duplicate = res.stream, res.seq, res.duplicate
				}
				want, _ := json.Marshal(a)
				if got := jsonAck(id, "in.t.tenant-a.raw", js, res); string(got) != string(want) {
					t.Errorf("jsonAck = %s, want %s", got, want)
				}
			}
		}
	}
}
