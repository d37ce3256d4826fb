package operators

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/storage"
)

// outageStore behaves like strict mode during an outage: while down, store
// writes and appends to the omega lab stream fail with ErrUnavailable.
type outageStore struct {
	*storage.Manager
	down atomic.Bool
}

func (s *outageStore) KVSet(ctx context.Context, tenant, ns, key string, v []byte) (bool, error) {
	if s.down.Load() {
		return false, fmt.Errorf("append: %w", storage.ErrUnavailable)
	}
	return s.Manager.KVSet(ctx, tenant, ns, key, v)
}

func (s *outageStore) Append(ctx context.Context, key storage.StreamKey, env []byte, at time.Time) (uint64, string, error) {
	if s.down.Load() && key.Room == "omega-lab" {
		return 0, "", storage.ErrUnavailable
	}
	return s.Manager.Append(ctx, key, env, at)
}

// TestRegressionStorageOutageGivesStorageUnavailable pins an upstream defect
// (OPERATIONS.md §12): Redis failures fell back silently, so an operation
// could be acknowledged without being stored. A storage outage answers
// STORAGE_UNAVAILABLE and nothing is kept or delivered.
func TestRegressionStorageOutageGivesStorageUnavailable(t *testing.T) {
	var outage *outageStore
	e := newEnv(t, envConfig{devAdmin: true, ops: func(o *Options) { o.OmegaEnabled = true },
		wrap: func(m *storage.Manager) storage.Store { outage = &outageStore{Manager: m}; return outage }})
	a := e.dial(t, "", "")
	lab := e.dial(t, "?room=omega-lab&channel=signals", "")
	sid := a.ok("op.omega.register_substrate", map[string]any{"name": "n", "kind": "k"})["substrate_id"].(string)

	outage.down.Store(true)
	const msg = "Storage unavailable: storage backend is unhealthy"
	a.fail("op.store.set", map[string]any{"key": "k", "value": 1}, "STORAGE_UNAVAILABLE", msg)
	a.fail("op.omega.emit_event", map[string]any{"substrate_id": sid, "signal": "s"}, "STORAGE_UNAVAILABLE", msg)
	// Neither the event nor its envelope was kept or delivered.
	jsonEq(t, a.ok("op.omega.list_events", nil)["count"], `0`)
	lab.expectSilence(300 * time.Millisecond)
}
