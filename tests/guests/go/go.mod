// Tests of the Compute hostcalls, built by tests/guests/build-go as a Go test
// binary for WebAssembly (GOOS=wasip1) and run with `anywhere run`. No
// dependencies: Fastly's Go SDK is not reachable from every build machine,
// so the hostcalls are declared by hand (hostcalls_wasip1.go).
module fastly-anywhere.test/guests/go

go 1.21
