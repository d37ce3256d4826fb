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

// benchRedisURL is a private redis-server for the read-cost benchmarks, so
// their large streams never weigh on the shared instance.
func benchRedisURL(b *testing.B) string {
	p := startPrivateRedis(b, "")
	return p.URL()
}

// fillStream appends n envelopes of size bytes, all fresh.
func fillStream(b *testing.B, r *Redis, k StreamKey, n, size int) {
	b.Helper()
	env := make([]byte, size)
	for i := range env {
		env[i] = 'x'
	}
	for range n {
		if _, _, err := r.Append(context.Background(), k, env, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisStateWithTTL is the join-time read (EnsureStream/State)
// of a full 500-entry stream of 200 KB envelopes with an age limit set.
//
//	go test -run '^$' -bench 'RedisStateWithTTL|RedisRoomHistoryLimit1|RedisKVCount' ./internal/storage/
func BenchmarkRedisStateWithTTL(b *testing.B) {
	r := newTestRedis(b, RedisOptions{URL: benchRedisURL(b), HistorySize: 500, HistoryTTL: time.Hour, Timeout: 10 * time.Second})
	k := StreamKey{Tenant: "bench", Room: "big", Channel: "c"}
	fillStream(b, r, k, 500, 200<<10)
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.EnsureStream(context.Background(), k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisRoomHistoryLimit1 is `history {room, limit:1}` over a room
// of 8 channels holding 500 envelopes of 4 KB each.
func BenchmarkRedisRoomHistoryLimit1(b *testing.B) {
	r := newTestRedis(b, RedisOptions{URL: benchRedisURL(b), HistorySize: 500, Timeout: 10 * time.Second})
	ctx := context.Background()
	for c := range 8 {
		k := StreamKey{Tenant: "bench", Room: "big", Channel: fmt.Sprintf("c%d", c)}
		_ = r.PutChannel(ctx, "bench", ChannelMeta{Room: "big", Channel: k.Channel})
		fillStream(b, r, k, 500, 4<<10)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := r.History(ctx, Query{Tenant: "bench", Room: "big", Limit: 1})
		if err != nil || len(res.Entries) != 1 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkRedisKVCount counts one tenant's 10 store keys in a Redis that
// also holds 20000 unrelated keys.
func BenchmarkRedisKVCount(b *testing.B) {
	url := benchRedisURL(b)
	r := newTestRedis(b, RedisOptions{URL: url})
	raw := rawRedis(b, url)
	ctx := context.Background()
	pipe := raw.Pipeline()
	for i := range 20000 {
		pipe.Set(ctx, fmt.Sprintf("other:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		_, _ = r.KVSet(ctx, "bench", "ns", fmt.Sprintf("k%d", i), []byte(`1`))
	}
	b.ResetTimer()
	for b.Loop() {
		if n, err := r.KVCount(ctx, "bench"); err != nil || n != 10 {
			b.Fatal(n, err)
		}
	}
}
