//! The cache's guest structs: `fastly_http_req::cache_override_*` (tag
//! bits and the v3 config), `fastly_cache`'s lookup, write and body
//! options, and `fastly_purge`'s options, as fastly-sys 0.13 lays them out.

use super::GuestSlice;
use zerocopy::little_endian::{U32, U64};
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

/// Bits of `cache_lookup_options_mask`.
pub mod lookup_options {
    /// `request_headers` is set (its headers select the Vary variant).
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    /// `service` is set (another service's cache: refused here).
    pub const SERVICE: u32 = 1 << 2;
    /// Ranges apply even while the length is unknown.
    pub const ALWAYS_USE_REQUESTED_RANGE: u32 = 1 << 3;
}

/// `fastly_cache::lookup`'s and `transaction_lookup`'s options (12 bytes;
/// the JS SDK lays out only `request_headers`).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CacheLookupOptions {
    /// A request handle whose headers select the variant.
    pub request_headers: U32,
    /// Another service's name.
    pub service: GuestSlice,
}

/// Bits of `cache_write_options_mask`.
pub mod write_options {
    /// `request_headers` is set.
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    /// `vary_rule` is set (header names separated by spaces).
    pub const VARY_RULE: u32 = 1 << 2;
    /// `initial_age_ns` is set.
    pub const INITIAL_AGE_NS: u32 = 1 << 3;
    /// `stale_while_revalidate_ns` is set.
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 4;
    /// `surrogate_keys` is set (separated by spaces).
    pub const SURROGATE_KEYS: u32 = 1 << 5;
    /// `length` is set.
    pub const LENGTH: u32 = 1 << 6;
    /// `user_metadata` is set.
    pub const USER_METADATA: u32 = 1 << 7;
    /// Sensitive data: kept in memory only.
    pub const SENSITIVE_DATA: u32 = 1 << 8;
    /// `edge_max_age_ns` is set.
    pub const EDGE_MAX_AGE_NS: u32 = 1 << 9;
    /// `service` is set.
    pub const SERVICE: u32 = 1 << 10;
}

/// `fastly_cache`'s write options (80 bytes; the JS SDK lays out the
/// first 64).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CacheWriteOptions {
    /// Fresh for this long (always read).
    pub max_age_ns: U64,
    /// A request handle whose headers select the variant.
    pub request_headers: U32,
    /// Vary rule.
    pub vary_rule: GuestSlice,
    /// Padding before the 8-byte field.
    pub padding: U32,
    /// Age the object already has.
    pub initial_age_ns: U64,
    /// Stale-while-revalidate.
    pub stale_while_revalidate_ns: U64,
    /// Surrogate keys.
    pub surrogate_keys: GuestSlice,
    /// Announced body length.
    pub length: U64,
    /// User metadata.
    pub user_metadata: GuestSlice,
    /// Max age at the edge (at most `max_age_ns`).
    pub edge_max_age_ns: U64,
    /// Another service's name.
    pub service: GuestSlice,
}

/// Bits of `cache_get_body_options_mask`.
pub mod get_body_options {
    /// `from` is set.
    pub const FROM: u32 = 1 << 1;
    /// `to` is set.
    pub const TO: u32 = 1 << 2;
}

/// `fastly_cache::get_body`'s options (16 bytes).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CacheGetBodyOptions {
    /// First byte.
    pub from: U64,
    /// Last byte, inclusive.
    pub to: U64,
}

/// Bits of `purge_options_mask`.
pub mod purge_options {
    /// Mark stale instead of removing.
    pub const SOFT_PURGE: u32 = 1 << 0;
    /// Write the JSON answer into `ret_buf`.
    pub const RET_BUF: u32 = 1 << 1;
}

/// `fastly_purge::purge_surrogate_key`'s options (12 bytes).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct PurgeOptions {
    /// Buffer for the JSON answer.
    pub ret_buf: GuestSlice,
    /// Where the answer's length goes.
    pub ret_buf_nwritten_out: U32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_are_the_sizes_fastly_sys_lays_out() {
        assert_eq!(size_of::<CacheOverrideConfig>(), 20);
        assert_eq!(size_of::<CacheLookupOptions>(), 12);
        assert_eq!(size_of::<CacheWriteOptions>(), 80);
        assert_eq!(size_of::<CacheGetBodyOptions>(), 16);
        assert_eq!(size_of::<PurgeOptions>(), 12);
    }
}
