//! The platform's environment variables: what Fastly tells every instance
//! about where it runs (`FASTLY_POP`, `FASTLY_SERVICE_ID`, …). Programs
//! read them, and some refuse to answer without them.

use std::sync::atomic::{AtomicU64, Ordering};

/// A customer or service id nobody has: 22 zeros, the shape of Fastly's ids
/// (what Fastly's local tool answers too).
pub const NO_ID: &str = "0000000000000000000000";

/// How trace ids are made.
#[derive(Debug)]
pub enum TraceIds {
    /// 1, 2, 3, … as 32 hex digits: a developer's run, easy to follow
    /// (Fastly's local tool counts too).
    Counting(AtomicU64),
    /// 128 random bits: unique across pods and restarts.
    Random,
}

impl TraceIds {
    /// The next trace id, 32 lowercase hex digits.
    pub fn next(&self) -> String {
        let id: u128 = match self {
            TraceIds::Counting(n) => u128::from(n.fetch_add(1, Ordering::Relaxed) + 1),
            TraceIds::Random => rand::random(),
        };
        format!("{id:032x}")
    }
}

/// What the platform says about where a service runs.
#[derive(Debug)]
pub struct Platform {
    /// `FASTLY_CUSTOMER_ID`.
    pub customer_id: String,
    /// `FASTLY_SERVICE_ID`.
    pub service_id: String,
    /// `FASTLY_SERVICE_VERSION`.
    pub service_version: u64,
    /// `FASTLY_POP`: the POP's name.
    pub pop: String,
    /// `FASTLY_REGION`.
    pub region: String,
    /// `FASTLY_HOSTNAME`: the machine (the pod) the instance runs on.
    pub hostname: String,
    /// `FASTLY_IS_STAGING`.
    pub is_staging: bool,
    /// `FASTLY_TRACE_ID`, one per instance.
    pub trace_ids: TraceIds,
}

impl Platform {
    /// A developer's machine, as Fastly's local tool describes it: no
    /// customer or service, version 0, host `localhost`, trace ids counting
    /// up from 1.
    pub fn local() -> Self {
        Platform {
            customer_id: NO_ID.into(),
            service_id: NO_ID.into(),
            service_version: 0,
            pop: "XXX".into(),
            region: "Somewhere".into(),
            hostname: "localhost".into(),
            is_staging: false,
            trace_ids: TraceIds::Counting(AtomicU64::new(0)),
        }
    }

    /// The variables of one new instance; `cache_generation` counts the
    /// service's purge-alls.
    pub fn vars(&self, cache_generation: u64) -> Vec<(&'static str, String)> {
        vec![
            ("FASTLY_CACHE_GENERATION", cache_generation.to_string()),
            ("FASTLY_CUSTOMER_ID", self.customer_id.clone()),
            ("FASTLY_HOSTNAME", self.hostname.clone()),
            ("FASTLY_IS_STAGING", u8::from(self.is_staging).to_string()),
            ("FASTLY_POP", self.pop.clone()),
            ("FASTLY_REGION", self.region.clone()),
            ("FASTLY_SERVICE_ID", self.service_id.clone()),
            ("FASTLY_SERVICE_VERSION", self.service_version.to_string()),
            ("FASTLY_TRACE_ID", self.trace_ids.next()),
        ]
    }
}

/// A service id for a service that is not on Fastly: 22 characters of
/// Fastly's alphabet derived from its name, the same on every pod.
pub fn derived_service_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(format!("fastly-anywhere service {name}").as_bytes());
    digest
        .iter()
        .take(22)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A version number for a version that is not on Fastly: the first six
/// bytes of its version id (hex), the same on every pod; 0 when the id is
/// not hex.
pub fn derived_version(version_id: &str) -> u64 {
    let head = version_id.get(..12).unwrap_or(version_id);
    u64::from_str_radix(head, 16).unwrap_or(0)
}

/// This machine's host name (a pod's is its name).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_trace_ids_count_up_as_32_hex_digits() {
        let p = Platform::local();
        let first = p.vars(0);
        let second = p.vars(3);
        let get = |v: &[(&str, String)], k: &str| {
            v.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get(&first, "FASTLY_TRACE_ID"), format!("{:032x}", 1));
        assert_eq!(get(&second, "FASTLY_TRACE_ID"), format!("{:032x}", 2));
        assert_eq!(get(&second, "FASTLY_CACHE_GENERATION"), "3");
        assert_eq!(get(&first, "FASTLY_HOSTNAME"), "localhost");
        assert_eq!(first.len(), 9);
    }

    #[test]
    fn random_trace_ids_differ() {
        let ids = TraceIds::Random;
        let (a, b) = (ids.next(), ids.next());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn derived_ids_are_stable_and_shaped_like_fastly_ids() {
        let a = derived_service_id("shop");
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, derived_service_id("shop"));
        assert_ne!(a, derived_service_id("blog"));
        assert_eq!(derived_version("00000000000a1234"), 10);
        assert_eq!(derived_version("zz"), 0);
    }
}
