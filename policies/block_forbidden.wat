;; block_forbidden: denies any frame whose bytes contain the word
;; "forbidden" by calling env.host_reject(2, "payload contains a forbidden word").
;; The ABI has no configuration channel, so a different word means editing
;; wasmgen.ForbiddenWord and running `go generate ./policies/`.
;; The binary block_forbidden.wasm is produced by wasmgen.BlockWord.
(module
  (import "env" "host_reject" (func $host_reject (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "forbidden")
  (data (i32.const 16) "payload contains a forbidden word")

  (func (export "policy_check") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32)
    (if (i32.lt_u (local.get $len) (i32.const 9)) (then (return (i32.const 0))))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (local.get $i) (i32.sub (local.get $len) (i32.const 9))))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.ge_u (local.get $j) (i32.const 9))
              (then
                (drop (call $host_reject (i32.const 2) (i32.const 16) (i32.const 33)))
                (return (i32.const 2))))
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (i32.add (local.get $ptr) (local.get $i)) (local.get $j)))
                (i32.load8_u (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  ;; Payload goes at offset 64; grow memory when the frame does not fit.
  (func (export "arqon_alloc") (param $len i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.div_u (i32.add (i32.add (i32.const 64) (local.get $len)) (i32.const 65535)) (i32.const 65536)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable))))
    (i32.const 64)))
