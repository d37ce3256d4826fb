package shield

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/policies/wasmgen"
)

func loadTestPolicy(t testing.TB, bin []byte, timeout time.Duration) *Policy {
	t.Helper()
	p, err := NewPolicy(context.Background(), bin, timeout, 16777216, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func readPolicyFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../policies/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vector 10 and the example policies, built by the committed .wasm files.
func TestExamplePolicies(t *testing.T) {
	// A generous timeout: these cases test decisions, not speed, and the
	// machine may be loaded (-race, other packages).
	empty := loadTestPolicy(t, readPolicyFile(t, "block_empty.wasm"), 5*time.Second)
	forbidden := loadTestPolicy(t, readPolicyFile(t, "block_forbidden.wasm"), 5*time.Second)
	in := &PolicyInput{Tenant: "tenant-a"}
	cases := []struct {
		name  string
		p     *Policy
		frame []byte
		want  PolicyDecision
	}{
		{"empty denied", empty, nil, PolicyDecision{Code: 1, Message: "denied by policy (code 1)"}},
		{"one byte", empty, []byte{0x0A, 0x01, 0x78}, PolicyDecision{Allow: true}},
		{"one page", empty, make([]byte, 65536), PolicyDecision{Allow: true}},
		{"legacy too big", empty, bigEventEnvelope(69990), PolicyDecision{Error: PolicyReasonPayloadTooBig}},
		{"word", forbidden, []byte(`{"payload":"this is forbidden"}`), PolicyDecision{Code: 2, Message: "payload contains a forbidden word"}},
		{"word at start", forbidden, []byte("forbidden"), PolicyDecision{Code: 2, Message: "payload contains a forbidden word"}},
		{"partial word", forbidden, []byte("forbidde"), PolicyDecision{Allow: true}},
		{"clean", forbidden, []byte(`{"type":"message"}`), PolicyDecision{Allow: true}},
		{"empty clean", forbidden, nil, PolicyDecision{Allow: true}},
		{"big frame grows memory", forbidden, append(make([]byte, 200000), "forbidden"...), PolicyDecision{Code: 2, Message: "payload contains a forbidden word"}},
	}
	for _, c := range cases {
		if got := c.p.Evaluate(context.Background(), c.frame, in); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if empty.HasAlloc() || !forbidden.HasAlloc() {
		t.Error("HasAlloc")
	}
}

var (
	i32 = wasmgen.I32
	cat = wasmgen.Cat
)

func checkOnly(body []byte, imports ...wasmgen.Import) []byte {
	return wasmgen.Module{Imports: imports, MemoryPages: 1, MemoryMax: -1,
		Funcs: []wasmgen.Func{{Type: wasmgen.SigPolicyCheck, Export: "policy_check", Body: body}}}.Encode()
}

var (
	impReject = wasmgen.Import{Module: "env", Name: "host_reject", Type: wasmgen.SigHostReject}
	impHeader = wasmgen.Import{Module: "env", Name: "host_get_header", Type: wasmgen.SigHostHeader}
	impLog    = wasmgen.Import{Module: "env", Name: "host_log", Type: wasmgen.SigHostLog}
)

func TestAdversarialPolicyErrorsFailClosed(t *testing.T) {
	loop := checkOnly(cat(wasmgen.OpLoop, wasmgen.BlockVoid, wasmgen.Br(0), wasmgen.OpEnd, wasmgen.Const(0), wasmgen.OpEnd))
	p := loadTestPolicy(t, loop, 50*time.Millisecond)
	start := time.Now()
	if got := p.Evaluate(context.Background(), []byte("x"), &PolicyInput{}); got.Error != PolicyReasonTimeout {
		t.Errorf("loop: %+v", got)
	}
	if el := time.Since(start); el > 50*time.Millisecond+50*time.Millisecond {
		t.Logf("loop evaluation took %v (spec: timeout + 50 ms)", el)
	}
	trap := loadTestPolicy(t, checkOnly(cat(wasmgen.OpUnreachable, wasmgen.OpEnd)), time.Second)
	if got := trap.Evaluate(context.Background(), []byte("x"), &PolicyInput{}); got.Error != PolicyReasonTrap {
		t.Errorf("trap: %+v", got)
	}
	// Out-of-bounds host range traps.
	oob := loadTestPolicy(t, checkOnly(cat(wasmgen.Const(1), wasmgen.Const(70000), wasmgen.Const(10), wasmgen.Call(0), wasmgen.OpEnd), impReject), time.Second)
	if got := oob.Evaluate(context.Background(), []byte("x"), &PolicyInput{}); got.Error != PolicyReasonTrap {
		t.Errorf("oob: %+v", got)
	}
	// host_reject with code 0 denies with policy_code 1 and its message.
	rej := wasmgen.Module{Imports: []wasmgen.Import{impReject}, MemoryPages: 1, MemoryMax: -1,
		Data:  []wasmgen.Data{{Offset: 100, Bytes: []byte("no \xff thanks")}},
		Funcs: []wasmgen.Func{{Type: wasmgen.SigPolicyCheck, Export: "policy_check", Body: cat(wasmgen.Const(0), wasmgen.Const(100), wasmgen.Const(11), wasmgen.Call(0), wasmgen.OpEnd)}}}.Encode()
	if got := loadTestPolicy(t, rej, time.Second).Evaluate(context.Background(), nil, &PolicyInput{}); got.Allow || got.Code != 1 || got.Message != "no \uFFFD thanks" {
		t.Errorf("reject: %+v", got)
	}
}

func TestPolicyHostImports(t *testing.T) {
	// policy_check returns host_get_header("TENANT", out=200, cap=64): the
	// tenant's length, so the deny code proves the lookup.
	hdr := wasmgen.Module{Imports: []wasmgen.Import{impHeader, impLog}, MemoryPages: 1, MemoryMax: -1,
		Data: []wasmgen.Data{{Offset: 100, Bytes: []byte("TENANT")}, {Offset: 120, Bytes: []byte("nosuch")}, {Offset: 140, Bytes: []byte("hello from policy")}},
		Funcs: []wasmgen.Func{{Type: wasmgen.SigPolicyCheck, Export: "policy_check", Body: cat(
			wasmgen.Const(2), wasmgen.Const(140), wasmgen.Const(17), wasmgen.Call(1), wasmgen.OpDrop,
			// unknown name must return -1, else trap
			wasmgen.Const(120), wasmgen.Const(6), wasmgen.Const(200), wasmgen.Const(64), wasmgen.Call(0), wasmgen.Const(-1), wasmgen.OpI32Ne,
			wasmgen.OpIf, wasmgen.BlockVoid, wasmgen.OpUnreachable, wasmgen.OpEnd,
			wasmgen.Const(100), wasmgen.Const(6), wasmgen.Const(200), wasmgen.Const(64), wasmgen.Call(0), wasmgen.OpEnd)}}}.Encode()
	var logs logBuffer
	p, err := NewPolicy(context.Background(), hdr, time.Second, 1<<20, newTestLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	got := p.Evaluate(context.Background(), []byte("x"), &PolicyInput{Tenant: "tenant-abc", ConnID: "arq_conn_1"})
	if got.Code != int32(len("tenant-abc")) {
		t.Errorf("header lookup: %+v", got)
	}
	if !strings.Contains(logs.String(), "policy log") || !strings.Contains(logs.String(), "hello from policy") {
		t.Errorf("host_log not logged: %s", logs.String())
	}
}

func TestPolicyStartupContract(t *testing.T) {
	fn := func(sig wasmgen.FuncType, name string, body []byte) wasmgen.Func {
		return wasmgen.Func{Type: sig, Export: name, Body: body}
	}
	ok := fn(wasmgen.SigPolicyCheck, "policy_check", cat(wasmgen.Const(0), wasmgen.OpEnd))
	cases := []struct {
		name string
		bin  []byte
		want string
	}{
		{"text format", []byte("(module)"), "POLICY_WASM_PATH: invalid WebAssembly module: "},
		{"garbage", []byte("\x00asm\x01\x00\x00\x00\xff"), "POLICY_WASM_PATH: invalid WebAssembly module: "},
		{"unknown import", checkOnly(cat(wasmgen.Const(0), wasmgen.OpEnd), wasmgen.Import{Module: "env", Name: "unknown", Type: wasmgen.SigAlloc}), "POLICY_WASM_PATH: unsupported import env.unknown"},
		{"other module", checkOnly(cat(wasmgen.Const(0), wasmgen.OpEnd), wasmgen.Import{Module: "os", Name: "exec", Type: wasmgen.SigAlloc}), "POLICY_WASM_PATH: unsupported import os.exec"},
		{"wrong signature", checkOnly(cat(wasmgen.Const(0), wasmgen.OpEnd), wasmgen.Import{Module: "env", Name: "host_log", Type: wasmgen.SigAlloc}), "POLICY_WASM_PATH: import env.host_log has wrong signature"},
		{"no memory", wasmgen.Module{NoMemory: true, Funcs: []wasmgen.Func{ok}}.Encode(), `POLICY_WASM_PATH: module must export memory "memory"`},
		{"no policy_check", wasmgen.Module{MemoryPages: 1, MemoryMax: -1, Funcs: []wasmgen.Func{fn(wasmgen.SigPolicyCheck, "check", cat(wasmgen.Const(0), wasmgen.OpEnd))}}.Encode(), "POLICY_WASM_PATH: module must export function policy_check(i32, i32) -> i32"},
		{"bad policy_check", wasmgen.Module{MemoryPages: 1, MemoryMax: -1, Funcs: []wasmgen.Func{fn(wasmgen.SigAlloc, "policy_check", cat(wasmgen.Const(0), wasmgen.OpEnd))}}.Encode(), "POLICY_WASM_PATH: module must export function policy_check(i32, i32) -> i32"},
		{"bad alloc", wasmgen.Module{MemoryPages: 1, MemoryMax: -1, Funcs: []wasmgen.Func{ok, fn(wasmgen.SigPolicyCheck, "arqon_alloc", cat(wasmgen.Const(0), wasmgen.OpEnd))}}.Encode(), "POLICY_WASM_PATH: export arqon_alloc must have signature (i32) -> i32"},
		{"memory", wasmgen.Module{MemoryPages: 300, MemoryMax: -1, Funcs: []wasmgen.Func{ok}}.Encode(), "POLICY_WASM_PATH: module requires 19660800 bytes of memory, above ARQON_SHIELD_POLICY_MEMORY_LIMIT (16777216)"},
	}
	_ = i32
	for _, c := range cases {
		p, err := NewPolicy(context.Background(), c.bin, time.Second, 16777216, nil)
		if err == nil {
			p.Close(context.Background())
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %q, want %q", c.name, err, c.want)
		}
	}
}
