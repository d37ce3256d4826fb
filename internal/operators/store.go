package operators

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// storeArgs are the validated arguments of an op.store.* command.
type storeArgs struct {
	namespace string
	key       string
	value     json.RawMessage // compact; set only
}

// storeNamespace resolves the namespace (PROTOCOL.md §7.1). It is only a
// name inside the caller's tenant: the tenant is always part of the real
// key, so no namespace reaches another tenant.
func storeNamespace(a protocol.Args, tenant string) (string, string) {
	ns, present, d := a.String("namespace", false)
	if d != "" {
		return "", d
	}
	if present && ns != "" {
		if utf8.RuneCountInString(ns) > maxNamespaceLen {
			return "", "'namespace' must be at most " + strconv.Itoa(maxNamespaceLen) + " characters"
		}
		return ns, ""
	}
	if tenant == "" {
		return "default", ""
	}
	return "tenant:" + tenant, ""
}

// parseStoreArgs validates the arguments of op.store.<op> ("set", "get",
// "delete" or "list"); the returned detail is "" when they are valid.
func parseStoreArgs(op string, a protocol.Args, tenant string) (storeArgs, string) {
	var s storeArgs
	if op != "list" {
		key, _, d := a.String("key", true)
		if d != "" {
			return s, d
		}
		if utf8.RuneCountInString(key) > maxStoreKeyLen {
			return s, "'key' must be at most " + strconv.Itoa(maxStoreKeyLen) + " characters"
		}
		s.key = key
	}
	if op == "set" {
		raw, ok := a["value"]
		if !ok || len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			return s, "'value' is required"
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return s, "'value' is required"
		}
		if buf.Len() > maxStoreValue {
			return s, "'value' exceeds " + strconv.Itoa(maxStoreValue) + " bytes"
		}
		s.value = buf.Bytes()
	}
	ns, d := storeNamespace(a, tenant)
	if d != "" {
		return s, d
	}
	s.namespace = ns
	return s, ""
}

func (o *Operators) storeCommands() []bus.Command {
	key := bus.ArgDoc{Name: "key", Required: true, Description: "Key (at most 256 characters)"}
	ns := bus.ArgDoc{Name: "namespace", Description: "Namespace inside your tenant (default tenant:<tenant_id>)"}
	return []bus.Command{
		{Name: "op.store.set", Description: "Write a value to the tenant key/value store", Inspect: "value",
			Args: []bus.ArgDoc{key, {Name: "value", Required: true, Description: "Any JSON value except null, at most 65536 bytes"}, ns},
			Run:  o.storeSet},
		{Name: "op.store.get", Description: "Read a value from the tenant key/value store", Args: []bus.ArgDoc{key, ns}, Run: o.storeGet},
		{Name: "op.store.delete", Description: "Delete a key from the tenant key/value store", Args: []bus.ArgDoc{key, ns}, Run: o.storeDelete},
		{Name: "op.store.list", Description: "List the keys of a namespace", Args: []bus.ArgDoc{ns}, Run: o.storeList},
	}
}

func (o *Operators) tenantStoreLock(tenant string) *sync.Mutex {
	m, _ := o.storeLocks.LoadOrStore(tenant, &sync.Mutex{})
	return m.(*sync.Mutex)
}

func (o *Operators) storeSet(ctx context.Context, call *bus.Call) bus.Result {
	tenant := call.Client.Tenant
	a, d := parseStoreArgs("set", call.Args, tenant)
	if d != "" {
		return bus.Invalid(d)
	}
	// The per-tenant cap counts keys over all namespaces; the check and the
	// write are serialised per tenant so concurrent writers cannot overshoot.
	mu := o.tenantStoreLock(tenant)
	mu.Lock()
	defer mu.Unlock()
	_, exists, err := o.store.KVGet(ctx, tenant, a.namespace, a.key)
	if err != nil {
		return storageFailure(err)
	}
	if !exists {
		n, err := o.store.KVCount(ctx, tenant)
		if err != nil {
			return storageFailure(err)
		}
		if n >= maxStoreKeys {
			return bus.Fail(protocol.CodeLimitExceeded, "Store key limit reached ("+strconv.Itoa(maxStoreKeys)+")")
		}
	}
	updated, err := o.store.KVSet(ctx, tenant, a.namespace, a.key, a.value)
	if err != nil {
		return storageFailure(err)
	}
	return bus.Result{Message: "Store value written", Data: map[string]any{"namespace": a.namespace, "key": a.key, "updated": updated}}
}

func (o *Operators) storeGet(ctx context.Context, call *bus.Call) bus.Result {
	a, d := parseStoreArgs("get", call.Args, call.Client.Tenant)
	if d != "" {
		return bus.Invalid(d)
	}
	v, found, err := o.store.KVGet(ctx, call.Client.Tenant, a.namespace, a.key)
	if err != nil {
		return storageFailure(err)
	}
	var value any
	if found {
		value = json.RawMessage(v)
	}
	return bus.Result{Message: "Store value retrieved", Data: map[string]any{"namespace": a.namespace, "key": a.key, "found": found, "value": value}}
}

func (o *Operators) storeDelete(ctx context.Context, call *bus.Call) bus.Result {
	a, d := parseStoreArgs("delete", call.Args, call.Client.Tenant)
	if d != "" {
		return bus.Invalid(d)
	}
	mu := o.tenantStoreLock(call.Client.Tenant)
	mu.Lock()
	deleted, err := o.store.KVDelete(ctx, call.Client.Tenant, a.namespace, a.key)
	mu.Unlock()
	if err != nil {
		return storageFailure(err)
	}
	return bus.Result{Message: "Store value deleted", Data: map[string]any{"namespace": a.namespace, "key": a.key, "deleted": deleted}}
}

func (o *Operators) storeList(ctx context.Context, call *bus.Call) bus.Result {
	a, d := parseStoreArgs("list", call.Args, call.Client.Tenant)
	if d != "" {
		return bus.Invalid(d)
	}
	keys, err := o.store.KVList(ctx, call.Client.Tenant, a.namespace)
	if err != nil {
		return storageFailure(err)
	}
	if keys == nil {
		keys = []string{}
	}
	sort.Strings(keys) // ascending byte order whatever the backend returns
	return bus.Result{Message: "Store keys listed", Data: map[string]any{"namespace": a.namespace, "count": len(keys), "keys": keys}}
}
