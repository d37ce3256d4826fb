package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestIntegrationRedisKeyLayout(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisOptions{HistorySize: 10})
	raw := rawRedis(t, sharedRedisURL)
	tenant := uniqueName("acme")
	cleanupTenant(t, tenant)

	k := StreamKey{Tenant: tenant, Room: "science", Channel: "general"}
	base := "arqonbus:{" + tenant + "}:room:science:channel:general"
	st, err := r.EnsureStream(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Get(ctx, base+":epoch").Val(); got != st.Epoch {
		t.Fatalf("epoch key = %q, want %q", got, st.Epoch)
	}
	if got := raw.Get(ctx, base+":offset").Val(); got != "0" {
		t.Fatalf("offset key = %q", got)
	}
	if n := raw.Exists(ctx, base).Val(); n != 0 {
		t.Fatal("stream key exists before the first append")
	}
	at := time.UnixMilli(1772366400123)
	if _, _, err := r.Append(ctx, k, []byte(`{"type":"message"}`), at); err != nil {
		t.Fatal(err)
	}
	msgs := raw.XRange(ctx, base, "-", "+").Val()
	if len(msgs) != 1 || msgs[0].ID != "1-0" || msgs[0].Values["e"] != `{"type":"message"}` ||
		msgs[0].Values["ts"] != "1772366400123" || len(msgs[0].Values) != 2 {
		t.Fatalf("stream entries = %+v", msgs)
	}
	if got := raw.Get(ctx, base+":offset").Val(); got != "1" {
		t.Fatalf("offset key after append = %q", got)
	}

	desc := "d"
	_ = r.PutChannel(ctx, tenant, ChannelMeta{Room: "science", Channel: "general", CreatedBy: "system",
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 1_000_000, time.UTC), Hardcoded: true, Description: &desc})
	rec := raw.HGet(ctx, "arqonbus:{"+tenant+"}:channels", "science:general").Val()
	var fields map[string]any
	if err := json.Unmarshal([]byte(rec), &fields); err != nil {
		t.Fatalf("registry record %q: %v", rec, err)
	}
	want := map[string]any{"created_by": "system", "created_at": "2026-03-01T12:00:00.001Z", "hardcoded": true, "implicit": false, "description": "d"}
	if fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Fatalf("registry record = %v, want %v", fields, want)
	}

	_, _ = r.KVSet(ctx, tenant, "a b", "k", []byte(`1`))
	if got := raw.HGet(ctx, "arqonbus:{"+tenant+"}:store:a%20b", "k").Val(); got != "1" {
		t.Fatalf("store hash a%%20b: %q", got)
	}

	// The default tenant is `_`.
	room := uniqueName("r")
	cleanupPattern(t, "arqonbus:{_}:room:"+room+":*")
	if _, _, err := r.Append(ctx, StreamKey{Room: room, Channel: "general"}, []byte(`{}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctx, "arqonbus:{_}:room:"+room+":channel:general").Val(); n != 1 {
		t.Fatal("default-tenant stream not under {_}")
	}

	// Segments outside [A-Za-z0-9_.-] are percent-encoded.
	odd := tenant + " é"
	cleanupTenant(t, odd)
	_, _, _ = r.Append(ctx, StreamKey{Tenant: odd, Room: "lab.v2", Channel: "x"}, []byte(`{}`), time.Now())
	if n := raw.Exists(ctx, "arqonbus:{"+tenant+"%20%C3%A9}:room:lab.v2:channel:x").Val(); n != 1 {
		t.Fatal("encoded tenant key missing")
	}
}

func TestIntegrationRedisTTLSetsSlidingExpiry(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisOptions{HistoryTTL: time.Hour})
	raw := rawRedis(t, sharedRedisURL)
	tenant := uniqueName("ttl")
	cleanupTenant(t, tenant)
	k := StreamKey{Tenant: tenant, Room: "science", Channel: "general"}
	base := streamKeyName(k)
	_, _ = r.EnsureStream(ctx, k)
	for _, key := range []string{base + ":epoch", base + ":offset"} {
		if ttl := raw.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Fatalf("PTTL %s = %v after creation", key, ttl)
		}
	}
	_, _, _ = r.Append(ctx, k, []byte(`{}`), time.Now())
	for _, key := range []string{base, base + ":epoch", base + ":offset"} {
		if ttl := raw.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Fatalf("PTTL %s = %v after append", key, ttl)
		}
	}
}

// TestIntegrationRedisLostKeys covers the epoch rule of OPERATIONS.md §5.3: a vanished
// epoch or offset key, or a vanished stream with offset > 0, starts a new
// epoch at offset 1.
func TestIntegrationRedisLostKeys(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisOptions{})
	raw := rawRedis(t, sharedRedisURL)
	tenant := uniqueName("lost")
	cleanupTenant(t, tenant)
	for _, suffix := range []string{":epoch", ":offset", ""} {
		for _, via := range []string{"append", "ensure"} {
			t.Run(via+" after losing key"+suffix, func(t *testing.T) {
				k := StreamKey{Tenant: tenant, Room: "science", Channel: via + suffix[min(1, len(suffix)):]}
				_, e1, _ := r.Append(ctx, k, []byte(`{}`), time.Now())
				_, _, _ = r.Append(ctx, k, []byte(`{}`), time.Now())
				raw.Del(ctx, streamKeyName(k)+suffix)
				if via == "ensure" {
					st, err := r.EnsureStream(ctx, k)
					if err != nil || st.Epoch == e1 || st.Top != 0 {
						t.Fatalf("EnsureStream = %+v, %v (old epoch %s)", st, err, e1)
					}
				}
				off, e2, err := r.Append(ctx, k, []byte(`{}`), time.Now())
				if err != nil || off != 1 || e2 == e1 {
					t.Fatalf("append = %d %s %v; want offset 1 and a new epoch (old %s)", off, e2, err, e1)
				}
				_, es, _ := r.ReadAfter(ctx, k, 0, 10)
				if !slices.Equal(offsets(es), []uint64{1}) {
					t.Fatalf("old entries survived: %v", offsets(es))
				}
			})
		}
	}
}

func TestIntegrationRedisRestartKeepsOffsetsAndEpoch(t *testing.T) {
	ctx := context.Background()
	tenant := uniqueName("restart")
	cleanupTenant(t, tenant)
	k := StreamKey{Tenant: tenant, Room: "science", Channel: "general"}
	r1, err := NewRedis(ctx, RedisOptions{URL: sharedRedisURL})
	if err != nil {
		t.Fatal(err)
	}
	var epoch string
	for i := 1; i <= 3; i++ {
		_, epoch, _ = r1.Append(ctx, k, []byte(strconv.Itoa(i)), time.Now())
	}
	_ = r1.Close()

	r2 := newTestRedis(t, RedisOptions{})
	st, es, err := r2.ReadAfter(ctx, k, 0, 10)
	if err != nil || st.Epoch != epoch || st.Top != 3 || !slices.Equal(offsets(es), []uint64{1, 2, 3}) {
		t.Fatalf("after restart: %+v %v %v (epoch was %s)", st, offsets(es), err, epoch)
	}
	off, e, _ := r2.Append(ctx, k, []byte(`4`), time.Now())
	if off != 4 || e != epoch {
		t.Fatalf("append after restart = %d %s", off, e)
	}
}

// TestIntegrationRedisScriptCacheLost checks that appends and reads survive Redis
// losing its script cache (SCRIPT FLUSH, or a restart between health
// probes). It uses a private server, since flushing is global.
func TestIntegrationRedisScriptCacheLost(t *testing.T) {
	ctx := context.Background()
	p := startPrivateRedis(t, "")
	r := newTestRedis(t, RedisOptions{URL: p.URL()})
	raw := rawRedis(t, p.URL())
	k := StreamKey{Room: "science", Channel: "general"}
	_ = r.PutChannel(ctx, "", ChannelMeta{Room: "science", Channel: "general"})
	if _, _, err := r.Append(ctx, k, []byte(`{}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	raw.ScriptFlush(ctx)
	if off, _, err := r.Append(ctx, k, []byte(`{}`), time.Now()); err != nil || off != 2 {
		t.Fatalf("append after SCRIPT FLUSH = %d %v", off, err)
	}
	raw.ScriptFlush(ctx)
	if res, err := r.History(ctx, Query{Room: "science", Limit: 10}); err != nil || len(res.Entries) != 2 {
		t.Fatalf("history after SCRIPT FLUSH = %+v %v", res, err)
	}
	raw.ScriptFlush(ctx)
	if st, err := r.State(ctx, k); err != nil || st.Top != 2 {
		t.Fatalf("state after SCRIPT FLUSH = %+v %v", st, err)
	}
}

// TestIntegrationRedisBatchedRepliesReachTheirCallers checks that every concurrent
// Append gets the offset under which its own envelope was stored.
func TestIntegrationRedisBatchedRepliesReachTheirCallers(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisOptions{HistorySize: 1000})
	tenant := uniqueName("batch")
	cleanupTenant(t, tenant)
	const chans, per = 16, 40
	type sent struct {
		k   StreamKey
		off uint64
		env string
	}
	out := make(chan sent, chans*per)
	errs := make(chan error, chans)
	for c := range chans {
		go func() {
			k := StreamKey{Tenant: tenant, Room: "batch", Channel: fmt.Sprintf("c%d", c)}
			for i := range per {
				env := fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)
				off, _, err := r.Append(ctx, k, []byte(env), time.Now())
				if err != nil {
					errs <- err
					return
				}
				out <- sent{k, off, env}
			}
			errs <- nil
		}()
	}
	for range chans {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(out)
	for s := range out {
		_, es, err := r.ReadAfter(ctx, s.k, s.off-1, 1)
		if err != nil || len(es) != 1 || string(es[0].Envelope) != s.env {
			t.Fatalf("offset %d of %v holds %v, want %s (%v)", s.off, s.k, es, s.env, err)
		}
	}
}
