;; Registers a dynamic backend at the address in the request's `x-target`
;; header and forwards the request there: what a program trying to reach
;; the pod's own ports or the cloud's metadata server would do. Used by the
;; egress tests. The answer tells the steps apart by status:
;; 400 no x-target header; 460 + FastlyStatus when registering failed
;; (465 UNSUPPORTED: dynamic backends off; 462 INVAL: address refused);
;; 502 when the send failed; otherwise the backend's response.
(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "header_value_get" (func $header (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "register_dynamic_backend" (func $register (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $reply (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: request, 4: request body, 8: response, 12: response body, 16: target length
  (data (i32.const 64) "x-target")
  (func $status (param $code i32)
    (drop (call $resp_new (i32.const 8)))
    (drop (call $status_set (i32.load (i32.const 8)) (local.get $code)))
    (drop (call $body_new (i32.const 12)))
    (drop (call $reply (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))))
  (func (export "_start")
    (local $rc i32)
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (if (call $header (i32.load (i32.const 0)) (i32.const 64) (i32.const 8)
                      (i32.const 256) (i32.const 200) (i32.const 16))
      (then (call $status (i32.const 400)) (return)))
    ;; config mask 0: Fastly's defaults; the config pointer is not read.
    ;; The backend is named after its target: each target registers once
    ;; per service, and a second request to it finds "already exists".
    (local.set $rc (call $register (i32.const 256) (i32.load (i32.const 16))
                                   (i32.const 256) (i32.load (i32.const 16))
                                   (i32.const 0) (i32.const 512)))
    (if (local.get $rc)
      (then (call $status (i32.add (i32.const 460) (local.get $rc))) (return)))
    (if (i32.eqz (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
                             (i32.const 256) (i32.load (i32.const 16)) (i32.const 8) (i32.const 12)))
      (then
        (drop (call $reply (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))))
      (else (call $status (i32.const 502))))))
