//! `fastly_acl`: IP access lists from config.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use crate::host::body::Body;
use crate::host::session::OpenStore;
use wasmtime::Linker;

const ACL_OK: u32 = 1;
const ACL_NO_CONTENT: u32 = 2;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_acl", "open", |c, np, nl, out| {
        let (mut m, st) = split(&mut c)?;
        let name = m.str(np, nl)?.to_owned();
        if !st.session.env.config.acls.contains_key(&name) {
            return Err(HostError::None);
        }
        let h = st.session.new_store(OpenStore::Acl(name));
        m.u32(out, h)
    });
    hostcall!(
        l,
        "fastly_acl",
        "lookup",
        |c, h, ip, len, body_out, err_out| {
            let (mut m, st) = split(&mut c)?;
            let OpenStore::Acl(name) = st.session.stores.get(h)? else {
                return Err(HostError::BadHandle(h));
            };
            let ip = m.ip_addr(ip, len)?;
            let entry = st
                .session
                .env
                .config
                .acls
                .get(name)
                .and_then(|acl| acl.lookup(ip))
                .cloned();
            match entry {
                Some(e) => {
                    let json =
                        serde_json::json!({ "action": e.action, "prefix": e.prefix.to_string() })
                            .to_string();
                    let bh = st.session.new_body(Body::from_bytes(json));
                    m.u32(body_out, bh)?;
                    m.u32(err_out, ACL_OK)
                }
                None => {
                    m.u32(body_out, fastly_shared::INVALID_BODY_HANDLE)?;
                    m.u32(err_out, ACL_NO_CONTENT)
                }
            }
        }
    );
    Ok(())
}
