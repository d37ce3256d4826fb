package bus

import (
	"sort"
	"sync"
	"time"
)

// routedStats accumulates a tenant's routing for the message_routed event
// (OPERATIONS.md §7.4): client messages and telemetry, cron firings and omega
// events; never bus events.
type routedStats struct {
	mu         sync.Mutex
	messages   int
	deliveries int
	channels   map[string]int
}

func (r *routedStats) add(channel string, deliveries int) {
	r.mu.Lock()
	r.messages++
	r.deliveries += deliveries
	if r.channels == nil {
		r.channels = make(map[string]int)
	}
	r.channels[channel]++
	r.mu.Unlock()
}

// take returns and resets the window; ok is false for an idle window.
func (r *routedStats) take() (data map[string]any, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.messages == 0 {
		return nil, false
	}
	type kv struct {
		k string
		v int
	}
	list := make([]kv, 0, len(r.channels))
	for k, v := range r.channels {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].v != list[j].v {
			return list[i].v > list[j].v
		}
		return list[i].k < list[j].k
	})
	if len(list) > 20 {
		list = list[:20]
	}
	top := make(map[string]int, len(list))
	for _, e := range list {
		top[e.k] = e.v
	}
	data = map[string]any{"interval_seconds": 10, "messages": r.messages, "deliveries": r.deliveries, "channels": top}
	r.messages, r.deliveries, r.channels = 0, 0, nil
	return data, true
}

// activity summarises a non-human client's traffic for agent_activity
// events, emitted at most once per second per client.
type activity struct {
	mu          sync.Mutex
	pending     bool
	messages    int
	private     int
	commands    int
	lastRoom    string
	lastChannel string
	lastCommand string
}

func (c *Client) noteActivity(kind, room, channel, command string) {
	if c.clientType == "human" {
		return
	}
	a := &c.activity
	a.mu.Lock()
	a.pending = true
	switch kind {
	case "message":
		a.messages++
		a.lastRoom, a.lastChannel = room, channel
	case "private":
		a.private++
	case "command":
		a.commands++
		a.lastCommand = command
	}
	a.mu.Unlock()
}

func (c *Client) takeActivity() (map[string]any, bool) {
	a := &c.activity
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.pending {
		return nil, false
	}
	data := map[string]any{"client_id": c.id, "client_type": c.clientType, "screen_name": c.screenNameValue(),
		"messages": a.messages, "private": a.private, "commands": a.commands,
		"last_room": nullable(a.lastRoom), "last_channel": nullable(a.lastChannel), "last_command": nullable(a.lastCommand)}
	a.pending, a.messages, a.private, a.commands = false, 0, 0, 0
	return data, true
}

const maxActivityPerTick = 500

// emitSummaries publishes pending agent_activity events, and message_routed
// every ten seconds.
func (s *Server) emitSummaries(now time.Time, routedDue bool) {
	// Each event is a storage append: cap the tick's work so that many busy
	// agents cannot stall housekeeping. Clients left over keep their
	// pending summary for the next tick (still at most one per second each).
	emitted := 0
	for _, c := range s.snapshotClients() {
		if emitted >= maxActivityPerTick {
			break
		}
		if data, ok := c.takeActivity(); ok && !c.closing.Load() {
			s.emitEvent(c.tenant, "agent_activity", data)
			emitted++
		}
	}
	if !routedDue {
		return
	}
	for _, t := range s.hub.snapshotTenants() {
		if data, ok := t.routed.take(); ok {
			s.emitEvent(t, "message_routed", data)
		}
	}
}
