// Package policies holds the example WASM policies for Shield
// (SHIELD.md §10): their WebAssembly text sources (*.wat, for reading),
// the generator that emits the binaries without any external toolchain
// (wasmgen, gen) and the committed binaries (*.wasm) that operators point
// POLICY_WASM_PATH at.
package policies

//go:generate go run ./gen .
