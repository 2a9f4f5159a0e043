//! `fastly_erl`: edge rate limiting (rate counters and penalty boxes).

use super::hostcall;
use super::memory::Mem;
use super::state::GuestState;
use crate::host::HostResult;
use crate::host::session::Session;
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(
        l,
        "fastly_erl",
        check_rate(rp, rl, ep, el, delta, window, limit, pp, pl, ttl, out)
    );
    hostcall!(
        l,
        "fastly_erl",
        ratecounter_increment(rp, rl, ep, el, delta)
    );
    hostcall!(
        l,
        "fastly_erl",
        ratecounter_lookup_rate(rp, rl, ep, el, window, out)
    );
    hostcall!(
        l,
        "fastly_erl",
        ratecounter_lookup_count(rp, rl, ep, el, duration, out)
    );
    hostcall!(l, "fastly_erl", penaltybox_add(pp, pl, ep, el, ttl));
    hostcall!(l, "fastly_erl", penaltybox_has(pp, pl, ep, el, out));
    Ok(())
}

/// `fastly_erl::check_rate`: counts the request; 1 in `out` (block) when
/// the entry is boxed or over `limit`, boxing it for `ttl` seconds.
#[allow(clippy::too_many_arguments)]
fn check_rate(
    m: &mut Mem<'_>,
    s: &mut Session,
    rp: u32,
    rl: u32,
    ep: u32,
    el: u32,
    delta: u32,
    window: u32,
    limit: u32,
    pp: u32,
    pl: u32,
    ttl: u32,
    out: u32,
) -> HostResult<()> {
    let blocked = s.env().erl.check_rate(
        m.str(rp, rl)?,
        m.str(ep, el)?,
        delta,
        window,
        limit,
        m.str(pp, pl)?,
        Duration::from_secs(ttl.into()),
    );
    m.u32(out, u32::from(blocked))
}

/// `fastly_erl::ratecounter_increment`: adds `delta` to an entry's count.
fn ratecounter_increment(
    m: &mut Mem<'_>,
    s: &mut Session,
    rp: u32,
    rl: u32,
    ep: u32,
    el: u32,
    delta: u32,
) -> HostResult<()> {
    s.env().erl.increment(m.str(rp, rl)?, m.str(ep, el)?, delta);
    Ok(())
}

/// `fastly_erl::ratecounter_lookup_rate`: an entry's requests per second
/// over `window` seconds.
#[allow(clippy::too_many_arguments)]
fn ratecounter_lookup_rate(
    m: &mut Mem<'_>,
    s: &mut Session,
    rp: u32,
    rl: u32,
    ep: u32,
    el: u32,
    window: u32,
    out: u32,
) -> HostResult<()> {
    let rate = s.env().erl.rate(m.str(rp, rl)?, m.str(ep, el)?, window);
    m.u32(out, rate)
}

/// `fastly_erl::ratecounter_lookup_count`: an entry's count over
/// `duration` seconds.
#[allow(clippy::too_many_arguments)]
fn ratecounter_lookup_count(
    m: &mut Mem<'_>,
    s: &mut Session,
    rp: u32,
    rl: u32,
    ep: u32,
    el: u32,
    duration: u32,
    out: u32,
) -> HostResult<()> {
    let count = s.env().erl.count(m.str(rp, rl)?, m.str(ep, el)?, duration);
    m.u32(out, count)
}

/// `fastly_erl::penaltybox_add`: boxes an entry for `ttl` seconds.
fn penaltybox_add(
    m: &mut Mem<'_>,
    s: &mut Session,
    pp: u32,
    pl: u32,
    ep: u32,
    el: u32,
    ttl: u32,
) -> HostResult<()> {
    s.env().erl.penalize(
        m.str(pp, pl)?,
        m.str(ep, el)?,
        Duration::from_secs(ttl.into()),
    );
    Ok(())
}

/// `fastly_erl::penaltybox_has`: 1 in `out` while an entry is boxed.
fn penaltybox_has(
    m: &mut Mem<'_>,
    s: &mut Session,
    pp: u32,
    pl: u32,
    ep: u32,
    el: u32,
    out: u32,
) -> HostResult<()> {
    let has = s.env().erl.is_penalized(m.str(pp, pl)?, m.str(ep, el)?);
    m.u32(out, u32::from(has))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::testing::TestGuest;
    use crate::host::HostError;

    #[test]
    fn check_rate_blocks_an_entry_over_its_limit_and_boxes_it() {
        let mut g = TestGuest::new();
        let (rp, rl) = g.put(b"rc");
        let (ep, el) = g.put(b"client");
        let (pp, pl) = g.put(b"pb");
        let out = g.alloc(4);
        let check = |g: &mut TestGuest, delta: u32| {
            g.call(|m, s| check_rate(m, s, rp, rl, ep, el, delta, 1, 10, pp, pl, 60, out))
                .unwrap();
            g.u32_at(out)
        };
        assert_eq!(check(&mut g, 5), 0);
        assert_eq!(check(&mut g, 10), 1);
        assert_eq!(check(&mut g, 0), 1, "boxed");
        assert!(g.session.env().erl.is_penalized("pb", "client"));
        let (bad, len) = g.put(&[0xff]);
        let r = g.call(|m, s| check_rate(m, s, rp, rl, bad, len, 1, 1, 10, pp, pl, 60, out));
        assert!(matches!(r, Err(HostError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn ratecounter_increment_then_lookups_count_it() {
        let mut g = TestGuest::new();
        let (rp, rl) = g.put(b"rc");
        let (ep, el) = g.put(b"client");
        let out = g.alloc(4);
        g.call(|m, s| ratecounter_increment(m, s, rp, rl, ep, el, 10))
            .unwrap();
        g.call(|m, s| ratecounter_lookup_count(m, s, rp, rl, ep, el, 10, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 10);
        g.call(|m, s| ratecounter_lookup_rate(m, s, rp, rl, ep, el, 1, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 10);
        let (other, len) = g.put(b"other");
        g.call(|m, s| ratecounter_lookup_count(m, s, rp, rl, other, len, 10, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 0);
    }

    #[test]
    fn penaltybox_add_then_has() {
        let mut g = TestGuest::new();
        let (pp, pl) = g.put(b"pb");
        let (ep, el) = g.put(b"client");
        let (other, len) = g.put(b"other");
        let out = g.alloc(4);
        g.call(|m, s| penaltybox_add(m, s, pp, pl, ep, el, 60))
            .unwrap();
        g.call(|m, s| penaltybox_has(m, s, pp, pl, ep, el, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 1);
        g.call(|m, s| penaltybox_has(m, s, pp, pl, other, len, out))
            .unwrap();
        assert_eq!(g.u32_at(out), 0);
    }
}
