;; The smallest Compute program, written against the ABI by hand: a 200
;; with a fixed body. Used by the tests and the benchmark (WAT hello).
(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "header_insert" (func $header_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response handle, 4: body handle, 8: nwritten
  (data (i32.const 64) "hello from WAT\n")
  (data (i32.const 96) "content-type")
  (data (i32.const 112) "text/plain")
  (func (export "_start")
    (drop (call $resp_new (i32.const 0)))
    (drop (call $header_insert (i32.load (i32.const 0)) (i32.const 96) (i32.const 12) (i32.const 112) (i32.const 10)))
    (drop (call $body_new (i32.const 4)))
    (drop (call $body_write (i32.load (i32.const 4)) (i32.const 64) (i32.const 15) (i32.const 0) (i32.const 8)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0)))))
