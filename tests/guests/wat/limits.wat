;; Misbehaving guests, chosen by the request path's first byte after "/":
;; l = loop for ever, m = grow memory until refused then trap, s = recurse
;; until the stack is exhausted, t = trap at once, anything else = 200 "ok".
(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "uri_get" (func $uri_get (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: request, 4: body, 8: nwritten, 12: response, 16: response body, 256..: URI
  (data (i32.const 64) "ok\n")
  (func $recurse (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func $path_byte (result i32)
    (local $i i32) (local $slashes i32) (local $len i32)
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (drop (call $uri_get (i32.load (i32.const 0)) (i32.const 256) (i32.const 1024) (i32.const 8)))
    (local.set $len (i32.load (i32.const 8)))
    ;; the byte after the third "/" of http://host/path
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.eq (i32.load8_u (i32.add (i32.const 256) (local.get $i))) (i32.const 47))
          (then (local.set $slashes (i32.add (local.get $slashes) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $found (i32.eq (local.get $slashes) (i32.const 3)))
        (br $scan)))
    (i32.load8_u (i32.add (i32.const 256) (local.get $i))))
  (func (export "_start")
    (local $c i32)
    (local.set $c (call $path_byte))
    (if (i32.eq (local.get $c) (i32.const 108)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $c) (i32.const 109))
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
    (if (i32.eq (local.get $c) (i32.const 115)) (then (drop (call $recurse (i32.const 0)))))
    (if (i32.eq (local.get $c) (i32.const 116)) (then unreachable))
    (drop (call $resp_new (i32.const 12)))
    (drop (call $body_new (i32.const 16)))
    (drop (call $body_write (i32.load (i32.const 16)) (i32.const 64) (i32.const 3) (i32.const 0) (i32.const 8)))
    (drop (call $send (i32.load (i32.const 12)) (i32.load (i32.const 16)) (i32.const 0)))))
