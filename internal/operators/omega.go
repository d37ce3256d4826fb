package operators

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

const omegaDisabled = "Tier-Omega experimental lane is disabled"

type omegaSubstrate struct {
	id, name, kind, owner string
	metadata              json.RawMessage
	created               time.Time
}

func (s *omegaSubstrate) view() map[string]any {
	return map[string]any{"substrate_id": s.id, "name": s.name, "kind": s.kind, "owner_client_id": s.owner,
		"metadata": s.metadata, "created_at": protocol.FormatTime(s.created)}
}

type omegaEvent struct {
	EventID     string          `json:"event_id"`
	SubstrateID string          `json:"substrate_id"`
	Signal      string          `json:"signal"`
	Payload     json.RawMessage `json:"payload"`
	EmittedBy   string          `json:"emitted_by"`
	Timestamp   string          `json:"timestamp"`
}

// omegaTenant is one tenant's lane state (PROTOCOL.md §7.6: per tenant).
type omegaTenant struct {
	// emitMu serialises emit_event, so that the event ring and the lab
	// stream record events in the same order. It is held across Publish (a
	// storage round trip); mu, which every other command takes, never is.
	emitMu sync.Mutex

	mu         sync.Mutex
	substrates []*omegaSubstrate // registration order
	events     []*omegaEvent     // oldest first, at most max_events
}

func (t *omegaTenant) substrate(id string) (int, *omegaSubstrate) {
	for i, s := range t.substrates {
		if s.id == id {
			return i, s
		}
	}
	return -1, nil
}

type omega struct {
	o       *Operators
	mu      sync.Mutex
	tenants map[string]*omegaTenant
}

func newOmega(o *Operators) *omega { return &omega{o: o, tenants: make(map[string]*omegaTenant)} }

func (om *omega) tenant(id string) *omegaTenant {
	om.mu.Lock()
	defer om.mu.Unlock()
	t := om.tenants[id]
	if t == nil {
		t = &omegaTenant{}
		om.tenants[id] = t
	}
	return t
}

func (om *omega) feature(string) (bool, string) { return om.o.opts.OmegaEnabled, omegaDisabled }

func (o *Operators) omegaCommands() []bus.Command {
	om := o.omega
	sid := bus.ArgDoc{Name: "substrate_id", Required: true, Description: "Substrate id"}
	filters := []bus.ArgDoc{{Name: "substrate_id", Description: "Substrate filter"}, {Name: "signal", Description: "Signal filter"}}
	return []bus.Command{
		{Name: "op.omega.status", Description: "Tier-Omega lane status", Args: []bus.ArgDoc{}, Run: om.status},
		{Name: "op.omega.register_substrate", Description: "Register a Tier-Omega substrate", Feature: om.feature,
			AdminOnly: true, DenyMessage: "Only admin clients can register Tier-Omega substrates",
			Args: []bus.ArgDoc{{Name: "name", Required: true, Description: "Name"}, {Name: "kind", Required: true, Description: "Kind"},
				{Name: "metadata", Description: "Metadata object"}},
			Run: om.register},
		{Name: "op.omega.list_substrates", Description: "List Tier-Omega substrates", Feature: om.feature, Args: []bus.ArgDoc{}, Run: om.listSubstrates},
		{Name: "op.omega.unregister_substrate", Description: "Remove a Tier-Omega substrate and its events", Feature: om.feature,
			AdminOnly: true, DenyMessage: "Only admin clients can unregister Tier-Omega substrates", Args: []bus.ArgDoc{sid}, Run: om.unregister},
		{Name: "op.omega.emit_event", Description: "Emit a Tier-Omega event into the lab channel", Feature: om.feature,
			AdminOnly: true, DenyMessage: "Only admin clients can emit Tier-Omega events",
			Args: []bus.ArgDoc{sid, {Name: "signal", Required: true, Description: "Signal name"}, {Name: "payload", Description: "Event payload object"}},
			Run:  om.emit},
		{Name: "op.omega.list_events", Description: "List Tier-Omega events", Feature: om.feature,
			Args: append([]bus.ArgDoc{{Name: "limit", Description: "Newest matches to return, >= 1, default 50"}}, filters...), Run: om.listEvents},
		{Name: "op.omega.clear_events", Description: "Clear Tier-Omega events", Feature: om.feature,
			AdminOnly: true, DenyMessage: "Only admin clients can clear Tier-Omega events", Args: filters, Run: om.clearEvents},
	}
}

