package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The reads bisect on ts and bound each stream to Limit+1 candidates; these
// tests check the results against the unbounded definition: every retained
// entry (the newest HistorySize, then the newest run younger than the TTL)
// through selectHistory.

type refEntry struct {
	room, channel string
	offset        uint64
	ts            time.Time
}

// refHistory is PROTOCOL.md §6.12 over the fixture, computed without any
// of the backends' shortcuts.
func refHistory(fix []refEntry, size int, cutoff time.Time, tenant string, q Query) QueryResult {
	streams := map[string][]Entry{}
	var order []string
	for _, f := range fix {
		id := f.room + ":" + f.channel
		if _, ok := streams[id]; !ok {
			order = append(order, id)
		}
		streams[id] = append(streams[id], Entry{Key: StreamKey{Tenant: tenant, Room: f.room, Channel: f.channel},
			Offset: f.offset, StoredAt: msTime(f.ts)})
	}
	var windows [][]Entry
	for _, id := range order {
		es := streams[id]
		if !queryMatchesStream(q, es[0].Key.Room, es[0].Key.Channel) {
			continue
		}
		if len(es) > size {
			es = es[len(es)-size:]
		}
		keep := len(es)
		for i := len(es) - 1; i >= 0 && !es[i].StoredAt.Before(cutoff); i-- {
			keep = i
		}
		windows = append(windows, es[keep:])
	}
	return selectHistory(windows, q)
}

func describe(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s:%s/%d", e.Key.Room, e.Key.Channel, e.Offset)
	}
	return out
}

func TestBoundedReadsMatchReference(t *testing.T) {
	boundedReadsMatchReference(t, memoryBackend)
}

func TestIntegrationBoundedReadsMatchReference(t *testing.T) {
	boundedReadsMatchReference(t, redisBackend)
}

func boundedReadsMatchReference(t *testing.T, b backend) {
	const size = 20
	ttl := time.Hour
	runOn(t, b, storeOpts{size: size, ttl: ttl}, func(t *testing.T, s Store, tenant string) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 11))
		now := time.Now()
		cutoff := now.Add(-ttl)
		// Per stream, non-decreasing ts from 2 h ago to now, minutes apart
		// around the age limit so the test never races the clock.
		chans := []struct{ room, channel string }{{"r1", "a"}, {"r1", "b"}, {"r1", "c"}, {"r2", "a"}}
		last := map[string]time.Time{}
		top := map[string]uint64{}
		var fix []refEntry
		for range 120 {
			c := chans[rng.IntN(len(chans))]
			id := c.room + ":" + c.channel
			if last[id].IsZero() {
				last[id] = now.Add(-2 * time.Hour)
				_ = s.PutChannel(ctx, tenant, ChannelMeta{Room: c.room, Channel: c.channel})
			}
			step := time.Duration(rng.IntN(9)) * time.Minute // equal ts happen too
			ts := last[id].Add(step)
			if ts.After(now.Add(-time.Minute)) {
				ts = now.Add(-time.Minute)
			}
			if d := ts.Sub(cutoff); d > -time.Minute && d < time.Minute {
				ts = cutoff.Add(-2 * time.Minute) // keep clear of the boundary
				if ts.Before(last[id]) {
					ts = last[id]
				}
			}
			last[id] = ts
			top[id]++
			mustAppend(t, s, StreamKey{Tenant: tenant, Room: c.room, Channel: c.channel}, `{}`, ts)
			fix = append(fix, refEntry{c.room, c.channel, top[id], ts})
		}
		// State/ReadAfter: L and the entries after o.
		for _, c := range chans {
			k := StreamKey{Tenant: tenant, Room: c.room, Channel: c.channel}
			want := refHistory(fix, size, cutoff, tenant, Query{Room: c.room, Channel: c.channel})
			low := top[c.room+":"+c.channel] + 1
			if len(want.Entries) > 0 {
				low = want.Entries[0].Offset
			}
			for _, after := range []uint64{0, low - 1, low + 2, top[c.room+":"+c.channel]} {
				st, es, err := s.ReadAfter(ctx, k, after, 5)
				if err != nil {
					t.Fatal(err)
				}
				if st.Lowest != low || st.Top != top[c.room+":"+c.channel] {
					t.Fatalf("%v: state %+v, want L=%d T=%d", k, st, low, top[c.room+":"+c.channel])
				}
				var wantOffs []uint64
				for o := max(after+1, low); o <= st.Top && len(wantOffs) < 5; o++ {
					wantOffs = append(wantOffs, o)
				}
				if !slices.Equal(offsets(es), wantOffs) {
					t.Fatalf("%v after %d: %v, want %v", k, after, offsets(es), wantOffs)
				}
			}
		}
		// History: random queries of every shape.
		at := func() time.Time {
			if rng.IntN(3) == 0 { // exactly on a stored acceptance time
				return msTime(fix[rng.IntN(len(fix))].ts)
			}
			return now.Add(-time.Duration(rng.IntN(150)) * time.Minute).Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		nonEmpty, more := 0, 0
		for i := range 300 {
			q := Query{Limit: 1 + rng.IntN(25)}
			switch rng.IntN(3) {
			case 0:
				c := chans[rng.IntN(len(chans))]
				q.Room, q.Channel = c.room, c.channel
				if rng.IntN(2) == 0 {
					q.HasAfter, q.AfterOffset = true, uint64(rng.IntN(40))
				}
			case 1:
				q.Room = chans[rng.IntN(len(chans))].room
			}
			if rng.IntN(2) == 0 {
				q.Since = at()
			}
			if rng.IntN(2) == 0 {
				q.Until = at()
				if !q.Since.IsZero() && q.Until.Before(q.Since) {
					q.Since, q.Until = q.Until, q.Since
				}
			}
			want := refHistory(fix, size, cutoff, tenant, q)
			if len(want.Entries) > 0 {
				nonEmpty++
			}
			if want.HasMore {
				more++
			}
			q.Tenant = tenant
			got, err := s.History(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(describe(got.Entries), describe(want.Entries)) || got.HasMore != want.HasMore {
				t.Fatalf("query %d %+v:\n got %v has_more=%v\nwant %v has_more=%v", i, q,
					describe(got.Entries), got.HasMore, describe(want.Entries), want.HasMore)
			}
		}
		// The fixture must exercise the bounds, not just empty results.
		if nonEmpty < 100 || more < 30 {
			t.Fatalf("weak fixture: %d non-empty results, %d with has_more", nonEmpty, more)
		}
	})
}

