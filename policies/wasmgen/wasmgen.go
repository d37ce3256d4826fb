// Package wasmgen is a tiny WebAssembly binary encoder used to build the
// example Shield policies (SHIELD.md §10) without any external toolchain.
// It covers exactly what the policies need: function types, function
// imports, one memory, functions with i32 locals, exports and active data
// segments. Function bodies are raw instruction bytes built with the opcode
// helpers below.
package wasmgen

// Value types.
const (
	I32 byte = 0x7f
	I64 byte = 0x7e
)

// Opcodes used by the example and test policies.
const (
	OpUnreachable byte = 0x00
	OpBlock       byte = 0x02
	OpLoop        byte = 0x03
	OpIf          byte = 0x04
	OpElse        byte = 0x05
	OpEnd         byte = 0x0b
	OpBr          byte = 0x0c
	OpBrIf        byte = 0x0d
	OpReturn      byte = 0x0f
	OpCall        byte = 0x10
	OpDrop        byte = 0x1a
	OpLocalGet    byte = 0x20
	OpLocalSet    byte = 0x21
	OpLocalTee    byte = 0x22
	OpI32Load8U   byte = 0x2d
	OpMemorySize  byte = 0x3f
	OpMemoryGrow  byte = 0x40
	OpI32Const    byte = 0x41
	OpI32Eqz      byte = 0x45
	OpI32Eq       byte = 0x46
	OpI32Ne       byte = 0x47
	OpI32LtU      byte = 0x49
	OpI32GtU      byte = 0x4b
	OpI32GeU      byte = 0x4f
	OpI32Add      byte = 0x6a
	OpI32Sub      byte = 0x6b
	OpI32DivU     byte = 0x6e
	BlockVoid     byte = 0x40 // block type with no result
)

// FuncType is a function signature.
type FuncType struct {
	Params, Results []byte
}

// Import is a function import.
type Import struct {
	Module, Name string
	Type         FuncType
}

// Func is a function defined by the module. Body is the instruction
// sequence including the final OpEnd.
type Func struct {
	Type   FuncType
	Locals int // extra i32 locals
	Body   []byte
	Export string // exported under this name if non-empty
}

// Data is an active data segment for memory 0.
type Data struct {
	Offset int32
	Bytes  []byte
}

// Module is a module description. Memory pages are 64 KiB; MemoryMax < 0
// means no maximum. Function indices start with the imports.
type Module struct {
	Imports      []Import
	Funcs        []Func
	MemoryPages  uint32
	MemoryMax    int64
	NoMemory     bool
	MemoryExport string // default "memory"
	Data         []Data
}

// Encode returns the binary form of the module.
func (m Module) Encode() []byte {
	var types []FuncType
	typeIndex := func(t FuncType) uint32 {
		for i, x := range types {
			if string(x.Params) == string(t.Params) && string(x.Results) == string(t.Results) {
				return uint32(i)
			}
		}
		types = append(types, t)
		return uint32(len(types) - 1)
	}
	var imp, fn, code, exp, data []byte
	imp = U32(nil, uint32(len(m.Imports)))
	for _, im := range m.Imports {
		imp = name(imp, im.Module)
		imp = name(imp, im.Name)
		imp = append(imp, 0x00)
		imp = U32(imp, typeIndex(im.Type))
	}
	fn = U32(nil, uint32(len(m.Funcs)))
	code = U32(nil, uint32(len(m.Funcs)))
	nexp := 0
	for i, f := range m.Funcs {
		fn = U32(fn, typeIndex(f.Type))
		var body []byte
		if f.Locals > 0 {
			body = U32(body, 1)
			body = U32(body, uint32(f.Locals))
			body = append(body, I32)
		} else {
			body = U32(body, 0)
		}
		body = append(body, f.Body...)
		code = U32(code, uint32(len(body)))
		code = append(code, body...)
		if f.Export != "" {
			exp = name(exp, f.Export)
			exp = append(exp, 0x00)
			exp = U32(exp, uint32(len(m.Imports)+i))
			nexp++
		}
	}
	if !m.NoMemory {
		memName := m.MemoryExport
		if memName == "" {
			memName = "memory"
		}
		exp = name(exp, memName)
		exp = append(exp, 0x02)
		exp = U32(exp, 0)
		nexp++
	}
	exp = append(U32(nil, uint32(nexp)), exp...)
	data = U32(nil, uint32(len(m.Data)))
	for _, d := range m.Data {
		data = append(data, 0x00, OpI32Const)
		data = S32(data, d.Offset)
		data = append(data, OpEnd)
		data = U32(data, uint32(len(d.Bytes)))
		data = append(data, d.Bytes...)
	}

	var ty []byte
	ty = U32(ty, uint32(len(types)))
	for _, t := range types {
		ty = append(ty, 0x60)
		ty = U32(ty, uint32(len(t.Params)))
		ty = append(ty, t.Params...)
		ty = U32(ty, uint32(len(t.Results)))
		ty = append(ty, t.Results...)
	}

	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	out = section(out, 1, ty)
	if len(m.Imports) > 0 {
		out = section(out, 2, imp)
	}
	out = section(out, 3, fn)
	if !m.NoMemory {
		var mem []byte
		mem = U32(mem, 1)
		if m.MemoryMax >= 0 {
			mem = append(mem, 0x01)
			mem = U32(mem, m.MemoryPages)
			mem = U32(mem, uint32(m.MemoryMax))
		} else {
			mem = append(mem, 0x00)
			mem = U32(mem, m.MemoryPages)
		}
		out = section(out, 5, mem)
	}
	out = section(out, 7, exp)
	out = section(out, 10, code)
	if len(m.Data) > 0 {
		out = section(out, 11, data)
	}
	return out
}

func section(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = U32(out, uint32(len(body)))
	return append(out, body...)
}

func name(b []byte, s string) []byte {
	b = U32(b, uint32(len(s)))
	return append(b, s...)
}

// U32 appends v as unsigned LEB128.
func U32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// S32 appends v as signed LEB128.
func S32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Const returns the instruction i32.const v.
func Const(v int32) []byte { return S32([]byte{OpI32Const}, v) }

// Get returns local.get i.
func Get(i uint32) []byte { return U32([]byte{OpLocalGet}, i) }

// Set returns local.set i.
func Set(i uint32) []byte { return U32([]byte{OpLocalSet}, i) }

// Call returns call f.
func Call(f uint32) []byte { return U32([]byte{OpCall}, f) }

// Br returns br depth.
func Br(depth uint32) []byte { return U32([]byte{OpBr}, depth) }

// BrIf returns br_if depth.
func BrIf(depth uint32) []byte { return U32([]byte{OpBrIf}, depth) }

// Load8U returns i32.load8_u with alignment 0 and the given offset.
func Load8U(offset uint32) []byte { return U32([]byte{OpI32Load8U, 0x00}, offset) }

// Cat concatenates instruction fragments: bytes, small ints and byte slices.
func Cat(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			out = append(out, v)
		case int:
			out = append(out, byte(v))
		case []byte:
			out = append(out, v...)
		}
	}
	return out
}
