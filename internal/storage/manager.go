package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Storage modes (ARQONBUS_STORAGE_MODE).
const (
	ModeDegraded = "degraded"
	ModeStrict   = "strict"
)

// ManagerOptions configures the Store the bus uses.
type ManagerOptions struct {
	Backend     string // "memory" (default), "redis" or "valkey"
	Mode        string // "degraded" (default) or "strict"
	RedisURL    string // raw URL, password included; never logged
	RedactedURL string // RedisURL with the password shown as ***; derived when empty
	HistorySize int
	HistoryTTL  time.Duration
	Timeout     time.Duration // per Redis operation and per startup attempt
	Logger      *slog.Logger  // nil = slog.Default()
	Metrics     *metrics.Bus  // nil = no metrics
	// OnTransition is called (degraded mode only) after the store entered
	// (true) or left (false) the memory fallback at runtime, in order, from
	// a goroutine of the Manager, never while a storage call is in progress
	// on the caller's goroutine. It is not called for the initial state:
	// check Health() after NewManager.
	OnTransition func(degraded bool)
}

// Health-loop timing (OPERATIONS.md §5.7); tests shorten them.
var (
	pingInterval  = 5 * time.Second
	backoffMin    = 500 * time.Millisecond
	backoffMax    = 10 * time.Second
	startupPause  = 500 * time.Millisecond
	startupTrials = 3
)

// Manager implements Store with the strict/degraded semantics of
// OPERATIONS.md §5.6 on top of the memory backend or Redis/Valkey with a
// memory fallback.
type Manager struct {
	backend  string
	mode     string
	redacted string
	size     int
	ttl      time.Duration
	timeout  time.Duration
	log      *slog.Logger
	onTrans  func(bool)

	mem   *Memory // the memory backend; nil with Redis
	redis *Redis  // nil with the memory backend

	mu        sync.RWMutex
	healthy   bool
	gen       uint64  // bumped on every transition
	fallback  *Memory // the degraded-mode fallback while unhealthy
	downSince time.Time
	lastErr   string
	lastErrAt time.Time

	appendOK, appendErr, readOK, readErr, fallbackAppends atomic.Int64
	met                                                   *managerMetrics

	kick   chan struct{}
	stop   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closed atomic.Bool

	evMu     sync.Mutex
	evQueue  []bool
	evSignal chan struct{}
}

type managerMetrics struct {
	degraded                                                     prometheus.Gauge
	appendOK, appendErr, appendFallback, readOK, readErr, readFb prometheus.Counter
	appendSec, readSec                                           prometheus.Observer
}

var _ Store = (*Manager)(nil)

// NewManager opens the configured storage. With Redis it tries PING plus
// script load up to 3 times (each bounded by Timeout, 500 ms apart); in
// strict mode failure is the startup error of OPERATIONS.md §5.6, in
// degraded mode the Manager starts on the memory fallback and reconnects in
// the background.
func NewManager(ctx context.Context, opts ManagerOptions) (*Manager, error) {
	m := &Manager{
		backend:  opts.Backend,
		mode:     opts.Mode,
		redacted: opts.RedactedURL,
		size:     opts.HistorySize,
		ttl:      opts.HistoryTTL,
		timeout:  opts.Timeout,
		log:      opts.Logger,
		onTrans:  opts.OnTransition,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		evSignal: make(chan struct{}, 1),
	}
	if m.backend == "" {
		m.backend = "memory"
	}
	if m.mode == "" {
		m.mode = ModeDegraded
	}
	if m.size <= 0 {
		m.size = DefaultHistorySize
	}
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("component", "storage")
	useRedisLogger(m.log)
	if opts.Metrics != nil {
		m.met = newManagerMetrics(opts.Metrics)
	}
	switch m.mode {
	case ModeDegraded, ModeStrict:
	default:
		return nil, fmt.Errorf("Unsupported storage mode: %s. Expected one of: degraded, strict", m.mode)
	}
	switch m.backend {
	case "memory":
		if m.mode == ModeStrict {
			return nil, errors.New("Storage mode 'strict' requires Redis backend (redis or valkey)")
		}
		m.mem = m.newMemory()
		m.healthy = true
		return m, nil
	case "redis", "valkey":
	default:
		return nil, fmt.Errorf("Unsupported storage backend: %s. Expected one of: memory, redis, valkey", m.backend)
	}
	if m.redacted == "" {
		m.redacted = RedactURL(opts.RedisURL)
	}
	r, err := newRedisClient(RedisOptions{URL: opts.RedisURL, Backend: m.backend, HistorySize: m.size,
		HistoryTTL: m.ttl, Timeout: m.timeout})
	if err != nil {
		return nil, fmt.Errorf("Storage backend %s: invalid URL %s", m.backend, m.redacted)
	}
	m.redis = r
	for i := range startupTrials {
		if i > 0 {
			select {
			case <-time.After(startupPause):
			case <-ctx.Done():
				_ = r.Close()
				return nil, ctx.Err()
			}
		}
		if err = r.Probe(ctx); err == nil {
			break
		}
	}
	if err != nil {
		if m.mode == ModeStrict {
			_ = r.Close()
			return nil, fmt.Errorf("Storage mode 'strict' requires a reachable Redis/Valkey at %s: %v", m.redacted, err)
		}
		m.enterUnhealthy(err, time.Now())
	} else {
		m.healthy = true
	}
	var loopCtx context.Context
	loopCtx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(2)
	go m.healthLoop(loopCtx)
	go m.eventLoop()
	return m, nil
}

