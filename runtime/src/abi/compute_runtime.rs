//! `fastly_compute_runtime`: the guest's own CPU time and heap size.

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::HostResult;
use crate::host::session::Session;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_compute_runtime", get_vcpu_ms(out));
    hostcall!(l, "fastly_compute_runtime", get_heap_mib(out));
    hostcall!(l, "fastly_compute_runtime", has_domain_inspector(out) => absent_product);
    hostcall!(l, "fastly_compute_runtime", has_image_optimizer(out) => absent_product);
    hostcall!(l, "fastly_compute_runtime", has_origin_inspector(out) => absent_product);
    Ok(())
}

/// `fastly_compute_runtime::get_vcpu_ms`: the guest's CPU time on the
/// current request, milliseconds.
fn get_vcpu_ms(m: &mut Mem<'_>, s: &mut Session, out: u32) -> HostResult<()> {
    let ms = s.clock().cpu().as_millis() as u64;
    m.u64(out, ms)
}

/// `fastly_compute_runtime::get_heap_mib`: the size of the guest's linear
/// memory, whole MiB.
fn get_heap_mib(m: &mut Mem<'_>, _s: &mut Session, out: u32) -> HostResult<()> {
    let mib = (m.0.len() >> 20) as u32;
    m.u32(out, mib)
}

/// `has_domain_inspector`, `has_image_optimizer`, `has_origin_inspector`:
/// 0, as these products do not exist in a self-hosted POP.
///
/// Fixed answer: 0; the product does not exist in a self-hosted POP.
fn absent_product(m: &mut Mem<'_>, _s: &mut Session, out: u32) -> HostResult<()> {
    m.u32(out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;

    #[test]
    fn get_vcpu_ms_is_the_little_cpu_time_used_so_far() {
        let mut g = TestGuest::new();
        let out = g.alloc(8);
        g.mem[out as usize..out as usize + 8].fill(0xff);
        g.call(|m, s| get_vcpu_ms(m, s, out)).unwrap();
        let ms = g.u64_at(out);
        assert!(ms <= g.session.clock().wall().as_millis() as u64, "{ms}");
    }

    #[test]
    fn get_heap_mib_is_the_memory_size_in_whole_mib() {
        let mut g = TestGuest::new();
        let out = g.alloc(4);
        g.call(|m, s| get_heap_mib(m, s, out)).unwrap();
        assert_eq!(g.u32_at(out), 0, "the test guest has 64 KiB");
        g.mem.resize((3 << 20) + 5, 0);
        g.call(|m, s| get_heap_mib(m, s, out)).unwrap();
        assert_eq!(g.u32_at(out), 3);
    }

    /// Fixed answer: the three `has_*` products are 0.
    #[test]
    fn absent_products_are_0() {
        let mut g = TestGuest::new();
        let out = g.alloc(4);
        g.mem[out as usize] = 1;
        g.call(|m, s| absent_product(m, s, out)).unwrap();
        assert_eq!(g.u32_at(out), 0);
    }
}