func (om *omega) status(_ context.Context, call *bus.Call) bus.Result {
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	subs, evs := len(t.substrates), len(t.events)
	t.mu.Unlock()
	opts := om.o.opts
	return bus.Result{Message: "Tier-Omega lane status", Data: map[string]any{"enabled": opts.OmegaEnabled,
		"lab_room": opts.OmegaLabRoom, "lab_channel": opts.OmegaLabChannel, "max_events": opts.OmegaMaxEvents,
		"max_substrates": opts.OmegaMaxSubstrates, "substrate_count": subs, "event_count": evs}}
}

func (om *omega) register(_ context.Context, call *bus.Call) bus.Result {
	name, _, d := call.Args.String("name", true)
	if d != "" {
		return bus.Invalid(d)
	}
	kind, _, d := call.Args.String("kind", true)
	if d != "" {
		return bus.Invalid(d)
	}
	meta, present, d := call.Args.Object("metadata")
	if d != "" {
		return bus.Invalid(d)
	}
	if !present {
		meta = json.RawMessage(`{}`)
	}
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.substrates) >= om.o.opts.OmegaMaxSubstrates {
		return bus.Invalid("Tier-Omega substrate limit reached")
	}
	s := &omegaSubstrate{id: "omega_" + protocol.RandomHex(6), name: name, kind: kind, owner: call.Client.ID,
		metadata: meta, created: now()}
	t.substrates = append(t.substrates, s)
	return bus.Result{Message: "Tier-Omega substrate registered", Data: map[string]any{"substrate_id": s.id, "name": s.name,
		"kind": s.kind, "created_at": protocol.FormatTime(s.created)}}
}

func (om *omega) listSubstrates(_ context.Context, call *bus.Call) bus.Result {
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	out := make([]map[string]any, 0, len(t.substrates))
	for _, s := range t.substrates {
		out = append(out, s.view())
	}
	t.mu.Unlock()
	return bus.Result{Message: "Tier-Omega substrates listed", Data: map[string]any{"substrates": out, "count": len(out)}}
}

func (om *omega) unregister(_ context.Context, call *bus.Call) bus.Result {
	id, _, d := call.Args.String("substrate_id", true)
	if d != "" {
		return bus.Invalid(d)
	}
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	i, s := t.substrate(id)
	if s == nil {
		return bus.Result{Code: protocol.CodeNotFound, Message: "Tier-Omega substrate '" + id + "' not found", Data: map[string]any{"substrate_id": id}}
	}
	t.substrates = append(t.substrates[:i], t.substrates[i+1:]...)
	kept := t.events[:0]
	removed := 0
	for _, e := range t.events {
		if e.SubstrateID == id {
			removed++
			continue
		}
		kept = append(kept, e)
	}
	clear(t.events[len(kept):])
	t.events = kept
	return bus.Result{Message: "Tier-Omega substrate removed", Data: map[string]any{"removed": true, "substrate_id": id,
		"name": s.name, "kind": s.kind, "removed_events": removed}}
}

