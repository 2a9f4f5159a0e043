//! Unit tests of `fastly_http_cache` through the in-memory guest harness,
//! with a memory-only cache: the SDK's guest-driven flow step by step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::abi::testing::{OutBuf, TestGuest};
use crate::cache::Cache;
use crate::host::core_cache::state;
use crate::host::handles::BodyHandle;
use bytes::Bytes;
use zerocopy::FromBytes;

/// The client request of the guest (`GET http://example.com/path`).
fn client(g: &TestGuest) -> RequestHandle {
    g.session.downstream_current().unwrap().0
}

/// A response handle with `status` and `headers`.
fn response(g: &mut TestGuest, status: u16, headers: &[(&str, &str)]) -> ResponseHandle {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = http::StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        parts.headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    g.session.insert(ResponseState {
        parts,
        ..ResponseState::new()
    })
}

async fn tx_lookup(g: &mut TestGuest) -> HttpCacheHandle {
    let req = client(g);
    let out = g.alloc(4);
    transaction_lookup(g, req, 0, 0, out).await.unwrap();
    HttpCacheHandle::from(g.u32_at(out))
}

fn state_of(g: &mut TestGuest, h: HttpCacheHandle) -> u32 {
    let out = g.alloc(4);
    g.call(|m, s| get_state(m, s, h, out)).unwrap();
    g.u32_at(out)
}

/// Write options with a max age of `secs` and the Vary rule `vary`.
fn write_opts(g: &mut TestGuest, secs: u64, vary: &str) -> (u32, u32) {
    let (vp, vl) = g.put(vary.as_bytes());
    let at = g.alloc(56);
    g.mem[at as usize..at as usize + 8].copy_from_slice(&(secs * 1_000_000_000).to_le_bytes());
    g.mem[at as usize + 8..at as usize + 12].copy_from_slice(&vp.to_le_bytes());
    g.mem[at as usize + 12..at as usize + 16].copy_from_slice(&vl.to_le_bytes());
    (write_options::VARY_RULE, at)
}

/// Inserts `body` as the response to the client request; waits until it
/// is visible.
async fn insert_response(g: &mut TestGuest, headers: &[(&str, &str)], body: &'static [u8]) {
    let h = tx_lookup(g).await;
    assert_eq!(state_of(g, h), state::MUST_INSERT_OR_UPDATE);
    let resp = response(g, 200, headers);
    let (mask, opts) = write_opts(g, 60, "");
    let out = g.alloc(4);
    g.call(|m, s| transaction_insert(m, s, h, resp, mask, opts, out))
        .unwrap();
    let mut b = g.session.take(BodyHandle::from(g.u32_at(out))).unwrap();
    b.write(Bytes::from_static(body), false).await.unwrap();
    b.close().await;
    g.call(|m, s| close(m, s, h)).unwrap();
    for _ in 0..200 {
        let h = tx_lookup(g).await;
        if state_of(g, h) & state::FOUND != 0 {
            return;
        }
        g.call(|m, s| transaction_abandon(m, s, h)).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the inserted response never became visible");
}

#[test]
fn only_get_and_head_are_cacheable() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let req = client(&g);
    let out = g.alloc(4);
    g.call(|m, s| is_request_cacheable(m, s, req, out)).unwrap();
    assert_eq!(g.u32_at(out), 1);
    g.session.get_mut(req).unwrap().parts.method = http::Method::POST;
    g.call(|m, s| is_request_cacheable(m, s, req, out)).unwrap();
    assert_eq!(g.u32_at(out), 0);
}

#[tokio::test]
async fn an_inserted_response_is_found_with_its_head_body_and_metadata() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    insert_response(
        &mut g,
        &[("x-origin", "yes"), ("surrogate-key", "k1")],
        b"stored",
    )
    .await;
    let h = tx_lookup(&mut g).await;
    assert_eq!(state_of(&mut g, h), state::FOUND | state::USABLE);
    let (ro, bo) = (g.alloc(4), g.alloc(4));
    g.call(|m, s| get_found_response(m, s, h, 1, ro, bo))
        .unwrap();
    let rh = ResponseHandle::from(g.u32_at(ro));
    assert_eq!(g.session.get(rh).unwrap().parts.headers["x-origin"], "yes");
    assert_eq!(g.read_body(BodyHandle::from(g.u32_at(bo))).await, b"stored");
    let n = g.alloc(8);
    g.call(|m, s| get_max_age_ns(m, s, h, n)).unwrap();
    assert_eq!(g.u64_at(n), 60_000_000_000);
    g.call(|m, s| get_length(m, s, h, n)).unwrap();
    assert_eq!(g.u64_at(n), 6);
    g.call(|m, s| get_sensitive_data(m, s, h, n)).unwrap();
    assert_eq!(g.u32_at(n), 0);
    let buf = OutBuf::new(&mut g, 32);
    g.call(|m, s| get_vary_rule(m, s, h, buf.buf, 32, buf.nwritten))
        .unwrap();
    assert_eq!(buf.read(&g), b"");
}

