package storage

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

// The tests in this file run unchanged against both backends: memory and
// Redis must give identical results (OPERATIONS.md §5.4). Each contract has
// two entry points: TestX (memory, unit) and TestIntegrationX (Redis).

type storeOpts struct {
	size int
	ttl  time.Duration
}

// backend selects the Store a contract test runs against: memory in the
// unit gate (TestX), the shared Redis in the integration gate
// (TestIntegrationX); see docs/testing.md.
type backend int

const (
	memoryBackend backend = iota
	redisBackend
)

func runOn(t *testing.T, b backend, o storeOpts, f func(t *testing.T, s Store, tenant string)) {
	switch b {
	case memoryBackend:
		t.Run("memory", func(t *testing.T) {
			t.Parallel()
			m := NewMemory(MemoryOptions{HistorySize: o.size, HistoryTTL: o.ttl})
			t.Cleanup(func() { _ = m.Close() })
			f(t, m, uniqueName("mem"))
		})
	case redisBackend:
		t.Run("redis", func(t *testing.T) {
			t.Parallel()
			r := newTestRedis(t, RedisOptions{HistorySize: o.size, HistoryTTL: o.ttl, Timeout: 2 * time.Second})
			tenant := uniqueName("redis")
			cleanupTenant(t, tenant)
			f(t, r, tenant)
		})
	default:
		t.Fatalf("unknown backend %d", b)
	}
}

var epochRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func mustAppend(t *testing.T, s Store, k StreamKey, env string, at time.Time) (uint64, string) {
	t.Helper()
	off, epoch, err := s.Append(context.Background(), k, []byte(env), at)
	if err != nil {
		t.Fatalf("Append(%v): %v", k, err)
	}
	return off, epoch
}

func mustState(t *testing.T, s Store, k StreamKey) StreamState {
	t.Helper()
	st, err := s.State(context.Background(), k)
	if err != nil {
		t.Fatalf("State(%v): %v", k, err)
	}
	return st
}

func offsets(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Offset
	}
	return out
}

func TestRoundTripAndOffsets(t *testing.T) {
	roundTripAndOffsets(t, memoryBackend)
}

func TestIntegrationRoundTripAndOffsets(t *testing.T) {
	roundTripAndOffsets(t, redisBackend)
}

func roundTripAndOffsets(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 100}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		k := StreamKey{Tenant: tenant, Room: "science", Channel: "general"}
		st, err := s.EnsureStream(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !epochRE.MatchString(st.Epoch) || st.Top != 0 || st.Lowest != 1 || st.Count != 0 {
			t.Fatalf("fresh stream state = %+v", st)
		}
		at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
		for i := 1; i <= 20; i++ {
			off, epoch := mustAppend(t, s, k, fmt.Sprintf(`{"n":%d}`, i), at.Add(time.Duration(i)*time.Millisecond))
			if off != uint64(i) || epoch != st.Epoch {
				t.Fatalf("append %d gave offset %d epoch %s, want %d %s", i, off, epoch, i, st.Epoch)
			}
		}
		st2, es, err := s.ReadAfter(ctx, k, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if st2 != (StreamState{Epoch: st.Epoch, Top: 20, Lowest: 1, Count: 20}) {
			t.Fatalf("state = %+v", st2)
		}
		if len(es) != 20 {
			t.Fatalf("got %d entries", len(es))
		}
		for i, e := range es {
			n := i + 1
			if e.Offset != uint64(n) || e.Epoch != st.Epoch || e.Key != k || string(e.Envelope) != fmt.Sprintf(`{"n":%d}`, n) {
				t.Fatalf("entry %d = %+v", i, e)
			}
			want := time.Date(2026, 3, 1, 12, 0, 0, 123000000, time.UTC).Add(time.Duration(n) * time.Millisecond)
			if !e.StoredAt.Equal(want) {
				t.Fatalf("entry %d stored at %v, want %v (millisecond precision)", n, e.StoredAt, want)
			}
		}
		// Forward reads: (after, T], the oldest max of them.
		_, es, _ = s.ReadAfter(ctx, k, 7, 3)
		if got := offsets(es); !slices.Equal(got, []uint64{8, 9, 10}) {
			t.Fatalf("ReadAfter(7,3) = %v", got)
		}
		_, es, _ = s.ReadAfter(ctx, k, 20, 3)
		if len(es) != 0 {
			t.Fatalf("ReadAfter(T) returned %v", offsets(es))
		}
		_, es, _ = s.ReadAfter(ctx, k, 25, 3)
		if len(es) != 0 {
			t.Fatalf("ReadAfter(>T) returned %v", offsets(es))
		}
		// A missing stream.
		st3, es, err := s.ReadAfter(ctx, StreamKey{Tenant: tenant, Room: "science", Channel: "nope"}, 0, 10)
		if err != nil || st3 != (StreamState{Lowest: 1}) || len(es) != 0 {
			t.Fatalf("missing stream: %+v %v %v", st3, es, err)
		}
	})
}

