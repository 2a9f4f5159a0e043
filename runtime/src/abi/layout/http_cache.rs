//! `fastly_http_cache`'s guest structs (fastly-sys `HttpCacheLookupOptions`,
//! `HttpCacheWriteOptions`) and the storage action values.

use super::GuestSlice;
use zerocopy::little_endian::U64;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bits of the lookup options mask.
pub mod lookup_options {
    /// `override_key` is set (raw key bytes).
    pub const OVERRIDE_KEY: u32 = 1 << 1;
    /// `backend_name` is set.
    pub const BACKEND_NAME: u32 = 1 << 2;
}

/// `transaction_lookup`'s options (16 bytes; the JS SDK lays out 8).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct HttpCacheLookupOptions {
    /// The program's own cache key.
    pub override_key: GuestSlice,
    /// The backend the request will go to.
    pub backend_name: GuestSlice,
}

/// Bits of the write options mask.
pub mod write_options {
    /// `vary_rule` is set.
    pub const VARY_RULE: u32 = 1 << 1;
    /// `initial_age_ns` is set.
    pub const INITIAL_AGE_NS: u32 = 1 << 2;
    /// `stale_while_revalidate_ns` is set.
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 3;
    /// `surrogate_keys` is set.
    pub const SURROGATE_KEYS: u32 = 1 << 4;
    /// `length` is set.
    pub const LENGTH: u32 = 1 << 5;
    /// Sensitive data (flag only).
    pub const SENSITIVE_DATA: u32 = 1 << 6;
    /// `stale_if_error_ns` is set.
    pub const STALE_IF_ERROR_NS: u32 = 1 << 7;
}

/// `fastly_http_cache`'s write options (56 bytes), read from the guest and
/// written back by `get_suggested_cache_options`.
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct HttpCacheWriteOptions {
    /// Fresh for this long (always present).
    pub max_age_ns: U64,
    /// Vary rule: header names separated by spaces.
    pub vary_rule: GuestSlice,
    /// Age the response already has.
    pub initial_age_ns: U64,
    /// Stale-while-revalidate.
    pub stale_while_revalidate_ns: U64,
    /// Surrogate keys separated by spaces.
    pub surrogate_keys: GuestSlice,
    /// Body length.
    pub length: U64,
    /// Stale-if-error.
    pub stale_if_error_ns: U64,
}

/// `http_storage_action` values.
pub mod storage_action {
    /// Store the response.
    pub const INSERT: u32 = 0;
    /// Refresh the stored response (the backend answered 304).
    pub const UPDATE: u32 = 1;
    /// Do not store it.
    pub const DO_NOT_STORE: u32 = 2;
    /// Do not store it, and remember the key is not cacheable.
    pub const RECORD_UNCACHEABLE: u32 = 3;
}

#[cfg(test)]
mod tests {
    #[test]
    fn structs_are_the_sizes_fastly_sys_lays_out() {
        assert_eq!(size_of::<super::HttpCacheLookupOptions>(), 16);
        assert_eq!(size_of::<super::HttpCacheWriteOptions>(), 56);
    }
}
