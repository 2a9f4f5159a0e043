;; Waits 300 ms (a host timer: no CPU), then answers 200: a program that is
;; still running when its client has gone. Used by the front's tests.
(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_async_io" "select" (func $select (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $reply (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (drop (call $select (i32.const 64) (i32.const 0) (i32.const 300) (i32.const 16)))
    (drop (call $resp_new (i32.const 8)))
    (drop (call $body_new (i32.const 12)))
    (drop (call $reply (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0)))))
