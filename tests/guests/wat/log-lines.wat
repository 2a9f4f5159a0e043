;; Writes one line to the log endpoint `audit` per request (with a newline
;; inside it, which must not forge a second line), then answers 200. Used by
;; runtime/tests/log_delivery.rs.
(module
  (import "fastly_log" "endpoint_get" (func $endpoint_get (param i32 i32 i32) (result i32)))
  (import "fastly_log" "write" (func $log_write (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response handle, 4: body handle, 8: endpoint handle, 12: nwritten
  (data (i32.const 64) "audit")
  (data (i32.const 96) "request seen\nforged")
  (func (export "_start")
    (drop (call $endpoint_get (i32.const 64) (i32.const 5) (i32.const 8)))
    (drop (call $log_write (i32.load (i32.const 8)) (i32.const 96) (i32.const 19) (i32.const 12)))
    (drop (call $resp_new (i32.const 0)))
    (drop (call $body_new (i32.const 4)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0)))))
