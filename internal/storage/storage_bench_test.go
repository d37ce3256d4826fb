package storage

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkStrictAppend measures strict-mode append throughput against the
// shared Redis (testutil.RedisAddr, default 127.0.0.1:6379): parallel
// appenders, one channel each (the bus serialises appends per channel),
// every call returning only after Redis acknowledged its own EVALSHA.
//
//	go test -run '^$' -bench StrictAppend -benchtime 3s ./internal/storage/
func BenchmarkStrictAppend(b *testing.B) {
	for _, mult := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("appenders=%d", mult*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			tenant := uniqueName("bench")
			cleanupTenant(b, tenant)
			m, err := NewManager(context.Background(), ManagerOptions{Backend: "redis", Mode: ModeStrict,
				RedisURL: sharedRedisURL, HistorySize: 500})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			env := []byte(`{"id":"arq_01JNB8Z6W3K4N5P6Q7R8S9T0Y5","timestamp":"2026-03-01T12:00:00.001Z","type":"message","version":"1.0","payload":{"text":"hello"},"args":{},"metadata":{},"room":"science","channel":"general","sender":"arq_client_0a1b"}`)
			var next atomic.Int64
			b.SetParallelism(mult) // mult × GOMAXPROCS goroutines
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				k := StreamKey{Tenant: tenant, Room: "bench", Channel: fmt.Sprintf("c%d", next.Add(1))}
				for pb.Next() {
					if _, _, err := m.Append(context.Background(), k, env, time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkMemoryAppend is the memory backend's append cost.
func BenchmarkMemoryAppend(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	env := []byte(`{"type":"message","payload":{"text":"hello"}}`)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := StreamKey{Room: "bench", Channel: fmt.Sprintf("c%d", next.Add(1))}
		for pb.Next() {
			_, _, _ = m.Append(context.Background(), k, env, time.Now())
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkStrictAppendUnpipelined is the baseline without batching: each
// appender sends its own EVALSHA and waits for it.
func BenchmarkStrictAppendUnpipelined(b *testing.B) {
	r := newTestRedis(b, RedisOptions{})
	tenant := uniqueName("bench")
	cleanupTenant(b, tenant)
	env := []byte(`{"type":"message","payload":{"text":"hello"}}`)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := streamKeys(StreamKey{Tenant: tenant, Room: "bench", Channel: fmt.Sprintf("c%d", next.Add(1))})
		for pb.Next() {
			err := appendScript.EvalSha(context.Background(), r.c, k, NewEpoch(), 500, 0, env, time.Now().UnixMilli()).Err()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
