;; block_empty: the reference fixture of SHIELD.md §10.4.
;; Denies (returns 1) an empty frame and allows everything else. It has no
;; arqon_alloc, so Shield uses legacy placement at offset 0: frames larger
;; than the single 64 KiB page produce POLICY_ERROR.
;; The binary block_empty.wasm is produced by wasmgen.BlockEmpty (go generate).
(module
  (memory (export "memory") 1)
  (func (export "policy_check") (param $ptr i32) (param $len i32) (result i32)
    local.get $len
    i32.eqz))
