package operators

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

const casilReloadDenied = "Only operator admin clients can reload CASIL policy"

func (o *Operators) casilCommands() []bus.Command {
	return []bus.Command{
		{Name: "op.casil.get", Description: "Current CASIL policy snapshot", Args: []bus.ArgDoc{}, Run: o.casilGet},
		{Name: "op.casil.reload", Description: "Replace CASIL policy keys at runtime (operator admins only)",
			AdminOnly: true, DenyMessage: casilReloadDenied, Args: casilReloadDocs, Run: o.casilReload},
	}
}

var casilReloadDocs = func() []bus.ArgDoc {
	docs := make([]bus.ArgDoc, 0, len(casil.SnapshotKeys))
	for _, k := range casil.SnapshotKeys {
		docs = append(docs, bus.ArgDoc{Name: k, Description: "Policy key (OPERATIONS.md §4.7)"})
	}
	return docs
}()

func (o *Operators) engine() *casil.Engine {
	if srv := o.server(); srv != nil {
		return srv.Casil()
	}
	return nil
}

// casilGet answers the 16-key snapshot (OPERATIONS.md §8.7); any client may
// ask.
func (o *Operators) casilGet(_ context.Context, _ *bus.Call) bus.Result {
	p := casil.DefaultPolicy()
	if e := o.engine(); e != nil {
		p = e.Policy()
	}
	return bus.Result{Message: "CASIL policy snapshot", Data: p.Snapshot()}
}

// casilReload validates the given keys against the current policy and swaps
// the result in atomically; reloads are serialised so that two of them cannot
// lose each other's keys. Only operator admins (role admin, no tenant) may
// reload: the policy is server-wide (PROTOCOL.md §9.3).
func (o *Operators) casilReload(_ context.Context, call *bus.Call) bus.Result {
	if !call.Client.Admin || !call.Client.Operator {
		return bus.Fail(protocol.CodeAuthorization, casilReloadDenied)
	}
	e := o.engine()
	if e == nil {
		return bus.Fail(protocol.CodeExecutionError, "Execution error: CASIL engine not configured")
	}
	raw, err := json.Marshal(map[string]json.RawMessage(call.Args))
	if err != nil {
		return bus.Invalid("'args' must be an object")
	}
	o.casilMu.Lock()
	defer o.casilMu.Unlock()
	cur := e.Policy()
	next, err := casil.ParseReload(cur, raw)
	if err != nil {
		var re *casil.ReloadError
		if errors.As(err, &re) {
			return bus.Invalid(re.Error())
		}
		return bus.Invalid(err.Error())
	}
	e.Swap(next)
	o.opts.Logger.Warn("casil policy reloaded", "component", "casil", "client_id", call.Client.ID,
		"changed_keys", casil.ChangedKeys(cur, next))
	return bus.Result{Message: "CASIL policy reloaded", Data: next.Snapshot()}
}
