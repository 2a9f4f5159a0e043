//! Unit tests of `kv_store.rs`, through the in-memory test guest.

use super::*;
use crate::abi::testing::{OutBuf, TestGuest};
use crate::config::{KvEntry, KvStoreConfig, ProjectConfig};

/// A guest with KV store `kv` holding `a` = `1` (metadata `m`) and
/// `p1`, `p2`, `q1`.
fn guest() -> TestGuest {
    let mut store = KvStoreConfig::default();
    let entry = |data: &[u8], metadata: Option<&str>| KvEntry {
        data: data.to_vec(),
        metadata: metadata.map(str::to_owned),
    };
    store.entries.insert("a".into(), entry(b"1", Some("m")));
    for key in ["p1", "p2", "q1"] {
        store.entries.insert(key.into(), entry(b"v", None));
    }
    let mut config = ProjectConfig::default();
    config.kv_stores.insert("kv".into(), store);
    TestGuest::with_config(config)
}

/// Opens store `kv`.
fn open_kv(g: &mut TestGuest) -> StoreHandle {
    let (np, nl) = g.put(b"kv");
    let out = g.alloc(4);
    g.call(|m, s| open(m, s, np, nl, out)).unwrap();
    StoreHandle::from(g.u32_at(out))
}

/// A new body holding `data`.
fn body(g: &mut TestGuest, data: &'static [u8]) -> BodyHandle {
    g.session.insert(Body::from_bytes(data))
}

/// Starts `fastly_kv_store::lookup` of `key`.
fn start_lookup(g: &mut TestGuest, store: StoreHandle, key: &[u8]) -> KvOpHandle {
    let (kp, kl) = g.put(key);
    let out = g.alloc(4);
    g.call(|m, s| lookup(m, s, store, kp, kl, 0, 0, out))
        .unwrap();
    KvOpHandle::from(g.u32_at(out))
}

/// Where `lookup_wait` writes.
struct LookupOut {
    body: u32,
    meta: OutBuf,
    generation: u32,
    err: u32,
}

impl LookupOut {
    fn new(g: &mut TestGuest, meta_len: u32) -> Self {
        let body = g.alloc(4);
        let meta = OutBuf::new(g, meta_len);
        let generation = g.alloc(8);
        g.mem[generation as usize..generation as usize + 8].fill(0xff);
        let err = g.alloc(4);
        LookupOut {
            body,
            meta,
            generation,
            err,
        }
    }
}

/// A `KvInsertConfig` in guest memory, written field by field.
fn insert_config(
    g: &mut TestGuest,
    mode: u32,
    metadata: (u32, u32),
    ttl: u32,
    generation: u64,
) -> u32 {
    let mut raw = Vec::new();
    for word in [mode, 0, metadata.0, metadata.1, ttl, 0] {
        raw.extend_from_slice(&word.to_le_bytes());
    }
    raw.extend_from_slice(&generation.to_le_bytes());
    assert_eq!(raw.len(), size_of::<KvInsertConfig>());
    g.put(&raw).0
}

/// A `KvListConfig` in guest memory, written field by field.
fn list_config(g: &mut TestGuest, cursor: &[u8], limit: u32, prefix: &[u8]) -> u32 {
    let (cp, cl) = g.put(cursor);
    let (pp, pl) = g.put(prefix);
    let mut raw = Vec::new();
    for word in [0, cp, cl, limit, pp, pl] {
        raw.extend_from_slice(&word.to_le_bytes());
    }
    assert_eq!(raw.len(), size_of::<KvListConfig>());
    g.put(&raw).0
}

#[test]
fn open_knows_the_configured_stores_only() {
    let mut g = guest();
    let h = open_kv(&mut g);
    assert!(matches!(g.session.get(h), Ok(OpenStore::Kv(name)) if name == "kv"));
    let (np, nl) = g.put(b"other");
    let out = g.alloc(4);
    let r = g.call(|m, s| open(m, s, np, nl, out));
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
}