func TestConcurrentAppendsAreContiguous(t *testing.T) {
	concurrentAppendsAreContiguous(t, memoryBackend)
}

func TestIntegrationConcurrentAppendsAreContiguous(t *testing.T) {
	concurrentAppendsAreContiguous(t, redisBackend)
}

func concurrentAppendsAreContiguous(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 1000}, func(t *testing.T, s Store, tenant string) {
		// Different channels append concurrently (the bus serialises per
		// channel); each channel's offsets stay 1..N.
		const chans, per = 8, 50
		errs := make(chan error, chans)
		for c := range chans {
			go func() {
				k := StreamKey{Tenant: tenant, Room: "load", Channel: fmt.Sprintf("c%d", c)}
				for i := 1; i <= per; i++ {
					off, _, err := s.Append(context.Background(), k, []byte(`{}`), time.Now())
					if err == nil && off != uint64(i) {
						err = fmt.Errorf("channel %d: offset %d, want %d", c, off, i)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range chans {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestEpochRules(t *testing.T) {
	epochRules(t, memoryBackend)
}

func TestIntegrationEpochRules(t *testing.T) {
	epochRules(t, redisBackend)
}

func epochRules(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 100}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		k := StreamKey{Tenant: tenant, Room: "science", Channel: "epochs"}
		st, _ := s.EnsureStream(ctx, k)
		again, _ := s.EnsureStream(ctx, k)
		if again.Epoch != st.Epoch {
			t.Fatalf("EnsureStream changed the epoch of a never-written stream: %s -> %s", st.Epoch, again.Epoch)
		}
		if got := mustState(t, s, k); got.Epoch != st.Epoch {
			t.Fatalf("State epoch %s, want %s", got.Epoch, st.Epoch)
		}
		_, e1 := mustAppend(t, s, k, `{"a":1}`, time.Now())
		if e1 != st.Epoch {
			t.Fatalf("first append changed the epoch of a never-written stream")
		}
		mustAppend(t, s, k, `{"a":2}`, time.Now())
		n, err := s.DeleteStream(ctx, k)
		if err != nil || n != 2 {
			t.Fatalf("DeleteStream = %d, %v; want 2", n, err)
		}
		if got := mustState(t, s, k); got != (StreamState{Lowest: 1}) {
			t.Fatalf("state after delete = %+v", got)
		}
		st2, _ := s.EnsureStream(ctx, k)
		if st2.Epoch == st.Epoch || st2.Top != 0 {
			t.Fatalf("re-created stream kept epoch/offset: %+v", st2)
		}
		off, e2 := mustAppend(t, s, k, `{"a":3}`, time.Now())
		if off != 1 || e2 != st2.Epoch {
			t.Fatalf("append after re-creation = %d %s", off, e2)
		}
		// Append without EnsureStream creates the stream too.
		off, e3 := mustAppend(t, s, StreamKey{Tenant: tenant, Room: "science", Channel: "direct"}, `{}`, time.Now())
		if off != 1 || !epochRE.MatchString(e3) || e3 == e2 {
			t.Fatalf("implicit creation: %d %s", off, e3)
		}
	})
}

func TestTrimmingAndLowest(t *testing.T) {
	trimmingAndLowest(t, memoryBackend)
}

func TestIntegrationTrimmingAndLowest(t *testing.T) {
	trimmingAndLowest(t, redisBackend)
}

func trimmingAndLowest(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 5}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		k := StreamKey{Tenant: tenant, Room: "science", Channel: "trim"}
		base := time.Now()
		for i := 1; i <= 240; i++ {
			mustAppend(t, s, k, fmt.Sprintf(`{"n":%d}`, i), base.Add(time.Duration(i)*time.Millisecond))
		}
		st, es, err := s.ReadAfter(ctx, k, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Redis trims approximately but no read returns more than the
		// history size, so both backends report L = T-size+1.
		if st.Top != 240 || st.Lowest != 236 || st.Count != 5 {
			t.Fatalf("state = %+v", st)
		}
		if got := offsets(es); !slices.Equal(got, []uint64{236, 237, 238, 239, 240}) {
			t.Fatalf("entries = %v", got)
		}
		_, es, _ = s.ReadAfter(ctx, k, 100, 2)
		if got := offsets(es); !slices.Equal(got, []uint64{236, 237}) {
			t.Fatalf("after a trimmed offset: %v", got)
		}
		res, _ := s.History(ctx, Query{Tenant: tenant, Room: "science", Channel: "trim", Limit: 1000})
		if got := offsets(res.Entries); !slices.Equal(got, []uint64{236, 237, 238, 239, 240}) || res.HasMore {
			t.Fatalf("history = %v %v", got, res.HasMore)
		}
	})
}

func TestTTLAgeLimit(t *testing.T) {
	ttlAgeLimit(t, memoryBackend)
}

func TestIntegrationTTLAgeLimit(t *testing.T) {
	ttlAgeLimit(t, redisBackend)
}

func ttlAgeLimit(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 100, ttl: time.Minute}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		k := StreamKey{Tenant: tenant, Room: "science", Channel: "aged"}
		now := time.Now()
		mustAppend(t, s, k, `{"old":1}`, now.Add(-2*time.Minute))
		mustAppend(t, s, k, `{"old":2}`, now.Add(-61*time.Second))
		mustAppend(t, s, k, `{"new":3}`, now)
		st, es, err := s.ReadAfter(ctx, k, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.Top != 3 || st.Lowest != 3 || st.Count != 1 || !slices.Equal(offsets(es), []uint64{3}) {
			t.Fatalf("aged entries not treated as trimmed: %+v %v", st, offsets(es))
		}
		res, _ := s.History(ctx, Query{Tenant: tenant, Room: "science", Channel: "aged", Limit: 10})
		if !slices.Equal(offsets(res.Entries), []uint64{3}) {
			t.Fatalf("history returned aged entries: %v", offsets(res.Entries))
		}
	})
}

