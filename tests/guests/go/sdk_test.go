//go:build wasip1

package sdktests

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"unsafe"
)

// The values below are those of fastly.toml's [local_server].

var failOnPurpose = flag.Bool("fail-on-purpose", false,
	"make TestFailsOnPurpose fail (the runner checks that a failure gives a non-zero exit status)")

func TestFailsOnPurpose(t *testing.T) {
	if *failOnPurpose {
		t.Fatal("failing on purpose, as -fail-on-purpose asks")
	}
}

func TestArgs(t *testing.T) {
	if len(os.Args) == 0 || os.Args[0] == "" {
		t.Fatalf("os.Args = %q: the program's name should come first", os.Args)
	}
	// The module's path as the runner was given it (`go test -exec` names
	// it go.test, `anywhere run` users name it *.wasm).
	if base := os.Args[0][strings.LastIndex(os.Args[0], "/")+1:]; !strings.HasSuffix(base, ".wasm") && base != "go.test" {
		t.Errorf("os.Args[0] = %q: expected the module's path", os.Args[0])
	}
	// The arguments after `--` reach the program: the test binary itself
	// parsed them into its flags, so -test.* ones are there if given.
	for _, a := range os.Args[1:] {
		if a == "" {
			t.Errorf("an empty argument in %q", os.Args)
		}
	}
	t.Logf("os.Args = %q", os.Args)
}

func TestEnvironment(t *testing.T) {
	for _, name := range []string{
		"FASTLY_CACHE_GENERATION", "FASTLY_CUSTOMER_ID", "FASTLY_HOSTNAME",
		"FASTLY_IS_STAGING", "FASTLY_POP", "FASTLY_REGION", "FASTLY_SERVICE_ID",
		"FASTLY_SERVICE_VERSION", "FASTLY_TRACE_ID",
	} {
		if _, ok := os.LookupEnv(name); !ok {
			t.Errorf("%s is not set", name)
		}
	}
	if got := os.Getenv("FASTLY_HOSTNAME"); got != "localhost" {
		t.Errorf("FASTLY_HOSTNAME = %q, want \"localhost\"", got)
	}
	if got := os.Getenv("FASTLY_IS_STAGING"); got != "0" {
		t.Errorf("FASTLY_IS_STAGING = %q, want \"0\"", got)
	}
	if got := os.Getenv("FASTLY_SERVICE_VERSION"); got != "0" {
		t.Errorf("FASTLY_SERVICE_VERSION = %q, want \"0\"", got)
	}
	if got := os.Getenv("FASTLY_TRACE_ID"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
		t.Errorf("FASTLY_TRACE_ID = %q, want 32 hex digits", got)
	}
	if got := os.Getenv("FASTLY_CACHE_GENERATION"); !regexp.MustCompile(`^[0-9]+$`).MatchString(got) {
		t.Errorf("FASTLY_CACHE_GENERATION = %q, want a number", got)
	}
}

func newRequest(t *testing.T) uint32 {
	t.Helper()
	h := ^uint32(0)
	if st := reqNew(unsafe.Pointer(&h)); st != OK {
		t.Fatalf("fastly_http_req::new: %v", st)
	}
	t.Cleanup(func() { reqClose(h) })
	return h
}

func reqHeader(h uint32, name string) (string, Status) {
	np, nl := str(name)
	return stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqHeaderValueGet(h, np, nl, buf, max, nw)
	})
}

func TestNewRequestDefaults(t *testing.T) {
	h := newRequest(t)
	method, st := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqMethodGet(h, buf, max, nw)
	})
	if st != OK || method != "GET" {
		t.Errorf("method_get of a new request = %q, %v; want GET", method, st)
	}
}

