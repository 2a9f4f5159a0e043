//! [`Timestamp`]: the API's RFC 3339 date-times (`2026-01-31T12:00:00Z`,
//! `2016-07-28T19:24:50+00:00`), kept as written and as Unix seconds so
//! that an expiry can be compared with the clock.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An instant the API gave, with the text it gave it as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    unix_seconds: i64,
}

impl Timestamp {
    /// Parses an RFC 3339 date-time (fractions of a second are ignored).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let unix_seconds = parse_rfc3339(text.trim())?;
        Some(Timestamp {
            text: text.trim().to_owned(),
            unix_seconds,
        })
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    /// The text the API sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this instant is at or before `now`.
    pub fn is_past(&self, now: SystemTime) -> bool {
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        self.unix_seconds <= now
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not an RFC 3339 date-time"))
        })
    }
}

/// `YYYY-MM-DD[T ]hh:mm:ss[.frac](Z|±hh:mm)` → Unix seconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| num_of(s.get(from..to)?);
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second (":60") counts as the next second's start.
    if second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let magnitude = num_of(rest.get(1..3)?)? * 3600 + num_of(rest.get(4..6)?)? * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_the_forms_the_api_uses() {
        let at = |s: &str| Timestamp::parse(s).map(|t| t.unix_seconds());
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2016-07-28T19:24:50+00:00"), Some(1_469_733_890));
        assert_eq!(at("2016-07-28T21:24:50+02:00"), Some(1_469_733_890));
        assert_eq!(at("2016-07-28T19:24:50.123Z"), Some(1_469_733_890));
        assert_eq!(at("2000-03-01T00:00:00Z"), Some(951_868_800));
        for bad in [
            "",
            "2016-07-28",
            "2016-13-01T00:00:00Z",
            "2016-07-28T19:24:50",
            "x016-07-28T19:24:50Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn compares_with_the_clock() {
        let t = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
        let after = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let before = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
        assert!(t.is_past(after));
        assert!(!t.is_past(before));
        assert_eq!(t.to_string(), "2020-01-01T00:00:00Z");
    }
}