func newManagerMetrics(b *metrics.Bus) *managerMetrics {
	op := b.StorageOperations
	return &managerMetrics{
		degraded:       b.StorageDegraded,
		appendOK:       op.WithLabelValues("append", "ok"),
		appendErr:      op.WithLabelValues("append", "error"),
		appendFallback: op.WithLabelValues("append", "fallback"),
		readOK:         op.WithLabelValues("read", "ok"),
		readErr:        op.WithLabelValues("read", "error"),
		readFb:         op.WithLabelValues("read", "fallback"),
		appendSec:      b.StorageSeconds.WithLabelValues("append"),
		readSec:        b.StorageSeconds.WithLabelValues("read"),
	}
}

func (m *Manager) newMemory() *Memory {
	return NewMemory(MemoryOptions{HistorySize: m.size, HistoryTTL: m.ttl})
}

// RedactURL returns u with its password replaced by *** (OPERATIONS.md
// §5.4), e.g. redis://:***@db:6379/0. Unparseable input gives "***".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "***"
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	userinfo := url.User(u.User.Username()).String() + ":***"
	u.User = nil
	s := u.String()
	prefix := u.Scheme + "://"
	return prefix + userinfo + "@" + strings.TrimPrefix(s, prefix)
}

// enterUnhealthy records an outage. In degraded mode it switches the store
// to a fresh memory fallback. Callers hold m.mu or run before the Manager
// is shared.
func (m *Manager) enterUnhealthy(err error, now time.Time) {
	m.healthy = false
	m.gen++
	m.downSince = now
	m.lastErr = err.Error()
	m.lastErrAt = now
	if m.mode == ModeDegraded {
		m.fallback = m.newMemory()
		if m.met != nil {
			m.met.degraded.Set(1)
		}
	}
	m.log.Warn("storage degraded", "backend", m.backend, "mode", m.mode, "error", err.Error(), "outage_seconds", 0)
}

