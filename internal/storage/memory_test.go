package storage

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the memory backend's age rules.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemorySweep(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMemory(MemoryOptions{HistorySize: 10, HistoryTTL: time.Minute, Now: clock.Now})
	defer m.Close()
	busy := StreamKey{Room: "science", Channel: "busy"}
	idle := StreamKey{Room: "science", Channel: "idle"}
	mustAppend(t, m, idle, `{}`, clock.Now())
	mustAppend(t, m, busy, `{"n":1}`, clock.Now())
	clock.Advance(50 * time.Second)
	mustAppend(t, m, busy, `{"n":2}`, clock.Now())
	clock.Advance(20 * time.Second) // idle's sliding expiry and busy#1's age limit have passed

	m.Sweep()
	if n := m.Streams(); n != 1 {
		t.Fatalf("streams after sweep = %d, want 1 (the idle stream expires as a whole)", n)
	}
	m.mu.RLock()
	s := m.streams[busy]
	m.mu.RUnlock()
	if s == nil || s.n != 1 {
		t.Fatalf("sweep kept aged entries: %+v", s)
	}
	st, es, _ := m.ReadAfter(ctx, busy, 0, 10)
	if st.Top != 2 || st.Lowest != 2 || len(es) != 1 || string(es[0].Envelope) != `{"n":2}` {
		t.Fatalf("after sweep: %+v %v", st, es)
	}
}

func TestMemorySweepLoopStops(t *testing.T) {
	m := NewMemory(MemoryOptions{HistoryTTL: 50 * time.Millisecond, SweepInterval: 10 * time.Millisecond})
	mustAppend(t, m, StreamKey{Room: "a", Channel: "b"}, `{}`, time.Now())
	waitFor(t, 2*time.Second, "periodic sweep", func() bool {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return len(m.streams) == 0
	})
	_ = m.Close() // goleak (TestMain) checks that the sweep goroutine ended
	_ = m.Close()
}

// TestRegressionMemoryRingGrowsWithUse pins a fixed bug: every stream
// allocated HISTORY_SIZE entries up front, so a client joining thousands of
// quiet channels pinned hundreds of megabytes.
func TestRegressionMemoryRingGrowsWithUse(t *testing.T) {
	m := NewMemory(MemoryOptions{HistorySize: 500})
	defer m.Close()
	ctx := context.Background()
	key := StreamKey{Tenant: "t", Room: "r", Channel: "c"}
	if _, err := m.EnsureStream(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := m.Append(ctx, key, []byte(`{}`), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s := m.streams[key]
	if got := len(s.ring); got > 8 {
		t.Fatalf("a stream with 3 entries holds %d slots, want at most 8", got)
	}
	for i := 0; i < 600; i++ {
		if _, _, err := m.Append(ctx, key, []byte(`{}`), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.State(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ring) != 500 || st.Count != 500 || st.Top != 603 || st.Lowest != 104 {
		t.Fatalf("after 603 appends: %d slots, state %+v; want 500 slots, count 500, top 603, lowest 104", len(s.ring), st)
	}
}
