// Command gen writes the example Shield policies (block_empty.wasm and
// block_forbidden.wasm) into the policies directory. Run it with
// `go generate ./policies/` after changing policies/wasmgen; the committed
// .wasm files must equal its output (checked by the wasmgen tests).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/arqonbus/arqonbus/policies/wasmgen"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	files := map[string][]byte{
		"block_empty.wasm":     wasmgen.BlockEmpty(),
		"block_forbidden.wasm": wasmgen.BlockWord(wasmgen.ForbiddenWord),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