// markUnhealthy is called when an operation against Redis failed. gen is
// the generation the operation started in, so one outage switches once.
func (m *Manager) markUnhealthy(gen uint64, err error) {
	m.mu.Lock()
	if !m.healthy || m.gen != gen || m.closed.Load() {
		m.mu.Unlock()
		return
	}
	m.enterUnhealthy(err, time.Now())
	m.mu.Unlock()
	if m.mode == ModeDegraded {
		m.emit(true)
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// markHealthy switches back to Redis and discards the fallback.
func (m *Manager) markHealthy() {
	m.mu.Lock()
	old := m.fallback
	outage := time.Since(m.downSince)
	m.fallback = nil
	m.healthy = true
	m.gen++
	m.downSince = time.Time{}
	m.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if m.met != nil {
		m.met.degraded.Set(0)
	}
	m.log.Info("storage recovered", "backend", m.backend, "mode", m.mode, "error", "", "outage_seconds", outage.Seconds())
	if m.mode == ModeDegraded {
		m.emit(false)
	}
}

func (m *Manager) recordError(err error) {
	m.mu.Lock()
	m.lastErr = err.Error()
	m.lastErrAt = time.Now()
	m.mu.Unlock()
}

// healthLoop pings every 5 s while healthy and probes with jittered
// exponential backoff while unhealthy (OPERATIONS.md §5.7). In degraded mode
// a recovery also gives every Redis stream a new epoch before new writes go
// to Redis (OPERATIONS.md §5.3).
func (m *Manager) healthLoop(ctx context.Context) {
	defer m.wg.Done()
	backoff := backoffMin
	for {
		m.mu.RLock()
		healthy, gen := m.healthy, m.gen
		m.mu.RUnlock()
		wait := pingInterval
		if healthy {
			backoff = backoffMin
		} else {
			wait = time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		}
		t := time.NewTimer(wait)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-m.kick:
			t.Stop()
			continue
		case <-t.C:
		}
		if healthy {
			if err := m.redis.Ping(ctx); err != nil && ctx.Err() == nil {
				m.markUnhealthy(gen, err)
			}
			continue
		}
		err := m.redis.Probe(ctx)
		if err == nil && m.mode == ModeDegraded {
			rctx, cancel := context.WithTimeout(ctx, 10*m.timeout)
			_, err = m.redis.RotateEpochs(rctx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.recordError(err)
			backoff = min(2*backoff, backoffMax)
			continue
		}
		m.markHealthy()
	}
}

// emit queues a transition for OnTransition.
func (m *Manager) emit(degraded bool) {
	if m.onTrans == nil {
		return
	}
	m.evMu.Lock()
	m.evQueue = append(m.evQueue, degraded)
	m.evMu.Unlock()
	select {
	case m.evSignal <- struct{}{}:
	default:
	}
}

func (m *Manager) eventLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case <-m.evSignal:
		}
		m.evMu.Lock()
		q := m.evQueue
		m.evQueue = nil
		m.evMu.Unlock()
		for _, d := range q {
			m.onTrans(d)
		}
	}
}

// Close stops the background loops and closes the backends.
func (m *Manager) Close() error {
	var err error
	m.once.Do(func() {
		m.closed.Store(true)
		close(m.stop)
		if m.cancel != nil {
			m.cancel()
		}
		m.wg.Wait()
		if m.redis != nil {
			err = m.redis.Close()
		}
		if m.mem != nil {
			_ = m.mem.Close()
		}
		m.mu.Lock()
		if m.fallback != nil {
			_ = m.fallback.Close()
		}
		m.mu.Unlock()
	})
	return err
}

// Health is the cached health state for /ready and /status.
func (m *Manager) Health() Health {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Health{
		Backend:  m.backend,
		Mode:     m.mode,
		Healthy:  m.healthy,
		Degraded: !m.healthy && m.mode == ModeDegraded,
		URL:      m.urlOrEmpty(),
	}
}

func (m *Manager) urlOrEmpty() string {
	if m.redis == nil {
		return ""
	}
	return m.redacted
}

// Stats is the body of GET /storage/stats (OPERATIONS.md §6.3).
type Stats struct {
	Backend           string          `json:"backend"`
	Mode              string          `json:"mode"`
	Healthy           bool            `json:"healthy"`
	Degraded          bool            `json:"degraded"`
	URL               *string         `json:"url"`
	HistorySize       int             `json:"history_size"`
	HistoryTTLSeconds *float64        `json:"history_ttl_seconds"` // null when unset
	Streams           int             `json:"streams"`
	Operations        StatsOperations `json:"operations"`
	LastError         *string         `json:"last_error"`
	LastErrorAt       *string         `json:"last_error_at"`
	DegradedSince     *string         `json:"degraded_since"` // start of the current outage (either mode)
}

// StatsOperations counts storage calls since start.
type StatsOperations struct {
	AppendOK        int64 `json:"append_ok"`
	AppendError     int64 `json:"append_error"`
	ReadOK          int64 `json:"read_ok"`
	ReadError       int64 `json:"read_error"`
	FallbackAppends int64 `json:"fallback_appends"`
}

