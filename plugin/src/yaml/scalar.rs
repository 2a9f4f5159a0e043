//! Plain scalars resolved as Helm resolves them (YAML 1.1 through Go's
//! yaml.v2: `yes`/`on` are booleans, `0x1F` is an integer, `~` is null), so
//! that `validate` sees the same types Helm's schema check sees.

use super::NodeValue;

/// The value a plain (unquoted) scalar denotes.
pub fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return NodeValue::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return NodeValue::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    let plain = text.replace('_', "");
    if let Some(i) = parse_int(&plain) {
        return NodeValue::Int(i);
    }
    let looks_numeric = plain
        .trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric
        && plain
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && let Ok(f) = plain.parse::<f64>()
    {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text.to_owned())
}

fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_helm() {
        assert_eq!(resolve_plain("3"), NodeValue::Int(3));
        assert_eq!(resolve_plain("-0x10"), NodeValue::Int(-16));
        assert_eq!(resolve_plain("010"), NodeValue::Int(8));
        assert_eq!(resolve_plain("1_000"), NodeValue::Int(1000));
        assert_eq!(resolve_plain("3.5"), NodeValue::Float(3.5));
        assert_eq!(resolve_plain("1e3"), NodeValue::Float(1000.0));
        assert_eq!(resolve_plain("yes"), NodeValue::Bool(true));
        assert_eq!(resolve_plain("Off"), NodeValue::Bool(false));
        assert_eq!(resolve_plain("~"), NodeValue::Null);
        assert_eq!(resolve_plain("8Gi"), NodeValue::Str("8Gi".into()));
        assert_eq!(resolve_plain("1.2.3"), NodeValue::Str("1.2.3".into()));
        assert_eq!(resolve_plain("e5"), NodeValue::Str("e5".into()));
    }
}
