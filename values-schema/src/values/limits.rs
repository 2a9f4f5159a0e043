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
        }
    }
}
