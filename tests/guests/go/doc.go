// Package sdktests holds tests of the Fastly Compute hostcalls, written
// against the raw ABI (the `fastly_*` WebAssembly imports, declared by hand
// in hostcalls_wasip1.go with //go:wasmimport, signatures from the Rust crate
// fastly-sys 0.13). They only build for GOOS=wasip1 GOARCH=wasm, as a test
// binary that `anywhere run` runs:
//
//	GOOS=wasip1 GOARCH=wasm go test -c -o go-sdk-tests.wasm .
//	anywhere run -C fastly.toml go-sdk-tests.wasm -- -test.v
//
// TestFailsOnPurpose fails only with -fail-on-purpose, so that a runner can
// check that a failing test gives a non-zero exit status:
//
//	anywhere run -C fastly.toml go-sdk-tests.wasm -- -test.run TestFailsOnPurpose -fail-on-purpose
package sdktests
