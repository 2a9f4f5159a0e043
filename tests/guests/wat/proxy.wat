;; A proxy written against the ABI by hand: the client's request goes to the
;; backend named "origin" through `send` (so through the readthrough cache),
;; and the backend's response goes back to the client. No guest-side work,
;; so its cost is the host's: used by the cache tests and benchmark.
(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $reply (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: request, 4: request body, 8: response, 12: response body
  (data (i32.const 64) "origin")
  (func (export "_start")
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (if (i32.eqz (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
                             (i32.const 64) (i32.const 6) (i32.const 8) (i32.const 12)))
      (then
        (drop (call $reply (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))))
      (else
        ;; The backend failed: a 502 with no body.
        (drop (call $resp_new (i32.const 8)))
        (drop (call $status_set (i32.load (i32.const 8)) (i32.const 502)))
        (drop (call $body_new (i32.const 12)))
        (drop (call $reply (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0)))))))
