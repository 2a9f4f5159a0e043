;; Starts 32 sends to the backend "origin", waits 100 ms for any of them
;; (long enough for the connections to open), answers 200 and ends: what a
;; program that forgets its pending requests does. The request-lifetime
;; test checks that none of the 32 outlives the program.
(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "method_set" (func $method_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_async" (func $send_async (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_async_io" "select" (func $select (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $reply (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: client request, 4: its body, 8: request, 12: body, 16: pending,
  ;; 20: response, 24: response body
  (data (i32.const 64) "origin")
  ;; POST: not cacheable, so the 32 are not collapsed into one.
  (data (i32.const 72) "POST")
  (func (export "_start")
    (local $i i32)
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (loop $more
      (drop (call $req_new (i32.const 8)))
      (drop (call $method_set (i32.load (i32.const 8)) (i32.const 72) (i32.const 4)))
      (drop (call $body_new (i32.const 12)))
      (drop (call $send_async (i32.load (i32.const 8)) (i32.load (i32.const 12))
                              (i32.const 64) (i32.const 6)
                              (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 32))))
    ;; The pending handles are at 1024..1152; none will be ready.
    (drop (call $select (i32.const 1024) (i32.const 32) (i32.const 100) (i32.const 16)))
    (drop (call $resp_new (i32.const 20)))
    (drop (call $body_new (i32.const 24)))
    (drop (call $reply (i32.load (i32.const 20)) (i32.load (i32.const 24)) (i32.const 0)))))
