// Package storage keeps message history, the channel registry and the op.store
// key/value data. Store is the interface; memory.go and redis.go implement it,
// and manager.go adds the strict/degraded semantics of OPERATIONS.md §5.6.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is returned in strict mode when the durable backend cannot
// serve a request (unhealthy, timed out, or failed). Callers map it to the
// STORAGE_UNAVAILABLE error code.
var ErrUnavailable = errors.New("storage unavailable")

// StreamKey names one stream: (tenant, room, channel). Tenant "" is the
// default tenant (written as "_" in Redis keys).
type StreamKey struct {
	Tenant  string
	Room    string
	Channel string
}

// Entry is one stored envelope.
type Entry struct {
	Key      StreamKey
	Offset   uint64
	Epoch    string
	StoredAt time.Time // acceptance time, millisecond precision
	// Envelope is the JSON envelope as delivered, WITHOUT metadata.offset and
	// metadata.epoch (callers inject those from Offset/Epoch).
	Envelope []byte
}

// StreamState describes a stream at one instant.
type StreamState struct {
	Epoch  string
	Top    uint64 // top offset T; 0 for a never-written stream
	Lowest uint64 // lowest retained offset L; Top+1 when nothing is retained
	Count  int    // retained entries
}

// Query selects history entries (PROTOCOL.md §6.12, §7.5).
type Query struct {
	Tenant  string
	Room    string    // "" = every room of the tenant (admin only; the caller checks)
	Channel string    // "" = every channel of the room
	Since   time.Time // zero = unbounded; inclusive
	Until   time.Time // zero = unbounded; exclusive
	// AfterOffset, when HasAfter, keeps entries with offset > AfterOffset and
	// selects the OLDEST Limit matches (forward paging); otherwise the NEWEST.
	AfterOffset uint64
	HasAfter    bool
	Limit       int
	// Known lists "room:channel" pairs the caller knows in the tenant (the
	// bus's registry, bootstrapped channels included). Room-wide and
	// tenant-wide queries read these streams as well as those the backend
	// finds itself, so a channel never written to the persisted registry is
	// not missed.
	Known []string
}

// QueryResult is ordered oldest to newest; merged streams are ordered by
// StoredAt, then room, channel, offset.
type QueryResult struct {
	Entries []Entry
	HasMore bool
}

// ChannelMeta is the persisted channel registry record (OPERATIONS.md §5.4).
type ChannelMeta struct {
	Room        string
	Channel     string
	CreatedBy   string
	CreatedAt   time.Time
	Hardcoded   bool
	Implicit    bool
	Description *string
}

// Health is a snapshot for /ready, /status and /storage/stats.
type Health struct {
	Backend  string // "memory" | "redis" | "valkey"
	Mode     string // "degraded" | "strict"
	Healthy  bool
	Degraded bool   // running on the memory fallback (degraded mode only)
	URL      string // redacted URL, "" for memory
}

// Store is what the bus needs from storage. All methods are safe for
// concurrent use. Append and the fan-out of one stream are serialised by the
// caller (the bus holds the channel's publish lock across both).
type Store interface {
	// EnsureStream creates the epoch/offset of a stream if missing (channel
	// creation or join) and returns its state.
	EnsureStream(ctx context.Context, key StreamKey) (StreamState, error)
	// Append stores env (without offset/epoch) and returns the new offset and
	// the epoch it belongs to.
	Append(ctx context.Context, key StreamKey, env []byte, storedAt time.Time) (offset uint64, epoch string, err error)
	// ReadAfter returns, in one consistent read, the stream state and the
	// entries with offset in (after, Top], at most max of them (the oldest).
	ReadAfter(ctx context.Context, key StreamKey, after uint64, max int) (StreamState, []Entry, error)
	// State returns the current state of a stream without entries.
	State(ctx context.Context, key StreamKey) (StreamState, error)
	// History runs a history query.
	History(ctx context.Context, q Query) (QueryResult, error)
	// DeleteStream drops a stream with its epoch and offset; returns the number
	// of entries dropped.
	DeleteStream(ctx context.Context, key StreamKey) (int, error)

	// Channel registry.
	PutChannel(ctx context.Context, tenant string, meta ChannelMeta) error
	DeleteChannel(ctx context.Context, tenant, room, channel string) error
	Channels(ctx context.Context, tenant string) ([]ChannelMeta, error)
	Tenants(ctx context.Context) ([]string, error)

	// op.store (tenant, namespace, key) -> JSON value.
	KVSet(ctx context.Context, tenant, ns, key string, value []byte) (updated bool, err error)
	KVGet(ctx context.Context, tenant, ns, key string) (value []byte, found bool, err error)
	KVDelete(ctx context.Context, tenant, ns, key string) (deleted bool, err error)
	KVList(ctx context.Context, tenant, ns string) ([]string, error)
	KVCount(ctx context.Context, tenant string) (int, error)

	Health() Health
	Close() error
}
