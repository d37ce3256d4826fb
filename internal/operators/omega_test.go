package operators

import (
	"regexp"
	"testing"
	"time"
)

func TestOmegaDisabled(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := e.dial(t, "", "") // not an admin: the flag is checked before authorization
	for _, cmd := range []string{"op.omega.register_substrate", "op.omega.list_substrates", "op.omega.unregister_substrate",
		"op.omega.emit_event", "op.omega.list_events", "op.omega.clear_events"} {
		a.fail(cmd, map[string]any{"substrate_id": "omega_000000000000", "signal": "x", "name": "n", "kind": "k"},
			"FEATURE_DISABLED", "Tier-Omega experimental lane is disabled")
	}
	jsonEq(t, a.ok("op.omega.status", nil), `{"enabled":false,"lab_room":"omega-lab","lab_channel":"signals","max_events":1000,"max_substrates":128,"substrate_count":0,"event_count":0}`)
	a.fail("op.omega.vm.run", nil, "UNKNOWN_COMMAND", "Unknown command: op.omega.vm.run")
}

func TestOmegaLane(t *testing.T) {
	e := newEnv(t, envConfig{auth: true, ops: func(o *Options) {
		o.OmegaEnabled, o.OmegaMaxEvents, o.OmegaMaxSubstrates = true, 2, 1
	}})
	admin := e.dial(t, "?room=omega-lab&channel=signals", token(t, map[string]any{"sub": "adm", "tenant_id": "tenant-a", "role": "admin"}))
	user := e.dial(t, "?room=omega-lab&channel=signals", token(t, map[string]any{"sub": "u", "tenant_id": "tenant-a"}))
	otherTenant := e.dial(t, "?room=omega-lab&channel=signals", token(t, map[string]any{"sub": "b", "tenant_id": "tenant-b", "role": "admin"}))

	user.fail("op.omega.register_substrate", map[string]any{"name": "n", "kind": "k"}, "AUTHORIZATION_ERROR", "Only admin clients can register Tier-Omega substrates")
	user.fail("op.omega.emit_event", nil, "AUTHORIZATION_ERROR", "Only admin clients can emit Tier-Omega events")
	admin.fail("op.omega.register_substrate", map[string]any{"kind": "k"}, "VALIDATION_ERROR", "Validation error: 'name' is required")
	admin.fail("op.omega.register_substrate", map[string]any{"name": "n", "kind": "k", "metadata": 1}, "VALIDATION_ERROR", "Validation error: 'metadata' must be an object")

	sub := admin.ok("op.omega.register_substrate", map[string]any{"name": "probe", "kind": "sensor", "metadata": map[string]any{"v": 1}})
	sid := sub["substrate_id"].(string)
	if !regexp.MustCompile(`^omega_[0-9a-f]{12}$`).MatchString(sid) || sub["name"] != "probe" || sub["kind"] != "sensor" {
		t.Fatalf("register data %v", sub)
	}
	admin.fail("op.omega.register_substrate", map[string]any{"name": "n2", "kind": "k"}, "VALIDATION_ERROR", "Validation error: Tier-Omega substrate limit reached")
	admin.fail("op.omega.emit_event", map[string]any{"substrate_id": "omega_nope", "signal": "pulse"}, "VALIDATION_ERROR", "Validation error: Unknown substrate_id: omega_nope")

	// The lab-pair envelope is enqueued before the emitter's reply.
	admin.send(map[string]any{"id": "arq_om1", "type": "command", "command": "op.omega.emit_event",
		"args": map[string]any{"substrate_id": sid, "signal": "pulse", "payload": map[string]any{"x": 1}}})
	tel := admin.read()
	if tel["type"] != "telemetry" || tel["sender"] != "op-omega" || tel["room"] != "omega-lab" || tel["channel"] != "signals" {
		t.Fatalf("first frame after emit_event: %v", tel)
	}
	resp := admin.read()
	if resp["type"] != "response" || resp["status"] != "success" {
		t.Fatalf("emit_event response %v", resp)
	}
	admin.readType("command_response")
	ev := data(resp)
	jsonEq(t, tel["payload"], mustJSONString(t, map[string]any{"omega_event": ev}))
	if !regexp.MustCompile(`^omega_evt_[0-9a-f]{12}$`).MatchString(ev["event_id"].(string)) || ev["emitted_by"] != admin.id {
		t.Fatalf("event %v", ev)
	}
	if f := user.readType("telemetry"); f["sender"] != "op-omega" {
		t.Fatalf("lab subscriber frame %v", f)
	}

	admin.ok("op.omega.emit_event", map[string]any{"substrate_id": sid, "signal": "tick"})
	admin.ok("op.omega.emit_event", map[string]any{"substrate_id": sid, "signal": "pulse"}) // max_events=2: the first is dropped
	evs := user.ok("op.omega.list_events", map[string]any{"limit": 5})
	if evs["count"].(float64) != 2 || evs["substrate_id"] != nil || evs["limit"].(float64) != 5 {
		t.Fatalf("list_events %v", evs)
	}
	if got := evs["events"].([]any); got[0].(map[string]any)["signal"] != "tick" || got[1].(map[string]any)["signal"] != "pulse" {
		t.Fatalf("events not oldest first: %v", got)
	}
	user.fail("op.omega.list_events", map[string]any{"limit": 0}, "VALIDATION_ERROR", "Validation error: 'limit' must be >= 1")

	// Per-tenant state: tenant-b sees nothing.
	jsonEq(t, otherTenant.ok("op.omega.list_substrates", nil), `{"substrates":[],"count":0}`)
	st := user.ok("op.omega.status", nil)
	if st["substrate_count"].(float64) != 1 || st["event_count"].(float64) != 2 || st["enabled"] != true {
		t.Fatalf("status %v", st)
	}

	jsonEq(t, admin.ok("op.omega.clear_events", map[string]any{"signal": "tick"}), `{"removed_count":1,"remaining_count":1,"substrate_id":null,"signal":"tick"}`)
	jsonEq(t, admin.ok("op.omega.unregister_substrate", map[string]any{"substrate_id": sid}),
		`{"removed":true,"substrate_id":"`+sid+`","name":"probe","kind":"sensor","removed_events":1}`)
	jsonEq(t, admin.fail("op.omega.unregister_substrate", map[string]any{"substrate_id": sid}, "NOT_FOUND", "Tier-Omega substrate '"+sid+"' not found"),
		`{"substrate_id":"`+sid+`"}`)
}