#[tokio::test]
async fn lookup_wait_answers_value_metadata_and_generation() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let h = start_lookup(&mut g, store, b"a");
    let o = LookupOut::new(&mut g, 16);
    let (meta, nw) = (o.meta.buf, o.meta.nwritten);
    lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
        .await
        .unwrap();
    assert_eq!(g.u32_at(o.err), KV_OK);
    assert_eq!(o.meta.read(&g), b"m");
    assert_eq!(
        g.u64_at(o.generation),
        0xffff_ffff_0000_0001,
        "32 bits written"
    );
    let bh = BodyHandle::from(g.u32_at(o.body));
    assert_eq!(g.read_body(bh).await, b"1");

    let h = start_lookup(&mut g, store, b"missing");
    lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
        .await
        .unwrap();
    assert_eq!(g.u32_at(o.body), INVALID_BODY);
    assert_eq!(g.u32_at(nw), 0);
    assert_eq!(g.u32_at(o.err), KvError::NotFound.code());

    let h = start_lookup(&mut g, store, b"bad\nkey");
    lookup_wait(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
        .await
        .unwrap();
    assert_eq!(g.u32_at(o.err), KvError::BadRequest.code());
}

#[tokio::test]
async fn lookup_wait_v2_writes_a_64_bit_generation_and_needs_room_for_metadata() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let h = start_lookup(&mut g, store, b"a");
    let o = LookupOut::new(&mut g, 16);
    let (meta, nw) = (o.meta.buf, o.meta.nwritten);
    lookup_wait_v2(&mut g, h, o.body, meta, 16, nw, o.generation, o.err)
        .await
        .unwrap();
    assert_eq!(g.u64_at(o.generation), 1);
    assert_eq!(g.u32_at(o.err), KV_OK);

    let h = start_lookup(&mut g, store, b"a");
    let r = lookup_wait_v2(&mut g, h, o.body, meta, 0, nw, o.generation, o.err).await;
    assert!(
        matches!(r, Err(HostError::BufferLength { needed: 1 })),
        "{r:?}"
    );
    assert_eq!(g.u32_at(nw), 1);
}

#[test]
fn lookup_of_another_kind_of_store_is_badf() {
    let mut g = guest();
    let config: StoreHandle = g.session.insert(OpenStore::Config("kv".into()));
    let (kp, kl) = g.put(b"a");
    let out = g.alloc(4);
    let r = g.call(|m, s| lookup(m, s, config, kp, kl, 0, 0, out));
    assert!(
        matches!(r, Err(HostError::BadHandle(n)) if n == u32::from(config)),
        "{r:?}"
    );
}

#[tokio::test]
async fn insert_honours_mode_metadata_and_generation() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (kp, kl) = g.put(b"a");
    let (out, err) = (g.alloc(4), g.alloc(4));
    let all = insert_options::METADATA
        | insert_options::TIME_TO_LIVE_SEC
        | insert_options::IF_GENERATION_MATCH;

    // `add` of an existing key fails.
    let cfg = insert_config(&mut g, 1, (0, 0), 0, 0);
    let b = body(&mut g, b"x");
    g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(g.u32_at(err), KvError::PreconditionFailed.code());

    // `append` at generation 1 with new metadata and a TTL.
    let (mp, ml) = g.put(b"meta");
    let cfg = insert_config(&mut g, 2, (mp, ml), 60, 1);
    let b = body(&mut g, b"2");
    g.call(|m, s| insert(m, s, store, kp, kl, b, all, cfg, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(g.u32_at(err), KV_OK);
    let value = g.session.env().kv.lookup("kv", "a").unwrap().unwrap();
    assert_eq!(
        (
            value.data.as_slice(),
            value.metadata.as_slice(),
            value.generation
        ),
        (&b"12"[..], &b"meta"[..], 2)
    );

    // The generation no longer matches; the options unset are ignored.
    let b = body(&mut g, b"3");
    g.call(|m, s| insert(m, s, store, kp, kl, b, all, cfg, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(g.u32_at(err), KvError::PreconditionFailed.code());
    let b = body(&mut g, b"3");
    g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(g.u32_at(err), KV_OK);
    let value = g.session.env().kv.lookup("kv", "a").unwrap().unwrap();
    assert_eq!((value.data.as_slice(), value.generation), (&b"123"[..], 3));

    // An unknown mode is refused before the body is taken.
    let cfg = insert_config(&mut g, 9, (0, 0), 0, 0);
    let b = body(&mut g, b"x");
    let r = g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out));
    assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    assert!(g.session.contains(b));
}

#[tokio::test]
async fn delete_then_delete_wait_answers_ok_then_not_found() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (kp, kl) = g.put(b"a");
    let (out, err) = (g.alloc(4), g.alloc(4));
    for expected in [KV_OK, KvError::NotFound.code()] {
        g.call(|m, s| delete(m, s, store, kp, kl, 0, 0, out))
            .unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        delete_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), expected);
    }
    // A delete's handle is not an insert's.
    g.call(|m, s| delete(m, s, store, kp, kl, 0, 0, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    let r = insert_wait(&mut g, h, err).await;
    assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
}

#[tokio::test]
async fn list_pages_by_prefix_limit_and_cursor() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (out, body_out, err) = (g.alloc(4), g.alloc(4), g.alloc(4));
    let mask = list_options::PREFIX | list_options::LIMIT;
    let page = async |g: &mut TestGuest, mask: u32, cfg: u32| {
        g.call(|m, s| list(m, s, store, mask, cfg, out)).unwrap();
        let h = KvOpHandle::from(g.u32_at(out));
        list_wait(g, h, body_out, err).await.unwrap();
        assert_eq!(g.u32_at(err), KV_OK);
        let bh = BodyHandle::from(g.u32_at(body_out));
        serde_json::from_slice::<serde_json::Value>(&g.read_body(bh).await).unwrap()
    };

    let cfg = list_config(&mut g, b"", 1, b"p");
    let json = page(&mut g, mask, cfg).await;
    assert_eq!(
        json,
        serde_json::json!({"data": ["p1"], "meta": {"limit": 1, "prefix": "p", "next_cursor": "p1"}})
    );
    let cfg = list_config(&mut g, b"p1", 1, b"p");
    let json = page(&mut g, mask | list_options::CURSOR, cfg).await;
    assert_eq!(json["data"], serde_json::json!(["p2"]));
    // Without options the config is not read at all.
    let json = page(&mut g, 0, u32::MAX).await;
    assert_eq!(json["data"], serde_json::json!(["a", "p1", "p2", "q1"]));
}

