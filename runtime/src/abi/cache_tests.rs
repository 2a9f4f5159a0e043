//! Unit tests of `fastly_cache` and `fastly_purge` through the in-memory
//! guest harness, with a memory-only cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::abi::layout::cache::get_body_options;
use crate::abi::testing::{OutBuf, TestGuest};
use crate::host::core_cache::state;
use crate::host::handles::{AsyncItemHandle, BodyHandle};
use bytes::Bytes;

/// Write options in guest memory: max age, user metadata and surrogate
/// keys; the mask that names them.
fn write_opts(g: &mut TestGuest, max_age: Duration, meta: &[u8], keys: &str) -> (u32, u32) {
    let (mp, ml) = g.put(meta);
    let (kp, kl) = g.put(keys.as_bytes());
    let at = g.alloc(80);
    g.mem[at as usize..at as usize + 8].copy_from_slice(&(max_age.as_nanos() as u64).to_le_bytes());
    g.mem[at as usize + 40..at as usize + 44].copy_from_slice(&kp.to_le_bytes());
    g.mem[at as usize + 44..at as usize + 48].copy_from_slice(&kl.to_le_bytes());
    g.mem[at as usize + 56..at as usize + 60].copy_from_slice(&mp.to_le_bytes());
    g.mem[at as usize + 60..at as usize + 64].copy_from_slice(&ml.to_le_bytes());
    (
        write_options::USER_METADATA | write_options::SURROGATE_KEYS,
        at,
    )
}

/// Writes `data` into body `h` and closes it.
async fn write_and_close(g: &mut TestGuest, h: BodyHandle, data: &'static [u8]) {
    let mut body = g.session.take(h).unwrap();
    body.write(Bytes::from_static(data), false).await.unwrap();
    body.close().await;
}

async fn insert_object(g: &mut TestGuest, key: &str, data: &'static [u8]) {
    let (kp, kl) = g.put(key.as_bytes());
    let (mask, opts) = write_opts(g, Duration::from_secs(60), b"meta", "s1 s2");
    let out = g.alloc(4);
    g.call(|m, s| insert(m, s, kp, kl, mask, opts, out))
        .unwrap();
    let h = BodyHandle::from(g.u32_at(out));
    write_and_close(g, h, data).await;
}

/// Looks `key` up until the insert has landed (it commits in the
/// background); the cache handle.
async fn lookup_found(g: &mut TestGuest, key: &str) -> CacheHandle {
    let (kp, kl) = g.put(key.as_bytes());
    let out = g.alloc(4);
    let st = g.alloc(4);
    for _ in 0..200 {
        lookup(g, kp, kl, 0, 0, out).await.unwrap();
        let h = CacheHandle::from(g.u32_at(out));
        g.call(|m, s| get_state(m, s, h, st)).unwrap();
        if g.u32_at(st) & state::FOUND != 0 {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{key} never became visible");
}

#[tokio::test]
async fn an_inserted_object_is_found_with_its_metadata_body_and_hits() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    insert_object(&mut g, "k", b"hello").await;
    let h = lookup_found(&mut g, "k").await;
    let st = g.alloc(4);
    g.call(|m, s| get_state(m, s, h, st)).unwrap();
    assert_eq!(g.u32_at(st), state::FOUND | state::USABLE);
    let buf = OutBuf::new(&mut g, 16);
    g.call(|m, s| get_user_metadata(m, s, h, buf.buf, 16, buf.nwritten))
        .unwrap();
    assert_eq!(buf.read(&g), b"meta");
    let small = OutBuf::new(&mut g, 2);
    let r = g.call(|m, s| get_user_metadata(m, s, h, small.buf, 2, small.nwritten));
    assert!(
        matches!(r, Err(HostError::BufferLength { needed: 4 })),
        "{r:?}"
    );
    let n = g.alloc(8);
    g.call(|m, s| get_length(m, s, h, n)).unwrap();
    assert_eq!(g.u64_at(n), 5);
    g.call(|m, s| get_max_age_ns(m, s, h, n)).unwrap();
    assert_eq!(g.u64_at(n), 60_000_000_000);
    g.call(|m, s| get_hits(m, s, h, n)).unwrap();
    assert!(g.u64_at(n) >= 1);
    let out = g.alloc(4);
    g.call(|m, s| get_body(m, s, h, 0, 0, out)).unwrap();
    let body = BodyHandle::from(g.u32_at(out));
    assert_eq!(g.read_body(body).await, b"hello");
    g.call(|m, s| close(m, s, h)).unwrap();
    assert!(g.call(|m, s| close(m, s, h)).is_err(), "closed twice");
}

#[tokio::test]
async fn a_miss_is_not_found_and_its_getters_answer_none() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let (kp, kl) = g.put(b"absent");
    let out = g.alloc(4);
    lookup(&mut g, kp, kl, 0, 0, out).await.unwrap();
    let h = CacheHandle::from(g.u32_at(out));
    let st = g.alloc(8);
    g.call(|m, s| get_state(m, s, h, st)).unwrap();
    assert_eq!(g.u32_at(st), 0);
    let r = g.call(|m, s| get_length(m, s, h, st));
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
    let r = g.call(|m, s| get_body(m, s, h, 0, 0, out));
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
}