func TestTTLIdleStreamExpiresAsWhole(t *testing.T) {
	ttlIdleStreamExpiresAsWhole(t, memoryBackend)
}

func TestIntegrationTTLIdleStreamExpiresAsWhole(t *testing.T) {
	ttlIdleStreamExpiresAsWhole(t, redisBackend)
}

func ttlIdleStreamExpiresAsWhole(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 100, ttl: 300 * time.Millisecond}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		k := StreamKey{Tenant: tenant, Room: "science", Channel: "idle"}
		_, e1 := mustAppend(t, s, k, `{}`, time.Now())
		mustAppend(t, s, k, `{}`, time.Now())
		time.Sleep(450 * time.Millisecond)
		if st := mustState(t, s, k); st != (StreamState{Lowest: 1}) {
			t.Fatalf("idle stream still present: %+v", st)
		}
		off, e2 := mustAppend(t, s, k, `{}`, time.Now())
		if off != 1 || e2 == e1 {
			t.Fatalf("after idle expiry: offset %d epoch %s (old %s)", off, e2, e1)
		}
		_ = ctx
	})
}

func TestTenantIsolation(t *testing.T) {
	tenantIsolation(t, memoryBackend)
}

func TestIntegrationTenantIsolation(t *testing.T) {
	tenantIsolation(t, redisBackend)
}