// emit records an event and first routes it to the tenant's lab pair; the
// envelope is stored and excludes nobody. When it cannot be stored (strict
// mode), nothing is kept or delivered (PROTOCOL.md §7.6).
func (om *omega) emit(ctx context.Context, call *bus.Call) bus.Result {
	sid, _, d := call.Args.String("substrate_id", true)
	if d != "" {
		return bus.Invalid(d)
	}
	signal, _, d := call.Args.String("signal", true)
	if d != "" {
		return bus.Invalid(d)
	}
	payload, present, d := call.Args.Object("payload")
	if d != "" {
		return bus.Invalid(d)
	}
	if !present {
		payload = json.RawMessage(`{}`)
	}
	t := om.tenant(call.Client.Tenant)
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.mu.Lock()
	_, s := t.substrate(sid)
	t.mu.Unlock()
	if s == nil {
		return bus.Invalid("Unknown substrate_id: " + sid)
	}
	nowT := time.Now()
	ev := &omegaEvent{EventID: "omega_evt_" + protocol.RandomHex(6), SubstrateID: sid, Signal: signal,
		Payload: payload, EmittedBy: call.Client.ID, Timestamp: protocol.FormatTime(nowT)}
	body, err := json.Marshal(map[string]any{"omega_event": ev})
	if err != nil {
		return bus.Fail(protocol.CodeExecutionError, "Execution error: cannot encode event")
	}
	srv := om.o.server()
	if srv == nil {
		return bus.Fail(protocol.CodeExecutionError, "Execution error: bus not attached")
	}
	env := &protocol.Envelope{ID: protocol.NewID(), Timestamp: protocol.FormatTime(nowT), Type: "telemetry",
		Version: protocol.Version, Sender: "op-omega", Payload: body}
	if _, _, err := srv.Publish(ctx, call.Client.Tenant, om.o.opts.OmegaLabRoom, om.o.opts.OmegaLabChannel, env); err != nil {
		if errors.Is(err, bus.ErrChannelLimit) {
			return bus.Fail(protocol.CodeLimitExceeded, "Channel limit reached")
		}
		return storageFailure(err)
	}
	// Kept only once stored. A substrate unregistered meanwhile took its
	// events with it, this one included.
	t.mu.Lock()
	if _, s := t.substrate(sid); s != nil {
		t.events = append(t.events, ev)
		if over := len(t.events) - om.o.opts.OmegaMaxEvents; over > 0 {
			clear(t.events[:over])
			t.events = t.events[over:]
		}
	}
	t.mu.Unlock()
	return bus.Result{Message: "Tier-Omega event emitted", Data: ev}
}

// omegaFilters reads the optional substrate_id and signal filters.
func omegaFilters(args protocol.Args) (sid, signal, detail string) {
	sid, _, d := args.String("substrate_id", false)
	if d != "" {
		return "", "", d
	}
	signal, _, d = args.String("signal", false)
	return sid, signal, d
}

func (e *omegaEvent) matches(sid, signal string) bool {
	return (sid == "" || e.SubstrateID == sid) && (signal == "" || e.Signal == signal)
}

func (om *omega) listEvents(_ context.Context, call *bus.Call) bus.Result {
	limit := int64(50)
	if v, present, d := call.Args.Int("limit"); d != "" {
		return bus.Invalid(d)
	} else if present {
		if v < 1 {
			return bus.Invalid("'limit' must be >= 1")
		}
		limit = v
	}
	sid, signal, d := omegaFilters(call.Args)
	if d != "" {
		return bus.Invalid(d)
	}
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	var match []*omegaEvent
	for _, e := range t.events {
		if e.matches(sid, signal) {
			match = append(match, e)
		}
	}
	t.mu.Unlock()
	if int64(len(match)) > limit {
		match = match[int64(len(match))-limit:]
	}
	if match == nil {
		match = []*omegaEvent{}
	}
	return bus.Result{Message: "Tier-Omega events listed", Data: map[string]any{"events": match, "count": len(match),
		"limit": limit, "substrate_id": nullable(sid), "signal": nullable(signal)}}
}

func (om *omega) clearEvents(_ context.Context, call *bus.Call) bus.Result {
	sid, signal, d := omegaFilters(call.Args)
	if d != "" {
		return bus.Invalid(d)
	}
	t := om.tenant(call.Client.Tenant)
	t.mu.Lock()
	kept := t.events[:0]
	removed := 0
	for _, e := range t.events {
		if e.matches(sid, signal) {
			removed++
			continue
		}
		kept = append(kept, e)
	}
	clear(t.events[len(kept):])
	t.events = kept
	remaining := len(kept)
	t.mu.Unlock()
	return bus.Result{Message: "Tier-Omega events cleared", Data: map[string]any{"removed_count": removed,
		"remaining_count": remaining, "substrate_id": nullable(sid), "signal": nullable(signal)}}
}
