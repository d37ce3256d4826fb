package protocol

import (
	"encoding/json"
	"testing"
	"time"
)

// typicalMessage is a ~200-byte client message.
const typicalMessage = `{"id":"arq_1795735985497689027_3_cd88aa","type":"message","room":"science","channel":"general",` +
	`"payload":{"content":"sensor reading","value":42.5,"unit":"celsius","tags":["lab","t1"]},"metadata":{"trace":"abc123"}}`

func BenchmarkDecodeMessage(b *testing.B) {
	frame := []byte(typicalMessage)
	now := time.Now()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, fe := Decode(frame, now); fe != nil {
			b.Fatal(fe)
		}
	}
}

// BenchmarkDecodeMinimal is an SDK-style frame: the server assigns id and
// timestamp.
func BenchmarkDecodeMinimal(b *testing.B) {
	frame := []byte(`{"type":"message","room":"science","channel":"general","payload":{"content":"hi"}}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, fe := Decode(frame, now); fe != nil {
			b.Fatal(fe)
		}
	}
}

func BenchmarkDecodeLegacyCommand(b *testing.B) {
	frame := []byte(`{"type":"command","id":"arq_cmd_001","payload":{"command":"join_channel","parameters":{"room":"science","channel":"general"}}}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, fe := Decode(frame, now); fe != nil {
			b.Fatal(fe)
		}
	}
}

// BenchmarkDecodeEncodingJSONBaseline is the naive approach for comparison:
// encoding/json into a map, without validation or normalization.
func BenchmarkDecodeEncodingJSONBaseline(b *testing.B) {
	frame := []byte(typicalMessage)
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(frame, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	e, fe := Decode([]byte(typicalMessage), time.Now())
	if fe != nil {
		b.Fatal(fe)
	}
	e.Sender = "arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	e.Metadata = SetStreamPosition(e.Metadata, 42, "8f3c1a9d2b7e4f60")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkSetStreamPosition(b *testing.B) {
	for _, md := range []string{`{}`, `{"trace":"abc123","offset":1}`} {
		b.Run(md, func(b *testing.B) {
			raw := json.RawMessage(md)
			b.ReportAllocs()
			for b.Loop() {
				SetStreamPosition(raw, 42, "8f3c1a9d2b7e4f60")
			}
		})
	}
}

func BenchmarkInjectStreamPosition(b *testing.B) {
	e, _ := Decode([]byte(typicalMessage), time.Now())
	stored := e.AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := InjectStreamPosition(stored, 42, "8f3c1a9d2b7e4f60"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitBatch(b *testing.B) {
	frame := []byte(typicalMessage + "\n" + typicalMessage + "\n" + typicalMessage + "\n")
	var dst [][]byte
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendBatch(dst[:0], frame)
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewID()
	}
}