func tenantIsolation(t *testing.T, b backend) {
	runOn(t, b, storeOpts{size: 100}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		other := tenant + "-b"
		if _, ok := s.(*Redis); ok {
			cleanupTenant(t, other)
		}
		a := StreamKey{Tenant: tenant, Room: "science", Channel: "general"}
		b := StreamKey{Tenant: other, Room: "science", Channel: "general"}
		// Tenant-wide history finds Redis streams through the registry
		// (OPERATIONS.md §5.4); the bus registers every channel it writes.
		_ = s.PutChannel(ctx, tenant, ChannelMeta{Room: "science", Channel: "general"})
		_ = s.PutChannel(ctx, other, ChannelMeta{Room: "science", Channel: "general"})
		mustAppend(t, s, a, `{"t":"a1"}`, time.Now())
		mustAppend(t, s, a, `{"t":"a2"}`, time.Now())
		off, eb := mustAppend(t, s, b, `{"t":"b1"}`, time.Now())
		if off != 1 {
			t.Fatalf("tenant b shares offsets with a: %d", off)
		}
		if sa := mustState(t, s, a); sa.Epoch == eb || sa.Top != 2 {
			t.Fatalf("tenant a state = %+v", sa)
		}
		res, _ := s.History(ctx, Query{Tenant: other, Limit: 100})
		if len(res.Entries) != 1 || string(res.Entries[0].Envelope) != `{"t":"b1"}` {
			t.Fatalf("tenant b history = %+v", res.Entries)
		}
		// Registry.
		_ = s.PutChannel(ctx, tenant, ChannelMeta{Room: "science", Channel: "only-a", CreatedBy: "alice"})
		if cs, _ := s.Channels(ctx, other); len(cs) != 1 || cs[0].Channel != "general" {
			t.Fatalf("tenant b sees a's channels: %+v", cs)
		}
		// Store.
		_, _ = s.KVSet(ctx, tenant, "x", "k", []byte(`1`))
		if _, found, _ := s.KVGet(ctx, other, "x", "k"); found {
			t.Fatal("tenant b reads a's store")
		}
		if n, _ := s.KVCount(ctx, other); n != 0 {
			t.Fatalf("tenant b store count = %d", n)
		}
		if keys, _ := s.KVList(ctx, other, "x"); len(keys) != 0 {
			t.Fatalf("tenant b lists a's keys: %v", keys)
		}
	})
}

func TestRegistry(t *testing.T) {
	registry(t, memoryBackend)
}

func TestIntegrationRegistry(t *testing.T) {
	registry(t, redisBackend)
}

func registry(t *testing.T, b backend) {
	runOn(t, b, storeOpts{}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		desc := "lab notes"
		created := time.Date(2026, 3, 1, 12, 0, 1, 500_600_000, time.UTC)
		metas := []ChannelMeta{
			{Room: "science", Channel: "general", CreatedBy: "system", CreatedAt: created, Hardcoded: true},
			{Room: "lab.v2", Channel: "notes", CreatedBy: "alice", CreatedAt: created, Implicit: true, Description: &desc},
			{Room: "science", Channel: "custom", CreatedBy: "bob", CreatedAt: created},
		}
		for _, m := range metas {
			if err := s.PutChannel(ctx, tenant, m); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Channels(ctx, tenant)
		if err != nil || len(got) != 3 {
			t.Fatalf("Channels = %+v, %v", got, err)
		}
		want := []string{"lab.v2:notes", "science:custom", "science:general"}
		for i, c := range got {
			if c.Room+":"+c.Channel != want[i] {
				t.Fatalf("order: %v", got)
			}
			if !c.CreatedAt.Equal(created.Truncate(time.Millisecond)) {
				t.Fatalf("created_at = %v", c.CreatedAt)
			}
		}
		if got[0].Description == nil || *got[0].Description != desc || !got[0].Implicit || got[0].CreatedBy != "alice" {
			t.Fatalf("record = %+v", got[0])
		}
		if !got[2].Hardcoded || got[2].Description != nil {
			t.Fatalf("record = %+v", got[2])
		}
		tenants, _ := s.Tenants(ctx)
		if !slices.Contains(tenants, tenant) {
			t.Fatalf("Tenants() = %v, missing %s", tenants, tenant)
		}
		_ = s.DeleteChannel(ctx, tenant, "science", "custom")
		got, _ = s.Channels(ctx, tenant)
		if len(got) != 2 {
			t.Fatalf("after delete: %+v", got)
		}
	})
}

