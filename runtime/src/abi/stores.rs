//! `fastly_dictionary`, `fastly_config_store` and `fastly_secret_store`.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::handles::{SecretHandle, StoreHandle};
use crate::host::session::{OpenStore, Secret, Session};
use crate::host::{HostError, HostResult};
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_dictionary", open(np, nl, out) => config_open);
    hostcall!(l, "fastly_config_store", open(np, nl, out) => config_open);
    hostcall!(l, "fastly_dictionary", get(h, kp, kl, buf, max, nw) => config_get);
    hostcall!(l, "fastly_config_store", get(h, kp, kl, buf, max, nw) => config_get);
    hostcall!(l, "fastly_secret_store", open(np, nl, out) => secret_open);
    hostcall!(l, "fastly_secret_store", get(h, np, nl, out) => secret_get);
    hostcall!(l, "fastly_secret_store", plaintext(h, buf, max, nw));
    hostcall!(l, "fastly_secret_store", from_bytes(p, len, out));
    Ok(())
}

/// `fastly_config_store::open` and `fastly_dictionary::open`: a handle to
/// a configured config store (`BADF` for an unknown name).
fn config_open(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    if !s.env().config.config_stores.contains_key(&name) {
        return Err(HostError::BadHandle(u32::MAX));
    }
    let h: StoreHandle = s.try_insert(OpenStore::Config(name))?;
    m.handle(out, h)
}

/// `fastly_config_store::get` and `fastly_dictionary::get`: the value of a
/// key (`NONE` when absent).
#[allow(clippy::too_many_arguments)]
fn config_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: StoreHandle,
    kp: u32,
    kl: u32,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let OpenStore::Config(store) = s.get(h)? else {
        return Err(HostError::BadHandle(h.into()));
    };
    let key = m.str(kp, kl)?;
    let value = s
        .env()
        .config
        .config_stores
        .get(store)
        .and_then(|s| s.get(key))
        .cloned()
        .ok_or(HostError::None)?;
    m.out(buf, max, nw, value.as_bytes())
}

/// `fastly_secret_store::open`: a handle to a configured secret store
/// (`NONE` for an unknown name).
fn secret_open(m: &mut Mem<'_>, s: &mut Session, np: u32, nl: u32, out: u32) -> HostResult<()> {
    let name = m.str(np, nl)?.to_owned();
    if !s.env().config.secret_stores.contains_key(&name) {
        return Err(HostError::None);
    }
    let h: StoreHandle = s.try_insert(OpenStore::Secret(name))?;
    m.handle(out, h)
}

/// `fastly_secret_store::get`: a handle to one secret of the store (`NONE`
/// when absent).
fn secret_get(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: StoreHandle,
    np: u32,
    nl: u32,
    out: u32,
) -> HostResult<()> {
    let OpenStore::Secret(store) = s.get(h)? else {
        return Err(HostError::BadHandle(h.into()));
    };
    let key = m.str(np, nl)?;
    let value = s
        .env()
        .config
        .secret_stores
        .get(store)
        .and_then(|s| s.secrets.get(key))
        .cloned()
        .ok_or(HostError::None)?;
    let sh = s.insert::<SecretHandle>(Secret(value));
    m.handle(out, sh)
}

/// `fastly_secret_store::plaintext`: the secret's bytes.
fn plaintext(
    m: &mut Mem<'_>,
    s: &mut Session,
    h: SecretHandle,
    buf: u32,
    max: u32,
    nw: u32,
) -> HostResult<()> {
    let Secret(value) = s.get(h)?;
    m.out(buf, max, nw, value)
}

