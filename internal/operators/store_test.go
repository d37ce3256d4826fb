package operators

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestAdversarialStoreTenantIsolation is Appendix A vector 15: an explicit namespace
// naming another tenant stays inside the caller's tenant, for admins too.
func TestAdversarialStoreTenantIsolation(t *testing.T) {
	e := newEnv(t, envConfig{auth: true})
	a := e.dial(t, "", token(t, map[string]any{"sub": "alice", "tenant_id": "tenant-a"}))
	c := e.dial(t, "", token(t, map[string]any{"sub": "carol", "tenant_id": "tenant-b"}))
	cAdmin := e.dial(t, "", token(t, map[string]any{"sub": "root", "tenant_id": "tenant-b", "role": "admin"}))
	op := e.dial(t, "", token(t, map[string]any{"sub": "op", "role": "admin"}))

	jsonEq(t, a.ok("op.store.set", map[string]any{"key": "k", "value": 1}), `{"namespace":"tenant:tenant-a","key":"k","updated":false}`)
	want := `{"namespace":"tenant:tenant-a","key":"k","found":false,"value":null}`
	jsonEq(t, c.ok("op.store.get", map[string]any{"key": "k", "namespace": "tenant:tenant-a"}), want)
	jsonEq(t, cAdmin.ok("op.store.get", map[string]any{"key": "k", "namespace": "tenant:tenant-a"}), want)
	jsonEq(t, op.ok("op.store.get", map[string]any{"key": "k", "namespace": "tenant:tenant-a"}), want)
	jsonEq(t, cAdmin.ok("op.store.list", map[string]any{"namespace": "tenant:tenant-a"}), `{"namespace":"tenant:tenant-a","count":0,"keys":[]}`)
	jsonEq(t, cAdmin.ok("op.store.delete", map[string]any{"key": "k", "namespace": "tenant:tenant-a"}),
		`{"namespace":"tenant:tenant-a","key":"k","deleted":false}`)

	// A's value survived the foreign delete.
	jsonEq(t, a.ok("op.store.get", map[string]any{"key": "k"}), `{"namespace":"tenant:tenant-a","key":"k","found":true,"value":1}`)
	// The default tenant's default namespace is the name "default".
	jsonEq(t, op.ok("op.store.set", map[string]any{"key": "k", "value": "x"}), `{"namespace":"default","key":"k","updated":false}`)
}

func TestStoreRoundTrip(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := e.dial(t, "", "")
	b := e.dial(t, "", "")

	jsonEq(t, a.ok("op.store.set", map[string]any{"key": "alpha", "value": map[string]any{"n": 1}}), `{"namespace":"default","key":"alpha","updated":false}`)
	jsonEq(t, a.ok("op.store.set", map[string]any{"key": "alpha", "value": map[string]any{"n": 2}}), `{"namespace":"default","key":"alpha","updated":true}`)
	jsonEq(t, a.ok("op.store.set", map[string]any{"key": "beta", "value": []any{1, "two"}, "namespace": "  ns1 "}), `{"namespace":"ns1","key":"beta","updated":false}`)
	a.ok("op.store.set", map[string]any{"key": "Zed", "value": false})
	a.ok("op.store.set", map[string]any{"key": "a b", "value": 0})

	// Another connection of the same tenant sees the data; it outlives a.
	a.c.Close()
	jsonEq(t, b.ok("op.store.get", map[string]any{"key": "alpha"}), `{"namespace":"default","key":"alpha","found":true,"value":{"n":2}}`)
	jsonEq(t, b.ok("op.store.get", map[string]any{"key": "beta", "namespace": "ns1"}), `{"namespace":"ns1","key":"beta","found":true,"value":[1,"two"]}`)
	jsonEq(t, b.ok("op.store.list", nil), `{"namespace":"default","count":3,"keys":["Zed","a b","alpha"]}`)
	jsonEq(t, b.ok("op.store.delete", map[string]any{"key": "alpha"}), `{"namespace":"default","key":"alpha","deleted":true}`)
	jsonEq(t, b.ok("op.store.get", map[string]any{"key": "alpha"}), `{"namespace":"default","key":"alpha","found":false,"value":null}`)
}

func TestStoreValidation(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := e.dial(t, "", "")
	for _, tc := range []struct {
		cmd    string
		args   map[string]any
		detail string
	}{
		{"op.store.set", map[string]any{"value": 1}, "'key' is required"},
		{"op.store.get", map[string]any{"key": "  "}, "'key' is required"},
		{"op.store.delete", map[string]any{"key": 5}, "'key' must be a string"},
		{"op.store.get", map[string]any{"key": strings.Repeat("k", 257)}, "'key' must be at most 256 characters"},
		{"op.store.set", map[string]any{"key": "k"}, "'value' is required"},
		{"op.store.set", map[string]any{"key": "k", "value": nil}, "'value' is required"},
		{"op.store.set", map[string]any{"key": "k", "value": strings.Repeat("v", 65535)}, "'value' exceeds 65536 bytes"},
		{"op.store.list", map[string]any{"namespace": 3}, "'namespace' must be a string"},
		{"op.store.get", map[string]any{"key": "k", "namespace": strings.Repeat("n", 129)}, "'namespace' must be at most 128 characters"},
	} {
		a.fail(tc.cmd, tc.args, "VALIDATION_ERROR", "Validation error: "+tc.detail)
	}
	// Exactly 65536 serialized bytes is allowed (65534 characters plus quotes).
	a.ok("op.store.set", map[string]any{"key": "big", "value": strings.Repeat("v", 65534)})
}

// TestAdversarialStoreKeyLimit fills the tenant to the cap through the storage itself,
// then checks the cap over the wire: a new key is refused in any namespace,
// an existing key can still be overwritten, and another tenant is unaffected.
func TestAdversarialStoreKeyLimit(t *testing.T) {
	e := newEnv(t, envConfig{auth: true})
	ctx := context.Background()
	for i := 0; i < maxStoreKeys-1; i++ {
		if _, err := e.store.KVSet(ctx, "tenant-a", "bulk"+strconv.Itoa(i%7), "k"+strconv.Itoa(i), []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	a := e.dial(t, "", token(t, map[string]any{"tenant_id": "tenant-a"}))
	b := e.dial(t, "", token(t, map[string]any{"tenant_id": "tenant-b"}))
	a.ok("op.store.set", map[string]any{"key": "last", "value": 1})
	a.fail("op.store.set", map[string]any{"key": "one-too-many", "value": 1, "namespace": "other"}, "LIMIT_EXCEEDED", "Store key limit reached (10000)")
	jsonEq(t, a.ok("op.store.set", map[string]any{"key": "last", "value": 2}), `{"namespace":"tenant:tenant-a","key":"last","updated":true}`)
	b.ok("op.store.set", map[string]any{"key": "one-too-many", "value": 1})
}
