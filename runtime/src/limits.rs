//! What one request of a Compute program may use. The defaults are Fastly's
//! published Compute limits; the chart's `limits` values override them.

use std::time::Duration;

/// Limits, in the units the runtime uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock time per request.
    pub wall_time: Duration,
    /// Guest CPU time per request.
    pub cpu_time: Duration,
    /// Linear memory per instance, bytes.
    pub heap_bytes: usize,
    /// Wasm stack per instance, bytes.
    pub stack_bytes: usize,
    /// Largest request header section, bytes (larger: 431).
    pub max_header_bytes: usize,
    /// Largest request body, bytes (larger: 413).
    pub max_request_body: Option<u64>,
    /// Backend requests per execution.
    pub backend_requests: u32,
    /// Dynamic backends per service.
    pub dynamic_backends: u32,
    /// Largest package, bytes.
    pub package_bytes: u64,
    /// Requests in flight at once (more: 503).
    pub concurrency: usize,
    /// Time a client has to send its request headers.
    pub client_header_timeout: Duration,
    /// Bytes one request may hold in host memory (bodies written and not
    /// sent, KV values).
    pub buffered_bytes: usize,
    /// Open handles per request.
    pub handles: usize,
    /// Linear memory of all instances together; `None`: 75% of the
    /// container's memory limit when it has one.
    pub total_heap_bytes: Option<u64>,
    /// Largest KV value.
    pub kv_value_bytes: u64,
    /// Largest KV metadata.
    pub kv_metadata_bytes: usize,
    /// Bytes one KV store may hold.
    pub kv_store_bytes: u64,
    /// Rate counter and penalty box entries per service.
    pub rate_limit_entries: usize,
    /// Idle client connections close after this.
    pub idle_timeout: Duration,
    /// Streams per HTTP/2 connection.
    pub http2_max_streams: u32,
    /// Client connections at once.
    pub connections: usize,
    /// What reusable sandboxes may do.
    pub reuse: ReuseSettings,
}

/// What reusable sandboxes may do (`limits.reusableSandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseSettings {
    /// Instances of one service version at once, once it reuses sandboxes;
    /// more requests wait for one of them. `None`: up to the concurrency
    /// limit.
    pub max_instances: Option<usize>,
    /// Client requests one instance may serve; `None`: as many as the
    /// program asks for.
    pub max_requests: Option<u64>,
    /// Longest an instance waits for its next request (the program may ask
    /// for less).
    pub idle_timeout: Duration,
}

impl Default for ReuseSettings {
    fn default() -> Self {
        ReuseSettings {
            max_instances: None,
            max_requests: None,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_secs(120),
            cpu_time: Duration::from_millis(50),
            heap_bytes: 128 << 20,
            stack_bytes: 1 << 20,
            max_header_bytes: 64 << 10,
            max_request_body: None,
            backend_requests: 32,
            dynamic_backends: 200,
            package_bytes: 100 << 20,
            concurrency: 1000,
            client_header_timeout: Duration::from_secs(30),
            buffered_bytes: 64 << 20,
            handles: 8192,
            total_heap_bytes: None,
            kv_value_bytes: 25_000_000,
            kv_metadata_bytes: 2000,
            kv_store_bytes: 1 << 30,
            rate_limit_entries: 100_000,
            idle_timeout: Duration::from_secs(60),
            http2_max_streams: 100,
            connections: 10_000,
            reuse: ReuseSettings::default(),
        }
    }
}

impl Limits {
    /// A run of a program as a command (`anywhere run`): the limits of a
    /// request but no wall-clock limit (a test suite waits as long as it
    /// needs; `--wall-time-ms` sets one).
    pub fn for_commands() -> Self {
        Limits {
            wall_time: NO_TIME_LIMIT,
            ..Limits::default()
        }
    }
}

/// A time limit that never fires (a century: far enough, and no overflow
/// when added to an instant).
pub const NO_TIME_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A limit that stops a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceLimit {
    /// Guest CPU time per request.
    Cpu,
    /// Wall-clock time per request.
    Wall,
}

impl InstanceLimit {
    /// The metric label (`anywhere_guest_limit_kills_total{kind=...}`).
    pub fn label(self) -> &'static str {
        match self {
            InstanceLimit::Cpu => "cpu",
            InstanceLimit::Wall => "wall",
        }
    }

    /// The limit as the client's error message names it.
    pub fn describe(self) -> &'static str {
        match self {
            InstanceLimit::Cpu => "CPU time",
            InstanceLimit::Wall => "wall-clock time",
        }
    }
}

/// A limit value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("limits.{key}: {message}")]
pub struct LimitError {
    /// The key under `limits`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl TryFrom<&values_schema::values::Limits> for Limits {
    type Error = LimitError;

    fn try_from(v: &values_schema::values::Limits) -> Result<Self, LimitError> {
        fn bytes(
            key: &'static str,
            q: &values_schema::quantity::Quantity,
        ) -> Result<u64, LimitError> {
            q.value().map(|b| b as u64).map_err(|e| LimitError {
                key,
                message: e.to_string(),
            })
        }
        fn dur(
            key: &'static str,
            d: &values_schema::quantity::GoDuration,
        ) -> Result<Duration, LimitError> {
            d.value().map_err(|e| LimitError {
                key,
                message: e.to_string(),
            })
        }
        Ok(Limits {
            wall_time: dur("wallTime", &v.wall_time)?,
            cpu_time: dur("cpuTime", &v.cpu_time)?,
            heap_bytes: bytes("heapMemory", &v.heap_memory)? as usize,
            stack_bytes: bytes("stack", &v.stack)? as usize,
            max_header_bytes: bytes("maxHeaderSize", &v.max_header_size)? as usize,
            max_request_body: v
                .max_request_body_size
                .as_ref()
                .map(|q| bytes("maxRequestBodySize", q))
                .transpose()?,
            backend_requests: v.backend_requests,
            dynamic_backends: v.dynamic_backends,
            package_bytes: bytes("packageSize", &v.package_size)?,
            concurrency: v.concurrency as usize,
            client_header_timeout: dur("clientHeaderTimeout", &v.client_header_timeout)?,
            buffered_bytes: bytes("bufferedBytes", &v.buffered_bytes)? as usize,
            handles: v.handles as usize,
            total_heap_bytes: v
                .total_heap_memory
                .as_ref()
                .map(|q| bytes("totalHeapMemory", q))
                .transpose()?,
            kv_value_bytes: bytes("kvValueSize", &v.kv_value_size)?,
            kv_metadata_bytes: bytes("kvMetadataSize", &v.kv_metadata_size)? as usize,
            kv_store_bytes: bytes("kvStoreSize", &v.kv_store_size)?,
            rate_limit_entries: v.rate_limit_entries as usize,
            idle_timeout: dur("idleTimeout", &v.idle_timeout)?,
            http2_max_streams: v.http2_max_streams,
            connections: v.connections as usize,
            reuse: ReuseSettings {
                max_instances: v.reusable_sandbox.max_instances.map(|n| n as usize),
                max_requests: v.reusable_sandbox.max_requests,
                idle_timeout: dur(
                    "reusableSandbox.idleTimeout",
                    &v.reusable_sandbox.idle_timeout,
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_defaults_are_fastly_defaults() {
        let from_chart = Limits::try_from(&values_schema::values::Limits::default()).unwrap();
        assert_eq!(from_chart, Limits::default());
    }
}
