package bus

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// bootstrapped lists the hardcoded channels every tenant has (PROTOCOL.md §9.4).
var bootstrapped = []struct{ room, channel, description string }{
	{"science", "general", "General discussion"},
	{"science", "explore", "Exploration"},
	{"science", "hypothesize", "Hypotheses"},
	{"science", "design", "Experiment design"},
	{"science", "execute", "Execution"},
	{"science", "interpret", "Interpretation"},
	{"science", "share", "Sharing results"},
	{"integriguard", "telemetry-stream", "Client telemetry"},
	{"integriguard", "dashboard-events", "Bus events"},
}

const (
	bootRoomScience      = "science"
	bootRoomIntegriguard = "integriguard"
	idleChannelTTL       = 10 * time.Minute
)

// tenant is one isolated namespace of rooms and channels. Its lock guards the
// channel map only; delivery takes per-channel locks, so tenants and channels
// never serialise on one global lock.
type tenant struct {
	id string // "" is the default tenant

	createMu     sync.Mutex // serialises channel creation (registry writes)
	mu           sync.RWMutex
	channels     map[string]*channel // "room:channel"
	userChannels int                 // non-bootstrapped channels (the cap counts these)
	clients      int

	routed routedStats
}

// channel is one (tenant, room, channel) stream. mu is the publish lock: it
// spans offset assignment, the storage append and the enqueue to every
// subscriber, which gives per-stream total order and join atomicity
// (PROTOCOL.md §5.8).
type channel struct {
	t    *tenant
	room string
	name string
	key  storage.StreamKey

	hardcoded   bool
	implicit    bool
	description *string
	createdBy   string
	createdAt   time.Time

	mu         sync.Mutex
	subs       []*Client
	idx        map[*Client]int
	deleted    bool
	lastActive time.Time
	lastStored time.Time // acceptance time of the last stored entry
}

func (ch *channel) fullName() string { return ch.room + ":" + ch.name }

// addSub registers c; it reports false if c was already subscribed. Caller
// holds ch.mu.
func (ch *channel) addSub(c *Client) bool {
	if _, ok := ch.idx[c]; ok {
		return false
	}
	if ch.idx == nil {
		ch.idx = make(map[*Client]int)
	}
	ch.idx[c] = len(ch.subs)
	ch.subs = append(ch.subs, c)
	return true
}

// removeSub unregisters c with a swap-remove. Caller holds ch.mu.
func (ch *channel) removeSub(c *Client) bool {
	i, ok := ch.idx[c]
	if !ok {
		return false
	}
	last := len(ch.subs) - 1
	ch.subs[i] = ch.subs[last]
	ch.idx[ch.subs[i]] = i
	ch.subs[last] = nil
	ch.subs = ch.subs[:last]
	delete(ch.idx, c)
	if len(ch.subs) == 0 && cap(ch.subs) > 64 {
		ch.subs = nil
	}
	return true
}

func (ch *channel) memberCount() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.subs)
}

// hub is the registry of tenants.
type hub struct {
	srv     *Server
	mu      sync.RWMutex
	tenants map[string]*tenant
}

func newHub(s *Server) *hub {
	return &hub{srv: s, tenants: make(map[string]*tenant)}
}

// tenant returns the tenant, creating it with its bootstrapped channels on
// first use.
func (h *hub) tenant(id string) *tenant {
	h.mu.RLock()
	t := h.tenants[id]
	h.mu.RUnlock()
	if t != nil {
		return t
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t = h.tenants[id]; t != nil {
		return t
	}
	t = &tenant{id: id, channels: make(map[string]*channel)}
	now := time.Now().UTC()
	for _, b := range bootstrapped {
		d := b.description
		ch := &channel{t: t, room: b.room, name: b.channel, hardcoded: true, description: &d,
			createdBy: "system", createdAt: now, lastActive: now,
			key: storage.StreamKey{Tenant: id, Room: b.room, Channel: b.channel}}
		t.channels[ch.fullName()] = ch
	}
	h.tenants[id] = t
	return t
}

func (h *hub) snapshotTenants() []*tenant {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*tenant, 0, len(h.tenants))
	for _, t := range h.tenants {
		out = append(out, t)
	}
	return out
}

// lookup returns an existing channel or nil.
func (t *tenant) lookup(room, name string) *channel {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.channels[room+":"+name]
}

// errChannelCap is returned when the tenant's channel cap is reached.
var errChannelCap = errors.New("channel limit reached")

