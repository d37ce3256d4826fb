package wasmgen

// Signatures of the Shield policy ABI (SHIELD.md §10).
var (
	SigPolicyCheck = FuncType{Params: []byte{I32, I32}, Results: []byte{I32}}
	SigAlloc       = FuncType{Params: []byte{I32}, Results: []byte{I32}}
	SigHostLog     = FuncType{Params: []byte{I32, I32, I32}, Results: []byte{I32}}
	SigHostReject  = FuncType{Params: []byte{I32, I32, I32}, Results: []byte{I32}}
	SigHostHeader  = FuncType{Params: []byte{I32, I32, I32, I32}, Results: []byte{I32}}
)

// BlockEmpty is the reference fixture of SHIELD.md §10.4 (source:
// policies/block_empty.wat): one 64 KiB page exported as memory, no
// arqon_alloc, and policy_check returning 1 when len == 0, else 0.
func BlockEmpty() []byte {
	return Module{
		MemoryPages: 1,
		MemoryMax:   -1,
		Funcs: []Func{{
			Type:   SigPolicyCheck,
			Export: "policy_check",
			Body:   Cat(Get(1), OpI32Eqz, OpEnd),
		}},
	}.Encode()
}

// ForbiddenWord is the word the second example policy blocks. The policy
// ABI has no configuration channel, so another word means a rebuild.
const ForbiddenWord = "forbidden"

// blockWordMessage is the host_reject message of BlockWord.
const blockWordMessage = "payload contains a forbidden word"

// BlockWord builds the second example policy (source:
// policies/block_forbidden.wat): it exports arqon_alloc, which places the
// payload at offset 64 and grows memory as needed, and denies any frame
// whose bytes contain word by calling env.host_reject(2, message).
// word must be 1–15 bytes so it fits below the message at offset 16.
func BlockWord(word string) []byte {
	const (
		payloadAt = 64
		msgAt     = 16
	)
	if len(word) == 0 || len(word) >= msgAt {
		panic("wasmgen: word must be 1-15 bytes")
	}
	w := int32(len(word))
	// arqon_alloc(len): need = (64+len+65535)/65536 pages; grow if short.
	// locals: 0 len, 1 need
	alloc := Cat(
		Const(payloadAt), Get(0), OpI32Add, Const(65535), OpI32Add, Const(65536), OpI32DivU, Set(1),
		Get(1), OpMemorySize, 0x00, OpI32GtU,
		OpIf, BlockVoid,
		Get(1), OpMemorySize, 0x00, OpI32Sub, OpMemoryGrow, 0x00, Const(-1), OpI32Eq,
		OpIf, BlockVoid, OpUnreachable, OpEnd,
		OpEnd,
		Const(payloadAt), OpEnd,
	)
	// policy_check(ptr, len): locals 2 i, 3 j. The word lives at offset 0.
	check := Cat(
		Get(1), Const(w), OpI32LtU, OpIf, BlockVoid, Const(0), OpReturn, OpEnd,
		OpBlock, BlockVoid, // $done
		OpLoop, BlockVoid, // $outer
		Get(2), Get(1), Const(w), OpI32Sub, OpI32GtU, BrIf(1),
		Const(0), Set(3),
		OpBlock, BlockVoid, // $mismatch
		OpLoop, BlockVoid, // $inner
		Get(3), Const(w), OpI32GeU,
		OpIf, BlockVoid,
		Const(2), Const(msgAt), Const(int32(len(blockWordMessage))), Call(0), OpDrop,
		Const(2), OpReturn,
		OpEnd,
		Get(0), Get(2), OpI32Add, Get(3), OpI32Add, Load8U(0),
		Get(3), Load8U(0),
		OpI32Ne, BrIf(1),
		Get(3), Const(1), OpI32Add, Set(3),
		Br(0),
		OpEnd, // $inner
		OpEnd, // $mismatch
		Get(2), Const(1), OpI32Add, Set(2),
		Br(0),
		OpEnd, // $outer
		OpEnd, // $done
		Const(0), OpEnd,
	)
	return Module{
		Imports:     []Import{{Module: "env", Name: "host_reject", Type: SigHostReject}},
		MemoryPages: 1,
		MemoryMax:   -1,
		Funcs: []Func{
			{Type: SigPolicyCheck, Export: "policy_check", Locals: 2, Body: check},
			{Type: SigAlloc, Export: "arqon_alloc", Locals: 1, Body: alloc},
		},
		Data: []Data{{Offset: 0, Bytes: []byte(word)}, {Offset: msgAt, Bytes: []byte(blockWordMessage)}},
	}.Encode()
}
