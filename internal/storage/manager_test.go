package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// logBuffer collects JSON log lines safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded log records with the given msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type transitions struct {
	mu  sync.Mutex
	got []bool
}

func (tr *transitions) record(d bool) {
	tr.mu.Lock()
	tr.got = append(tr.got, d)
	tr.mu.Unlock()
}

func (tr *transitions) list() []bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]bool(nil), tr.got...)
}

type managerEnv struct {
	m    *Manager
	met  *metrics.Bus
	logs *logBuffer
	tr   *transitions
}

func openManager(t *testing.T, opts ManagerOptions) (*managerEnv, error) {
	t.Helper()
	env := &managerEnv{met: metrics.NewBus(), logs: &logBuffer{}, tr: &transitions{}}
	opts.Metrics = env.met
	opts.Logger = slog.New(slog.NewJSONHandler(env.logs, nil))
	opts.OnTransition = env.tr.record
	m, err := NewManager(context.Background(), opts)
	if err != nil {
		return env, err
	}
	env.m = m
	t.Cleanup(func() { _ = m.Close() })
	return env, nil
}

// value reads a gauge or counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func (e *managerEnv) gauge() float64 { return value(e.met.StorageDegraded) }

func (e *managerEnv) ops(op, result string) float64 {
	return value(e.met.StorageOperations.WithLabelValues(op, result))
}

