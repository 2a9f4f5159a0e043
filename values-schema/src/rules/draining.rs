//! Draining: a stopping pod must have time to turn unready and keep
//! accepting for `drainDelaySeconds`, to let the longest request
//! (`limits.wallTime`) finish, and to exit, before the kubelet kills it.

use crate::{Code, Finding, KeyPath, Values};

/// Seconds the chart keeps, after the drain delay and the requests in
/// flight, for the edge to exit. The chart's statefulset.yaml passes
/// `--grace-seconds=<terminationGracePeriodSeconds - drainDelaySeconds - 5>`.
pub const EXIT_SECONDS: u64 = 5;

/// The draining rule.
pub fn check(v: &Values) -> Vec<Finding> {
    let Ok(wall) = v.limits.wall_time.value() else {
        return Vec::new();
    };
    // A request that started just before the drain ended may run for the
    // whole wall time: round up.
    let wall_seconds = wall.as_secs() + u64::from(wall.subsec_nanos() > 0);
    let drain = u64::from(v.drain_delay_seconds);
    let needed = drain + wall_seconds + EXIT_SECONDS;
    let grace = u64::from(v.termination_grace_period_seconds);
    if grace >= needed {
        return Vec::new();
    }
    let wall_text = v.limits.wall_time.to_string();
    let wall_shown = if wall_text == format!("{wall_seconds}s") {
        wall_text
    } else {
        format!("{wall_text} ({wall_seconds} s)")
    };
    vec![
        Finding::new(
            Code::GraceTooShort,
            KeyPath::dotted("terminationGracePeriodSeconds"),
            format!(
                "a stopping pod needs {needed} s: drainDelaySeconds {drain} + limits.wallTime {wall_shown} + {EXIT_SECONDS} s to exit, but terminationGracePeriodSeconds is {grace}: requests still running are cut off"
            ),
        )
        .also_about(KeyPath::dotted("drainDelaySeconds"))
        .also_about(KeyPath::dotted("limits.wallTime"))
        .help(format!(
            "set terminationGracePeriodSeconds to {needed} or more, or lower drainDelaySeconds or limits.wallTime"
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::GoDuration;

    fn codes(v: &Values) -> Vec<&'static str> {
        check(v).iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn defaults_leave_room_for_draining() {
        assert!(codes(&Values::default()).is_empty());
    }

    #[test]
    fn a_short_grace_period_is_reported_with_the_numbers() {
        let mut v = Values {
            termination_grace_period_seconds: 60,
            ..Values::default()
        };
        let found = check(&v);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("needs 135 s"),
            "{}",
            found[0].message
        );
        assert_eq!(
            found[0].help.as_deref(),
            Some(
                "set terminationGracePeriodSeconds to 135 or more, or lower drainDelaySeconds or limits.wallTime"
            )
        );
        v.limits.wall_time = GoDuration("44.5s".into());
        assert!(
            codes(&v).is_empty(),
            "10 + 45 (44.5 rounded up) + 5 fits in 60"
        );
        v.drain_delay_seconds = 300;
        assert_eq!(codes(&v), ["E0670"]);
    }
}
