//! `fastly_erl`: edge rate limiting (rate counters and penalty boxes).

use super::{hostcall, split};
use crate::engine::state::GuestState;
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(
        l,
        "fastly_erl",
        "check_rate",
        |c, rp, rl, ep, el, delta, window, limit, pp, pl, ttl, out| {
            let (mut m, st) = split(&mut c)?;
            let blocked = st.session.env.erl.check_rate(
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
    );
    hostcall!(
        l,
        "fastly_erl",
        "ratecounter_increment",
        |c, rp, rl, ep, el, delta| {
            let (m, st) = split(&mut c)?;
            st.session
                .env
                .erl
                .increment(m.str(rp, rl)?, m.str(ep, el)?, delta);
            Ok(())
        }
    );
    hostcall!(
        l,
        "fastly_erl",
        "ratecounter_lookup_rate",
        |c, rp, rl, ep, el, window, out| {
            let (mut m, st) = split(&mut c)?;
            let rate = st
                .session
                .env
                .erl
                .rate(m.str(rp, rl)?, m.str(ep, el)?, window);
            m.u32(out, rate)
        }
    );
    hostcall!(
        l,
        "fastly_erl",
        "ratecounter_lookup_count",
        |c, rp, rl, ep, el, duration, out| {
            let (mut m, st) = split(&mut c)?;
            let count = st
                .session
                .env
                .erl
                .count(m.str(rp, rl)?, m.str(ep, el)?, duration);
            m.u32(out, count)
        }
    );
    hostcall!(
        l,
        "fastly_erl",
        "penaltybox_add",
        |c, pp, pl, ep, el, ttl| {
            let (m, st) = split(&mut c)?;
            st.session.env.erl.penalize(
                m.str(pp, pl)?,
                m.str(ep, el)?,
                Duration::from_secs(ttl.into()),
            );
            Ok(())
        }
    );
    hostcall!(
        l,
        "fastly_erl",
        "penaltybox_has",
        |c, pp, pl, ep, el, out| {
            let (mut m, st) = split(&mut c)?;
            let has = st
                .session
                .env
                .erl
                .is_penalized(m.str(pp, pl)?, m.str(ep, el)?);
            m.u32(out, u32::from(has))
        }
    );
    Ok(())
}