func TestManagerMemoryDefault(t *testing.T) {
	env, err := openManager(t, ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := env.m.Health()
	if h != (Health{Backend: "memory", Mode: "degraded", Healthy: true}) {
		t.Fatalf("Health = %+v", h)
	}
	k := StreamKey{Room: "science", Channel: "general"}
	if off, _, err := env.m.Append(context.Background(), k, []byte(`{}`), time.Now()); err != nil || off != 1 {
		t.Fatalf("Append = %d %v", off, err)
	}
	if _, _, err := env.m.ReadAfter(context.Background(), k, 0, 10); err != nil {
		t.Fatal(err)
	}
	if env.ops("append", "ok") != 1 || env.ops("read", "ok") != 1 || env.gauge() != 0 {
		t.Fatalf("metrics: append ok %v read ok %v", env.ops("append", "ok"), env.ops("read", "ok"))
	}
	s := env.m.Stats()
	b, _ := json.Marshal(s)
	want := `{"backend":"memory","mode":"degraded","healthy":true,"degraded":false,"url":null,"history_size":500,"history_ttl_seconds":null,"streams":1,"operations":{"append_ok":1,"append_error":0,"read_ok":1,"read_error":0,"fallback_appends":0},"last_error":null,"last_error_at":null,"degraded_since":null}`
	if string(b) != want {
		t.Fatalf("Stats JSON =\n%s\nwant\n%s", b, want)
	}
}

func TestManagerConfigErrors(t *testing.T) {
	_, err := openManager(t, ManagerOptions{Backend: "memory", Mode: "strict"})
	if err == nil || err.Error() != "Storage mode 'strict' requires Redis backend (redis or valkey)" {
		t.Fatalf("strict memory: %v", err)
	}
	_, err = openManager(t, ManagerOptions{Backend: "disk"})
	if err == nil || err.Error() != "Unsupported storage backend: disk. Expected one of: memory, redis, valkey" {
		t.Fatalf("bad backend: %v", err)
	}
}

// TestRegressionManagerStrictStartupFailure pins an upstream defect
// (OPERATIONS.md §12): storage "strict" was checked only by preflight and a
// missing Redis fell back silently. Strict startup fails, naming the redacted
// URL.
func TestRegressionManagerStrictStartupFailure(t *testing.T) {
	port := freePort(t) // nothing listens here
	env, err := openManager(t, ManagerOptions{Backend: "redis", Mode: "strict",
		RedisURL: fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", port), Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("strict startup succeeded without Redis")
	}
	prefix := fmt.Sprintf("Storage mode 'strict' requires a reachable Redis/Valkey at redis://:***@127.0.0.1:%d/0: dial tcp ", port)
	if !strings.HasPrefix(err.Error(), prefix) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error = %q, want prefix %q", err, prefix)
	}
	if strings.Contains(env.logs.String(), "s3cret") {
		t.Fatal("password logged")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@db:6379/0":       "redis://:***@db:6379/0",
		"rediss://user:pw@db:6380/2":  "rediss://user:***@db:6380/2",
		"redis://db:6379/0":           "redis://db:6379/0",
		"redis://user@db:6379":        "redis://user@db:6379",
		"redis://:p%40ss@10.0.0.1:1/": "redis://:***@10.0.0.1:1/",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIntegrationManagerStrictRuntimeFailure(t *testing.T) {
	ctx := context.Background()
	p := startPrivateRedis(t, "s3cret")
	env, err := openManager(t, ManagerOptions{Backend: "redis", Mode: "strict", RedisURL: p.URL(),
		Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := env.m
	k := StreamKey{Room: "science", Channel: "general"}
	if off, _, err := m.Append(ctx, k, []byte(`{"n":1}`), time.Now()); err != nil || off != 1 {
		t.Fatalf("append while healthy = %d %v", off, err)
	}
	if h := m.Health(); !h.Healthy || h.URL != strings.Replace(p.URL(), "s3cret", "***", 1) {
		t.Fatalf("Health = %+v", h)
	}

	p.kill()
	for i := range 3 {
		off, _, err := m.Append(ctx, k, []byte(`{"n":2}`), time.Now())
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("append %d with Redis down = %d, %v; want ErrUnavailable", i, off, err)
		}
	}
	if h := m.Health(); h.Healthy || h.Degraded {
		t.Fatalf("Health during strict outage = %+v", h)
	}
	for name, f := range map[string]func() error{
		"ReadAfter":    func() error { _, _, err := m.ReadAfter(ctx, k, 0, 10); return err },
		"History":      func() error { _, err := m.History(ctx, Query{Room: "science", Limit: 5}); return err },
		"EnsureStream": func() error { _, err := m.EnsureStream(ctx, k); return err },
		"PutChannel":   func() error { return m.PutChannel(ctx, "", ChannelMeta{Room: "a", Channel: "b"}) },
		"KVSet":        func() error { _, err := m.KVSet(ctx, "", "ns", "k", []byte(`1`)); return err },
	} {
		if err := f(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s during outage: %v", name, err)
		}
	}
	if env.gauge() != 0 {
		t.Fatal("arqonbus_storage_degraded set in strict mode")
	}
	if env.ops("append", "error") != 3 || env.ops("append", "ok") != 1 {
		t.Fatalf("append metrics ok=%v error=%v", env.ops("append", "ok"), env.ops("append", "error"))
	}
	st := m.Stats()
	if st.LastError == nil || st.DegradedSince == nil || st.Operations.AppendError != 3 || st.Healthy {
		t.Fatalf("Stats during outage = %+v", st)
	}
	warn := env.logs.lines("storage degraded")
	if len(warn) != 1 || warn[0]["level"] != "WARN" || warn[0]["component"] != "storage" ||
		warn[0]["backend"] != "redis" || warn[0]["mode"] != "strict" || warn[0]["error"] == "" {
		t.Fatalf("degraded log = %v", warn)
	}

	p.start() // a fresh, empty server on the same port
	waitFor(t, 10*time.Second, "strict recovery", func() bool { return m.Health().Healthy })
	off, _, err := m.Append(ctx, k, []byte(`{"n":3}`), time.Now())
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	// Nothing written during the outage was stored: the fresh server holds
	// only the post-recovery message.
	_, es, _ := m.ReadAfter(ctx, k, 0, 10)
	if off != 1 || len(es) != 1 || string(es[0].Envelope) != `{"n":3}` {
		t.Fatalf("after recovery: offset %d entries %v", off, es)
	}
	info := env.logs.lines("storage recovered")
	if len(info) != 1 || info[0]["level"] != "INFO" || info[0]["outage_seconds"].(float64) <= 0 {
		t.Fatalf("recovered log = %v", info)
	}
	if got := env.tr.list(); len(got) != 0 {
		t.Fatalf("OnTransition called in strict mode: %v", got)
	}
	if strings.Contains(env.logs.String(), "s3cret") {
		t.Fatal("password logged")
	}
	if b, _ := json.Marshal(m.Stats()); strings.Contains(string(b), "s3cret") {
		t.Fatal("password in stats")
	}
}

func TestIntegrationManagerDegradedFallbackAndRecovery(t *testing.T) {
	ctx := context.Background()
	p := startPrivateRedis(t, "")
	env, err := openManager(t, ManagerOptions{Backend: "valkey", RedisURL: p.URL(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := env.m
	k := StreamKey{Room: "science", Channel: "general"}
	_, e1, err := m.Append(ctx, k, []byte(`{"n":1}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	p.kill()
	off, fe, err := m.Append(ctx, k, []byte(`{"n":2}`), time.Now())
	if err != nil || off != 1 || fe == e1 {
		t.Fatalf("append on failure = %d %s %v; want offset 1 on a fresh fallback epoch", off, fe, err)
	}
	if h := m.Health(); h.Healthy || !h.Degraded || h.Backend != "valkey" {
		t.Fatalf("Health = %+v", h)
	}
	if env.gauge() != 1 {
		t.Fatal("arqonbus_storage_degraded != 1 on the fallback")
	}
	waitFor(t, 2*time.Second, "degraded transition", func() bool { return len(env.tr.list()) == 1 })
	if off, e, _ := m.Append(ctx, k, []byte(`{"n":3}`), time.Now()); off != 2 || e != fe {
		t.Fatalf("second fallback append = %d %s", off, e)
	}
	_, es, _ := m.ReadAfter(ctx, k, 0, 10)
	if len(es) != 2 || string(es[0].Envelope) != `{"n":2}` {
		t.Fatalf("fallback read = %v", es)
	}
	st := m.Stats()
	if !st.Degraded || st.Operations.FallbackAppends != 2 || st.Streams != 1 || st.DegradedSince == nil {
		t.Fatalf("Stats = %+v", st)
	}
	if env.ops("append", "fallback") != 2 || env.ops("append", "ok") != 1 {
		t.Fatalf("metrics fallback=%v ok=%v", env.ops("append", "fallback"), env.ops("append", "ok"))
	}

	p.start()
	waitFor(t, 10*time.Second, "automatic recovery", func() bool { return m.Health().Healthy })
	waitFor(t, 2*time.Second, "recovered transition", func() bool { return len(env.tr.list()) == 2 })
	if got := env.tr.list(); got[0] != true || got[1] != false {
		t.Fatalf("transitions = %v", got)
	}
	if env.gauge() != 0 || m.Health().Degraded {
		t.Fatal("still degraded after recovery")
	}
	off, e, err := m.Append(ctx, k, []byte(`{"n":4}`), time.Now())
	if err != nil || e == fe {
		t.Fatalf("append after recovery = %d %s %v", off, e, err)
	}
	_, es, _ = m.ReadAfter(ctx, k, 0, 10)
	if len(es) != 1 || string(es[0].Envelope) != `{"n":4}` {
		t.Fatalf("fallback contents were not discarded: %v", es)
	}
	if st := m.Stats(); st.DegradedSince != nil || st.LastError == nil {
		t.Fatalf("Stats after recovery = %+v", st)
	}
}

// TestIntegrationManagerRecoveryRotatesEpochs pauses Redis (its data survives), so the
// switch back must give the Redis streams new epochs (OPERATIONS.md §5.3).
func TestIntegrationManagerRecoveryRotatesEpochs(t *testing.T) {
	ctx := context.Background()
	p := startPrivateRedis(t, "")
	env, err := openManager(t, ManagerOptions{Backend: "redis", RedisURL: p.URL(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := env.m
	k := StreamKey{Tenant: "acme", Room: "science", Channel: "general"}
	never := StreamKey{Tenant: "acme", Room: "science", Channel: "quiet"}
	_, _ = m.EnsureStream(ctx, never)
	_, e1, _ := m.Append(ctx, k, []byte(`{"n":1}`), time.Now())
	_, _, _ = m.Append(ctx, k, []byte(`{"n":2}`), time.Now())

	p.signal(syscall.SIGSTOP)
	_, fe, err := m.Append(ctx, k, []byte(`{"n":3}`), time.Now())
	if err != nil || !m.Health().Degraded {
		t.Fatalf("timed-out append did not fall back: %v %+v", err, m.Health())
	}
	p.signal(syscall.SIGCONT)
	waitFor(t, 10*time.Second, "recovery", func() bool { return m.Health().Healthy })

	// The timed-out append reached the paused server and was applied once
	// it resumed (OPERATIONS.md §5.6 allows this), so Top may be 2 or 3.
	st, es, err := m.ReadAfter(ctx, k, 0, 10)
	if err != nil || st.Top < 2 || st.Epoch == e1 || st.Epoch == fe || len(es) != int(st.Top) {
		t.Fatalf("after recovery: %+v %v %v (old epochs %s, %s)", st, offsets(es), err, e1, fe)
	}
	if off, e, _ := m.Append(ctx, k, []byte(`{"n":4}`), time.Now()); off != st.Top+1 || e != st.Epoch {
		t.Fatalf("append after recovery = %d %s", off, e)
	}
	if qs, _ := m.State(ctx, never); qs.Top != 0 || !epochRE.MatchString(qs.Epoch) {
		t.Fatalf("never-written stream after recovery = %+v", qs)
	}
}

func TestIntegrationManagerDegradedStartup(t *testing.T) {
	ctx := context.Background()
	p := newPrivateRedis(t, "") // not started yet
	env, err := openManager(t, ManagerOptions{Backend: "redis", RedisURL: p.URL(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("degraded startup failed: %v", err)
	}
	m := env.m
	if h := m.Health(); h.Healthy || !h.Degraded || env.gauge() != 1 {
		t.Fatalf("Health = %+v gauge %v", h, env.gauge())
	}
	if len(env.logs.lines("storage degraded")) != 1 {
		t.Fatal("no WARN storage degraded at startup")
	}
	if off, _, err := m.Append(ctx, StreamKey{Room: "a", Channel: "b"}, []byte(`{}`), time.Now()); err != nil || off != 1 {
		t.Fatalf("fallback append = %d %v", off, err)
	}
	p.start()
	waitFor(t, 10*time.Second, "recovery after startup", func() bool { return m.Health().Healthy })
	waitFor(t, 2*time.Second, "recovered transition", func() bool { return len(env.tr.list()) == 1 })
	if got := env.tr.list(); got[0] != false {
		t.Fatalf("transitions = %v", got)
	}
}

func TestIntegrationManagerCancelledCallerIsNotAnOutage(t *testing.T) {
	p := startPrivateRedis(t, "")
	env, err := openManager(t, ManagerOptions{Backend: "redis", Mode: "strict", RedisURL: p.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := env.m.Append(ctx, StreamKey{Room: "a", Channel: "b"}, []byte(`{}`), time.Now()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v", err)
	}
	if !env.m.Health().Healthy {
		t.Fatal("a cancelled caller marked Redis unhealthy")
	}
}

// TestIntegrationManagerPingDetectsOutage: with no traffic, the background PING finds
// the outage by itself (OPERATIONS.md §5.7).
func TestIntegrationManagerPingDetectsOutage(t *testing.T) {
	old := pingInterval
	pingInterval = 100 * time.Millisecond
	t.Cleanup(func() { pingInterval = old })
	p := startPrivateRedis(t, "")
	env, err := openManager(t, ManagerOptions{Backend: "redis", RedisURL: p.URL(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p.kill()
	waitFor(t, 5*time.Second, "ping to detect the outage", func() bool { return env.m.Health().Degraded })
	waitFor(t, 2*time.Second, "degraded transition", func() bool { return len(env.tr.list()) == 1 })
	if env.gauge() != 1 {
		t.Fatal("gauge not set")
	}
}

// TestIntegrationManagerConcurrentSwitch appends from many goroutines while Redis
// dies: in degraded mode every append still succeeds, and each channel's
// offsets stay contiguous within each epoch.
func TestIntegrationManagerConcurrentSwitch(t *testing.T) {
	p := startPrivateRedis(t, "")
	env, err := openManager(t, ManagerOptions{Backend: "redis", RedisURL: p.URL(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k := StreamKey{Room: "load", Channel: fmt.Sprintf("c%d", w)}
			last := map[string]uint64{}
			for range 60 {
				off, epoch, err := env.m.Append(context.Background(), k, []byte(`{}`), time.Now())
				if err != nil {
					errs <- err
					return
				}
				if off != last[epoch]+1 {
					errs <- fmt.Errorf("%v: offset %d after %d in epoch %s", k, off, last[epoch], epoch)
					return
				}
				last[epoch] = off
				time.Sleep(time.Millisecond)
			}
		}()
	}
	close(start)
	time.Sleep(15 * time.Millisecond)
	p.kill()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !env.m.Health().Degraded {
		t.Fatal("not degraded after the kill")
	}
	if n := len(env.logs.lines("storage degraded")); n != 1 {
		t.Fatalf("%d degraded transitions logged, want 1", n)
	}
}