/// `fastly_secret_store::from_bytes`: a secret handle holding the guest's
/// bytes.
fn from_bytes(m: &mut Mem<'_>, s: &mut Session, p: u32, len: u32, out: u32) -> HostResult<()> {
    let value = m.bytes(p, len)?.to_vec();
    let h = s.insert::<SecretHandle>(Secret(value));
    m.handle(out, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::{OutBuf, TestGuest};
    use crate::config::{ProjectConfig, SecretStoreConfig};

    /// A guest with config store `cfg` (`k` = `v`) and secret store `vault`
    /// (`key` = `s3cret`).
    fn guest() -> TestGuest {
        let mut config = ProjectConfig::default();
        config
            .config_stores
            .insert("cfg".into(), [("k".to_string(), "v".to_string())].into());
        let mut vault = SecretStoreConfig::default();
        vault.secrets.insert("key".into(), b"s3cret".to_vec());
        config.secret_stores.insert("vault".into(), vault);
        TestGuest::with_config(config)
    }

    /// Opens a store with `f`; its handle.
    fn opened(
        g: &mut TestGuest,
        f: fn(&mut Mem<'_>, &mut Session, u32, u32, u32) -> HostResult<()>,
        name: &[u8],
    ) -> HostResult<StoreHandle> {
        let (np, nl) = g.put(name);
        let out = g.alloc(4);
        g.call(|m, s| f(m, s, np, nl, out))?;
        Ok(StoreHandle::from(g.u32_at(out)))
    }

    #[test]
    fn config_open_knows_the_configured_stores_only() {
        let mut g = guest();
        let h = opened(&mut g, config_open, b"cfg").unwrap();
        assert!(matches!(g.session.get(h), Ok(OpenStore::Config(n)) if n == "cfg"));
        let r = opened(&mut g, config_open, b"vault");
        assert!(matches!(r, Err(HostError::BadHandle(u32::MAX))), "{r:?}");
    }

    #[test]
    fn config_get_answers_the_value_none_or_buflen() {
        let mut g = guest();
        let h = opened(&mut g, config_open, b"cfg").unwrap();
        let out = OutBuf::new(&mut g, 8);
        let (kp, kl) = g.put(b"k");
        g.call(|m, s| config_get(m, s, h, kp, kl, out.buf, out.max, out.nwritten))
            .unwrap();
        assert_eq!(out.read(&g), b"v");
        let r = g.call(|m, s| config_get(m, s, h, kp, kl, out.buf, 0, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BufferLength { needed: 1 })),
            "{r:?}"
        );
        let (kp, kl) = g.put(b"absent");
        let r = g.call(|m, s| config_get(m, s, h, kp, kl, out.buf, out.max, out.nwritten));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        let vault = opened(&mut g, secret_open, b"vault").unwrap();
        let r = g.call(|m, s| config_get(m, s, vault, kp, kl, out.buf, out.max, out.nwritten));
        assert!(
            matches!(r, Err(HostError::BadHandle(n)) if n == u32::from(vault)),
            "{r:?}"
        );
    }

    #[test]
    fn secret_open_knows_the_configured_stores_only() {
        let mut g = guest();
        let h = opened(&mut g, secret_open, b"vault").unwrap();
        assert!(matches!(g.session.get(h), Ok(OpenStore::Secret(n)) if n == "vault"));
        let r = opened(&mut g, secret_open, b"cfg");
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
    }

    #[test]
    fn secret_get_then_plaintext_answers_the_secret() {
        let mut g = guest();
        let vault = opened(&mut g, secret_open, b"vault").unwrap();
        let out = g.alloc(4);
        let (np, nl) = g.put(b"key");
        g.call(|m, s| secret_get(m, s, vault, np, nl, out)).unwrap();
        let secret = SecretHandle::from(g.u32_at(out));
        let buf = OutBuf::new(&mut g, 16);
        g.call(|m, s| plaintext(m, s, secret, buf.buf, buf.max, buf.nwritten))
            .unwrap();
        assert_eq!(buf.read(&g), b"s3cret");

        let (np, nl) = g.put(b"absent");
        let r = g.call(|m, s| secret_get(m, s, vault, np, nl, out));
        assert!(matches!(r, Err(HostError::None)), "{r:?}");
        let cfg = opened(&mut g, config_open, b"cfg").unwrap();
        let r = g.call(|m, s| secret_get(m, s, cfg, np, nl, out));
        assert!(
            matches!(r, Err(HostError::BadHandle(n)) if n == u32::from(cfg)),
            "{r:?}"
        );
        let r = g.call(|m, s| plaintext(m, s, SecretHandle::from(u32::from(cfg)), 0, 0, 0));
        assert!(matches!(r, Err(HostError::BadHandle(_))), "{r:?}");
    }

    #[test]
    fn from_bytes_makes_a_secret_of_the_guest_bytes() {
        let mut g = guest();
        let (p, len) = g.put(b"made here");
        let out = g.alloc(4);
        g.call(|m, s| from_bytes(m, s, p, len, out)).unwrap();
        let secret = SecretHandle::from(g.u32_at(out));
        assert!(matches!(g.session.get(secret), Ok(Secret(v)) if v == b"made here"));
    }
}
