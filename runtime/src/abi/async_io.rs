//! `fastly_async_io`: waiting on several async items (bodies, pending
//! requests, KV operations) at once.

use super::{hostcall, hostcall_async, split};
use crate::engine::state::GuestState;
use crate::host::HostResult;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall_async!(
        l,
        "fastly_async_io",
        "select",
        |c, hp, hl, timeout_ms, out| {
            let handles: Vec<u32> = {
                let (m, _) = split(&mut c)?;
                (0..hl)
                    .map(|i| m.read_u32(hp + 4 * i))
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
                c.data_mut().session.select(&handles, timeout).await?
            };
            let (mut m, _) = split(&mut c)?;
            m.u32(out, done.map_or(u32::MAX, |i| i as u32))
        }
    );
    hostcall!(l, "fastly_async_io", "is_ready", |c, h, out| {
        let (mut m, st) = split(&mut c)?;
        let mut cx = Context::from_waker(Waker::noop());
        let ready = match st.session.poll_item(h, &mut cx) {
            Poll::Ready(r) => {
                r?;
                true
            }
            Poll::Pending => false,
        };
        m.u32(out, u32::from(ready))
    });
    Ok(())
}
