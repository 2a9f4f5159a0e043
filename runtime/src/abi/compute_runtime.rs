//! `fastly_compute_runtime`: the guest's own CPU time and heap size.

use super::{hostcall, split};
use crate::engine::state::GuestState;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_compute_runtime", "get_vcpu_ms", |c, out| {
        let (mut m, st) = split(&mut c)?;
        let ms = st.session.clock.cpu().as_millis() as u64;
        m.u64(out, ms)
    });
    hostcall!(l, "fastly_compute_runtime", "get_heap_mib", |c, out| {
        let (mut m, _) = split(&mut c)?;
        let mib = (m.0.len() >> 20) as u32;
        m.u32(out, mib)
    });
    // Products that do not exist in a self-hosted POP.
    for name in [
        "has_domain_inspector",
        "has_image_optimizer",
        "has_origin_inspector",
    ] {
        l.func_wrap(
            "fastly_compute_runtime",
            name,
            |mut c: wasmtime::Caller<'_, GuestState>, out: i32| -> i32 {
                super::status(split(&mut c).and_then(|(mut m, _)| m.u32(out as u32, 0)))
            },
        )?;
    }
    Ok(())
}