// Stats returns the /storage/stats data. With healthy Redis, streams is
// counted with a SCAN bounded by the timeout (0 if that fails).
func (m *Manager) Stats() Stats {
	h := m.Health()
	s := Stats{Backend: h.Backend, Mode: h.Mode, Healthy: h.Healthy, Degraded: h.Degraded, HistorySize: m.size}
	if h.URL != "" {
		s.URL = &h.URL
	}
	if m.ttl > 0 {
		secs := m.ttl.Seconds()
		s.HistoryTTLSeconds = &secs
	}
	s.Operations = StatsOperations{AppendOK: m.appendOK.Load(), AppendError: m.appendErr.Load(),
		ReadOK: m.readOK.Load(), ReadError: m.readErr.Load(), FallbackAppends: m.fallbackAppends.Load()}
	m.mu.RLock()
	if m.lastErr != "" {
		e, at := m.lastErr, m.lastErrAt.UTC().Format(timeLayout)
		s.LastError, s.LastErrorAt = &e, &at
	}
	if !m.downSince.IsZero() {
		d := m.downSince.UTC().Format(timeLayout)
		s.DegradedSince = &d
	}
	fb := m.fallback
	m.mu.RUnlock()
	switch {
	case m.mem != nil:
		s.Streams = m.mem.Streams()
	case fb != nil:
		s.Streams = fb.Streams()
	case h.Healthy:
		n, err := m.redis.Streams(context.Background())
		if err == nil {
			s.Streams = n
		}
	}
	return s
}

// opKind selects the metric an operation is counted under.
type opKind int

const (
	opOther opKind = iota
	opAppend
	opRead
)

// route is where a call goes now.
type route struct {
	store   Store
	gen     uint64
	onRedis bool
}

func (m *Manager) current() (route, error) {
	if m.closed.Load() {
		return route{}, errClosed
	}
	if m.mem != nil {
		return route{store: m.mem}, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case m.healthy:
		return route{store: m.redis, gen: m.gen, onRedis: true}, nil
	case m.mode == ModeStrict:
		return route{}, ErrUnavailable
	default:
		return route{store: m.fallback, gen: m.gen}, nil
	}
}