// channelFor returns the channel, creating it implicitly (or explicitly when
// explicit is true) if needed. created reports a new channel.
func (h *hub) channelFor(ctx context.Context, t *tenant, room, name, creator string, explicit bool, description *string) (ch *channel, created bool, err error) {
	if ch = t.lookup(room, name); ch != nil {
		return ch, false, nil
	}
	// Creations of one tenant are serialised on createMu, so the registry
	// write (a Redis round trip) happens without holding t.mu: lookups and
	// routing in the tenant never wait for storage.
	t.createMu.Lock()
	defer t.createMu.Unlock()
	if ch = t.lookup(room, name); ch != nil {
		return ch, false, nil
	}
	t.mu.RLock()
	full := t.userChannels >= h.srv.opts.MaxChannels
	t.mu.RUnlock()
	if full {
		return nil, false, errChannelCap
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ch = &channel{t: t, room: room, name: name, implicit: !explicit, description: description,
		createdBy: creator, createdAt: now, lastActive: now,
		key: storage.StreamKey{Tenant: t.id, Room: room, Channel: name}}
	meta := storage.ChannelMeta{Room: room, Channel: name, CreatedBy: creator, CreatedAt: now,
		Implicit: !explicit, Description: description}
	if err := h.srv.store.PutChannel(ctx, t.id, meta); err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	t.channels[ch.fullName()] = ch
	t.userChannels++
	t.mu.Unlock()
	h.srv.emitEvent(t, "channel_created", map[string]any{
		"room": room, "channel": name, "created_by": creator, "implicit": !explicit,
	})
	return ch, true, nil
}

// removeChannel drops ch from its tenant. Caller holds ch.mu and has marked it
// deleted.
func (h *hub) removeChannel(ch *channel) {
	t := ch.t
	t.mu.Lock()
	if t.channels[ch.fullName()] == ch {
		delete(t.channels, ch.fullName())
		if !ch.hardcoded {
			t.userChannels--
		}
	}
	t.mu.Unlock()
}

// channelsSorted returns the tenant's channels sorted by room, then name.
func (t *tenant) channelsSorted() []*channel {
	t.mu.RLock()
	out := make([]*channel, 0, len(t.channels))
	for _, ch := range t.channels {
		out = append(out, ch)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].room != out[j].room {
			return out[i].room < out[j].room
		}
		return out[i].name < out[j].name
	})
	return out
}

// publication is an envelope routed to a stream.
type publication struct {
	offset    uint64
	epoch     string
	frame     []byte // encoded delivery frame, shared by every recipient
	delivered int
}

// publish stores env in ch's stream and enqueues the delivery frame to every
// subscriber except exclude, all under the channel's publish lock. If the
// storage write fails nothing is delivered. env.Metadata is updated with the
// stream position.
func (h *hub) publish(ctx context.Context, ch *channel, env *protocol.Envelope, exclude *Client, acceptedAt time.Time) (publication, error) {
	var p publication
	for {
		ch.mu.Lock()
		if !ch.deleted {
			break
		}
		// The channel was deleted between lookup and lock: route to its
		// implicit re-creation instead.
		ch.mu.Unlock()
		nch, _, err := h.channelFor(ctx, ch.t, ch.room, ch.name, env.Sender, false, nil)
		if err != nil {
			return p, err
		}
		ch = nch
	}
	defer ch.mu.Unlock()
	// Acceptance times are taken before the publish lock, so two publishers
	// can reach it out of order; storage time filters rely on a stream's
	// times never going down, so clamp to the previous entry's.
	if acceptedAt.Before(ch.lastStored) {
		acceptedAt = ch.lastStored
	}
	ch.lastStored = acceptedAt
	stored := env.AppendJSON(make([]byte, 0, 256+len(env.Payload)+len(env.Metadata)))
	off, epoch, err := h.srv.store.Append(ctx, ch.key, stored, acceptedAt)
	if err != nil {
		return p, err
	}
	ch.lastActive = acceptedAt
	env.Metadata = protocol.SetStreamPosition(env.Metadata, off, epoch)
	frame := env.AppendJSON(make([]byte, 0, len(stored)+64))
	n := 0
	for _, c := range ch.subs {
		if c == exclude {
			continue
		}
		if c.enqueue(frame) {
			n++
		}
	}
	if n > 0 {
		h.srv.metrics.MessagesDelivered.Add(float64(n))
	}
	return publication{offset: off, epoch: epoch, frame: frame, delivered: n}, nil
}

// sweepIdle removes implicit channels that have had no subscribers, no
// retained history and no traffic for idleChannelTTL (PROTOCOL.md §9.5).
func (h *hub) sweepIdle(ctx context.Context, now time.Time) {
	for _, t := range h.snapshotTenants() {
		for _, ch := range t.channelsSorted() {
			if !ch.implicit || ch.hardcoded {
				continue
			}
			ch.mu.Lock()
			if ch.deleted || len(ch.subs) > 0 || now.Sub(ch.lastActive) < idleChannelTTL {
				ch.mu.Unlock()
				continue
			}
			st, err := h.srv.store.State(ctx, ch.key)
			if err != nil || st.Count > 0 {
				ch.mu.Unlock()
				continue
			}
			ch.deleted = true
			_, _ = h.srv.store.DeleteStream(ctx, ch.key)
			_ = h.srv.store.DeleteChannel(ctx, t.id, ch.room, ch.name)
			h.removeChannel(ch)
			ch.mu.Unlock()
		}
	}
}

// loadRegistry restores the persisted channel registry (Redis backend).
func (h *hub) loadRegistry(ctx context.Context) error {
	tenants, err := h.srv.store.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, id := range tenants {
		metas, err := h.srv.store.Channels(ctx, id)
		if err != nil {
			return err
		}
		t := h.tenant(id)
		t.mu.Lock()
		for _, m := range metas {
			k := m.Room + ":" + m.Channel
			if _, ok := t.channels[k]; ok {
				continue
			}
			ch := &channel{t: t, room: m.Room, name: m.Channel, implicit: m.Implicit, description: m.Description,
				createdBy: m.CreatedBy, createdAt: m.CreatedAt, lastActive: time.Now(),
				key: storage.StreamKey{Tenant: id, Room: m.Room, Channel: m.Channel}}
			t.channels[k] = ch
			t.userChannels++
		}
		t.mu.Unlock()
	}
	return nil
}
