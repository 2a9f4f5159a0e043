//! Handle numbers. All handle kinds share one counter so that a number names
//! one object, whatever its kind: `fastly_async_io::select` takes handles of
//! bodies, pending requests and KV operations in one list.

use super::{HostError, HostResult};
use std::collections::HashMap;

/// Hands out handle numbers for one session.
#[derive(Debug, Default)]
pub struct HandleCounter(u32);

impl HandleCounter {
    /// The next unused handle. Numbers near `u32::MAX` are the ABI's
    /// "invalid handle" markers and are never given out.
    pub fn next_handle(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1) % (u32::MAX - 2);
        self.0
    }
}

/// Objects of one kind by handle.
#[derive(Debug)]
pub struct Table<T>(HashMap<u32, T>);

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table(HashMap::new())
    }
}

impl<T> Table<T> {
    /// Stores `value` under a new handle.
    pub fn insert(&mut self, counter: &mut HandleCounter, value: T) -> u32 {
        let h = counter.next_handle();
        self.0.insert(h, value);
        h
    }

    /// Stores `value` under a handle given out before.
    pub fn put(&mut self, handle: u32, value: T) {
        self.0.insert(handle, value);
    }

    /// The object, or `BADF`.
    pub fn get(&self, handle: u32) -> HostResult<&T> {
        self.0.get(&handle).ok_or(HostError::BadHandle(handle))
    }

    /// The object, mutably, or `BADF`.
    pub fn get_mut(&mut self, handle: u32) -> HostResult<&mut T> {
        self.0.get_mut(&handle).ok_or(HostError::BadHandle(handle))
    }

    /// Takes the object out, or `BADF`.
    pub fn take(&mut self, handle: u32) -> HostResult<T> {
        self.0.remove(&handle).ok_or(HostError::BadHandle(handle))
    }

    /// True when the handle is live.
    pub fn contains(&self, handle: u32) -> bool {
        self.0.contains_key(&handle)
    }
}