func TestRequestMethodAndURI(t *testing.T) {
	h := newRequest(t)
	mp, ml := str("POST")
	if st := reqMethodSet(h, mp, ml); st != OK {
		t.Fatalf("method_set: %v", st)
	}
	up, ul := str("https://www.example.org/path?q=1")
	if st := reqURISet(h, up, ul); st != OK {
		t.Fatalf("uri_set: %v", st)
	}
	method, _ := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqMethodGet(h, buf, max, nw)
	})
	uri, _ := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqURIGet(h, buf, max, nw)
	})
	if method != "POST" || uri != "https://www.example.org/path?q=1" {
		t.Errorf("read back %q %q", method, uri)
	}
	bp, bl := str("not a method")
	if st := reqMethodSet(h, bp, bl); st == OK {
		t.Errorf("method_set accepted %q", "not a method")
	}
}

func TestRequestHeaders(t *testing.T) {
	h := newRequest(t)
	np, nl := str("X-Test")
	vp, vl := str("one")
	if st := reqHeaderInsert(h, np, nl, vp, vl); st != OK {
		t.Fatalf("header_insert: %v", st)
	}
	// Header names are case-insensitive.
	if v, st := reqHeader(h, "x-test"); st != OK || v != "one" {
		t.Errorf("header_value_get(x-test) = %q, %v; want \"one\"", v, st)
	}
	vp2, vl2 := str("two")
	if st := reqHeaderAppend(h, np, nl, vp2, vl2); st != OK {
		t.Fatalf("header_append: %v", st)
	}
	// header_values_get: every value, each ended by a NUL.
	var ending int64
	values, st := bytesOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqHeaderValuesGet(h, np, nl, buf, max, 0, unsafe.Pointer(&ending), nw)
	})
	if st != OK || string(values) != "one\x00two\x00" || ending != -1 {
		t.Errorf("header_values_get = %q, %v, ending cursor %d; want \"one\\x00two\\x00\", -1", values, st, ending)
	}
	// header_insert replaces every value.
	vp3, vl3 := str("three")
	reqHeaderInsert(h, np, nl, vp3, vl3)
	if v, _ := reqHeader(h, "X-Test"); v != "three" {
		t.Errorf("after a second insert: %q, want \"three\"", v)
	}
	if st := reqHeaderRemove(h, np, nl); st != OK {
		t.Fatalf("header_remove: %v", st)
	}
	if v, st := reqHeader(h, "X-Test"); st == OK {
		t.Errorf("header_value_get after header_remove = %q, OK; want an error", v)
	}
	// A value too long for the buffer: BUFLEN with the size needed.
	long := strings.Repeat("v", 1000)
	lp, ll := str(long)
	reqHeaderInsert(h, np, nl, lp, ll)
	small := make([]byte, 10)
	var n uint32
	if st := reqHeaderValueGet(h, np, nl, unsafe.Pointer(&small[0]), 10, unsafe.Pointer(&n)); st != BUFLEN || n != 1000 {
		t.Errorf("a 1000-byte value into 10 bytes: %v, nwritten %d; want BUFLEN, 1000", st, n)
	}
	if v, _ := reqHeader(h, "X-Test"); v != long {
		t.Errorf("the long value read back has %d bytes", len(v))
	}
	// A bad handle.
	if _, st := reqHeader(h+1000, "X-Test"); st != BADF {
		t.Errorf("header_value_get on a handle never given: %v, want BADF", st)
	}
}

func TestResponse(t *testing.T) {
	h := ^uint32(0)
	if st := respNew(unsafe.Pointer(&h)); st != OK {
		t.Fatalf("fastly_http_resp::new: %v", st)
	}
	defer respClose(h)
	var status uint16
	if st := respStatusGet(h, unsafe.Pointer(&status)); st != OK || status != 200 {
		t.Errorf("status of a new response = %d, %v; want 200", status, st)
	}
	if st := respStatusSet(h, 418); st != OK {
		t.Fatalf("status_set: %v", st)
	}
	respStatusGet(h, unsafe.Pointer(&status))
	if status != 418 {
		t.Errorf("status read back %d, want 418", status)
	}
	np, nl := str("Content-Type")
	vp, vl := str("text/plain")
	if st := respHeaderInsert(h, np, nl, vp, vl); st != OK {
		t.Fatalf("header_insert: %v", st)
	}
	v, st := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return respHeaderValueGet(h, np, nl, buf, max, nw)
	})
	if st != OK || v != "text/plain" {
		t.Errorf("response header = %q, %v", v, st)
	}
}