// isTimeout reports an operation that ran out of time, as opposed to a
// connection that failed.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// call runs f on the current store with the failure rules of §5.6: a Redis
// failure marks the backend unhealthy; strict mode then answers
// ErrUnavailable, degraded mode repeats f on the memory fallback.
func call[T any](m *Manager, ctx context.Context, kind opKind, f func(Store) (T, error)) (T, error) {
	start := time.Now()
	var zero T
	r, err := m.current()
	if err != nil {
		m.count(kind, "error", start)
		return zero, err
	}
	v, err := f(r.store)
	if err == nil {
		if r.onRedis || m.mem != nil {
			m.count(kind, "ok", start)
		} else {
			m.count(kind, "fallback", start)
		}
		return v, nil
	}
	if !r.onRedis || ctx.Err() != nil {
		// Memory does not fail; a cancelled caller is not a Redis outage.
		m.count(kind, "error", start)
		return zero, err
	}
	if kind != opAppend && isTimeout(err) {
		// A slow read (a large history window, say) fails alone: it must not
		// switch every tenant's traffic off Redis. A real outage is caught by
		// the next append or by the health probe.
		m.recordError(err)
		m.count(kind, "error", start)
		if m.mode == ModeStrict {
			return zero, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return zero, err
	}
	m.markUnhealthy(r.gen, err)
	if m.mode == ModeStrict {
		m.count(kind, "error", start)
		return zero, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Degraded: repeat on whatever serves now, normally the fresh fallback.
	r, err = m.current()
	if err != nil {
		m.count(kind, "error", start)
		return zero, err
	}
	v, err = f(r.store)
	if err != nil {
		if r.onRedis {
			m.markUnhealthy(r.gen, err)
		}
		m.count(kind, "error", start)
		return zero, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if r.onRedis {
		m.count(kind, "ok", start)
	} else {
		m.count(kind, "fallback", start)
	}
	return v, nil
}

func (m *Manager) count(kind opKind, result string, start time.Time) {
	switch kind {
	case opAppend:
		switch result {
		case "ok":
			m.appendOK.Add(1)
		case "error":
			m.appendErr.Add(1)
		case "fallback":
			m.fallbackAppends.Add(1)
		}
	case opRead:
		switch result {
		case "ok", "fallback":
			m.readOK.Add(1)
		case "error":
			m.readErr.Add(1)
		}
	default:
		return
	}
	if m.met == nil {
		return
	}
	secs := time.Since(start).Seconds()
	if kind == opAppend {
		m.met.appendSec.Observe(secs)
		switch result {
		case "ok":
			m.met.appendOK.Inc()
		case "error":
			m.met.appendErr.Inc()
		default:
			m.met.appendFallback.Inc()
		}
		return
	}
	m.met.readSec.Observe(secs)
	switch result {
	case "ok":
		m.met.readOK.Inc()
	case "error":
		m.met.readErr.Inc()
	default:
		m.met.readFb.Inc()
	}
}

type appendResult struct {
	offset uint64
	epoch  string
}

type readResult struct {
	st StreamState
	es []Entry
}

// EnsureStream implements Store.
func (m *Manager) EnsureStream(ctx context.Context, key StreamKey) (StreamState, error) {
	return call(m, ctx, opRead, func(s Store) (StreamState, error) { return s.EnsureStream(ctx, key) })
}

// Append implements Store. In strict mode it returns only after Redis
// acknowledged the write, or an error wrapping ErrUnavailable.
func (m *Manager) Append(ctx context.Context, key StreamKey, env []byte, storedAt time.Time) (uint64, string, error) {
	r, err := call(m, ctx, opAppend, func(s Store) (appendResult, error) {
		o, e, err := s.Append(ctx, key, env, storedAt)
		return appendResult{o, e}, err
	})
	return r.offset, r.epoch, err
}

// ReadAfter implements Store.
func (m *Manager) ReadAfter(ctx context.Context, key StreamKey, after uint64, limit int) (StreamState, []Entry, error) {
	r, err := call(m, ctx, opRead, func(s Store) (readResult, error) {
		st, es, err := s.ReadAfter(ctx, key, after, limit)
		return readResult{st, es}, err
	})
	return r.st, r.es, err
}

// State implements Store.
func (m *Manager) State(ctx context.Context, key StreamKey) (StreamState, error) {
	return call(m, ctx, opRead, func(s Store) (StreamState, error) { return s.State(ctx, key) })
}

// History implements Store.
func (m *Manager) History(ctx context.Context, q Query) (QueryResult, error) {
	return call(m, ctx, opRead, func(s Store) (QueryResult, error) { return s.History(ctx, q) })
}

// DeleteStream implements Store.
func (m *Manager) DeleteStream(ctx context.Context, key StreamKey) (int, error) {
	return call(m, ctx, opOther, func(s Store) (int, error) { return s.DeleteStream(ctx, key) })
}

// PutChannel implements Store.
func (m *Manager) PutChannel(ctx context.Context, tenant string, meta ChannelMeta) error {
	_, err := call(m, ctx, opOther, func(s Store) (struct{}, error) { return struct{}{}, s.PutChannel(ctx, tenant, meta) })
	return err
}

// DeleteChannel implements Store.
func (m *Manager) DeleteChannel(ctx context.Context, tenant, room, channel string) error {
	_, err := call(m, ctx, opOther, func(s Store) (struct{}, error) {
		return struct{}{}, s.DeleteChannel(ctx, tenant, room, channel)
	})
	return err
}

// Channels implements Store.
func (m *Manager) Channels(ctx context.Context, tenant string) ([]ChannelMeta, error) {
	return call(m, ctx, opOther, func(s Store) ([]ChannelMeta, error) { return s.Channels(ctx, tenant) })
}

// Tenants implements Store.
func (m *Manager) Tenants(ctx context.Context) ([]string, error) {
	return call(m, ctx, opOther, func(s Store) ([]string, error) { return s.Tenants(ctx) })
}

type kvGet struct {
	v     []byte
	found bool
}

// KVSet implements Store.
func (m *Manager) KVSet(ctx context.Context, tenant, ns, key string, value []byte) (bool, error) {
	return call(m, ctx, opOther, func(s Store) (bool, error) { return s.KVSet(ctx, tenant, ns, key, value) })
}

// KVGet implements Store.
func (m *Manager) KVGet(ctx context.Context, tenant, ns, key string) ([]byte, bool, error) {
	r, err := call(m, ctx, opOther, func(s Store) (kvGet, error) {
		v, ok, err := s.KVGet(ctx, tenant, ns, key)
		return kvGet{v, ok}, err
	})
	return r.v, r.found, err
}

// KVDelete implements Store.
func (m *Manager) KVDelete(ctx context.Context, tenant, ns, key string) (bool, error) {
	return call(m, ctx, opOther, func(s Store) (bool, error) { return s.KVDelete(ctx, tenant, ns, key) })
}

// KVList implements Store.
func (m *Manager) KVList(ctx context.Context, tenant, ns string) ([]string, error) {
	return call(m, ctx, opOther, func(s Store) ([]string, error) { return s.KVList(ctx, tenant, ns) })
}

// KVCount implements Store.
func (m *Manager) KVCount(ctx context.Context, tenant string) (int, error) {
	return call(m, ctx, opOther, func(s Store) (int, error) { return s.KVCount(ctx, tenant) })
}
