//! An in-memory guest for the ABI's unit tests: a linear memory (a byte
//! vector with a bump allocator) and a session serving one client request,
//! so that a hostcall function can be called directly: write its arguments
//! into memory, call it, read what it wrote.

use super::Guest;
use super::memory::Mem;
use crate::config::ProjectConfig;
use crate::host::HostResult;
use crate::host::body::StreamBody;
use crate::host::downstream::{DownstreamMeta, DownstreamRequest, DownstreamResponse};
use crate::host::kv::KvStores;
use crate::host::logs::LogSink;
use crate::host::service::ServiceEnv;
use crate::host::session::Session;
use crate::limits::Limits;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Bytes of linear memory the test guest has.
const MEMORY_BYTES: usize = 64 << 10;

/// A guest with no wasm in it.
pub struct TestGuest {
    /// Linear memory.
    pub mem: Vec<u8>,
    /// The instance's session.
    pub session: Session,
    /// Next free byte of `mem` (8-aligned bump allocation).
    next_free: usize,
    /// Where the response to the client request arrives.
    pub response: Option<oneshot::Receiver<DownstreamResponse>>,
}

impl Guest for TestGuest {
    fn mem_and_session(&mut self) -> HostResult<(Mem<'_>, &mut Session)> {
        Ok((Mem(&mut self.mem), &mut self.session))
    }

    fn session(&mut self) -> &mut Session {
        &mut self.session
    }
}

/// A client request `GET http://example.com/path` from 192.0.2.1 with a
/// body of `body`.
fn client_request(
    body: &'static str,
) -> (DownstreamRequest, oneshot::Receiver<DownstreamResponse>) {
    let (respond, response) = oneshot::channel();
    let stream: StreamBody = http_body_util::Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::builder()
        .uri("http://example.com/path")
        .header("host", "example.com")
        .header("x-test", "one")
        .body(stream)
        .expect("a valid request");
    let meta = DownstreamMeta {
        client_ip: [192, 0, 2, 1].into(),
        server_addr: ([127, 0, 0, 1], 7676).into(),
        request_id: 0xabc,
        original_header_names: vec!["Host".into(), "X-Test".into()],
        tls: Default::default(),
    };
    (
        DownstreamRequest {
            request,
            meta,
            respond,
            slot: None,
        },
        response,
    )
}

impl TestGuest {
    /// A guest of a service with the default limits and no configuration.
    pub fn new() -> Self {
        Self::with_config(ProjectConfig::default())
    }

    /// A guest of a service with an HTTP cache in memory.
    pub fn with_cache(cache: crate::cache::Cache) -> Self {
        Self::build(ProjectConfig::default(), Some(cache))
    }

    /// A guest of a service configured by `config` (backends, stores).
    pub fn with_config(config: ProjectConfig) -> Self {
        Self::build(config, None)
    }

    /// A guest whose client request came with TLS facts from the Ingress.
    pub fn with_forwarded_tls(tls: crate::host::forwarded_tls::ForwardedTls) -> Self {
        let mut g = Self::new();
        let (mut first, response) = client_request("client body");
        first.meta.tls = tls;
        g.session = Session::new(g.session.env().clone(), first);
        g.response = Some(response);
        g
    }

    fn build(config: ProjectConfig, cache: Option<crate::cache::Cache>) -> Self {
        let kv = Arc::new(KvStores::in_memory().expect("an in-memory KV database"));
        kv.seed(&config.kv_stores).expect("KV stores seeded");
        let env = ServiceEnv::new(
            "test".into(),
            config,
            kv,
            LogSink::default(),
            Limits::default(),
            crate::host::egress::EgressPolicy::open(),
        )
        .expect("a service environment");
        let env = match cache {
            Some(c) => env.with_cache(c),
            None => env,
        };
        let (first, response) = client_request("client body");
        TestGuest {
            mem: vec![0; MEMORY_BYTES],
            session: Session::new(Arc::new(env), first),
            next_free: 8,
            response: Some(response),
        }
    }

    /// Reserves `len` zeroed bytes; their address.
    pub fn alloc(&mut self, len: usize) -> u32 {
        let at = self.next_free;
        self.next_free = (at + len + 7) & !7;
        // Grows as a guest's memory would (tests of large bodies and many
        // headers need more than the usual page or two).
        if self.next_free > self.mem.len() {
            self.mem.resize(self.next_free, 0);
        }
        at as u32
    }

    /// Copies `data` into memory; its address and length.
    pub fn put(&mut self, data: &[u8]) -> (u32, u32) {
        let at = self.alloc(data.len());
        self.mem[at as usize..at as usize + data.len()].copy_from_slice(data);
        (at, data.len() as u32)
    }

    /// `len` bytes at `at`.
    pub fn bytes(&self, at: u32, len: u32) -> &[u8] {
        &self.mem[at as usize..(at + len) as usize]
    }

    /// The little-endian u32 at `at`.
    pub fn u32_at(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.bytes(at, 4).try_into().expect("4 bytes"))
    }

    /// The little-endian u64 at `at`.
    pub fn u64_at(&self, at: u32) -> u64 {
        u64::from_le_bytes(self.bytes(at, 8).try_into().expect("8 bytes"))
    }

    /// Calls a synchronous hostcall function with this guest's memory and
    /// session.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut Mem<'_>, &mut Session) -> R) -> R {
        f(&mut Mem(&mut self.mem), &mut self.session)
    }
}

/// An output buffer the tests hand to hostcalls: `buf` of `max` bytes and
/// the `nwritten` word after it.
pub struct OutBuf {
    /// The buffer.
    pub buf: u32,
    /// Its size.
    pub max: u32,
    /// Where the written length goes.
    pub nwritten: u32,
}

impl OutBuf {
    /// Reserves a buffer of `max` bytes in `g`.
    pub fn new(g: &mut TestGuest, max: u32) -> Self {
        let buf = g.alloc(max as usize);
        let nwritten = g.alloc(8);
        OutBuf { buf, max, nwritten }
    }

    /// What the hostcall wrote.
    pub fn read<'a>(&self, g: &'a TestGuest) -> &'a [u8] {
        g.bytes(self.buf, g.u32_at(self.nwritten))
    }
}

impl TestGuest {
    /// What is left of body `h`, read to its end; the handle stays open.
    pub async fn read_body(&mut self, h: crate::host::handles::BodyHandle) -> Vec<u8> {
        let mut body = self.session.take(h).expect("a live body handle");
        let mut all = Vec::new();
        loop {
            let chunk = body.read(usize::MAX).await.expect("a readable body");
            if chunk.is_empty() {
                break;
            }
            all.extend_from_slice(&chunk);
        }
        self.session.put(h, body);
        all
    }
}

/// Another client request like the first (`GET http://example.com/path`
/// from 192.0.2.1) with a body of `body`, for a guest waiting in
/// `next_request_wait`; the receiver gets its response.
pub fn next_client_request(
    body: &'static str,
) -> (DownstreamRequest, oneshot::Receiver<DownstreamResponse>) {
    client_request(body)
}
