//! `fastly_kv_store`'s config structs and option masks (witx
//! `kv_insert_config`, `kv_list_config` and their `*_options`).

use super::GuestSlice;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// Option bits of [`KvInsertConfig`].
pub mod insert_options {
    /// Bit 0 is reserved.
    pub const RESERVED: u32 = 1 << 0;
    /// Insert in the background (accepted; inserts here are synchronous).
    pub const BACKGROUND_FETCH: u32 = 1 << 1;
    /// Bit 2 is reserved.
    pub const RESERVED_2: u32 = 1 << 2;
    /// `metadata` is set.
    pub const METADATA: u32 = 1 << 3;
    /// `time_to_live_sec` is set.
    pub const TIME_TO_LIVE_SEC: u32 = 1 << 4;
    /// `if_generation_match` is set.
    pub const IF_GENERATION_MATCH: u32 = 1 << 5;
}

/// `fastly_kv_store::insert`'s config.
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct KvInsertConfig {
    /// 0 overwrite, 1 add, 2 append, 3 prepend.
    pub mode: U32,
    /// Unused by the ABI.
    pub unused: U32,
    /// Metadata stored with the value.
    pub metadata: GuestSlice,
    /// Time to live, seconds.
    pub time_to_live_sec: U32,
    /// Padding before the 8-byte field.
    pub padding: U32,
    /// Insert only when the stored generation is this one.
    pub if_generation_match: U64,
}

/// Option bits of [`KvListConfig`].
pub mod list_options {
    /// Bit 0 is reserved.
    pub const RESERVED: u32 = 1 << 0;
    /// `cursor` is set.
    pub const CURSOR: u32 = 1 << 1;
    /// `limit` is set.
    pub const LIMIT: u32 = 1 << 2;
    /// `prefix` is set.
    pub const PREFIX: u32 = 1 << 3;
}

/// `fastly_kv_store::list`'s config.
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct KvListConfig {
    /// Consistency mode (accepted; one store here is always consistent).
    pub mode: U32,
    /// Where the previous page ended.
    pub cursor: GuestSlice,
    /// Keys per page.
    pub limit: U32,
    /// Only keys that start with this.
    pub prefix: GuestSlice,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn layouts_match_the_witx_offsets() {
        assert_eq!(offset_of!(KvInsertConfig, metadata), 8);
        assert_eq!(offset_of!(KvInsertConfig, time_to_live_sec), 16);
        assert_eq!(offset_of!(KvInsertConfig, if_generation_match), 24);
        assert_eq!(offset_of!(KvListConfig, cursor), 4);
        assert_eq!(offset_of!(KvListConfig, limit), 12);
        assert_eq!(offset_of!(KvListConfig, prefix), 16);
    }
}
