//! The bytes one request holds in host memory (`limits.bufferedBytes`):
//! bodies the program writes, appends or pulls in and has not yet sent.
//! A [`Ledger`] is shared by everything of one session; a [`Held`] is one
//! body's share of it, given back as its bytes leave (read, sent) or when
//! the body is dropped, wherever it is by then.

use super::{HostError, HostLimit, HostResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held by one session, against its limit.
#[derive(Debug, Clone)]
pub struct Ledger(Arc<Account>);

#[derive(Debug)]
struct Account {
    used: AtomicUsize,
    limit: usize,
}

impl Ledger {
    /// A ledger allowing `limit` bytes at once.
    pub fn new(limit: usize) -> Self {
        Ledger(Arc::new(Account {
            used: AtomicUsize::new(0),
            limit,
        }))
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    fn charge(&self, n: usize) -> HostResult<()> {
        let limit = self.0.limit;
        self.0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= limit)
            })
            .map(|_| ())
            .map_err(|_| HostError::LimitExceeded(HostLimit::BufferedBytes))
    }

    fn release(&self, n: usize) {
        self.0.used.fetch_sub(n, Ordering::AcqRel);
    }

    fn same(&self, other: &Ledger) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One body's bytes on a ledger (none until the body is attached to one).
#[derive(Debug, Default)]
pub struct Held {
    ledger: Option<Ledger>,
    bytes: usize,
}

impl Held {
    /// Counts this body's future bytes on `ledger` (the first one sticks).
    pub fn attach(&mut self, ledger: &Ledger) {
        if self.ledger.is_none() {
            self.ledger = Some(ledger.clone());
        }
    }

    /// Takes `n` more bytes, or `LIMITEXCEEDED` when the ledger is full.
    pub fn hold(&mut self, n: usize) -> HostResult<()> {
        if let Some(l) = &self.ledger {
            l.charge(n)?;
            self.bytes += n;
        }
        Ok(())
    }

    /// Gives back up to `n` bytes that left the body.
    pub fn let_go(&mut self, n: usize) {
        let n = n.min(self.bytes);
        if let (Some(l), true) = (&self.ledger, n > 0) {
            l.release(n);
            self.bytes -= n;
        }
    }

    /// Takes over `other`'s bytes (its body's bytes moved into this one).
    pub fn absorb(&mut self, other: &mut Held) {
        match (&self.ledger, &other.ledger) {
            (_, None) => {}
            (None, Some(_)) => {
                self.ledger = other.ledger.take();
                self.bytes += std::mem::take(&mut other.bytes);
            }
            (Some(mine), Some(theirs)) if mine.same(theirs) => {
                self.bytes += std::mem::take(&mut other.bytes);
            }
            // Another session's body cannot reach this one; keep each
            // ledger whole by leaving `other` to give its bytes back.
            (Some(_), Some(_)) => {}
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(l) = &self.ledger {
            l.release(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_bounded_and_given_back() {
        let ledger = Ledger::new(100);
        let mut a = Held::default();
        a.hold(1000).unwrap(); // not attached: not counted
        a.attach(&ledger);
        a.hold(60).unwrap();
        let mut b = Held::default();
        b.attach(&ledger);
        assert!(matches!(
            b.hold(41),
            Err(HostError::LimitExceeded(HostLimit::BufferedBytes))
        ));
        b.hold(40).unwrap();
        assert_eq!(ledger.used(), 100);
        a.let_go(10);
        assert_eq!(ledger.used(), 90);
        a.absorb(&mut b);
        drop(b);
        assert_eq!(ledger.used(), 90);
        drop(a);
        assert_eq!(ledger.used(), 0);
    }
}
