package storage

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultHistorySize is ARQONBUS_HISTORY_SIZE's default (OPERATIONS.md §4.4).
const DefaultHistorySize = 500

// MemoryOptions configures the in-memory backend.
type MemoryOptions struct {
	HistorySize int           // entries kept per stream; <= 0 means DefaultHistorySize
	HistoryTTL  time.Duration // age limit and idle expiry; 0 = none
	// SweepInterval is the period of the TTL sweep; 0 means one minute
	// (OPERATIONS.md §5.5). The sweep only runs when HistoryTTL > 0.
	SweepInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Memory is the bounded in-memory backend: a ring buffer per stream, exact
// trimming, and the registry and op.store data in maps. Nothing survives a
// restart, and every stream starts with a fresh epoch.
type Memory struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu      sync.RWMutex // guards the streams map; each stream has its own lock
	streams map[StreamKey]*memStream

	regMu    sync.Mutex
	registry map[string]map[string]ChannelMeta // tenant -> "room:channel" -> meta

	kvMu sync.Mutex
	kv   map[string]map[string]map[string][]byte // tenant -> ns -> key -> value

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type memStream struct {
	mu      sync.Mutex
	dead    bool // removed from the map; callers holding it must look again
	epoch   string
	top     uint64
	ring    []Entry // grows by doubling up to size, then wraps
	size    int     // HistorySize: the most entries retained
	head    int     // index of the oldest entry
	n       int
	expires time.Time // zero = never
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory backend. With a TTL it starts the
// periodic sweep; Close stops it.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		size:     opts.HistorySize,
		ttl:      opts.HistoryTTL,
		now:      opts.Now,
		streams:  make(map[StreamKey]*memStream),
		registry: make(map[string]map[string]ChannelMeta),
		kv:       make(map[string]map[string]map[string][]byte),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.size <= 0 {
		m.size = DefaultHistorySize
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.ttl > 0 {
		every := opts.SweepInterval
		if every <= 0 {
			every = time.Minute
		}
		go m.sweepLoop(every)
	} else {
		close(m.done)
	}
	return m
}

// Close stops the sweep. The data stays readable.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

// Health reports the memory backend, always healthy.
func (m *Memory) Health() Health {
	return Health{Backend: "memory", Mode: "degraded", Healthy: true}
}

func (m *Memory) sweepLoop(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Sweep applies the age rules now: it drops idle streams whose sliding
// expiry has passed and entries older than the TTL. It runs once a minute by
// itself; reads apply the same rules, so sweeping only frees memory.
func (m *Memory) Sweep() {
	now := m.now()
	cutoff := ttlCutoffMs(now, m.ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.streams {
		s.mu.Lock()
		if s.expired(now) {
			s.dead = true
			delete(m.streams, k)
		} else if cutoff > 0 {
			low := s.lowest(cutoff)
			for s.n > 0 && s.ring[s.head].Offset < low {
				s.ring[s.head] = Entry{}
				s.head = (s.head + 1) % len(s.ring)
				s.n--
			}
		}
		s.mu.Unlock()
	}
}

// Streams returns the number of live streams.
func (m *Memory) Streams() int {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, s := range m.streams {
		s.mu.Lock()
		if !s.expired(now) {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

func (s *memStream) expired(now time.Time) bool {
	return !s.expires.IsZero() && !now.Before(s.expires)
}

func (s *memStream) at(i int) *Entry { return &s.ring[(s.head+i)%len(s.ring)] }

// grow doubles the ring (at least 8 slots, at most size), keeping order.
func (s *memStream) grow() {
	n := 2 * len(s.ring)
	if n < 8 {
		n = 8
	}
	if n > s.size {
		n = s.size
	}
	ring := make([]Entry, n)
	for i := 0; i < s.n; i++ {
		ring[i] = *s.at(i)
	}
	s.ring, s.head = ring, 0
}

// lowest is L: the lowest offset of the newest run of entries that are all
// fresh under the cutoff (Unix ms, 0 = no age limit); top+1 if none. The ring
// holds the contiguous offsets [top-n+1, top]; the fresh boundary is found by
// bisection (firstAtLeast), exactly as the Redis scripts do.
func (s *memStream) lowest(cutoff int64) uint64 {
	if s.n == 0 {
		return s.top + 1
	}
	first := s.first()
	if cutoff <= 0 || s.at(0).StoredAt.UnixMilli() >= cutoff {
		return first
	}
	return firstAtLeast(s.tsAt, first+1, s.top, cutoff)
}

// first is the oldest offset in the ring (meaningful when n > 0).
func (s *memStream) first() uint64 { return s.top + 1 - uint64(s.n) }

// entryAt returns the ring entry holding offset o, or nil.
func (s *memStream) entryAt(o uint64) *Entry {
	if s.n == 0 || o < s.first() || o > s.top {
		return nil
	}
	return s.at(int(o - s.first()))
}

func (s *memStream) tsAt(o uint64) (int64, bool) {
	e := s.entryAt(o)
	if e == nil {
		return 0, false
	}
	return e.StoredAt.UnixMilli(), true
}

// history returns the candidates of q in this stream: the retained entries
// in historyRange, at most n of them from the paging end (the newest, or the
// oldest with AfterOffset), oldest first.
func (s *memStream) history(q Query, cutoff int64, n int) []Entry {
	from, to := historyRange(s.tsAt, s.lowest(cutoff), s.top, q)
	if from > to || n <= 0 {
		return nil
	}
	if k := uint64(n); to-from+1 > k {
		if q.HasAfter {
			to = from + k - 1
		} else {
			from = to - k + 1
		}
	}
	out := make([]Entry, 0, to-from+1)
	for o := from; o <= to; o++ {
		out = append(out, *s.entryAt(o))
	}
	return out
}

// window returns the state and the retained entries with offset > after, at
// most max of them (the oldest).
func (s *memStream) window(after uint64, max int, cutoff int64) (StreamState, []Entry) {
	low := s.lowest(cutoff)
	st := StreamState{Epoch: s.epoch, Top: s.top, Lowest: low, Count: int(s.top + 1 - low)}
	if max <= 0 || s.n == 0 || after >= s.top {
		return st, nil
	}
	from := max64(after+1, low)
	if from > s.top {
		return st, nil
	}
	first := s.n - int(s.top+1-from) // ring index of offset `from`
	k := min(s.n-first, max)
	out := make([]Entry, k)
	for i := range k {
		out[i] = *s.at(first + i)
	}
	return st, out
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// lookup returns the stream locked, creating it when create is set; nil when
// it does not exist and create is false.
func (m *Memory) lookup(key StreamKey, create bool, now time.Time) *memStream {
	for {
		m.mu.RLock()
		s := m.streams[key]
		m.mu.RUnlock()
		if s == nil {
			if !create {
				return nil
			}
			m.mu.Lock()
			if s = m.streams[key]; s == nil {
				// The ring grows with use: a channel that is joined but
				// quiet holds no history storage.
				s = &memStream{epoch: NewEpoch(), size: m.size}
				if m.ttl > 0 {
					s.expires = now.Add(m.ttl)
				}
				m.streams[key] = s
			}
			m.mu.Unlock()
		}
		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			continue
		}
		if s.expired(now) {
			// An idle stream disappears as a whole (OPERATIONS.md §5.5).
			s.dead = true
			s.mu.Unlock()
			m.mu.Lock()
			if m.streams[key] == s {
				delete(m.streams, key)
			}
			m.mu.Unlock()
			continue
		}
		return s
	}
}

// EnsureStream creates the stream with a fresh epoch if it is missing.
func (m *Memory) EnsureStream(_ context.Context, key StreamKey) (StreamState, error) {
	now := m.now()
	s := m.lookup(key, true, now)
	defer s.mu.Unlock()
	st, _ := s.window(0, 0, ttlCutoffMs(now, m.ttl))
	return st, nil
}

// Append stores a copy of env as the next offset of the stream.
func (m *Memory) Append(_ context.Context, key StreamKey, env []byte, storedAt time.Time) (uint64, string, error) {
	now := m.now()
	s := m.lookup(key, true, now)
	defer s.mu.Unlock()
	s.top++
	e := Entry{Key: key, Offset: s.top, Epoch: s.epoch, StoredAt: msTime(storedAt), Envelope: slices.Clone(env)}
	if s.n == len(s.ring) && len(s.ring) < s.size {
		s.grow()
	}
	if s.n < len(s.ring) {
		*s.at(s.n) = e
		s.n++
	} else {
		s.ring[s.head] = e
		s.head = (s.head + 1) % len(s.ring)
	}
	if m.ttl > 0 {
		s.expires = now.Add(m.ttl)
	}
	return s.top, s.epoch, nil
}

// ReadAfter returns the state and the retained entries in (after, Top].
func (m *Memory) ReadAfter(_ context.Context, key StreamKey, after uint64, max int) (StreamState, []Entry, error) {
	now := m.now()
	s := m.lookup(key, false, now)
	if s == nil {
		return missingState(), nil, nil
	}
	defer s.mu.Unlock()
	st, es := s.window(after, max, ttlCutoffMs(now, m.ttl))
	return st, es, nil
}

// missingState is the state of a stream that does not exist.
func missingState() StreamState { return StreamState{Lowest: 1} }

// State returns the stream state without entries.
func (m *Memory) State(ctx context.Context, key StreamKey) (StreamState, error) {
	st, _, err := m.ReadAfter(ctx, key, 0, 0)
	return st, err
}

// History runs a history query over the tenant's live streams, reading from
// each only the candidates of historyRange, at most perStreamBound of them.
func (m *Memory) History(_ context.Context, q Query) (QueryResult, error) {
	now := m.now()
	cutoff := ttlCutoffMs(now, m.ttl)
	var keys []StreamKey
	if q.Room != "" && q.Channel != "" {
		keys = []StreamKey{{Tenant: q.Tenant, Room: q.Room, Channel: q.Channel}}
	} else {
		m.mu.RLock()
		for k := range m.streams {
			if k.Tenant == q.Tenant && queryMatchesStream(q, k.Room, k.Channel) {
				keys = append(keys, k)
			}
		}
		m.mu.RUnlock()
	}
	n := perStreamBound(q, m.size)
	windows := make([][]Entry, 0, len(keys))
	for _, k := range keys {
		s := m.lookup(k, false, now)
		if s == nil {
			continue
		}
		es := s.history(q, cutoff, n)
		s.mu.Unlock()
		windows = append(windows, es)
	}
	return selectHistory(windows, q), nil
}

// DeleteStream drops the stream with its epoch and offset.
func (m *Memory) DeleteStream(_ context.Context, key StreamKey) (int, error) {
	m.mu.Lock()
	s := m.streams[key]
	delete(m.streams, key)
	m.mu.Unlock()
	if s == nil {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	if s.expired(m.now()) {
		return 0, nil
	}
	return s.n, nil
}

// PutChannel adds or replaces a registry record.
func (m *Memory) PutChannel(_ context.Context, tenant string, meta ChannelMeta) error {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	t := m.registry[tenant]
	if t == nil {
		t = make(map[string]ChannelMeta)
		m.registry[tenant] = t
	}
	meta.CreatedAt = msTime(meta.CreatedAt)
	if meta.Description != nil {
		d := *meta.Description
		meta.Description = &d
	}
	t[registryField(meta.Room, meta.Channel)] = meta
	return nil
}

// DeleteChannel removes a registry record.
func (m *Memory) DeleteChannel(_ context.Context, tenant, room, channel string) error {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if t := m.registry[tenant]; t != nil {
		delete(t, registryField(room, channel))
		if len(t) == 0 {
			delete(m.registry, tenant)
		}
	}
	return nil
}

// Channels lists the tenant's registry, ordered by room then channel.
func (m *Memory) Channels(_ context.Context, tenant string) ([]ChannelMeta, error) {
	m.regMu.Lock()
	out := make([]ChannelMeta, 0, len(m.registry[tenant]))
	for _, meta := range m.registry[tenant] {
		out = append(out, meta)
	}
	m.regMu.Unlock()
	sortChannels(out)
	return out, nil
}

func sortChannels(cs []ChannelMeta) {
	slices.SortFunc(cs, func(a, b ChannelMeta) int {
		if c := cmp.Compare(a.Room, b.Room); c != 0 {
			return c
		}
		return cmp.Compare(a.Channel, b.Channel)
	})
}

// Tenants lists the tenants that have registry records, sorted; the default
// tenant is "".
func (m *Memory) Tenants(_ context.Context) ([]string, error) {
	m.regMu.Lock()
	out := make([]string, 0, len(m.registry))
	for t := range m.registry {
		out = append(out, t)
	}
	m.regMu.Unlock()
	slices.Sort(out)
	return out, nil
}

// KVSet writes a value; updated reports whether the key existed.
func (m *Memory) KVSet(_ context.Context, tenant, ns, key string, value []byte) (bool, error) {
	m.kvMu.Lock()
	defer m.kvMu.Unlock()
	t := m.kv[tenant]
	if t == nil {
		t = make(map[string]map[string][]byte)
		m.kv[tenant] = t
	}
	n := t[ns]
	if n == nil {
		n = make(map[string][]byte)
		t[ns] = n
	}
	_, existed := n[key]
	n[key] = slices.Clone(value)
	return existed, nil
}

// KVGet reads a value.
func (m *Memory) KVGet(_ context.Context, tenant, ns, key string) ([]byte, bool, error) {
	m.kvMu.Lock()
	defer m.kvMu.Unlock()
	v, ok := m.kv[tenant][ns][key]
	return slices.Clone(v), ok, nil
}

// KVDelete removes a key.
func (m *Memory) KVDelete(_ context.Context, tenant, ns, key string) (bool, error) {
	m.kvMu.Lock()
	defer m.kvMu.Unlock()
	n := m.kv[tenant][ns]
	if _, ok := n[key]; !ok {
		return false, nil
	}
	delete(n, key)
	if len(n) == 0 {
		delete(m.kv[tenant], ns)
	}
	return true, nil
}

// KVList lists a namespace's keys in ascending byte order.
func (m *Memory) KVList(_ context.Context, tenant, ns string) ([]string, error) {
	m.kvMu.Lock()
	n := m.kv[tenant][ns]
	out := make([]string, 0, len(n))
	for k := range n {
		out = append(out, k)
	}
	m.kvMu.Unlock()
	slices.Sort(out)
	return out, nil
}

// KVCount counts the tenant's keys over all its namespaces.
func (m *Memory) KVCount(_ context.Context, tenant string) (int, error) {
	m.kvMu.Lock()
	defer m.kvMu.Unlock()
	total := 0
	for _, n := range m.kv[tenant] {
		total += len(n)
	}
	return total, nil
}
