package wasmgen

import (
	"bytes"
	"os"
	"testing"
)

// The committed example binaries must be exactly what the generator emits,
// so the .wasm files never drift from their sources.
func TestCommittedPoliciesMatchGenerator(t *testing.T) {
	for file, want := range map[string][]byte{
		"../block_empty.wasm":     BlockEmpty(),
		"../block_forbidden.wasm": BlockWord(ForbiddenWord),
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./policies/)", file, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator output; run go generate ./policies/", file)
		}
	}
}

func TestLEB128(t *testing.T) {
	cases := []struct {
		v    int32
		want []byte
	}{{0, []byte{0}}, {-1, []byte{0x7f}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}}, {65536, []byte{0x80, 0x80, 0x04}}, {-65, []byte{0xbf, 0x7f}}}
	for _, c := range cases {
		if got := S32(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("S32(%d) = %x, want %x", c.v, got, c.want)
		}
	}
	if got := U32(nil, 624485); !bytes.Equal(got, []byte{0xe5, 0x8e, 0x26}) {
		t.Errorf("U32(624485) = %x", got)
	}
}
