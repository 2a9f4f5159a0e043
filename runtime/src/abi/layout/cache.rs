//! `fastly_http_req::cache_override_*`: the tag bits and the v3 config
//! struct (witx `cache_override_tag`; fastly-sys `CacheOverride`).

use super::GuestSlice;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// Bits of the override tag.
pub mod tag {
    /// Do not cache; every other bit is then ignored.
    pub const PASS: u32 = 1 << 0;
    /// `ttl` is set.
    pub const TTL: u32 = 1 << 1;
    /// `stale_while_revalidate` is set.
    pub const STALE_WHILE_REVALIDATE: u32 = 1 << 2;
    /// Sensitive data: never written to disk.
    pub const PCI: u32 = 1 << 3;
    /// `lookup_timeout_ms` is set (fastly-sys only; accepted, unused: a
    /// lookup here never waits on another POP).
    pub const LOOKUP_TIMEOUT: u32 = 1 << 4;
    /// Every bit this runtime knows.
    pub const KNOWN: u32 = PASS | TTL | STALE_WHILE_REVALIDATE | PCI | LOOKUP_TIMEOUT;
}

/// `cache_override_v3_set`'s config (20 bytes).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CacheOverrideConfig {
    /// Time to live, seconds.
    pub ttl: U32,
    /// Stale-while-revalidate, seconds.
    pub stale_while_revalidate: U32,
    /// Surrogate keys, separated by spaces (used when the length is not 0).
    pub surrogate_keys: GuestSlice,
    /// Lookup timeout, ms.
    pub lookup_timeout_ms: U32,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_is_20_bytes_as_fastly_sys_lays_it_out() {
        assert_eq!(size_of::<super::CacheOverrideConfig>(), 20);
    }
}
