package shield

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Policy error reasons reported in POLICY_ERROR frames (SHIELD.md §9.10).
const (
	PolicyReasonTimeout       = "policy timeout"
	PolicyReasonTrap          = "policy trap"
	PolicyReasonMemoryLimit   = "policy memory limit"
	PolicyReasonPayloadTooBig = "payload exceeds policy memory"
)

const wasmPageSize = 65536

// PolicyInput is what a policy can learn about a frame through
// env.host_get_header (SHIELD.md §10.3), besides the frame bytes.
type PolicyInput struct {
	Tenant, Sub, ConnID string
	FrameType           string // "text" or "binary"
	EnvelopeType        string
	Room, Channel       string
	Subject, TraceID    string
}

func (in *PolicyInput) lookup(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "tenant":
		return in.Tenant, true
	case "sub":
		return in.Sub, true
	case "conn_id":
		return in.ConnID, true
	case "frame_type":
		return in.FrameType, true
	case "envelope_type":
		return in.EnvelopeType, true
	case "room":
		return in.Room, true
	case "channel":
		return in.Channel, true
	case "subject":
		return in.Subject, true
	case "trace_id":
		return in.TraceID, true
	}
	return "", false
}

// PolicyDecision is the outcome of one evaluation (SHIELD.md §9.7).
type PolicyDecision struct {
	Allow bool
	// Code is the policy_code of a deny.
	Code int32
	// Message is the host_reject message, or "denied by policy (code N)".
	Message string
	// Error is non-empty when evaluation failed (fail closed): one of the
	// PolicyReason constants.
	Error string
}

// Policy is a compiled WASM policy module. Each Evaluate uses a fresh
// instance, so nothing carries over between frames. It is safe for
// concurrent use.
type Policy struct {
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	timeout  time.Duration
	hasAlloc bool
	logger   *slog.Logger
	// SHA256 is the hex digest of the module bytes, for the policy loaded log.
	SHA256 string
}

// evalState is the per-evaluation state host functions reach through the
// context.
type evalState struct {
	in       *PolicyInput
	logs     int
	rejected bool
	code     int32
	msg      string
}

type evalKey struct{}

// errHostReject stops guest execution after env.host_reject.
var errHostReject = errors.New("policy called host_reject")