// `anywhere run` gives the program a placeholder client request.
func TestDownstreamRequest(t *testing.T) {
	var req, body uint32
	if st := reqBodyDownstreamGet(unsafe.Pointer(&req), unsafe.Pointer(&body)); st != OK {
		t.Fatalf("body_downstream_get: %v", st)
	}
	method, _ := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqMethodGet(req, buf, max, nw)
	})
	uri, _ := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return reqURIGet(req, buf, max, nw)
	})
	if method != "GET" || uri != "http://example.com/" {
		t.Errorf("downstream request %s %s; want GET http://example.com/", method, uri)
	}
	ip := make([]byte, 16)
	var n uint32
	if st := reqDownstreamClientIPAddr(unsafe.Pointer(&ip[0]), unsafe.Pointer(&n)); st != OK || n != 4 || string(ip[:4]) != "\x7f\x00\x00\x01" {
		t.Errorf("downstream_client_ip_addr = %v (%d bytes), %v; want 127.0.0.1", ip[:n], n, st)
	}
}

func configStoreValue(t *testing.T, store, key string) (string, Status) {
	t.Helper()
	sp, sl := str(store)
	h := ^uint32(0)
	if st := configStoreOpen(sp, sl, unsafe.Pointer(&h)); st != OK {
		t.Fatalf("fastly_config_store::open(%q): %v", store, st)
	}
	kp, kl := str(key)
	return stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return configStoreGet(h, kp, kl, buf, max, nw)
	})
}

func TestConfigStore(t *testing.T) {
	if v, st := configStoreValue(t, "settings", "greeting"); st != OK || v != "hello from the config store" {
		t.Errorf("settings/greeting = %q, %v", v, st)
	}
	if v, st := configStoreValue(t, "settings", "empty"); st != OK || v != "" {
		t.Errorf("settings/empty = %q, %v; want \"\", OK", v, st)
	}
	if v, st := configStoreValue(t, "settings", "missing"); st != NONE {
		t.Errorf("settings/missing = %q, %v; want NONE", v, st)
	}
	// Dictionaries and config stores share one namespace.
	if v, st := configStoreValue(t, "legacy", "colour"); st != OK || v != "blue" {
		t.Errorf("legacy/colour through fastly_config_store = %q, %v", v, st)
	}
	np, nl := str("no-such-store")
	var h uint32
	if st := configStoreOpen(np, nl, unsafe.Pointer(&h)); st == OK {
		t.Errorf("opening a store fastly.toml does not define succeeded")
	}
}

func TestDictionary(t *testing.T) {
	np, nl := str("legacy")
	h := ^uint32(0)
	if st := dictionaryOpen(np, nl, unsafe.Pointer(&h)); st != OK {
		t.Fatalf("fastly_dictionary::open: %v", st)
	}
	kp, kl := str("colour")
	v, st := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return dictionaryGet(h, kp, kl, buf, max, nw)
	})
	if st != OK || v != "blue" {
		t.Errorf("legacy/colour = %q, %v", v, st)
	}
}

