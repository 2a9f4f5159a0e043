//! The guest's structs, described once: each is a `#[repr(C)]` type with
//! little-endian fields (wasm is little-endian whatever the host is), read
//! out of guest memory by [`Mem::read_struct`] with a bounds check. The
//! field names follow Fastly's witx definitions, as the SDKs (crate
//! fastly-sys, npm @fastly/js-compute) lay them out. A struct's option mask
//! says which fields the guest set; its bits are named constants beside
//! the struct.

pub mod backend;
pub mod cache;
pub mod http_cache;
pub mod kv;

use super::memory::Mem;
use crate::host::{HostError, HostResult};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A `(pointer, length)` pair inside a guest struct.
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct GuestSlice {
    /// Where the bytes are.
    pub ptr: U32,
    /// How many.
    pub len: U32,
}

impl Mem<'_> {
    /// The guest struct `T` at `ptr`.
    pub fn read_struct<T: FromBytes>(&self, ptr: u32) -> HostResult<T> {
        let bytes = self.bytes(ptr, size_of::<T>() as u32)?;
        T::read_from_bytes(bytes)
            .map_err(|_| HostError::Invalid(format!("guest struct at {ptr} is malformed")))
    }

    /// The guest struct `T` at `ptr`, of which the guest may have laid out
    /// only a prefix (the JS SDK declares some option structs shorter than
    /// fastly-sys): bytes past the end of memory read as zero. Use it only
    /// where the fields read are those the option mask names.
    pub fn read_struct_prefix<T: FromBytes>(&self, ptr: u32) -> HostResult<T> {
        let want = size_of::<T>();
        let start = (ptr as usize).min(self.0.len());
        let have = self.0.len().saturating_sub(start).min(want);
        if have == 0 {
            return Err(HostError::Invalid(format!(
                "guest struct at {ptr} is out of bounds"
            )));
        }
        let mut buf = vec![0u8; want];
        buf[..have].copy_from_slice(&self.0[start..start + have]);
        T::read_from_bytes(&buf)
            .map_err(|_| HostError::Invalid(format!("guest struct at {ptr} is malformed")))
    }

    /// The bytes a [`GuestSlice`] points to.
    pub fn slice(&self, s: GuestSlice) -> HostResult<&[u8]> {
        self.bytes(s.ptr.get(), s.len.get())
    }

    /// The words of the text a [`GuestSlice`] points to, separated by
    /// spaces (the ABI's lists of header names and surrogate keys).
    pub fn words(&self, s: GuestSlice) -> HostResult<Vec<String>> {
        Ok(String::from_utf8_lossy(self.slice(s)?)
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect())
    }

    /// The text a [`GuestSlice`] points to (invalid UTF-8 replaced, as the
    /// field is only ever compared or sent on).
    pub fn lossy_text(&self, s: GuestSlice) -> HostResult<String> {
        Ok(String::from_utf8_lossy(self.slice(s)?).into_owned())
    }
}

/// An option mask: `has(bit)` is true when the guest set that option.
#[derive(Debug, Clone, Copy)]
pub struct Mask(pub u32);

impl Mask {
    /// True when `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}
