//! The smallest Compute program built with Fastly's Rust SDK (`fastly`
//! 0.9.4): answers every request with a short text, for the runtime's
//! benchmarks (tests/bench/runtime-vs-nginx).

use fastly::{Error, Request, Response};

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    Ok(Response::from_body("hello from Rust\n").with_header("content-type", "text/plain"))
}