func readBody(t *testing.T, h uint32) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 4)
	for {
		var n uint32
		if st := bodyRead(h, unsafe.Pointer(&buf[0]), uint32(len(buf)), unsafe.Pointer(&n)); st != OK {
			t.Fatalf("fastly_http_body::read: %v", st)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func TestKVStore(t *testing.T) {
	np, nl := str("things")
	h := ^uint32(0)
	if st := objectStoreOpen(np, nl, unsafe.Pointer(&h)); st != OK {
		t.Fatalf("fastly_object_store::open: %v", st)
	}
	kp, kl := str("apple")
	var body uint32
	if st := objectStoreLookup(h, kp, kl, unsafe.Pointer(&body)); st != OK {
		t.Fatalf("fastly_object_store::lookup(apple): %v", st)
	}
	if v := readBody(t, body); v != "red fruit" {
		t.Errorf("things/apple = %q, want \"red fruit\"", v)
	}
	bodyClose(body)
	// A missing key: status OK and the body handle left invalid, as Viceroy
	// answers and as Fastly's SDKs expect (the Rust SDK 0.9 makes it Ok(None)
	// and any other status an error).
	const invalidHandle = ^uint32(0) - 1
	body = invalidHandle
	mp, ml := str("missing")
	if st := objectStoreLookup(h, mp, ml, unsafe.Pointer(&body)); st != OK || body != invalidHandle {
		t.Errorf("lookup of a missing key: %v, body handle %d; want OK and the invalid handle %d", st, body, invalidHandle)
	}
	// A store fastly.toml does not define.
	np2, nl2 := str("no-such-store")
	var h2 uint32
	if st := objectStoreOpen(np2, nl2, unsafe.Pointer(&h2)); st == OK {
		t.Errorf("opening a KV store fastly.toml does not define succeeded")
	}
}

func geo(ip []byte) (map[string]any, Status) {
	b, st := bytesOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return geoLookup(unsafe.Pointer(&ip[0]), uint32(len(ip)), buf, max, nw)
	})
	if st != OK {
		return nil, st
	}
	var record map[string]any
	if err := json.Unmarshal(b, &record); err != nil {
		return map[string]any{"unparsable": string(b)}, st
	}
	return record, st
}

func TestGeolocation(t *testing.T) {
	record, st := geo([]byte{192, 0, 2, 10})
	if st != OK || record["city"] != "Testville" || record["country_code"] != "NL" || record["as_number"] != float64(64500) {
		t.Errorf("geo of 192.0.2.10 = %v, %v; want fastly.toml's record", record, st)
	}
	// Loopback addresses have a built-in record unless fastly.toml says otherwise.
	if record, st := geo([]byte{127, 0, 0, 1}); st != OK || record["country_code"] == nil {
		t.Errorf("geo of 127.0.0.1 = %v, %v; want a record", record, st)
	}
	if record, st := geo([]byte{203, 0, 113, 9}); st == OK {
		t.Errorf("geo of 203.0.113.9 (not in fastly.toml) = %v, OK; want an error", record)
	}
	if _, st := geo([]byte{1, 2, 3}); st != INVAL {
		t.Errorf("geo of a 3-byte address: %v, want INVAL", st)
	}
}

func TestBackends(t *testing.T) {
	np, nl := str("origin")
	var exists uint32
	if st := backendExists(np, nl, unsafe.Pointer(&exists)); st != OK || exists != 1 {
		t.Errorf("exists(origin) = %d, %v; want 1", exists, st)
	}
	xp, xl := str("no-such-backend")
	exists = 7
	if st := backendExists(xp, xl, unsafe.Pointer(&exists)); st != OK || exists != 0 {
		t.Errorf("exists(no-such-backend) = %d, %v; want 0", exists, st)
	}
	var ssl uint32
	if st := backendIsSSL(np, nl, unsafe.Pointer(&ssl)); st != OK || ssl != 1 {
		t.Errorf("is_ssl(origin) = %d, %v; want 1 (an https URL)", ssl, st)
	}
	var port uint16
	if st := backendGetPort(np, nl, unsafe.Pointer(&port)); st != OK || port != 8443 {
		t.Errorf("get_port(origin) = %d, %v; want 8443", port, st)
	}
	host, st := stringOut(func(buf unsafe.Pointer, max uint32, nw unsafe.Pointer) Status {
		return backendGetHost(np, nl, buf, max, nw)
	})
	if st != OK || host != "origin.example" {
		t.Errorf("get_host(origin) = %q, %v; want origin.example", host, st)
	}
}
