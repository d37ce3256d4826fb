package telemetry

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// benchClients registers n socketless clients whose writer is pinned busy,
// so the benchmark measures fan-out: one encode, n enqueues.
func benchClients(s *Server, n int) []*client {
	out := make([]*client, n)
	for i := range out {
		c := &client{srv: s, writing: true}
		s.active.Add(1)
		s.register(c)
		out[i] = c
	}
	return out
}

func drainAll(cs []*client) {
	for _, c := range cs {
		c.mu.Lock()
		c.pending, c.n, c.bytes = c.pending[:0], 0, 0
		c.mu.Unlock()
	}
}

// BenchmarkOnEvent measures one bus event fanned out to N telemetry clients.
func BenchmarkOnEvent(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := New(Options{SendQueueSize: 1 << 20, SendQueueBytes: 1 << 30, Metrics: metrics.NewBus()})
			cs := benchClients(s, n)
			ev := bus.Event{Type: "client_connected", Tenant: "tenant-a", Time: time.Now(), Data: map[string]any{
				"client_id": "arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9", "client_type": "human", "screen_name": nil, "subject": "alice"}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.OnEvent(ev)
				if i%256 == 255 {
					drainAll(cs)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkClientEvent measures one inbound event end to end without
// sockets: parse, validate, enrich, publish into the bus (memory storage),
// ack, fan-out to N telemetry clients.
func BenchmarkClientEvent(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			store, err := storage.NewManager(ctx, storage.ManagerOptions{Backend: "memory", Mode: "degraded", HistorySize: 500})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			m := metrics.NewBus()
			s := New(Options{SendQueueSize: 1 << 20, SendQueueBytes: 1 << 30, Metrics: m})
			bs, err := bus.New(ctx, bus.Options{Store: store, Metrics: m, OnEvent: s.OnEvent})
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Shutdown(ctx)
			s.Attach(bs)
			cs := benchClients(s, n+1)
			sender := cs[0]
			frame := []byte(`{"event_type":"agent.step","timestamp":"2026-03-01T12:00:00.123Z","client_id":"arq_agent_1","metadata":{"run":"r1"},"payload":{"step":3,"tokens":512,"ok":true}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.handleFrame(sender, frame)
				if i%256 == 255 {
					drainAll(cs)
				}
			}
		})
	}
}