func TestKV(t *testing.T) {
	kv(t, memoryBackend)
}

func TestIntegrationKV(t *testing.T) {
	kv(t, redisBackend)
}

func kv(t *testing.T, b backend) {
	runOn(t, b, storeOpts{}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		updated, err := s.KVSet(ctx, tenant, "a b", "beta", []byte(`{"n":1}`))
		if err != nil || updated {
			t.Fatalf("first set: %v %v", updated, err)
		}
		updated, _ = s.KVSet(ctx, tenant, "a b", "beta", []byte(`{"n":2}`))
		if !updated {
			t.Fatal("second set not reported as update")
		}
		_, _ = s.KVSet(ctx, tenant, "a b", "Alpha", []byte(`"x"`))
		_, _ = s.KVSet(ctx, tenant, "a b", "alpha", []byte(`true`))
		_, _ = s.KVSet(ctx, tenant, "default", "k", []byte(`3`))
		v, found, _ := s.KVGet(ctx, tenant, "a b", "beta")
		if !found || string(v) != `{"n":2}` {
			t.Fatalf("get = %s %v", v, found)
		}
		if _, found, _ := s.KVGet(ctx, tenant, "a b", "missing"); found {
			t.Fatal("missing key found")
		}
		keys, _ := s.KVList(ctx, tenant, "a b")
		if !slices.Equal(keys, []string{"Alpha", "alpha", "beta"}) {
			t.Fatalf("list = %v (want ascending byte order)", keys)
		}
		if n, _ := s.KVCount(ctx, tenant); n != 4 {
			t.Fatalf("count = %d, want 4 over both namespaces", n)
		}
		if del, _ := s.KVDelete(ctx, tenant, "a b", "beta"); !del {
			t.Fatal("delete of existing key reported false")
		}
		if del, _ := s.KVDelete(ctx, tenant, "a b", "beta"); del {
			t.Fatal("second delete reported true")
		}
		if n, _ := s.KVCount(ctx, tenant); n != 3 {
			t.Fatalf("count after delete = %d", n)
		}
	})
}

// TestHistorySelection is one table of PROTOCOL.md §6.12 queries run against
// both backends over the same fixture.
func TestHistorySelection(t *testing.T) {
	historySelection(t, memoryBackend)
}

func TestIntegrationHistorySelection(t *testing.T) {
	historySelection(t, redisBackend)
}