var (
	sigPolicyCheck = sig{[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}}
	sigAlloc       = sig{[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}}
	hostSigs       = map[string]sig{
		"host_log":        {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		"host_get_header": {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		"host_reject":     {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	}
)

type sig struct{ params, results []api.ValueType }

func (s sig) matches(d api.FunctionDefinition) bool {
	return string(s.params) == string(d.ParamTypes()) && string(s.results) == string(d.ResultTypes())
}

// LoadPolicy reads, compiles and trial-instantiates the module at path and
// checks the contract of SHIELD.md §10.1. Errors carry the exact startup
// message, prefixed "POLICY_WASM_PATH: ".
func LoadPolicy(ctx context.Context, path string, timeout time.Duration, memoryLimit int64, logger *slog.Logger) (*Policy, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("POLICY_WASM_PATH: cannot read %q: %v", path, unwrapPathError(err))
	}
	return NewPolicy(ctx, bin, timeout, memoryLimit, logger)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// NewPolicy is LoadPolicy for module bytes already in memory.
func NewPolicy(ctx context.Context, bin []byte, timeout time.Duration, memoryLimit int64, logger *slog.Logger) (*Policy, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if memoryLimit < wasmPageSize {
		memoryLimit = wasmPageSize
	}
	limitPages := uint32((memoryLimit + wasmPageSize - 1) / wasmPageSize)
	if len(bin) < 4 || string(bin[:4]) != "\x00asm" {
		return nil, errors.New("POLICY_WASM_PATH: invalid WebAssembly module: not a WebAssembly binary (the text format is not accepted)")
	}

	// Inspect with an unlimited interpreter runtime first: the limited
	// runtime would refuse an oversized memory with a less precise error.
	probe := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer probe.Close(ctx)
	pc, err := probe.CompileModule(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("POLICY_WASM_PATH: invalid WebAssembly module: %v", err)
	}
	for _, f := range pc.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
			continue
		case "env":
			s, ok := hostSigs[name]
			if !ok {
				return nil, fmt.Errorf("POLICY_WASM_PATH: unsupported import %s.%s", mod, name)
			}
			if !s.matches(f) {
				return nil, fmt.Errorf("POLICY_WASM_PATH: import env.%s has wrong signature", name)
			}
		default:
			return nil, fmt.Errorf("POLICY_WASM_PATH: unsupported import %s.%s", mod, name)
		}
	}
	for _, m := range pc.ImportedMemories() {
		mod, name, _ := m.Import()
		return nil, fmt.Errorf("POLICY_WASM_PATH: unsupported import %s.%s", mod, name)
	}
	mem, ok := pc.ExportedMemories()["memory"]
	if !ok {
		return nil, errors.New(`POLICY_WASM_PATH: module must export memory "memory"`)
	}
	exports := pc.ExportedFunctions()
	if f, ok := exports["policy_check"]; !ok || !sigPolicyCheck.matches(f) {
		return nil, errors.New("POLICY_WASM_PATH: module must export function policy_check(i32, i32) -> i32")
	}
	f, hasAlloc := exports["arqon_alloc"]
	if hasAlloc && !sigAlloc.matches(f) {
		return nil, errors.New("POLICY_WASM_PATH: export arqon_alloc must have signature (i32) -> i32")
	}
	if need := int64(mem.Min()) * wasmPageSize; need > int64(limitPages)*wasmPageSize {
		return nil, fmt.Errorf("POLICY_WASM_PATH: module requires %d bytes of memory, above ARQON_SHIELD_POLICY_MEMORY_LIMIT (%d)", need, int64(limitPages)*wasmPageSize)
	}

	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(limitPages)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	p := &Policy{runtime: rt, timeout: timeout, hasAlloc: hasAlloc, logger: logger}
	sum := sha256.Sum256(bin)
	p.SHA256 = hex.EncodeToString(sum[:])
	fail := func(err error) (*Policy, error) {
		_ = rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("POLICY_WASM_PATH: trial instantiation failed: %v", err))
	}
	if err := p.instantiateHost(ctx); err != nil {
		return fail(fmt.Errorf("POLICY_WASM_PATH: trial instantiation failed: %v", err))
	}
	p.compiled, err = rt.CompileModule(ctx, bin)
	if err != nil {
		return fail(fmt.Errorf("POLICY_WASM_PATH: invalid WebAssembly module: %v", err))
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := &evalState{in: &PolicyInput{}}
	inst, err := rt.InstantiateModule(context.WithValue(tctx, evalKey{}, st), p.compiled, p.moduleConfig())
	if err != nil {
		if tctx.Err() != nil {
			err = errors.New(PolicyReasonTimeout)
		}
		return fail(fmt.Errorf("POLICY_WASM_PATH: trial instantiation failed: %v", err))
	}
	_ = inst.Close(ctx)
	return p, nil
}

// HasAlloc reports whether the module exports arqon_alloc.
func (p *Policy) HasAlloc() bool { return p.hasAlloc }

// Close releases the runtime.
func (p *Policy) Close(ctx context.Context) error { return p.runtime.Close(ctx) }

func (p *Policy) moduleConfig() wazero.ModuleConfig {
	// No name: concurrent anonymous instances. No FS, env or args; stdio
	// discarded by default; real clocks and randomness.
	return wazero.NewModuleConfig().WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
}

func (p *Policy) instantiateHost(ctx context.Context) error {
	i32 := api.ValueTypeI32
	b := p.runtime.NewHostModuleBuilder("env")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(p.hostLog), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).Export("host_log")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostGetHeader), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("host_get_header")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostReject), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).Export("host_reject")
	_, err := b.Instantiate(ctx)
	return err
}

func stateOf(ctx context.Context) *evalState {
	st, _ := ctx.Value(evalKey{}).(*evalState)
	if st == nil {
		panic(errors.New("policy host call outside an evaluation"))
	}
	return st
}

