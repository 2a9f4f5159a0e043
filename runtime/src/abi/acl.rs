//! `fastly_acl`: IP access lists from config.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::body::Body;
use crate::host::handles::{BodyHandle, StoreHandle};
use crate::host::session::{OpenStore, Session};
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

const ACL_OK: u32 = 1;
const ACL_NO_CONTENT: u32 = 2;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_acl", open(np, nl, out));
    hostcall!(l, "fastly_acl", lookup(h, ip, len, body_out, err_out));
    Ok(())
}

/// `fastly_acl::open`: a handle to a configured ACL (`NONE` for an unknown
/// name).
fn open(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    if !s.env().config.acls.contains_key(&name) {
        return Err(HostError::None);
    }
    let h: StoreHandle = s.try_insert(OpenStore::Acl(name))?;
    m.handle(out, h)
}

/// `fastly_acl::lookup`: the entry matching an IP address as a JSON body
/// (`action` and `prefix`), or no body and `no_content` in `err_out`.
fn lookup(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: StoreHandle,
    ip: u32,
    len: u32,
    body_out: u32,
    err_out: u32,
) -> HostResult<()> {
    let OpenStore::Acl(name) = s.get(h)? else {
        return Err(HostError::BadHandle(h.into()));
    };
    let ip = m.ip_addr(ip, len)?;
    let entry = s
        .env()
        .config
        .acls
        .get(name)
        .and_then(|acl| acl.lookup(ip))
        .cloned();
    match entry {
        Some(e) => {
            let json = serde_json::json!({ "action": e.action, "prefix": e.prefix.to_string() })
                .to_string();
            let bh = s.insert::<BodyHandle>(Body::from_bytes(json));
            m.handle(body_out, bh)?;
            m.u32(err_out, ACL_OK)
        }
        None => {
            m.u32(body_out, fastly_shared::INVALID_BODY_HANDLE)?;
            m.u32(err_out, ACL_NO_CONTENT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;
    use crate::config::{Acl, ProjectConfig};

    /// A guest with ACL `office`: 192.0.2.0/24 blocked but 192.0.2.8/29
    /// allowed.
    fn guest() -> TestGuest {
        let acl = Acl::from_json(
            r#"{"entries": [
                {"prefix": "192.0.2.0/24", "action": "BLOCK"},
                {"prefix": "192.0.2.8/29", "action": "ALLOW"}
            ]}"#,
        )
        .unwrap();
        let mut config = ProjectConfig::default();
        config.acls.insert("office".into(), acl);
        TestGuest::with_config(config)
    }

    #[test]
    fn open_knows_the_configured_acls_only() {
        let mut g = guest();
        let (np, nl) = g.put(b"office");
        let out = g.alloc(4);
        g.call(|m, s| open(m, s, np, nl, out)).unwrap();
        let h = StoreHandle::from(g.u32_at(out));
        assert!(matches!(g.session.get(h), Ok(OpenStore::Acl(n)) if n == "office"));
        let (np, nl) = g.put(b"home");
        let r = g.call(|m, s| open(m, s, np, nl, out));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }

    #[tokio::test]
    async fn lookup_answers_the_longest_prefix_or_no_content() {
        let mut g = guest();
        let h: StoreHandle = g.session.insert(OpenStore::Acl("office".into()));
        let (body_out, err_out) = (g.alloc(4), g.alloc(4));

        let (ip, len) = g.put(&[192, 0, 2, 9]);
        g.call(|m, s| lookup(m, s, h, ip, len, body_out, err_out))
            .unwrap();
        assert_eq!(g.u32_at(err_out), ACL_OK);
        let body = g.read_body(BodyHandle::from(g.u32_at(body_out))).await;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"action": "ALLOW", "prefix": "192.0.2.8/29"})
        );

        let (ip, len) = g.put(&[198, 51, 100, 1]);
        g.call(|m, s| lookup(m, s, h, ip, len, body_out, err_out))
            .unwrap();
        assert_eq!(g.u32_at(body_out), fastly_shared::INVALID_BODY_HANDLE);
        assert_eq!(g.u32_at(err_out), ACL_NO_CONTENT);

        let (ip, len) = g.put(&[192, 0, 2]);
        let r = g.call(|m, s| lookup(m, s, h, ip, len, body_out, err_out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn lookup_on_another_kind_of_store_is_badf_with_its_number() {
        let mut g = guest();
        let h: StoreHandle = g.session.insert(OpenStore::Kv("office".into()));
        let (ip, len) = g.put(&[192, 0, 2, 9]);
        let (body_out, err_out) = (g.alloc(4), g.alloc(4));
        let r = g.call(|m, s| lookup(m, s, h, ip, len, body_out, err_out));
        assert!(
            matches!(r, Err(HostError::BadHandle(n)) if n == u32::from(h)),
            "{r:?}"
        );
    }
}