#[tokio::test]
async fn an_abandoned_insert_stores_nothing() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let (kp, kl) = g.put(b"gone");
    let (mask, opts) = write_opts(&mut g, Duration::from_secs(60), b"", "");
    let out = g.alloc(4);
    g.call(|m, s| insert(m, s, kp, kl, mask, opts, out))
        .unwrap();
    let h = BodyHandle::from(g.u32_at(out));
    let mut body = g.session.take(h).unwrap();
    body.write(Bytes::from_static(b"half"), false)
        .await
        .unwrap();
    drop(body); // abandoned
    tokio::time::sleep(Duration::from_millis(50)).await;
    lookup(&mut g, kp, kl, 0, 0, out).await.unwrap();
    let st = g.alloc(4);
    let ch = CacheHandle::from(g.u32_at(out));
    g.call(|m, s| get_state(m, s, ch, st)).unwrap();
    assert_eq!(g.u32_at(st), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_collapse_on_the_first_and_cancel_hands_the_obligation_on() {
    let cache = Cache::in_memory();
    let mut first = TestGuest::with_cache(cache.clone());
    let mut second = TestGuest::with_cache(cache.clone());
    let mut third = TestGuest::with_cache(cache);
    let (kp, kl) = first.put(b"tx");
    let out = first.alloc(4);
    transaction_lookup(&mut first, kp, kl, 0, 0, out)
        .await
        .unwrap();
    let h1 = CacheHandle::from(first.u32_at(out));
    let st = first.alloc(4);
    first.call(|m, s| get_state(m, s, h1, st)).unwrap();
    assert_eq!(first.u32_at(st), state::MUST_INSERT_OR_UPDATE);
    // The second waits for the first.
    let busy = async_lookup(&mut second, "tx").await;
    let ready = second
        .session
        .select(
            &[AsyncItemHandle::from(u32::from(busy))],
            Some(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    assert_eq!(ready, None, "still waiting on the first transaction");
    // The first cancels: the second gets the obligation.
    first.call(|m, s| transaction_cancel(m, s, h1)).unwrap();
    let h2 = wait_busy(&mut second, busy).await;
    assert_eq!(state_of(&mut second, h2), state::MUST_INSERT_OR_UPDATE);
    // The third waits for the second, which inserts.
    let busy3 = async_lookup(&mut third, "tx").await;
    let (mask, opts) = write_opts(&mut second, Duration::from_secs(60), b"", "");
    let bout = second.alloc(4);
    second
        .call(|m, s| transaction_insert(m, s, h2, mask, opts, bout))
        .unwrap();
    let body = BodyHandle::from(second.u32_at(bout));
    write_and_close(&mut second, body, b"filled").await;
    let h3 = wait_busy(&mut third, busy3).await;
    assert_eq!(state_of(&mut third, h3), state::FOUND | state::USABLE);
    let bo = third.alloc(4);
    third.call(|m, s| get_body(m, s, h3, 0, 0, bo)).unwrap();
    let b = BodyHandle::from(third.u32_at(bo));
    assert_eq!(third.read_body(b).await, b"filled");
}

async fn async_lookup(g: &mut TestGuest, key: &str) -> CacheBusyHandle {
    let (kp, kl) = g.put(key.as_bytes());
    let out = g.alloc(4);
    g.call(|m, s| transaction_lookup_async(m, s, kp, kl, 0, 0, out))
        .unwrap();
    CacheBusyHandle::from(g.u32_at(out))
}

async fn wait_busy(g: &mut TestGuest, busy: CacheBusyHandle) -> CacheHandle {
    let out = g.alloc(4);
    tokio::time::timeout(Duration::from_secs(5), cache_busy_handle_wait(g, busy, out))
        .await
        .expect("the busy handle resolves")
        .unwrap();
    CacheHandle::from(g.u32_at(out))
}

fn state_of(g: &mut TestGuest, h: CacheHandle) -> u32 {
    let st = g.alloc(4);
    g.call(|m, s| get_state(m, s, h, st)).unwrap();
    g.u32_at(st)
}

#[tokio::test]
async fn stream_back_reads_the_object_while_it_is_written() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let (kp, kl) = g.put(b"sb");
    let out = g.alloc(4);
    transaction_lookup(&mut g, kp, kl, 0, 0, out).await.unwrap();
    let h = CacheHandle::from(g.u32_at(out));
    let (mask, opts) = write_opts(&mut g, Duration::from_secs(60), b"", "");
    let (bout, hout) = (g.alloc(4), g.alloc(4));
    g.call(|m, s| transaction_insert_and_stream_back(m, s, h, mask, opts, bout, hout))
        .unwrap();
    let (body, back) = (
        BodyHandle::from(g.u32_at(bout)),
        CacheHandle::from(g.u32_at(hout)),
    );
    assert_eq!(state_of(&mut g, back), state::FOUND | state::USABLE);
    let rb = g.alloc(4);
    g.call(|m, s| get_body(m, s, back, 0, 0, rb)).unwrap();
    let read = BodyHandle::from(g.u32_at(rb));
    write_and_close(&mut g, body, b"streamed").await;
    assert_eq!(g.read_body(read).await, b"streamed");
}

#[tokio::test]
async fn get_body_answers_ranges() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    insert_object(&mut g, "r", b"0123456789").await;
    let h = lookup_found(&mut g, "r").await;
    let opts = g.alloc(16);
    g.mem[opts as usize..opts as usize + 8].copy_from_slice(&3u64.to_le_bytes());
    g.mem[opts as usize + 8..opts as usize + 16].copy_from_slice(&5u64.to_le_bytes());
    let out = g.alloc(4);
    let mask = get_body_options::FROM | get_body_options::TO;
    g.call(|m, s| get_body(m, s, h, mask, opts, out)).unwrap();
    let b = BodyHandle::from(g.u32_at(out));
    assert_eq!(g.read_body(b).await, b"345");
}

#[tokio::test]
async fn another_services_cache_is_refused() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    let (kp, kl) = g.put(b"k");
    let out = g.alloc(4);
    let opts = g.alloc(12);
    let r = lookup(&mut g, kp, kl, lookup_options::SERVICE, opts, out).await;
    assert!(matches!(r, Err(HostError::Unsupported(_))), "{r:?}");
}

#[tokio::test]
async fn purge_surrogate_key_removes_what_carries_it() {
    let mut g = TestGuest::with_cache(Cache::in_memory());
    insert_object(&mut g, "p", b"x").await;
    lookup_found(&mut g, "p").await;
    let (sp, sl) = g.put(b"s2");
    crate::abi::purge::purge_surrogate_key(&mut g, sp, sl, 0, 0)
        .await
        .unwrap();
    let (kp, kl) = g.put(b"p");
    let out = g.alloc(4);
    lookup(&mut g, kp, kl, 0, 0, out).await.unwrap();
    let h = CacheHandle::from(g.u32_at(out));
    assert_eq!(state_of(&mut g, h), 0, "purged");
}
