//go:build wasip1

package sdktests

import (
	"fmt"
	"unsafe"
)

// Status is a FastlyStatus: what every hostcall returns.
type Status uint32

const (
	OK          Status = 0
	ERROR       Status = 1
	INVAL       Status = 2
	BADF        Status = 3
	BUFLEN      Status = 4
	UNSUPPORTED Status = 5
	NONE        Status = 10
)

func (s Status) String() string {
	names := map[Status]string{OK: "OK", ERROR: "ERROR", INVAL: "INVAL", BADF: "BADF",
		BUFLEN: "BUFLEN", UNSUPPORTED: "UNSUPPORTED", NONE: "NONE"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", uint32(s))
}

// Handles are u32; sizes (Rust usize) are u32 on wasm32; pointers are i32
// (unsafe.Pointer lowers to i32 in //go:wasmimport).

//go:wasmimport fastly_http_req body_downstream_get
func reqBodyDownstreamGet(reqOut, bodyOut unsafe.Pointer) Status

//go:wasmimport fastly_http_req new
func reqNew(out unsafe.Pointer) Status

//go:wasmimport fastly_http_req close
func reqClose(h uint32) Status

//go:wasmimport fastly_http_req method_get
func reqMethodGet(h uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_req method_set
func reqMethodSet(h uint32, p unsafe.Pointer, n uint32) Status

//go:wasmimport fastly_http_req uri_get
func reqURIGet(h uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_req uri_set
func reqURISet(h uint32, p unsafe.Pointer, n uint32) Status

//go:wasmimport fastly_http_req header_insert
func reqHeaderInsert(h uint32, np unsafe.Pointer, nl uint32, vp unsafe.Pointer, vl uint32) Status

//go:wasmimport fastly_http_req header_append
func reqHeaderAppend(h uint32, np unsafe.Pointer, nl uint32, vp unsafe.Pointer, vl uint32) Status

//go:wasmimport fastly_http_req header_remove
func reqHeaderRemove(h uint32, np unsafe.Pointer, nl uint32) Status

//go:wasmimport fastly_http_req header_value_get
func reqHeaderValueGet(h uint32, np unsafe.Pointer, nl uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_req header_values_get
func reqHeaderValuesGet(h uint32, np unsafe.Pointer, nl uint32, buf unsafe.Pointer, max uint32, cursor uint32, endingCursor unsafe.Pointer, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_req downstream_client_ip_addr
func reqDownstreamClientIPAddr(out unsafe.Pointer, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_resp new
func respNew(out unsafe.Pointer) Status

//go:wasmimport fastly_http_resp close
func respClose(h uint32) Status

//go:wasmimport fastly_http_resp status_set
func respStatusSet(h uint32, status uint32) Status

//go:wasmimport fastly_http_resp status_get
func respStatusGet(h uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_http_resp header_insert
func respHeaderInsert(h uint32, np unsafe.Pointer, nl uint32, vp unsafe.Pointer, vl uint32) Status

//go:wasmimport fastly_http_resp header_value_get
func respHeaderValueGet(h uint32, np unsafe.Pointer, nl uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_http_body read
func bodyRead(h uint32, buf unsafe.Pointer, max uint32, nread unsafe.Pointer) Status

//go:wasmimport fastly_http_body close
func bodyClose(h uint32) Status

//go:wasmimport fastly_config_store open
func configStoreOpen(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_config_store get
func configStoreGet(h uint32, kp unsafe.Pointer, kl uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_dictionary open
func dictionaryOpen(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_dictionary get
func dictionaryGet(h uint32, kp unsafe.Pointer, kl uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_object_store open
func objectStoreOpen(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_object_store lookup
func objectStoreLookup(h uint32, kp unsafe.Pointer, kl uint32, bodyOut unsafe.Pointer) Status

//go:wasmimport fastly_backend exists
func backendExists(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_backend is_ssl
func backendIsSSL(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_backend get_port
func backendGetPort(np unsafe.Pointer, nl uint32, out unsafe.Pointer) Status

//go:wasmimport fastly_backend get_host
func backendGetHost(np unsafe.Pointer, nl uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

//go:wasmimport fastly_geo lookup
func geoLookup(ap unsafe.Pointer, al uint32, buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status

// str is a string's pointer and length, as the hostcalls take them.
func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

// bytesOut calls f with a buffer and its size until the buffer is large
// enough (BUFLEN says how much is needed in nwritten), and returns what it
// wrote.
func bytesOut(f func(buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status) ([]byte, Status) {
	size := uint32(256)
	for tries := 0; ; tries++ {
		buf := make([]byte, size)
		var n uint32
		st := f(unsafe.Pointer(&buf[0]), size, unsafe.Pointer(&n))
		switch {
		case st == OK:
			if n > size {
				panic(fmt.Sprintf("the host wrote %d bytes into a buffer of %d", n, size))
			}
			return buf[:n], OK
		case st == BUFLEN && tries < 4 && n > size:
			size = n
		case st == BUFLEN && tries < 4:
			size *= 4
		default:
			return nil, st
		}
	}
}

// stringOut is bytesOut as a string.
func stringOut(f func(buf unsafe.Pointer, max uint32, nwritten unsafe.Pointer) Status) (string, Status) {
	b, st := bytesOut(f)
	return string(b), st
}