// TestRegressionOmegaEmitDoesNotBlockTenantDuringPublish: while an
// emit_event's storage write is in progress, the tenant's other omega
// commands answer at once; an unregister that lands meanwhile takes the
// event with it.
//
// Regression: emit held the tenant's omega lock across Publish, so every
// omega command of the tenant waited for the storage round trip.
func TestRegressionOmegaEmitDoesNotBlockTenantDuringPublish(t *testing.T) {
	e, st := newStallEnv(t, "omega-lab", time.Second, func(o *Options) { o.OmegaEnabled = true })
	emitter := e.dial(t, "", "")
	other := e.dial(t, "", "")
	sid := emitter.ok("op.omega.register_substrate", map[string]any{"name": "n", "kind": "k"})["substrate_id"].(string)

	emitter.send(map[string]any{"id": "arq_om1", "type": "command", "command": "op.omega.emit_event",
		"args": map[string]any{"substrate_id": sid, "signal": "s"}})
	<-st.started
	if status := other.ok("op.omega.status", nil); status["event_count"].(float64) != 0 {
		t.Fatalf("status during emit %v", status)
	}
	other.ok("op.omega.list_substrates", nil)
	if st.finished.Load() != 0 {
		t.Fatal("omega commands waited for the emit's storage write")
	}
	if r := emitter.readType("response"); r["status"] != "success" {
		t.Fatalf("emit_event %v", r)
	}
	emitter.readType("command_response")
	jsonEq(t, other.ok("op.omega.list_events", nil)["count"], `1`)

	// An unregister during the emit's write answers at once and removes the
	// substrate's events, the one being emitted included.
	st.stalls.Store(1)
	emitter.send(map[string]any{"id": "arq_om2", "type": "command", "command": "op.omega.emit_event",
		"args": map[string]any{"substrate_id": sid, "signal": "s"}})
	<-st.started
	jsonEq(t, other.ok("op.omega.unregister_substrate", map[string]any{"substrate_id": sid})["removed_events"], `1`)
	if st.finished.Load() != 1 {
		t.Fatal("unregister waited for the emit's storage write")
	}
	emitter.readType("command_response")
	jsonEq(t, other.ok("op.omega.list_events", nil)["count"], `0`)
}
