//! `fastly_async_io`: waiting on several async items (bodies, pending
//! requests, KV operations) at once.

use super::memory::Mem;
use super::state::GuestState;
use super::{Guest, hostcall};
use crate::host::HostResult;
use crate::host::handles::AsyncItemHandle;
use crate::host::session::Session;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(l, "fastly_async_io", async select(hp, hl, timeout_ms, out));
    hostcall!(l, "fastly_async_io", is_ready(h, out));
    Ok(())
}

/// `fastly_async_io::select`: waits for one of the `hl` items at `hp`; its
/// index goes to `out` (`u32::MAX` when `timeout_ms` passed first).
async fn select(g: &mut impl Guest, hp: u32, hl: u32, timeout_ms: u32, out: u32) -> HostResult<()> {
    let handles: Vec<AsyncItemHandle> = {
        let (m, _) = g.mem_and_session()?;
        (0..hl)
            .map(|i| m.read_u32(hp + 4 * i).map(AsyncItemHandle::from))
            .collect::<HostResult<_>>()?
    };
    // A zero timeout waits for ever, as the ABI says.
    let timeout = (timeout_ms != 0).then(|| Duration::from_millis(timeout_ms.into()));
    let done = if handles.is_empty() {
        if let Some(t) = timeout {
            tokio::time::sleep(t).await;
        }
        None
    } else {
        g.session().select(&handles, timeout).await?
    };
    let (mut m, _) = g.mem_and_session()?;
    m.u32(out, done.map_or(u32::MAX, |i| i as u32))
}

/// `fastly_async_io::is_ready`: 1 when waiting on the item would not wait.
fn is_ready(m: &mut Mem<'_>, s: &mut Session, h: AsyncItemHandle, out: u32) -> HostResult<()> {
    let mut cx = Context::from_waker(Waker::noop());
    let ready = match s.poll_item(h, &mut cx) {
        Poll::Ready(r) => {
            r?;
            true
        }
        Poll::Pending => false,
    };
    m.u32(out, u32::from(ready))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;
    use crate::host::HostError;
    use crate::host::body::Body;
    use crate::host::handles::{BodyHandle, PromiseHandle};

    /// An item that never becomes ready here: a promise of the next request.
    fn never_ready(g: &mut TestGuest) -> AsyncItemHandle {
        drop(g.session.take_responder());
        let p: PromiseHandle = g.session.next_request(None).unwrap();
        AsyncItemHandle::from(u32::from(p))
    }

    /// A body that is ready to read.
    fn ready_body(g: &mut TestGuest) -> AsyncItemHandle {
        let b: BodyHandle = g.session.insert(Body::from_bytes("x"));
        AsyncItemHandle::from(u32::from(b))
    }

    /// The handles `items` as the guest's array.
    fn array(g: &mut TestGuest, items: &[AsyncItemHandle]) -> (u32, u32) {
        let bytes: Vec<u8> = items
            .iter()
            .flat_map(|h| u32::from(*h).to_le_bytes())
            .collect();
        let (p, _) = g.put(&bytes);
        (p, items.len() as u32)
    }

    #[tokio::test]
    async fn select_answers_the_index_of_a_ready_item() {
        let mut g = TestGuest::new();
        let items = [never_ready(&mut g), ready_body(&mut g)];
        let (hp, hl) = array(&mut g, &items);
        let out = g.alloc(4);
        select(&mut g, hp, hl, 0, out).await.unwrap();
        assert_eq!(g.u32_at(out), 1);
    }

    #[tokio::test]
    async fn select_times_out_with_u32_max() {
        let mut g = TestGuest::new();
        let items = [never_ready(&mut g)];
        let (hp, hl) = array(&mut g, &items);
        let out = g.alloc(4);
        select(&mut g, hp, hl, 1, out).await.unwrap();
        assert_eq!(g.u32_at(out), u32::MAX);
        // No items: just the timeout.
        g.mem[out as usize] = 0;
        select(&mut g, hp, 0, 1, out).await.unwrap();
        assert_eq!(g.u32_at(out), u32::MAX);
    }

    #[tokio::test]
    async fn select_rejects_bad_handles() {
        let mut g = TestGuest::new();
        let (hp, hl) = array(&mut g, &[AsyncItemHandle::from(999)]);
        let out = g.alloc(4);
        let r = select(&mut g, hp, hl, 0, out).await;
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }

    #[test]
    fn is_ready_polls_without_waiting() {
        let mut g = TestGuest::new();
        let (ready, waiting) = (ready_body(&mut g), never_ready(&mut g));
        let out = g.alloc(4);
        g.call(|m, s| is_ready(m, s, ready, out)).unwrap();
        assert_eq!(g.u32_at(out), 1);
        g.call(|m, s| is_ready(m, s, waiting, out)).unwrap();
        assert_eq!(g.u32_at(out), 0);
        let r = g.call(|m, s| is_ready(m, s, AsyncItemHandle::from(999), out));
        assert!(matches!(r, Err(HostError::BadHandle(999))), "{r:?}");
    }
}
