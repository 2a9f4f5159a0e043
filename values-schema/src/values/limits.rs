//! `limits`: what one request of a Compute program may use.

use crate::quantity::{GoDuration, Quantity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Per-request limits of Compute programs. Defaults are Fastly's published
/// Compute limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Wall-clock time a request instance may run.
    pub wall_time: GoDuration,
    /// CPU time a request instance may use.
    pub cpu_time: GoDuration,
    /// Linear memory (heap) of an instance.
    pub heap_memory: Quantity,
    /// Stack of an instance.
    pub stack: Quantity,
    /// Largest request header section accepted (larger: 431).
    pub max_header_size: Quantity,
    /// Largest request body accepted (larger: 413). Empty: no limit.
    pub max_request_body_size: Option<Quantity>,
    /// Backend requests one execution may make.
    #[schemars(range(min = 1))]
    pub backend_requests: u32,
    /// Dynamic backends one service may register.
    #[schemars(range(min = 0))]
    pub dynamic_backends: u32,
    /// Largest Compute package accepted.
    pub package_size: Quantity,
    /// Requests served at once by one pod; above it new requests get 503.
    #[schemars(range(min = 1))]
    pub concurrency: u32,
    /// Time a client has to send its request headers.
    pub client_header_timeout: GoDuration,
    /// Bytes one request may hold in the host's memory at once: bodies a
    /// program writes or appends and has not sent, and KV values read or
    /// being inserted. Past it the hostcall fails with LIMITEXCEEDED.
    pub buffered_bytes: Quantity,
    /// Handles (requests, responses, bodies, pending sends, store lookups)
    /// one request may have open; past it the hostcall fails with
    /// LIMITEXCEEDED.
    #[schemars(range(min = 16))]
    pub handles: u32,
    /// Linear memory that all running instances of one pod may have in all.
    /// A program whose memory would grow past it gets a failed
    /// `memory.grow` (an out-of-memory error inside the program) instead
    /// of the pod being OOM-killed. Empty: 75% of the edge container's
    /// memory (`edgeStack.memoryFootprint` less 192Mi for the loader and
    /// agent).
    pub total_heap_memory: Option<Quantity>,
    /// Largest KV store value (Fastly: 25 MB).
    pub kv_value_size: Quantity,
    /// Largest KV store metadata (Fastly: 2000 bytes).
    pub kv_metadata_size: Quantity,
    /// Bytes one KV store may hold on the `xqd` volume, keys, values and
    /// metadata together.
    pub kv_store_size: Quantity,
    /// Entries one service's rate counters and penalty boxes may hold; the
    /// oldest go first when full, and each expires after its window.
    #[schemars(range(min = 1))]
    pub rate_limit_entries: u32,
    /// Time a client connection may stay open with nothing to do (HTTP/1
    /// keep-alive and HTTP/2).
    pub idle_timeout: GoDuration,
    /// Requests one HTTP/2 connection may have open at once.
    #[schemars(range(min = 1, max = 1000))]
    pub http2_max_streams: u32,
    /// Client connections one pod keeps open at once; more wait to be
    /// accepted.
    #[schemars(range(min = 1))]
    pub connections: u32,
    /// Programs that ask to reuse their sandbox (Fastly's reusable
    /// sandboxes) keep instances warm between requests.
    pub reusable_sandbox: ReusableSandbox,
}

/// What programs that reuse their sandbox may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ReusableSandbox {
    /// Warm instances of one service at once; when all are busy, requests
    /// wait for the first to be free rather than start another. Empty: up
    /// to `limits.concurrency`.
    #[schemars(range(min = 1))]
    pub max_instances: Option<u32>,
    /// Requests one instance may serve before it retires. Empty: as many
    /// as the program asks for.
    #[schemars(range(min = 1))]
    pub max_requests: Option<u64>,
    /// Longest an instance waits for its next request before it retires
    /// (the program may ask for less).
    pub idle_timeout: GoDuration,
}

impl Default for ReusableSandbox {
    fn default() -> Self {
        ReusableSandbox {
            max_instances: None,
            max_requests: None,
            idle_timeout: GoDuration("10s".into()),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: GoDuration("120s".into()),
            cpu_time: GoDuration("50ms".into()),
            heap_memory: Quantity("128Mi".into()),
            stack: Quantity("1Mi".into()),
            max_header_size: Quantity("64Ki".into()),
            max_request_body_size: None,
            backend_requests: 32,
            dynamic_backends: 200,
            package_size: Quantity("100Mi".into()),
            concurrency: 1000,
            client_header_timeout: GoDuration("30s".into()),
            buffered_bytes: Quantity("64Mi".into()),
            handles: 8192,
            total_heap_memory: None,
            kv_value_size: Quantity("25M".into()),
            kv_metadata_size: Quantity("2000".into()),
            kv_store_size: Quantity("1Gi".into()),
            rate_limit_entries: 100_000,
            idle_timeout: GoDuration("60s".into()),
            http2_max_streams: 100,
            connections: 10_000,
            reusable_sandbox: ReusableSandbox::default(),
        }
    }
}
