package bus

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWritePath measures one connection's outbound path over a real
// loopback socket: enqueue, the on-demand writer draining what is queued,
// and the frames on the wire (JSON Lines batches with batching on; one
// frame per envelope, coalesced into one write, with it off). The client
// reads and counts envelopes as fast as it can.
func BenchmarkWritePath(b *testing.B) {
	for _, batch := range []bool{true, false} {
		b.Run("batch="+strconv.FormatBool(batch), func(b *testing.B) {
			tb := newTestBus(b, func(o *Options) { o.SendQueueSize = 65536; o.SendQueueBytes = 1 << 30 })
			query := ""
			if batch {
				query = "?batch=1"
			}
			conn := tb.dial(b, query)
			defer conn.Close()
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					got.Add(int64(strings.Count(string(data), "\n") + 1))
				}
			}()
			var c *Client
			for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); {
				if cs := tb.srv.snapshotClients(); len(cs) == 1 {
					c = cs[0]
				}
			}
			if c == nil {
				b.Fatal("server-side client not registered")
			}
			frame := []byte(`{"id":"arq_01JNB8Z6W3K4N5P6Q7R8S9T0V1","timestamp":"2026-03-01T12:00:01.000Z","type":"message","version":"1.0","payload":{"content":"hello world","n":42},"args":{},"metadata":{"offset":42,"epoch":"8f3c1a9d2b7e4f60"},"room":"science","channel":"general","sender":"arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9"}`)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for c.q.len() > 4096 { // let the writer catch up rather than overflow
					time.Sleep(10 * time.Microsecond)
				}
				if !c.enqueue(frame) {
					b.Fatal("the connection was closed")
				}
			}
			for got.Load() < int64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
			conn.Close()
			<-done
		})
	}
}
