//! A stored object's metadata: what the cache keeps beside the body, and
//! the age and freshness arithmetic over it.

use super::freshness::Freshness;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A response head as stored: status and headers in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHead {
    /// HTTP status.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl StoredHead {
    /// The head of `parts`.
    pub fn from_parts(status: http::StatusCode, headers: &http::HeaderMap) -> Self {
        StoredHead {
            status: status.as_u16(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    /// Status and headers as `http` types (entries that no longer parse are
    /// dropped: they were valid when stored).
    pub fn to_http(&self) -> (http::StatusCode, http::HeaderMap) {
        let status = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        let mut headers = http::HeaderMap::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_bytes(v),
            ) {
                headers.append(k, v);
            }
        }
        (status, headers)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Everything the cache keeps about one object except its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Names the body's chunks; new for every write of the key.
    pub object_id: u64,
    /// The service that stored it.
    pub service: String,
    /// Its primary key (the variant key adds the Vary'd headers).
    pub primary: [u8; 32],
    /// Body length in bytes.
    pub length: u64,
    /// Number of body chunks.
    pub chunks: u32,
    /// When it was stored or last revalidated, ms since the Unix epoch.
    pub stored_at_ms: u64,
    /// Age it had when stored, ms.
    pub initial_age_ms: u64,
    /// Fresh until this age, ms.
    pub max_age_ms: u64,
    /// Stale-while-revalidate window after `max_age`, ms.
    pub swr_ms: u64,
    /// Stale-if-error window after `max_age`, ms.
    pub sie_ms: u64,
    /// Purge groups.
    pub surrogate_keys: Vec<String>,
    /// The request headers (lowercase names) this object varies on.
    pub vary: Vec<String>,
    /// Bytes the program attached (Core Cache API).
    pub user_metadata: Vec<u8>,
    /// The response head, for HTTP objects.
    pub head: Option<StoredHead>,
    /// Soft-purged: stale from then on, still usable within its windows.
    pub invalidated: bool,
    /// Sensitive (PCI): kept in memory only.
    pub sensitive: bool,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where an object stands at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// Within its time to live.
    Fresh,
    /// Past it, within stale-while-revalidate.
    WithinRevalidate,
    /// Past both, within stale-if-error.
    WithinError,
    /// Past every window.
    Expired,
}

impl ObjectMeta {
    /// Sets the freshness fields from `f`, stored now.
    pub fn set_freshness(&mut self, f: &Freshness) {
        self.stored_at_ms = now_ms();
        self.initial_age_ms = f.initial_age.as_millis() as u64;
        self.max_age_ms = f.max_age.as_millis() as u64;
        self.swr_ms = f.stale_while_revalidate.as_millis() as u64;
        self.sie_ms = f.stale_if_error.as_millis() as u64;
        self.surrogate_keys.clone_from(&f.surrogate_keys);
        self.sensitive = f.sensitive;
        self.invalidated = false;
    }

    /// Its age at `now_ms`.
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(self.initial_age_ms + now_ms.saturating_sub(self.stored_at_ms))
    }

    /// Where it stands at `now_ms`.
    pub fn staleness(&self, now_ms: u64) -> Staleness {
        let age = self.age(now_ms).as_millis() as u64;
        let stale_for = if self.invalidated {
            // Soft-purged: stale since the purge, windows counted from now
            // on as if it had just expired.
            age.saturating_sub(self.max_age_ms.min(age))
        } else if age < self.max_age_ms {
            return Staleness::Fresh;
        } else {
            age - self.max_age_ms
        };
        if stale_for < self.swr_ms {
            Staleness::WithinRevalidate
        } else if stale_for < self.sie_ms {
            Staleness::WithinError
        } else {
            Staleness::Expired
        }
    }

    /// Time it may still be kept for anything (fresh or stale use).
    pub fn usable_for(&self, now_ms: u64) -> Duration {
        let age = self.age(now_ms).as_millis() as u64;
        let end = self.max_age_ms + self.swr_ms.max(self.sie_ms);
        Duration::from_millis(end.saturating_sub(age))
    }

    /// The bytes stored for it.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads stored bytes; `None` when they do not decode.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            object_id: 1,
            service: "s".into(),
            primary: [7; 32],
            length: 3,
            chunks: 1,
            stored_at_ms: 1_000_000,
            initial_age_ms: 2_000,
            max_age_ms: 10_000,
            swr_ms: 5_000,
            sie_ms: 20_000,
            surrogate_keys: vec!["a".into()],
            vary: vec![],
            user_metadata: vec![1, 2],
            head: Some(StoredHead {
                status: 200,
                headers: vec![("etag".into(), b"\"x\"".to_vec())],
            }),
            invalidated: false,
            sensitive: false,
        }
    }

    #[test]
    fn staleness_walks_through_the_windows() {
        let m = meta();
        let at = |ms: u64| m.staleness(1_000_000 + ms);
        assert_eq!(at(0), Staleness::Fresh);
        assert_eq!(at(7_999), Staleness::Fresh);
        assert_eq!(at(8_000), Staleness::WithinRevalidate);
        assert_eq!(at(13_000), Staleness::WithinError);
        assert_eq!(at(28_000), Staleness::Expired);
        assert_eq!(m.age(1_003_000), Duration::from_secs(5));
    }

    #[test]
    fn a_soft_purged_object_is_stale_at_once() {
        let mut m = meta();
        m.invalidated = true;
        assert_eq!(m.staleness(1_000_000), Staleness::WithinRevalidate);
    }

    #[test]
    fn metadata_round_trips_and_garbage_does_not_decode() {
        let m = meta();
        assert_eq!(ObjectMeta::decode(&m.encode()), Some(m));
        assert_eq!(ObjectMeta::decode(&[0xff; 3]), None);
    }
}