func readGuest(m api.Module, ptr, n uint32) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(errors.New("out of bounds memory access"))
	}
	return b
}

func (p *Policy) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	st := stateOf(ctx)
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	b := readGuest(m, ptr, n)
	stack[0] = 0
	st.logs++
	if st.logs > 16 {
		return
	}
	if len(b) > 1024 {
		b = b[:1024]
	}
	lv := slog.LevelInfo
	switch level {
	case 0:
		lv = slog.LevelError
	case 1:
		lv = slog.LevelWarn
	case 3, 4:
		lv = slog.LevelDebug
	}
	p.logger.Log(ctx, lv, "policy log", "conn_id", st.in.ConnID, "text", strings.ToValidUTF8(string(b), "\uFFFD"))
}

func hostGetHeader(ctx context.Context, m api.Module, stack []uint64) {
	st := stateOf(ctx)
	namePtr, nameLen, outPtr, outCap := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	name := readGuest(m, namePtr, nameLen)
	v, ok := st.in.lookup(string(name))
	if !ok {
		stack[0] = api.EncodeI32(-1)
		return
	}
	if uint32(len(v)) <= outCap {
		if !m.Memory().Write(outPtr, []byte(v)) {
			panic(errors.New("out of bounds memory access"))
		}
	}
	stack[0] = api.EncodeI32(int32(len(v)))
}

func hostReject(ctx context.Context, m api.Module, stack []uint64) {
	st := stateOf(ctx)
	code, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	b := readGuest(m, ptr, n)
	if len(b) > 256 {
		b = b[:256]
	}
	if code == 0 {
		code = 1
	}
	st.rejected, st.code, st.msg = true, code, strings.ToValidUTF8(string(b), "\uFFFD")
	panic(errHostReject)
}

// Evaluate runs policy_check on frame in a fresh instance (SHIELD.md
// §10.2). It never returns an error: failures are decisions with Error set.
func (p *Policy) Evaluate(ctx context.Context, frame []byte, in *PolicyInput) PolicyDecision {
	st := &evalState{in: in}
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ectx := context.WithValue(tctx, evalKey{}, st)
	fail := func(err error) PolicyDecision {
		if st.rejected {
			return deny(st.code, st.msg)
		}
		reason := PolicyReasonTrap
		if tctx.Err() != nil {
			reason = PolicyReasonTimeout
		}
		p.logger.Warn("policy evaluation failed", "conn_id", in.ConnID, "reason", reason, "error", err)
		return PolicyDecision{Error: reason}
	}
	inst, err := p.runtime.InstantiateModule(ectx, p.compiled, p.moduleConfig())
	if err != nil {
		if tctx.Err() == nil && strings.Contains(err.Error(), "memory") {
			return PolicyDecision{Error: PolicyReasonMemoryLimit}
		}
		return fail(err)
	}
	defer inst.Close(ctx)
	n := uint32(len(frame))
	var ptr uint32
	if n > 0 && p.hasAlloc {
		res, err := inst.ExportedFunction("arqon_alloc").Call(ectx, uint64(n))
		if err != nil {
			return fail(err)
		}
		sp := int32(res[0])
		if sp < 0 {
			return PolicyDecision{Error: PolicyReasonPayloadTooBig}
		}
		ptr = uint32(sp)
	}
	if n > 0 {
		mem := inst.Memory()
		if uint64(ptr)+uint64(n) > uint64(mem.Size()) || !mem.Write(ptr, frame) {
			return PolicyDecision{Error: PolicyReasonPayloadTooBig}
		}
	}
	res, err := inst.ExportedFunction("policy_check").Call(ectx, uint64(ptr), uint64(n))
	if err != nil {
		return fail(err)
	}
	if st.rejected {
		return deny(st.code, st.msg)
	}
	if r := int32(res[0]); r != 0 {
		return deny(r, fmt.Sprintf("denied by policy (code %d)", r))
	}
	return PolicyDecision{Allow: true}
}

func deny(code int32, msg string) PolicyDecision {
	return PolicyDecision{Code: code, Message: msg}
}
