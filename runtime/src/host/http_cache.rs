//! The HTTP cache API (`fastly_http_cache`) as the program holds it: the
//! SDK itself looks up a request, sends it to the backend when it must,
//! asks the host what to do with the response and stores it. Objects are
//! the readthrough cache's: a program in either mode finds what the other
//! stored.

use super::body::{Body, boxed};
use super::core_cache::{CacheEntry, CacheObject};
use super::handles::{BodyHandle, ResponseHandle};
use super::session::{ResponseState, Session};
use super::{HostError, HostResult};
use crate::cache::core::CoreWrite;
use crate::cache::lookup::Found;
use crate::cache::object::{StoredHead, now_ms};
use crate::cache::readthrough::stored_response;

/// An HTTP cache handle's contents.
#[derive(Debug)]
pub struct HttpCacheEntry {
    /// The lookup, its object and its obligation.
    pub entry: CacheEntry,
    /// The request looked up.
    pub request: http::request::Parts,
    /// The program chose the stale object after a failed revalidation.
    pub chose_stale: bool,
}

impl HttpCacheEntry {
    /// The lookup state bits.
    pub fn state(&self) -> u32 {
        self.entry.state()
    }

    /// The stored object, whatever its freshness (`NONE` without one).
    pub fn found(&self) -> HostResult<&Found> {
        match self.entry.object()? {
            CacheObject::Stored(f) => Ok(f),
            CacheObject::Writing { .. } => Err(HostError::None),
        }
    }

    /// True when its response may be served: fresh, within
    /// stale-while-revalidate, being written, or chosen stale.
    pub fn usable(&self) -> bool {
        use super::core_cache::state::USABLE;
        self.chose_stale || self.state() & USABLE != 0
    }
}

impl Session {
    /// The found (or chosen stale) response of `entry` as handles; ranged
    /// and conditional for a client when `for_client`.
    pub fn found_response(
        &mut self,
        entry: &HttpCacheEntry,
        for_client: bool,
    ) -> HostResult<(ResponseHandle, BodyHandle)> {
        if !entry.usable() {
            return Err(HostError::None);
        }
        let resp = match entry.entry.object()? {
            CacheObject::Stored(f) => stored_response(f, &entry.request, now_ms(), for_client),
            CacheObject::Writing { fill, meta } => {
                let (status, headers) = meta
                    .head
                    .as_ref()
                    .map(StoredHead::to_http)
                    .unwrap_or_default();
                let mut r = http::Response::new(fill.body());
                *r.status_mut() = status;
                *r.headers_mut() = headers;
                r
            }
        };
        let (parts, body) = resp.into_parts();
        let rh = self.insert(ResponseState {
            parts,
            ..ResponseState::new()
        });
        let bh = self.insert(Body::from_stream(boxed(body)));
        Ok((rh, bh))
    }

    /// The status and headers of response `h`, as stored.
    pub fn response_head(&self, h: ResponseHandle) -> HostResult<StoredHead> {
        let r = self.get(h)?;
        Ok(StoredHead::from_parts(r.parts.status, &r.parts.headers))
    }

    /// Inserts response `resp` (consumed) with `write` through a new body
    /// handle, under the obligation of `entry`.
    pub fn http_insert(
        &mut self,
        entry: &mut HttpCacheEntry,
        resp: ResponseHandle,
        mut write: CoreWrite,
        stream_back: bool,
    ) -> HostResult<(BodyHandle, Option<HttpCacheEntry>)> {
        let head = self.response_head(resp)?;
        let obligation = entry.entry.obligation.take().ok_or_else(|| {
            HostError::Invalid("this lookup does not hold the obligation to insert".into())
        })?;
        self.take(resp)?;
        write.head = Some(head);
        let (body, back) = self.core_insert(
            entry.entry.primary,
            write,
            entry.entry.headers.clone(),
            Some(obligation),
            stream_back,
        )?;
        let back = back.map(|e| HttpCacheEntry {
            entry: e,
            request: clone_parts(&entry.request),
            chose_stale: false,
        });
        Ok((body, back))
    }
}

/// A copy of a request head (extensions are not carried).
pub fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut req = http::Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req.into_parts().0
}
