//! A client of the Fastly API: the endpoints `anywhere bootstrap` and
//! `anywhere loader` use, typed.
//!
//! - [`Client`] holds one token (a [`Secret`], which prints as `***`) and
//!   sends it as the `Fastly-Key` header to the base URL it was made for
//!   (values `controlPlane.apiUrl`, `https://api.fastly.com` by default),
//!   and to no other host: redirects are not followed.
//! - Every call is bounded: [`CONNECT_TIMEOUT`], [`TOTAL_TIMEOUT`] and
//!   [`MAX_RESPONSE_BYTES`].
//! - Failures are [`ApiError`]s that name the URL; [`ApiError::is_transient`]
//!   separates what to retry (no connection, timeouts, 429, 5xx) from what
//!   needs a person (401/403, 404, a malformed answer).
//! - Polling endpoints take the previous answer's [`ETag`] and may answer
//!   [`Conditional::NotModified`].
//!
//! Endpoints: [`Client::token_self`], [`Client::list_services`],
//! [`Client::service_details`], [`Client::package`],
//! [`Client::dictionaries`], [`Client::dictionary_items`],
//! [`Client::resource_links`], [`Client::config_store_items`], and
//! [`Client::service_snapshot`], which gathers one service's active version
//! for the loader. [`Credentials`] is the credentials volume the bootstrap
//! writes and the loader reads.

mod client;
mod conditional;
mod credentials;
mod endpoints;
mod error;
mod lenient;
mod model;
mod secret;
mod snapshot;
mod timestamp;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use client::Client;
pub use conditional::{Conditional, ETag};
pub use credentials::{
    API_TOKEN_FILE, CLUSTER_ID_FILE, CREDENTIALS_FILE, Credentials, CredentialsError,
};
pub use endpoints::PER_PAGE;
pub use error::ApiError;
pub use model::{
    Backend, Dictionary, Domain, PackageInfo, PackageMetadata, ResourceLink, ServiceDetails,
    ServiceSummary, TokenInfo, VersionDetail,
};
pub use secret::{Secret, SecretFileError};
pub use snapshot::ServiceSnapshot;
pub use timestamp::Timestamp;
// Shared with the other HTTPS clients of the runtime (log delivery).
pub use wire::{lowest_cause, tls_config};

/// The default API (values `controlPlane.apiUrl`).
pub const DEFAULT_API_URL: &str = "https://api.fastly.com";
/// Time to establish a connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole call, from connecting to the last byte of the body.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body accepted (a page of services, a store's items).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