#[test]
fn object_lookup_answers_a_body_or_none() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let body_out = g.alloc(4);
    let (kp, kl) = g.put(b"a");
    g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out))
        .unwrap();
    assert!(g.session.contains(BodyHandle::from(g.u32_at(body_out))));
    // A missing key: success and the invalid handle, as the Rust SDK
    // expects (fastly 0.9's `KVStore::lookup` answers `Ok(None)`).
    let (kp, kl) = g.put(b"missing");
    g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out))
        .unwrap();
    assert_eq!(g.u32_at(body_out), INVALID_BODY);
    let (kp, kl) = g.put(b"bad\nkey");
    let r = g.call(|m, s| object_lookup(m, s, store, kp, kl, body_out));
    assert!(matches!(r, Err(HostError::Other(_))), "{r:?}");
}

#[tokio::test]
async fn lookup_async_then_pending_lookup_wait() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (out, body_out) = (g.alloc(4), g.alloc(4));
    let (kp, kl) = g.put(b"a");
    g.call(|m, s| lookup_async(m, s, store, kp, kl, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    pending_lookup_wait(&mut g, h, body_out).await.unwrap();
    let bh = BodyHandle::from(g.u32_at(body_out));
    assert_eq!(g.read_body(bh).await, b"1");
    let (kp, kl) = g.put(b"missing");
    g.call(|m, s| lookup_async(m, s, store, kp, kl, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    pending_lookup_wait(&mut g, h, body_out).await.unwrap();
    assert_eq!(g.u32_at(body_out), INVALID_BODY);
}

#[tokio::test]
async fn object_insert_and_insert_async_overwrite() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (kp, kl) = g.put(b"new");
    let b = body(&mut g, b"one");
    object_insert(&mut g, store, kp, kl, b).await.unwrap();
    assert!(!g.session.contains(b), "the body is consumed");
    let value = g.session.env().kv.lookup("kv", "new").unwrap().unwrap();
    assert_eq!((value.data.as_slice(), value.generation), (&b"one"[..], 1));

    let (out, err) = (g.alloc(4), g.alloc(4));
    let b = body(&mut g, b"two");
    g.call(|m, s| insert_async(m, s, store, kp, kl, b, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(g.u32_at(err), KV_OK);
    let value = g.session.env().kv.lookup("kv", "new").unwrap().unwrap();
    assert_eq!((value.data.as_slice(), value.generation), (&b"two"[..], 2));

    let (kp, kl) = g.put(b"bad\nkey");
    let b = body(&mut g, b"x");
    let r = object_insert(&mut g, store, kp, kl, b).await;
    assert!(matches!(r, Err(HostError::Other(_))), "{r:?}");
}

#[tokio::test]
async fn delete_async_then_pending_delete_wait_answers_ok_then_none() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let (kp, kl) = g.put(b"a");
    let out = g.alloc(4);
    g.call(|m, s| delete_async(m, s, store, kp, kl, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    pending_delete_wait(&mut g, h).await.unwrap();
    g.call(|m, s| delete_async(m, s, store, kp, kl, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    let r = pending_delete_wait(&mut g, h).await;
    assert!(matches!(r, Err(HostError::None)), "{r:?}");
}

/// A chunked upload of `total` bytes in 64 KiB chunks that counts the
/// bytes pulled from it.
fn counted_upload(total: usize) -> (Body, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use http_body_util::BodyExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CHUNK: usize = 64 << 10;
    let pulled = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunks = futures::stream::iter((0..total.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(total - i * CHUNK);
        counter.fetch_add(len, Ordering::Relaxed);
        Ok::<_, crate::host::body::BoxError>(http_body::Frame::data(bytes::Bytes::from(vec![
            b'x';
            len
        ])))
    }));
    let stream = http_body_util::StreamBody::new(chunks).boxed_unsync();
    (Body::from_stream(stream), pulled)
}

#[tokio::test]
async fn a_chunked_30_mb_upload_into_kv_is_refused_without_being_collected() {
    use std::sync::atomic::Ordering;
    let mut g = guest();
    let store = open_kv(&mut g);
    let limit = g.session.env().limits.kv_value_bytes as usize;
    let (kp, kl) = g.put(b"upload");
    let (out, err) = (g.alloc(4), g.alloc(4));

    let (upload, pulled) = counted_upload(30_000_000);
    let b: BodyHandle = g.session.insert(upload);
    let cfg = insert_config(&mut g, 0, (0, 0), 0, 0);
    g.call(|m, s| insert(m, s, store, kp, kl, b, 0, cfg, out))
        .unwrap();
    let h = KvOpHandle::from(g.u32_at(out));
    insert_wait(&mut g, h, err).await.unwrap();
    assert_eq!(
        g.u32_at(err),
        KvError::TooLarge(HostLimit::KvValueSize).code()
    );
    let pulled = pulled.load(Ordering::Relaxed);
    assert!(
        pulled <= limit + (64 << 10),
        "{pulled} bytes pulled from the upload, limit {limit}"
    );
    assert_eq!(g.session.env().kv.lookup("kv", "upload").unwrap(), None);
    assert_eq!(g.session.ledger().used(), 0, "nothing left held");

    // The older object-store call has only a status: LIMITEXCEEDED.
    let (upload, pulled) = counted_upload(30_000_000);
    let b: BodyHandle = g.session.insert(upload);
    let r = object_insert(&mut g, store, kp, kl, b).await;
    assert!(
        matches!(r, Err(HostError::LimitExceeded(HostLimit::KvValueSize))),
        "{r:?}"
    );
    assert_eq!(
        r.unwrap_err().status(),
        fastly_shared::FastlyStatus::LIMITEXCEEDED.code
    );
    assert!(pulled.load(Ordering::Relaxed) <= limit + (64 << 10));

    // Just under the limit is stored.
    let (upload, _) = counted_upload(limit);
    let b: BodyHandle = g.session.insert(upload);
    object_insert(&mut g, store, kp, kl, b).await.unwrap();
    let value = g.session.env().kv.lookup("kv", "upload").unwrap().unwrap();
    assert_eq!(value.data.len(), limit);
}

#[tokio::test]
async fn kv_metadata_over_its_limit_is_refused_before_the_body_is_read() {
    let mut g = guest();
    let store = open_kv(&mut g);
    let max = g.session.env().limits.kv_metadata_bytes;
    let (kp, kl) = g.put(b"k");
    let (out, err) = (g.alloc(4), g.alloc(4));
    for (len, expected) in [
        (max + 1, KvError::TooLarge(HostLimit::KvMetadataSize).code()),
        (max, KV_OK),
    ] {
        let (mp, ml) = g.put(&vec![b'm'; len]);
        let cfg = insert_config(&mut g, 0, (mp, ml), 0, 0);
        let b = body(&mut g, b"v");
        g.call(|m, s| insert(m, s, store, kp, kl, b, insert_options::METADATA, cfg, out))
            .unwrap();
        assert!(!g.session.contains(b), "the body is consumed");
        let h = KvOpHandle::from(g.u32_at(out));
        insert_wait(&mut g, h, err).await.unwrap();
        assert_eq!(g.u32_at(err), expected, "metadata of {len} bytes");
    }
    let value = g.session.env().kv.lookup("kv", "k").unwrap().unwrap();
    assert_eq!((value.metadata.len(), value.generation), (max, 1));
}
