//! Handles: one type per kind of object a program can hold, and the table
//! that maps them to objects. All kinds share one counter, so that a number
//! names one object whatever its kind: `fastly_async_io::select` takes
//! handles of bodies, pending requests and KV operations in one list
//! ([`AsyncItemHandle`]).

use super::{HostError, HostResult};
use std::collections::HashMap;
use std::marker::PhantomData;

/// A handle type: a `u32` on the wire, a distinct type in Rust.
pub trait Handle: Copy + From<u32> + Into<u32> + std::fmt::Debug {}

macro_rules! handle_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(u32);

        impl From<u32> for $name {
            fn from(n: u32) -> Self {
                $name(n)
            }
        }

        impl From<$name> for u32 {
            fn from(h: $name) -> u32 {
                h.0
            }
        }

        impl Handle for $name {}
    )*};
}

handle_types! {
    /// A request (`fastly_http_req`): the client's, or one the program made.
    RequestHandle,
    /// A response (`fastly_http_resp`).
    ResponseHandle,
    /// A body (`fastly_http_body`).
    BodyHandle,
    /// A backend request in flight (`pending_req_*`).
    PendingRequestHandle,
    /// An open config store, dictionary, secret store, KV store or ACL.
    StoreHandle,
    /// A secret taken from a secret store.
    SecretHandle,
    /// A KV operation in flight (lookup, insert, delete, list).
    KvOpHandle,
    /// A promise of the next client request (reusable sandboxes).
    PromiseHandle,
    /// A Core Cache lookup's outcome (`fastly_cache`).
    CacheHandle,
    /// A transactional Core Cache lookup still waiting.
    CacheBusyHandle,
    /// An HTTP cache API lookup (`fastly_http_cache`).
    HttpCacheHandle,
    /// Any handle that can be waited on: a body, a pending request, a KV
    /// operation or a request promise.
    AsyncItemHandle,
}

/// Hands out handle numbers for one session.
#[derive(Debug, Default)]
pub struct HandleCounter(u32);

impl HandleCounter {
    /// The next unused handle number. Numbers near `u32::MAX` are the
    /// ABI's "invalid handle" markers and are never given out.
    pub fn next_number(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1) % (u32::MAX - 2);
        self.0
    }
}

/// Objects of one kind by handle.
#[derive(Debug)]
pub struct Table<H, T> {
    objects: HashMap<u32, T>,
    kind: PhantomData<H>,
}

impl<H, T> Default for Table<H, T> {
    fn default() -> Self {
        Table {
            objects: HashMap::new(),
            kind: PhantomData,
        }
    }
}

impl<H: Handle, T> Table<H, T> {
    /// Stores `value` under a new handle.
    pub fn insert(&mut self, counter: &mut HandleCounter, value: T) -> H {
        let n = counter.next_number();
        self.objects.insert(n, value);
        H::from(n)
    }

    /// Stores `value` under a handle given out before.
    pub fn put(&mut self, handle: H, value: T) {
        self.objects.insert(handle.into(), value);
    }

    /// The object, or `BADF`.
    pub fn get(&self, handle: H) -> HostResult<&T> {
        let n = handle.into();
        self.objects.get(&n).ok_or(HostError::BadHandle(n))
    }

    /// The object, mutably, or `BADF`.
    pub fn get_mut(&mut self, handle: H) -> HostResult<&mut T> {
        let n = handle.into();
        self.objects.get_mut(&n).ok_or(HostError::BadHandle(n))
    }

    /// Takes the object out, or `BADF`.
    pub fn take(&mut self, handle: H) -> HostResult<T> {
        let n = handle.into();
        self.objects.remove(&n).ok_or(HostError::BadHandle(n))
    }

    /// The live objects.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.objects.values()
    }

    /// Live objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when no object is live.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// True when the handle is live.
    pub fn contains(&self, handle: H) -> bool {
        self.objects.contains_key(&handle.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_share_one_counter_and_stale_handles_are_badf() {
        let mut counter = HandleCounter::default();
        let mut bodies: Table<BodyHandle, &str> = Table::default();
        let mut requests: Table<RequestHandle, &str> = Table::default();
        let b = bodies.insert(&mut counter, "body");
        let r = requests.insert(&mut counter, "request");
        assert_ne!(u32::from(b), u32::from(r));
        assert_eq!(bodies.take(b).ok(), Some("body"));
        assert!(matches!(bodies.get(b), Err(HostError::BadHandle(n)) if n == u32::from(b)));
        assert!(requests.contains(r));
    }
}