// TestIntegrationOutOfOrderTsSameOnBothBackends: concurrent publishers can
// store ts slightly out of offset order (the acceptance time is taken before
// the channel's publish lock). Bisection then finds a boundary that a full
// scan might not, but memory and Redis probe the same offsets and so still
// give identical states and history.
func TestIntegrationOutOfOrderTsSameOnBothBackends(t *testing.T) {
	ctx := context.Background()
	ttl := time.Hour
	mem := NewMemory(MemoryOptions{HistorySize: 50, HistoryTTL: ttl})
	defer mem.Close()
	r := newTestRedis(t, RedisOptions{HistorySize: 50, HistoryTTL: ttl})
	tenant := uniqueName("ooo")
	cleanupTenant(t, tenant)
	rng := rand.New(rand.NewPCG(3, 5))
	now := time.Now()
	k := StreamKey{Tenant: tenant, Room: "r", Channel: "c"}
	for i := range 80 {
		// A rising trend from 2 h ago with jitter of ±15 min around it.
		ts := now.Add(-2*time.Hour + time.Duration(i)*90*time.Second + time.Duration(rng.IntN(31)-15)*time.Minute)
		for _, s := range []Store{mem, r} {
			mustAppend(t, s, k, strconv.Itoa(i), ts)
		}
	}
	sm, em, _ := mem.ReadAfter(ctx, k, 0, 100)
	sr, er, _ := r.ReadAfter(ctx, k, 0, 100)
	sm.Epoch, sr.Epoch = "", ""
	if sm != sr || !slices.Equal(offsets(em), offsets(er)) {
		t.Fatalf("memory %+v %v, redis %+v %v", sm, offsets(em), sr, offsets(er))
	}
	for i := range 100 {
		q := Query{Tenant: tenant, Room: "r", Channel: "c", Limit: 1 + rng.IntN(10),
			Since: now.Add(-time.Duration(rng.IntN(120)) * time.Minute)}
		if i%2 == 0 {
			q.Until = q.Since.Add(time.Duration(rng.IntN(60)) * time.Minute)
		}
		if i%3 == 0 {
			q.HasAfter, q.AfterOffset = true, uint64(rng.IntN(80))
		}
		gm, _ := mem.History(ctx, q)
		gr, _ := r.History(ctx, q)
		if !slices.Equal(offsets(gm.Entries), offsets(gr.Entries)) || gm.HasMore != gr.HasMore {
			t.Fatalf("query %+v: memory %v %v, redis %v %v", q, offsets(gm.Entries), gm.HasMore, offsets(gr.Entries), gr.HasMore)
		}
	}
}

