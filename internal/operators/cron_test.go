package operators

import (
	"context"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/storage"
)

var jobIDRe = regexp.MustCompile(`^cron_[0-9a-f]{12}$`)

func TestCronFiresIntoRoomWithJobMetadata(t *testing.T) {
	e := newEnv(t, envConfig{})
	owner := e.dial(t, "?room=science&channel=general", "")
	sub := e.dial(t, "?room=science&channel=general", "")

	d := owner.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general",
		"payload": map[string]any{"content": "cron-hello"}, "delay_seconds": 0.05, "interval_seconds": 0.1, "repeat_count": 3})
	jobID, _ := d["job_id"].(string)
	if !jobIDRe.MatchString(jobID) || !timeRe.MatchString(d["created_at"].(string)) {
		t.Fatalf("schedule data %v", d)
	}
	delete(d, "job_id")
	delete(d, "created_at")
	jsonEq(t, d, `{"room":"science","channel":"general","delay_seconds":0.05,"interval_seconds":0.1,"repeat_count":3}`)

	// Every subscriber gets every firing, the owner included.
	for _, c := range []*client{owner, sub} {
		var lastOffset float64
		for i := 1; i <= 3; i++ {
			f := c.readType("message")
			meta := f["metadata"].(map[string]any)
			if f["sender"] != "op-cron" || f["room"] != "science" || f["channel"] != "general" ||
				meta["cron_job_id"] != jobID || meta["iteration"] != float64(i) {
				t.Fatalf("firing %d: %v", i, f)
			}
			jsonEq(t, f["payload"], `{"content":"cron-hello"}`)
			off, _ := meta["offset"].(float64)
			if i > 1 && off != lastOffset+1 {
				t.Fatalf("firing %d has offset %v after %v", i, off, lastOffset)
			}
			if _, ok := meta["epoch"].(string); !ok {
				t.Fatalf("firing %d has no epoch: %v", i, meta)
			}
			lastOffset = off
		}
	}
	// The job is gone after its last firing, and the firings are history.
	eventually(t, "job removal", func() bool { return owner.ok("op.cron.list", nil)["count"].(float64) == 0 })
	h := owner.ok("history", map[string]any{"room": "science", "channel": "general"})
	if h["count"].(float64) != 3 {
		t.Fatalf("history %v", h)
	}
}

func TestCronCancelAndOwnership(t *testing.T) {
	e := newEnv(t, envConfig{auth: true})
	a := e.dial(t, "", token(t, map[string]any{"sub": "a", "tenant_id": "tenant-a"}))
	a2 := e.dial(t, "", token(t, map[string]any{"sub": "a2", "tenant_id": "tenant-a"}))
	admin := e.dial(t, "", token(t, map[string]any{"sub": "adm", "tenant_id": "tenant-a", "role": "admin"}))
	other := e.dial(t, "", token(t, map[string]any{"sub": "b", "tenant_id": "tenant-b", "role": "admin"}))
	sub := e.dial(t, "?room=lab&channel=x", token(t, map[string]any{"sub": "s", "tenant_id": "tenant-a"}))

	id := a.ok("op.cron.schedule", map[string]any{"channel": "lab:x", "payload": map[string]any{"n": 1}, "delay_seconds": 0.4})["job_id"].(string)
	jsonEq(t, a2.ok("op.cron.list", nil), `{"jobs":[],"count":0}`)
	jobs := admin.ok("op.cron.list", nil)["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["owner_client_id"] != a.id || jobs[0].(map[string]any)["interval_seconds"] != nil {
		t.Fatalf("admin list %v", jobs)
	}
	a2.fail("op.cron.cancel", map[string]any{"job_id": id}, "AUTHORIZATION_ERROR", "Cannot cancel cron job owned by another client")
	jsonEq(t, other.fail("op.cron.cancel", map[string]any{"job_id": id}, "NOT_FOUND", "Cron job '"+id+"' not found"), `{"job_id":"`+id+`"}`)
	jsonEq(t, admin.ok("op.cron.cancel", map[string]any{"job_id": id}), `{"job_id":"`+id+`"}`)
	a.fail("op.cron.cancel", map[string]any{"job_id": id}, "NOT_FOUND", "Cron job '"+id+"' not found")
	sub.expectSilence(700 * time.Millisecond)
}

func TestCronCleanupOnDisconnect(t *testing.T) {
	e := newEnv(t, envConfig{devAdmin: true})
	owner := e.dial(t, "", "")
	sub := e.dial(t, "?room=science&channel=general", "")
	owner.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{}, "delay_seconds": 0.3})
	owner.c.Close()
	eventually(t, "job cancelled with its owner", func() bool { return sub.ok("op.cron.list", nil)["count"].(float64) == 0 })
	sub.expectSilence(600 * time.Millisecond)
}

