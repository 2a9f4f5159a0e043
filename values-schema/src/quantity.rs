//! Kubernetes resource quantities (`8Gi`, `500m`, `1e3`) and Go-style
//! durations (`50ms`, `2m`), parsed so that rules can compare them.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::{borrow::Cow, fmt, time::Duration};

/// The grammar of a Kubernetes quantity, as a regular expression the JSON
/// schema carries (so that Helm checks it too).
pub const QUANTITY_PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$";

/// The grammar of a duration such as `50ms`, `2m` or `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$";

/// Why a quantity or duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a Kubernetes quantity.
    #[error("`{0}` is not a Kubernetes quantity")]
    Quantity(String),
    /// Not a duration.
    #[error("`{0}` is not a duration")]
    Duration(String),
}

/// A Kubernetes quantity kept as written, with its value in base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl Quantity {
    /// The value in base units (bytes for memory and storage, cores for CPU).
    pub fn value(&self) -> Result<f64, ParseError> {
        parse_quantity(&self.0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": QUANTITY_PATTERN })
    }
    fn inline_schema() -> bool {
        true
    }
}

/// A duration kept as written (`50ms`, `120s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GoDuration(pub String);

impl GoDuration {
    /// The duration it denotes.
    pub fn value(&self) -> Result<Duration, ParseError> {
        parse_duration(&self.0)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": DURATION_PATTERN })
    }
    fn inline_schema() -> bool {
        true
    }
}

/// Parses a Kubernetes quantity into base units.
pub fn parse_quantity(text: &str) -> Result<f64, ParseError> {
    let bad = || ParseError::Quantity(text.to_owned());
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let digits_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let base: f64 = number.parse().map_err(|_| bad())?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp if exp.starts_with(['e', 'E']) => {
            let digits = exp[1..].strip_prefix(['+', '-']).unwrap_or(&exp[1..]);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let power: i32 = exp[1..].parse().map_err(|_| bad())?;
            10f64.powi(power)
        }
        _ => return Err(bad()),
    };
    Ok(sign * base * multiplier)
}

/// Parses a Go-style duration (`1h30m`, `50ms`).
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::Duration(text.to_owned());
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, after) = rest.split_at(end);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * seconds;
        rest = next;
    }
    // Go refuses durations beyond its int64 of nanoseconds (about 292
    // years); `Duration::from_secs_f64` would panic on them.
    if total > MAX_DURATION_SECONDS {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The longest duration Go parses: `i64::MAX` nanoseconds, in seconds.
const MAX_DURATION_SECONDS: f64 = 9_223_372_036.854_775;

/// Formats a byte count the way Kubernetes users write it (`8Gi`, `512Mi`).
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1099511627776.0),
        ("Gi", 1073741824.0),
        ("Mi", 1048576.0),
        ("Ki", 1024.0),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            let n = bytes / size;
            return if n.fract() == 0.0 {
                format!("{n}{unit}")
            } else {
                format!("{n:.1}{unit}")
            };
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_quantities() {
        assert_eq!(parse_quantity("8Gi").unwrap(), 8.0 * 1024f64.powi(3));
        assert_eq!(parse_quantity("500m").unwrap(), 0.5);
        assert_eq!(parse_quantity("1e3").unwrap(), 1000.0);
        assert_eq!(parse_quantity("1.5G").unwrap(), 1.5e9);
        assert_eq!(parse_quantity("+4").unwrap(), 4.0);
        for bad in ["8GB", "", "Gi", "8 Gi", "1.2.3", "8gi", "1e", "."] {
            assert!(parse_quantity(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "50", "5 s", "1d", "ms"] {
            assert!(parse_duration(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn a_duration_beyond_go_range_is_an_error_not_a_panic() {
        // Found by tests/fuzz_values.rs: from_secs_f64 panicked.
        for bad in [
            "218446744073709551617m",
            "2562048h",
            &format!("1{}s", "0".repeat(400)),
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("2562047h").is_ok(), "just below Go's limit");
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(8.0 * 1024f64.powi(3)), "8Gi");
        assert_eq!(format_bytes(512.0 * 1024.0 * 1024.0), "512Mi");
    }
}
