//! `fastly_http_req::register_dynamic_backend`'s config struct and option
//! mask (witx `dynamic_backend_config`, `backend_config_options`).

use super::GuestSlice;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// The option bits: which fields of [`DynamicBackendConfig`] are set.
pub mod options {
    /// Bit 0 is reserved.
    pub const RESERVED: u32 = 1 << 0;
    /// `host_override` is set.
    pub const HOST_OVERRIDE: u32 = 1 << 1;
    /// `connect_timeout_ms` is set.
    pub const CONNECT_TIMEOUT: u32 = 1 << 2;
    /// `first_byte_timeout_ms` is set.
    pub const FIRST_BYTE_TIMEOUT: u32 = 1 << 3;
    /// `between_bytes_timeout_ms` is set.
    pub const BETWEEN_BYTES_TIMEOUT: u32 = 1 << 4;
    /// Connect with TLS.
    pub const USE_SSL: u32 = 1 << 5;
    /// `ssl_min_version` is set.
    pub const SSL_MIN_VERSION: u32 = 1 << 6;
    /// `ssl_max_version` is set.
    pub const SSL_MAX_VERSION: u32 = 1 << 7;
    /// `cert_hostname` is set.
    pub const CERT_HOSTNAME: u32 = 1 << 8;
    /// `ca_cert` is set.
    pub const CA_CERT: u32 = 1 << 9;
    /// `ciphers` is set.
    pub const CIPHERS: u32 = 1 << 10;
    /// `sni_hostname` is set.
    pub const SNI_HOSTNAME: u32 = 1 << 11;
    /// Do not pool connections.
    pub const DONT_POOL: u32 = 1 << 12;
    /// `client_certificate` and `client_key` are set.
    pub const CLIENT_CERT: u32 = 1 << 13;
    /// The backend speaks gRPC.
    pub const GRPC: u32 = 1 << 14;
}

/// The dynamic backend config as the guest lays it out.
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DynamicBackendConfig {
    /// Host header to send instead of the request's.
    pub host_override: GuestSlice,
    /// Connect timeout, milliseconds.
    pub connect_timeout_ms: U32,
    /// Time to the first byte of the response, milliseconds.
    pub first_byte_timeout_ms: U32,
    /// Time between bytes of the response, milliseconds.
    pub between_bytes_timeout_ms: U32,
    /// Lowest TLS version (`tls_version`: 0 = 1.0 … 3 = 1.3).
    pub ssl_min_version: U32,
    /// Highest TLS version.
    pub ssl_max_version: U32,
    /// Name the backend's certificate must have.
    pub cert_hostname: GuestSlice,
    /// CA certificates (PEM) to trust instead of the web's roots.
    pub ca_cert: GuestSlice,
    /// OpenSSL cipher list.
    pub ciphers: GuestSlice,
    /// Name to send in SNI.
    pub sni_hostname: GuestSlice,
    /// Client certificate (PEM) for mutual TLS.
    pub client_certificate: GuestSlice,
    /// Secret handle holding the client certificate's key.
    pub client_key: U32,
}

/// The TLS version a `tls_version` code names: 1.2 or 1.3 (older versions
/// are raised to 1.2, the oldest rustls speaks); `None` when unknown.
pub fn tls_version(code: u32) -> Option<u8> {
    match code {
        0..=2 => Some(12),
        3 => Some(13),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn layout_matches_the_witx_offsets() {
        assert_eq!(offset_of!(DynamicBackendConfig, connect_timeout_ms), 8);
        assert_eq!(offset_of!(DynamicBackendConfig, ssl_min_version), 20);
        assert_eq!(offset_of!(DynamicBackendConfig, cert_hostname), 28);
        assert_eq!(offset_of!(DynamicBackendConfig, sni_hostname), 52);
        assert_eq!(offset_of!(DynamicBackendConfig, client_key), 68);
        assert_eq!(size_of::<DynamicBackendConfig>(), 72);
    }
}