func TestCronValidationAndLimit(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := e.dial(t, "", "")
	base := func(kv ...any) map[string]any {
		m := map[string]any{"room": "science", "channel": "general", "payload": map[string]any{}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		args   map[string]any
		detail string
	}{
		{base("room", nil, "channel", nil), "'room' and 'channel' are required"},
		{base("channel", nil), "'room' and 'channel' are required"},
		{base("payload", nil), "'payload' must be an object"},
		{base("payload", "text"), "'payload' must be an object"},
		{base("delay_seconds", 0), "'delay_seconds' must be > 0"},
		{base("delay_seconds", 86401), "'delay_seconds' must be <= 86400"},
		{base("interval_seconds", 0.05), "'interval_seconds' must be >= 0.1"},
		{base("interval_seconds", 86400.5), "'interval_seconds' must be <= 86400"},
		{base("repeat_count", 0), "'repeat_count' must be > 0"},
		{base("repeat_count", 1.5), "'repeat_count' must be an integer"},
		{base("repeat_count", 10001, "interval_seconds", 1), "'repeat_count' must be <= 10000"},
		{base("repeat_count", 2), "'interval_seconds' is required when repeat_count > 1"},
		{base("room", "bad room"), "Invalid room name: bad room"},
	} {
		a.fail("op.cron.schedule", tc.args, "VALIDATION_ERROR", "Validation error: "+tc.detail)
	}
	for i := 0; i < maxCronJobs; i++ {
		a.ok("op.cron.schedule", base("delay_seconds", 3600))
	}
	a.fail("op.cron.schedule", base("delay_seconds", 3600), "LIMIT_EXCEEDED", "Cron job limit reached (100)")
}

// TestCronStopsBeforeShutdownNotice: no firing follows the server_shutdown
// frame (PROTOCOL.md §3.9 step 2).
func TestCronStopsBeforeShutdownNotice(t *testing.T) {
	e := newEnv(t, envConfig{})
	sub := e.dial(t, "?room=science&channel=general", "")
	sub.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{},
		"delay_seconds": 0.1, "interval_seconds": 0.1, "repeat_count": 1000})
	sub.readType("message")
	go e.srv.Shutdown(context.Background())
	notice := false
	for {
		f, err := sub.tryRead(5 * time.Second)
		if err != nil {
			break
		}
		switch f["type"] {
		case "system":
			notice = true
		case "message":
			if notice {
				t.Fatalf("cron firing after the shutdown notice: %v", f)
			}
		}
	}
	if !notice {
		t.Fatal("no shutdown notice")
	}
}

// stallStore delays the next `stalls` appends to room `room` by `delay`,
// as a slow storage round trip would.
type stallStore struct {
	*storage.Manager
	room     string
	delay    time.Duration
	stalls   atomic.Int32
	started  chan struct{} // one value per stalled append, when it starts
	finished atomic.Int32  // stalled appends that returned
}

func (s *stallStore) Append(ctx context.Context, key storage.StreamKey, env []byte, at time.Time) (uint64, string, error) {
	if key.Room == s.room && s.stalls.Add(-1) >= 0 {
		s.started <- struct{}{}
		time.Sleep(s.delay)
		defer s.finished.Add(1)
	}
	return s.Manager.Append(ctx, key, env, at)
}

func newStallEnv(t *testing.T, room string, delay time.Duration, ops func(*Options)) (*env, *stallStore) {
	t.Helper()
	var st *stallStore
	e := newEnv(t, envConfig{devAdmin: true, ops: ops, wrap: func(m *storage.Manager) storage.Store {
		st = &stallStore{Manager: m, room: room, delay: delay, started: make(chan struct{}, 16)}
		st.stalls.Store(1)
		return st
	}})
	return e, st
}

// TestRegressionCronSkipsMissedSlotsAfterStall: when a firing's storage
// write stalls past later slots, those slots are skipped (only the latest
// fires at once) instead of firing back to back; iteration numbers stay the
// slot numbers, increasing, and the last slot still fires.
//
// Regression: every missed slot fired immediately after a stalled Publish.
func TestRegressionCronSkipsMissedSlotsAfterStall(t *testing.T) {
	e, _ := newStallEnv(t, "stall", 700*time.Millisecond, nil)
	sub := e.dial(t, "?room=stall&channel=x", "")
	const repeat = 10
	sub.ok("op.cron.schedule", map[string]any{"room": "stall", "channel": "x", "payload": map[string]any{},
		"delay_seconds": 0.05, "interval_seconds": 0.1, "repeat_count": repeat})
	var iterations []int
	for len(iterations) == 0 || iterations[len(iterations)-1] != repeat {
		f := sub.readType("message")
		iterations = append(iterations, int(f["metadata"].(map[string]any)["iteration"].(float64)))
	}
	if iterations[0] != 1 || len(iterations) > 5 {
		t.Fatalf("iterations %v: want 1, then at most one catch-up firing and the slots still ahead", iterations)
	}
	for k := 1; k < len(iterations); k++ {
		if iterations[k] <= iterations[k-1] {
			t.Fatalf("iterations %v are not increasing", iterations)
		}
	}
}

// TestRegressionCronCancelWaitsForFiringInProgress: a firing whose storage
// write is in progress when the job is cancelled is delivered before the
// "Cron job cancelled" reply, never after it; the same holds when the owner
// disconnects.
//
// Regression: cancel answered at once and the firing was published later.
func TestRegressionCronCancelWaitsForFiringInProgress(t *testing.T) {
	e, st := newStallEnv(t, "stall", 300*time.Millisecond, nil)
	owner := e.dial(t, "?room=stall&channel=x", "")
	id := owner.ok("op.cron.schedule", map[string]any{"room": "stall", "channel": "x", "payload": map[string]any{},
		"delay_seconds": 0.05, "interval_seconds": 0.1, "repeat_count": 100})["job_id"].(string)
	<-st.started
	jsonEq(t, owner.ok("op.cron.cancel", map[string]any{"job_id": id}), `{"job_id":"`+id+`"}`)
	owner.expectSilence(500 * time.Millisecond)

	// Owner disconnect (cancelOwner): it returns only after the firing.
	st.stalls.Store(1)
	other := e.dial(t, "", "")
	other.ok("op.cron.schedule", map[string]any{"room": "stall", "channel": "x", "payload": map[string]any{}, "delay_seconds": 0.05})
	<-st.started
	e.ops.crons.cancelOwner(other.id)
	if st.finished.Load() != 2 {
		t.Fatal("cancelOwner returned while a firing of the job was still being published")
	}
}