func historySelection(t *testing.T, b backend) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
	type app struct {
		room, channel string
		at            int // seconds after base
	}
	// History size 4: science:general keeps offsets 2..5 only.
	fixture := []app{
		{"lab", "one", 1},
		{"science", "general", 0}, {"science", "explore", 5}, {"science", "general", 10},
		{"science", "general", 20}, {"science", "explore", 20}, {"science", "general", 30},
		{"science", "general", 40}, {"science", "explore", 45}, {"lab", "one", 50},
	}
	cases := []struct {
		name    string
		q       Query
		want    []string
		hasMore bool
	}{
		{"channel newest", Query{Room: "science", Channel: "general", Limit: 2}, []string{"general/4", "general/5"}, true},
		{"channel all retained", Query{Room: "science", Channel: "general", Limit: 10}, []string{"general/2", "general/3", "general/4", "general/5"}, false},
		{"channel exact limit", Query{Room: "science", Channel: "general", Limit: 4}, []string{"general/2", "general/3", "general/4", "general/5"}, false},
		{"forward paging", Query{Room: "science", Channel: "general", HasAfter: true, AfterOffset: 2, Limit: 2}, []string{"general/3", "general/4"}, true},
		{"forward paging end", Query{Room: "science", Channel: "general", HasAfter: true, AfterOffset: 3, Limit: 5}, []string{"general/4", "general/5"}, false},
		{"after 0 is retained only", Query{Room: "science", Channel: "general", HasAfter: true, Limit: 10}, []string{"general/2", "general/3", "general/4", "general/5"}, false},
		{"after top", Query{Room: "science", Channel: "general", HasAfter: true, AfterOffset: 5, Limit: 10}, nil, false},
		{"room merge", Query{Room: "science", Limit: 10}, []string{"explore/1", "general/2", "explore/2", "general/3", "general/4", "general/5", "explore/3"}, false},
		{"room newest 3", Query{Room: "science", Limit: 3}, []string{"general/4", "general/5", "explore/3"}, true},
		{"room since until", Query{Room: "science", Since: sec(20), Until: sec(40), Limit: 10}, []string{"explore/2", "general/3", "general/4"}, false},
		{"tenant wide", Query{Limit: 100}, []string{"one/1", "explore/1", "general/2", "explore/2", "general/3", "general/4", "general/5", "explore/3", "one/2"}, false},
		{"tenant wide newest 2", Query{Limit: 2}, []string{"explore/3", "one/2"}, true},
		{"tenant wide since", Query{Since: sec(45), Limit: 100}, []string{"explore/3", "one/2"}, false},
		{"until exclusive", Query{Room: "lab", Channel: "one", Until: sec(50), Limit: 10}, []string{"one/1"}, false},
		{"since inclusive, window", Query{Room: "science", Channel: "general", Since: sec(10), Limit: 1}, []string{"general/5"}, true},
		{"since plus after", Query{Room: "science", Channel: "general", Since: sec(30), HasAfter: true, AfterOffset: 1, Limit: 1}, []string{"general/4"}, true},
		{"missing channel", Query{Room: "science", Channel: "nope", Limit: 10}, nil, false},
		{"missing room", Query{Room: "nope", Limit: 10}, nil, false},
		{"empty time window", Query{Room: "science", Since: sec(46), Until: sec(50), Limit: 10}, nil, false},
	}
	runOn(t, b, storeOpts{size: 4}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		for i, a := range fixture {
			k := StreamKey{Tenant: tenant, Room: a.room, Channel: a.channel}
			if _, err := s.EnsureStream(ctx, k); err != nil {
				t.Fatal(err)
			}
			_ = s.PutChannel(ctx, tenant, ChannelMeta{Room: a.room, Channel: a.channel})
			mustAppend(t, s, k, fmt.Sprintf(`{"i":%d}`, i), sec(a.at))
		}
		// A registered channel without history and another tenant's data
		// must not show up.
		_ = s.PutChannel(ctx, tenant, ChannelMeta{Room: "science", Channel: "empty"})
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				q := c.q
				q.Tenant = tenant
				res, err := s.History(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range res.Entries {
					got = append(got, fmt.Sprintf("%s/%d", e.Key.Channel, e.Offset))
					if e.Epoch == "" || e.Key.Tenant != tenant || len(e.Envelope) == 0 {
						t.Fatalf("entry missing data: %+v", e)
					}
				}
				if !slices.Equal(got, c.want) || res.HasMore != c.hasMore {
					t.Fatalf("got %v has_more=%v, want %v has_more=%v", got, res.HasMore, c.want, c.hasMore)
				}
				if res.Entries == nil {
					t.Fatal("Entries is nil, want empty slice")
				}
			})
		}
	})
}
