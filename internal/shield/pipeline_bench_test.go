package shield

import (
	"context"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// benchQueueLen is deep enough that the drain goroutine, which shares two
// cores with the embedded NATS server, is never descheduled for long enough
// to overflow the queue (a 1,024-frame queue overflowed within one
// scheduler time slice and closed the connection as a slow consumer).
const benchQueueLen = 1 << 16

// benchConn builds a gateway (embedded NATS, optional policy) and a
// connection whose send queue is drained, so the benchmark measures the
// per-frame pipeline: decode + schema + tenant + policy + publish + ack.
func benchConn(b *testing.B, policy string) *conn {
	ns := startNATS(b, false)
	o := testOptions(ns)
	o.PolicyPath = policy
	o.RateLimitPerSecond = 0
	g, err := New(o, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	c := &conn{g: g, id: NewConnID(), tenant: "tenant-a", sub: "user-1", subject: "in.t.tenant-a.raw",
		replyTo: "out.t.tenant-a.c.x", queue: make(chan outFrame, benchQueueLen), abortCh: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-c.queue:
			case <-ctx.Done():
				return
			}
		}
	}()
	b.Cleanup(func() { cancel(); <-done })
	// A subscriber makes the publish reach a consumer, as in production.
	sub, err := g.up.nc.Subscribe("in.t.>", func(*nats.Msg) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sub.Unsubscribe() })
	return c
}

func BenchmarkPipelineText(b *testing.B) {
	for _, bc := range []struct{ name, policy string }{{"no-policy", ""}, {"policy", "../../policies/block_forbidden.wasm"}} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchConn(b, bc.policy)
			frame := []byte(`{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1,"text":"hello world"}}`)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.handleFrame(websocket.TextMessage, frame)
			}
			b.StopTimer()
			if c.closing.Load() {
				b.Fatal("connection closed during benchmark")
			}
		})
	}
}

func BenchmarkPipelineBinary(b *testing.B) {
	for _, bc := range []struct{ name, policy string }{{"no-policy", ""}, {"policy", "../../policies/block_forbidden.wasm"}} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchConn(b, bc.policy)
			frame := bigEventEnvelope(100)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.handleFrame(websocket.BinaryMessage, frame)
			}
		})
	}
}
