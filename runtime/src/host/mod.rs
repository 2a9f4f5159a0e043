//! The host side of the Fastly ABI as typed Rust: sessions that own the
//! handles of one running instance, bodies, backends, stores and rate
//! counters. Nothing here knows about wasm; `crate::abi` adapts these to
//! guest memory.

pub mod backends;
pub mod body;
pub mod clock;
pub mod core_cache;
pub mod downstream;
pub mod egress;
pub mod erl;
pub mod forwarded_tls;
pub mod framing;
pub mod handles;
pub mod health;
pub mod heap;
pub mod http_cache;
pub mod kv;
pub mod ledger;
pub mod log_ship;
pub mod logs;
pub mod platform;
pub mod program_output;
pub mod reuse;
pub mod send;
pub mod service;
pub mod session;

/// An error of a host operation, as the ABI reports it: every variant maps
/// to one `FastlyStatus`.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A handle that does not exist or was already consumed (`BADF`).
    #[error("bad handle {0}")]
    BadHandle(u32),
    /// An argument the ABI does not accept (`INVAL`).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The value asked for does not exist (`NONE`).
    #[error("no value")]
    None,
    /// The guest's buffer is too small; `needed` bytes would fit (`BUFLEN`).
    #[error("buffer too small, {needed} bytes needed")]
    BufferLength {
        /// Bytes the answer needs.
        needed: usize,
    },
    /// The hostcall exists in the ABI but this runtime does not implement it
    /// (`UNSUPPORTED`).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A limit was reached (`LIMITEXCEEDED`).
    #[error("limit exceeded: {0}")]
    LimitExceeded(HostLimit),
    /// Not ready yet; ask again (`AGAIN`).
    #[error("not ready")]
    Again,
    /// An HTTP message the ABI cannot represent (`HTTPINVALID`).
    #[error("invalid HTTP: {0}")]
    HttpInvalid(String),
    /// The request to a backend failed (`ERROR`, with a send error detail).
    #[error("backend request failed: {0}")]
    Send(#[from] backends::SendError),
    /// Any other failure (`ERROR`).
    #[error("{0}")]
    Other(String),
}

impl HostError {
    /// The `FastlyStatus` code of this error.
    pub fn status(&self) -> i32 {
        use fastly_shared::FastlyStatus as S;
        let s = match self {
            HostError::BadHandle(_) => S::BADF,
            HostError::Invalid(_) => S::INVAL,
            HostError::None => S::NONE,
            HostError::BufferLength { .. } => S::BUFLEN,
            HostError::Unsupported(_) => S::UNSUPPORTED,
            HostError::LimitExceeded(_) => S::LIMITEXCEEDED,
            HostError::Again => S::AGAIN,
            HostError::HttpInvalid(_) => S::HTTPINVALID,
            HostError::Send(_) | HostError::Other(_) => S::ERROR,
        };
        s.code
    }
}

/// A per-execution or per-service limit of the host (as opposed to the
/// guest's CPU, wall-clock and memory limits, which stop the instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostLimit {
    /// `limits.backendRequests`: backend requests of one execution.
    #[error("backend requests per execution")]
    BackendRequestsPerExecution,
    /// Dynamic backends one service version may register.
    #[error("dynamic backends per service")]
    DynamicBackendsPerService,
    /// `limits.handles`: objects one request holds open.
    #[error("open handles per request")]
    Handles,
    /// `limits.bufferedBytes`: bytes one request holds in host memory.
    #[error("bytes buffered per request")]
    BufferedBytes,
    /// Header fields of one message (the header map's capacity).
    #[error("header fields per message")]
    HeaderFields,
    /// `limits.kvValueSize`.
    #[error("KV value size")]
    KvValueSize,
    /// `limits.kvMetadataSize`.
    #[error("KV metadata size")]
    KvMetadataSize,
    /// `limits.kvStoreSize`.
    #[error("KV store size")]
    KvStoreSize,
}

/// Result of a host operation.
pub type HostResult<T> = Result<T, HostError>;
