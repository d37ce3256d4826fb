package e2e

import (
	"testing"
	"time"
)

// TestVector19_CasilBlocksThroughConfiguration is PROTOCOL.md Appendix A
// vector 19 against the binary, configured only through ARQONBUS_CASIL_*
// variables: the block frame, nothing delivered, nothing stored.
func TestVector19_CasilBlocksThroughConfiguration(t *testing.T) {
	s := startServer(t, env{
		"ARQONBUS_CASIL_ENABLED":                  "true",
		"ARQONBUS_CASIL_MODE":                     "enforce",
		"ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET": "true",
		"ARQONBUS_CASIL_REDACTION_PATTERNS":       "malware",
	})
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	a.join("science", "general")
	b.join("science", "general")
	a.send(map[string]any{"id": "arq_x1", "type": "message", "room": "science", "channel": "general",
		"payload": map[string]any{"content": "this contains malware"}})
	f := a.expectError("CASIL_POLICY_BLOCKED_SECRET", "CASIL blocked message", "arq_x1")
	if f.str("payload.reason") != "CASIL_POLICY_BLOCKED_SECRET" || f.str("room") != "science" || f.str("channel") != "general" {
		t.Fatalf("block frame = %v", f)
	}
	b.expectNone(500 * time.Millisecond)
	resp := b.mustOK("history", map[string]any{"room": "science", "channel": "general"})
	if n := objAt(resp, "payload.data")["count"]; n != float64(0) {
		t.Fatalf("history after a blocked message has %v entries, want 0", n)
	}
	// A clean message still flows.
	a.publish("science", "general", map[string]any{"content": "all good"})
	if got := b.next(); got.str("payload.content") != "all good" {
		t.Fatalf("clean message after a block: %v", got)
	}
}

// TestVector15_StoreTenantIsolation is vector 15 through the binary: op.store
// never crosses tenants, admins included.
func TestVector15_StoreTenantIsolation(t *testing.T) {
	s := authServer(t)
	a := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "a", "tenant_id": "tenant-a", "exp": time.Now().Add(time.Hour).Unix()})})
	key := uniq("k")
	resp := a.mustOK("op.store.set", map[string]any{"key": key, "value": 1})
	if d := objAt(resp, "payload.data"); d["namespace"] != "tenant:tenant-a" || d["updated"] != false {
		t.Fatalf("set = %v", d)
	}
	for _, role := range []string{"user", "admin"} {
		c := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "c", "role": role, "tenant_id": "tenant-b", "exp": time.Now().Add(time.Hour).Unix()})})
		got := objAt(c.mustOK("op.store.get", map[string]any{"key": key, "namespace": "tenant:tenant-a"}), "payload.data")
		if got["found"] != false || got["value"] != nil || got["namespace"] != "tenant:tenant-a" {
			t.Fatalf("tenant-b %s read tenant-a's store: %v", role, got)
		}
	}
}

// TestVector27_CasilReloadNeedsOperatorAdmin is vector 27 through the
// binary: a tenant admin is refused, an operator admin swaps the policy.
func TestVector27_CasilReloadNeedsOperatorAdmin(t *testing.T) {
	s := startServer(t, env{"ARQONBUS_ENABLE_AUTH": "true", "ARQONBUS_AUTH_JWT_SECRET": jwtSecret})
	exp := time.Now().Add(time.Hour).Unix()
	tenantAdmin := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "ta", "role": "admin", "tenant_id": "tenant-a", "exp": exp})})
	tenantAdmin.expectCmdError("op.casil.reload", map[string]any{"mode": "enforce"}, "AUTHORIZATION_ERROR", "Only operator admin clients can reload CASIL policy")
	if mode := objAt(tenantAdmin.mustOK("op.casil.get", nil), "payload.data")["mode"]; mode != "monitor" {
		t.Fatalf("policy changed by a tenant admin: mode %v", mode)
	}
	operator := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "op", "role": "admin", "exp": exp})})
	resp := operator.mustOK("op.casil.reload", map[string]any{"mode": "enforce"})
	if resp.str("payload.message") != "CASIL policy reloaded" || objAt(resp, "payload.data")["mode"] != "enforce" {
		t.Fatalf("operator reload = %v", resp)
	}
}