func TestCeilMs(t *testing.T) {
	base := time.UnixMilli(1772366400123)
	for _, c := range []struct {
		t    time.Time
		want int64
	}{
		{base, 1772366400123},
		{base.Add(time.Nanosecond), 1772366400124},
		{base.Add(-time.Nanosecond), 1772366400123},
		{time.UnixMilli(-5).Add(-time.Nanosecond), -5},
		{time.UnixMilli(-5).Add(time.Nanosecond), -4},
	} {
		if got := ceilMs(c.t); got != c.want {
			t.Errorf("ceilMs(%v) = %d, want %d", c.t, got, c.want)
		}
	}
}

// TestIntegrationRedisStoreCounter covers the per-tenant key counter that
// KVCount reads: it follows sets and deletes exactly, including concurrent
// ones, and it is rebuilt exactly when missing (store data written before
// the counter existed).
func TestIntegrationRedisStoreCounter(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisOptions{})
	raw := rawRedis(t, sharedRedisURL)
	tenant := uniqueName("count")
	cleanupTenant(t, tenant)
	countKey := "arqonbus:{" + tenant + "}:store_count"

	_, _ = r.KVSet(ctx, tenant, "a", "k", []byte(`1`))
	if n, err := r.KVCount(ctx, tenant); err != nil || n != 1 {
		t.Fatalf("count = %d %v", n, err)
	}
	if got := raw.Get(ctx, countKey).Val(); got != "1" {
		t.Fatalf("%s = %q, want 1", countKey, got)
	}

	// Concurrent writers: new keys, overwrites and deletes of present and
	// absent keys.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			ns := fmt.Sprintf("ns%d", w%3)
			for i := range 30 {
				key := fmt.Sprintf("w%d-%d", w, i%20)
				if _, err := r.KVSet(ctx, tenant, ns, key, []byte(`1`)); err != nil {
					t.Error(err)
				}
				if i%4 == 0 {
					_, _ = r.KVDelete(ctx, tenant, ns, fmt.Sprintf("w%d-%d", w, (i+7)%20))
				}
			}
		})
	}
	wg.Wait()
	want := 0
	for _, ns := range []string{"a", "ns0", "ns1", "ns2"} {
		keys, _ := r.KVList(ctx, tenant, ns)
		want += len(keys)
	}
	if n, _ := r.KVCount(ctx, tenant); n != want {
		t.Fatalf("count after concurrent writes = %d, want %d", n, want)
	}

	// A lost counter (or data from before it existed) is rebuilt exactly,
	// including namespaces created while it was missing.
	raw.Del(ctx, countKey)
	_, _ = r.KVSet(ctx, tenant, "new ns", "x", []byte(`1`))
	_, _ = r.KVSet(ctx, tenant, "a", "k2", []byte(`1`))
	_, _ = r.KVDelete(ctx, tenant, "a", "k")
	if n, _ := r.KVCount(ctx, tenant); n != want+1 {
		t.Fatalf("rebuilt count = %d, want %d", n, want+1)
	}
	if raw.Exists(ctx, "arqonbus:{"+tenant+"}:store_uncounted").Val() != 0 {
		t.Fatal("uncounted set left after the rebuild")
	}
	if updated, _ := r.KVSet(ctx, tenant, "new ns", "y", []byte(`2`)); updated {
		t.Fatal("new key reported as update")
	}
	if deleted, _ := r.KVDelete(ctx, tenant, "new ns", "nope"); deleted {
		t.Fatal("absent key reported deleted")
	}
	if n, _ := r.KVCount(ctx, tenant); n != want+2 {
		t.Fatalf("count = %d, want %d", n, want+2)
	}

	// Legacy data: a store hash written without the scripts.
	legacy := uniqueName("legacy")
	cleanupTenant(t, legacy)
	raw.HSet(ctx, storeKeyName(legacy, "default"), "a", "1", "b", "2")
	raw.HSet(ctx, storeKeyName(legacy, "other"), "c", "3")
	if n, _ := r.KVCount(ctx, legacy); n != 3 {
		t.Fatalf("legacy count = %d, want 3", n)
	}
	_, _ = r.KVSet(ctx, legacy, "default", "d", []byte(`4`))
	if n, _ := r.KVCount(ctx, legacy); n != 4 {
		t.Fatalf("legacy count after a set = %d, want 4", n)
	}
}