#[tokio::test]
async fn storage_actions_follow_the_response() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let h = tx_lookup(&mut g).await;
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], u32);
    let cases: [Case; 5] = [
        (
            200,
            &[("cache-control", "max-age=60")],
            storage_action::INSERT,
        ),
        (
            200,
            &[("cache-control", "private")],
            storage_action::RECORD_UNCACHEABLE,
        ),
        (
            200,
            &[("set-cookie", "a=b")],
            storage_action::RECORD_UNCACHEABLE,
        ),
        (500, &[], storage_action::DO_NOT_STORE),
        (200, &[("vary", "*")], storage_action::DO_NOT_STORE),
    ];
    for (status, headers, want) in cases {
        let resp = response(&mut g, status, headers);
        let (ao, ro) = (g.alloc(4), g.alloc(4));
        g.call(|m, s| prepare_response_for_storage(m, s, h, resp, ao, ro))
            .unwrap();
        assert_eq!(g.u32_at(ao), want, "{status} {headers:?}");
        assert!(!g.session.contains(resp), "the response was consumed");
    }
}

#[tokio::test]
async fn suggested_options_come_from_the_headers_and_short_buffers_get_buflen() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let h = tx_lookup(&mut g).await;
    let resp = response(
        &mut g,
        200,
        &[
            ("cache-control", "max-age=30, stale-while-revalidate=5"),
            ("vary", "Accept-Encoding"),
            ("surrogate-key", "a b"),
            ("content-length", "12"),
        ],
    );
    let (vary_buf, keys_buf) = (g.alloc(64), g.alloc(64));
    let input = g.alloc(56);
    let put =
        |g: &mut TestGuest, at: usize, v: u32| g.mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut g, input as usize + 8, vary_buf);
    put(&mut g, input as usize + 12, 64);
    put(&mut g, input as usize + 32, keys_buf);
    put(&mut g, input as usize + 36, 64);
    let (mask_out, out) = (g.alloc(4), g.alloc(56));
    g.call(|m, s| get_suggested_cache_options(m, s, h, resp, 0xFE, input, mask_out, out))
        .unwrap();
    let o = HttpCacheWriteOptions::read_from_bytes(g.bytes(out, 56)).unwrap();
    assert_eq!(o.max_age_ns.get(), 30_000_000_000);
    assert_eq!(o.stale_while_revalidate_ns.get(), 5_000_000_000);
    assert_eq!(o.length.get(), 12);
    assert_eq!(g.bytes(vary_buf, o.vary_rule.len.get()), b"accept-encoding");
    assert_eq!(g.bytes(keys_buf, o.surrogate_keys.len.get()), b"a b");
    let mask = g.u32_at(mask_out);
    assert!(mask & write_options::VARY_RULE != 0 && mask & write_options::LENGTH != 0);
    put(&mut g, input as usize + 12, 3);
    let r = g.call(|m, s| get_suggested_cache_options(m, s, h, resp, 0xFE, input, mask_out, out));
    assert!(
        matches!(r, Err(HostError::BufferLength { needed: 15 })),
        "{r:?}"
    );
    let o = HttpCacheWriteOptions::read_from_bytes(g.bytes(out, 56)).unwrap();
    assert_eq!(o.vary_rule.len.get(), 15, "the length needed");
}

#[tokio::test]
async fn a_key_recorded_uncacheable_gives_no_obligation() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let h = tx_lookup(&mut g).await;
    let (mask, opts) = write_opts(&mut g, 0, "");
    g.call(|m, s| transaction_record_not_cacheable(m, s, h, mask, opts))
        .unwrap();
    let again = tx_lookup(&mut g).await;
    assert_eq!(
        state_of(&mut g, again),
        0,
        "hit-for-pass: no object, no obligation"
    );
}

#[tokio::test]
async fn the_suggested_backend_request_is_a_whole_get() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let req = client(&g);
    g.session
        .get_mut(req)
        .unwrap()
        .parts
        .headers
        .insert("range", "bytes=0-1".parse().unwrap());
    let h = tx_lookup(&mut g).await;
    let out = g.alloc(4);
    g.call(|m, s| get_suggested_backend_request(m, s, h, out))
        .unwrap();
    let sent = g.session.get(RequestHandle::from(g.u32_at(out))).unwrap();
    assert_eq!(sent.parts.method, http::Method::GET);
    assert!(!sent.parts.headers.contains_key("range"));
    assert_eq!(sent.parts.uri.path(), "/path");
}

#[tokio::test]
async fn without_an_object_the_getters_answer_none() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let h = tx_lookup(&mut g).await;
    let (ro, bo) = (g.alloc(4), g.alloc(4));
    let r = g.call(|m, s| get_found_response(m, s, h, 1, ro, bo));
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
    let r = g.call(|m, s| get_max_age_ns(m, s, h, ro));
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
    let r = g.call(|m, s| transaction_choose_stale(m, s, h));
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
}
