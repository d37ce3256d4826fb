package operators

import (
	"strings"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/casil"
)

func policy(mut func(p *casil.Policy)) *casil.Policy {
	p := casil.DefaultPolicy()
	p.Enabled = true
	mut(&p)
	return &p
}

func msg(id string, payload any) map[string]any {
	return map[string]any{"id": id, "type": "message", "room": "science", "channel": "general", "payload": payload}
}

// TestCasilBlocksSecretInEnforceMode is Appendix A vector 19, extended to the
// two inspected commands.
func TestCasilBlocksSecretInEnforceMode(t *testing.T) {
	e := newEnv(t, envConfig{casil: policy(func(p *casil.Policy) {
		p.Mode, p.BlockOnProbableSecret, p.RedactionPatterns = casil.ModeEnforce, true, []string{"malware"}
	})})
	a := e.dial(t, "?room=science&channel=general", "")
	b := e.dial(t, "?room=science&channel=general", "")

	a.send(msg("arq_x1", map[string]any{"content": "this contains malware"}))
	f := a.read()
	jsonEq(t, map[string]any{"type": f["type"], "request_id": f["request_id"], "error": f["error"], "error_code": f["error_code"],
		"payload": f["payload"], "room": f["room"], "channel": f["channel"]},
		`{"type":"error","request_id":"arq_x1","error":"CASIL blocked message","error_code":"CASIL_POLICY_BLOCKED_SECRET","payload":{"reason":"CASIL_POLICY_BLOCKED_SECRET"},"room":"science","channel":"general"}`)

	// A blocked command gets the block frame and no result pair, and is not executed.
	a.send(map[string]any{"id": "arq_x2", "type": "command", "command": "op.store.set", "args": map[string]any{"key": "k", "value": "malware inside"}})
	if f := a.read(); f["type"] != "error" || f["request_id"] != "arq_x2" || f["error_code"] != "CASIL_POLICY_BLOCKED_SECRET" {
		t.Fatalf("op.store.set: %v", f)
	}
	a.send(map[string]any{"id": "arq_x3", "type": "command", "command": "op.cron.schedule",
		"args": map[string]any{"room": "science", "channel": "general", "payload": map[string]any{"m": "malware"}, "delay_seconds": 0.1}})
	if f := a.read(); f["type"] != "error" || f["request_id"] != "arq_x3" || f["error_code"] != "CASIL_POLICY_BLOCKED_SECRET" {
		t.Fatalf("op.cron.schedule: %v", f)
	}
	jsonEq(t, a.ok("op.store.get", map[string]any{"key": "k"}), `{"namespace":"default","key":"k","found":false,"value":null}`)
	jsonEq(t, a.ok("op.cron.list", nil), `{"jobs":[],"count":0}`)
	if h := a.ok("history", map[string]any{"room": "science", "channel": "general"}); h["count"].(float64) != 0 {
		t.Fatalf("history is not empty: %v", h)
	}
	b.expectSilence(500 * time.Millisecond)
}

func TestCasilTransportRedactionInEnforceMode(t *testing.T) {
	e := newEnv(t, envConfig{casil: policy(func(p *casil.Policy) {
		p.Mode, p.TransportRedaction = casil.ModeEnforce, true
	})})
	a := e.dial(t, "?room=science&channel=general", "")
	b := e.dial(t, "?room=science&channel=general", "")
	want := `{"password":"***REDACTED***","user":"ann"}`

	a.send(msg("arq_r1", map[string]any{"password": "hunter2", "user": "ann"}))
	jsonEq(t, b.readType("message")["payload"], want)
	jsonEq(t, a.readType("message_response")["payload"], want) // the ack echoes the delivered payload

	a.ok("op.store.set", map[string]any{"key": "cfg", "value": map[string]any{"token": "abc", "n": 1}})
	jsonEq(t, a.ok("op.store.get", map[string]any{"key": "cfg"})["value"], `{"token":"***REDACTED***","n":1}`)

	a.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{"secret": "s3", "k": 2}, "delay_seconds": 0.05})
	jsonEq(t, b.readType("message")["payload"], `{"secret":"***REDACTED***","k":2}`)
}

// TestRegressionCasilMonitorModeNeverAltersPayloads pins an upstream defect
// (OPERATIONS.md §12) over the wire: transport redaction was applied in
// monitor mode and corrupted payloads.
func TestRegressionCasilMonitorModeNeverAltersPayloads(t *testing.T) {
	e := newEnv(t, envConfig{casil: policy(func(p *casil.Policy) {
		p.Mode, p.TransportRedaction, p.BlockOnProbableSecret = casil.ModeMonitor, true, true
	})})
	a := e.dial(t, "?room=science&channel=general", "")
	b := e.dial(t, "?room=science&channel=general", "")
	secret := `{"password":"hunter2","user":"ann"}`

	a.send(msg("arq_m1", map[string]any{"password": "hunter2", "user": "ann"}))
	jsonEq(t, b.readType("message")["payload"], secret)
	jsonEq(t, a.readType("message_response")["payload"], secret)

	a.ok("op.store.set", map[string]any{"key": "cfg", "value": map[string]any{"token": "abc"}})
	jsonEq(t, a.ok("op.store.get", map[string]any{"key": "cfg"})["value"], `{"token":"abc"}`)

	a.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{"secret": "s3"}, "delay_seconds": 0.05})
	jsonEq(t, b.readType("message")["payload"], `{"secret":"s3"}`)
}

// TestAdversarialCasilReloadAuthorization is Appendix A vector 27.
func TestAdversarialCasilReloadAuthorization(t *testing.T) {
	e := newEnv(t, envConfig{auth: true, casil: policy(func(p *casil.Policy) {})})
	tenantAdmin := e.dial(t, "", token(t, map[string]any{"sub": "ta", "role": "admin", "tenant_id": "tenant-a"}))
	operator := e.dial(t, "", token(t, map[string]any{"sub": "op", "role": "admin"}))
	user := e.dial(t, "", token(t, map[string]any{"sub": "u"}))

	const denied = "Only operator admin clients can reload CASIL policy"
	tenantAdmin.fail("op.casil.reload", map[string]any{"mode": "enforce"}, "AUTHORIZATION_ERROR", denied)
	user.fail("op.casil.reload", map[string]any{"mode": "enforce"}, "AUTHORIZATION_ERROR", denied)
	if m := user.ok("op.casil.get", nil)["mode"]; m != "monitor" {
		t.Fatalf("policy changed by a refused reload: mode %v", m)
	}

	r := operator.command("op.casil.reload", map[string]any{"mode": "enforce"})
	if r["status"] != "success" || r["payload"].(map[string]any)["message"] != "CASIL policy reloaded" || data(r)["mode"] != "enforce" {
		t.Fatalf("operator reload: %v", r)
	}
	snap := tenantAdmin.ok("op.casil.get", nil)
	if len(snap) != 16 || snap["mode"] != "enforce" || snap["enabled"] != true {
		t.Fatalf("snapshot after reload: %v", snap)
	}

	// Every problem is reported at once, and nothing changes.
	r = operator.command("op.casil.reload", map[string]any{"mode": "bogus", "foo": 1, "redaction_patterns": "x"})
	msg := r["payload"].(map[string]any)["message"].(string)
	if r["error_code"] != "VALIDATION_ERROR" || !strings.HasPrefix(msg, "Validation error: ") {
		t.Fatalf("invalid reload: %v", r)
	}
	for _, p := range []string{"Invalid CASIL mode: bogus", "Unknown CASIL policy field: foo", "'redaction_patterns' must be a list"} {
		if !strings.Contains(msg, p) {
			t.Fatalf("reload message %q lacks %q", msg, p)
		}
	}
	if m := user.ok("op.casil.get", nil)["mode"]; m != "enforce" {
		t.Fatalf("invalid reload changed the policy: mode %v", m)
	}
}

// TestRegressionCasilLiveReloadSwitchesModeWithoutReconnecting also shows
// that cron firings are inspected one by one under the policy in force when
// they fire.
//
// Regression (PROTOCOL.md §13.3 and OPERATIONS.md §12, "Cron firings"):
// upstream cron output bypassed CASIL.
func TestRegressionCasilLiveReloadSwitchesModeWithoutReconnecting(t *testing.T) {
	e := newEnv(t, envConfig{devAdmin: true, casil: policy(func(p *casil.Policy) {
		p.Mode, p.BlockOnProbableSecret = casil.ModeMonitor, true
	})})
	a := e.dial(t, "?room=science&channel=general", "")
	b := e.dial(t, "?room=science&channel=general", "")

	a.send(msg("arq_l1", map[string]any{"data": "token-123"}))
	if f := b.readType("message"); f["id"] != "arq_l1" {
		t.Fatalf("monitor mode: %v", f)
	}
	a.readType("message_response")
	a.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{"data": "token-456"}, "delay_seconds": 0.3})
	a.ok("op.cron.schedule", map[string]any{"room": "science", "channel": "general", "payload": map[string]any{"clean": true}, "delay_seconds": 0.3})

	a.ok("op.casil.reload", map[string]any{"mode": "enforce"})
	a.send(msg("arq_l2", map[string]any{"data": "token-123"}))
	if f := a.read(); f["type"] != "error" || f["request_id"] != "arq_l2" || f["error_code"] != "CASIL_POLICY_BLOCKED_SECRET" {
		t.Fatalf("after reload: %v", f)
	}
	jsonEq(t, b.readType("message")["payload"], `{"clean":true}`) // the secret-bearing firing was dropped
	b.expectSilence(400 * time.Millisecond)
}
