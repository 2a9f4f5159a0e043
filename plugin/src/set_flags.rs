//! `--set` and `--set-string` expressions, parsed as Helm parses them
//! (`a.b=1,c[0].d=x`, `list={a,b}`, `\,` and `\.` escapes) into
//! assignments that keep the column of each key and value.

use crate::source::Origin;
use crate::yaml::{MAX_DEPTH, Node, NodeValue};
use values_schema::Segment;

/// Helm refuses list indices above this.
const MAX_INDEX: usize = 65536;

/// One `path=value` assignment of a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Where to put the value.
    pub path: Vec<Segment>,
    /// Where the key was written.
    pub key_at: Origin,
    /// The value, typed as Helm types it.
    pub value: Node,
}

/// A `--set` expression that does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct SetError {
    /// Where in the argument.
    pub at: Origin,
    /// What is wrong.
    pub message: String,
}

/// Parses one flag argument. `as_string` is true for `--set-string`.
pub fn parse_set(text: &str, source: usize, as_string: bool) -> Result<Vec<Assignment>, SetError> {
    let chars: Vec<char> = text.chars().collect();
    let at = |pos: usize, len: usize| Origin {
        source,
        line: 1,
        col: pos + 1,
        len,
    };
    let fail = |pos: usize, message: String| SetError {
        at: at(pos, 1),
        message,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let start = pos;
        let mut path = Vec::new();
        // The key: names separated by dots, each optionally followed by [n].
        loop {
            let name_start = pos;
            let mut name = String::new();
            while pos < chars.len() && !matches!(chars[pos], '.' | '[' | '=' | ',') {
                if chars[pos] == '\\' && pos + 1 < chars.len() {
                    pos += 1;
                }
                name.push(chars[pos]);
                pos += 1;
            }
            if name.is_empty() && !(pos < chars.len() && chars[pos] == '[' && !path.is_empty()) {
                // The argument is not quoted back: it may hold a token.
                return Err(fail(name_start, "empty key: write KEY=VALUE".into()));
            }
            if !name.is_empty() {
                path.push(Segment::Key(name));
            }
            while pos < chars.len() && chars[pos] == '[' {
                let close = chars[pos..].iter().position(|c| *c == ']').map(|p| p + pos);
                let Some(close) = close else {
                    return Err(fail(pos, "`[` is never closed".into()));
                };
                let digits: String = chars[pos + 1..close].iter().collect();
                let index: usize = digits
                    .parse()
                    .map_err(|_| fail(pos + 1, format!("`{digits}` is not a list index")))?;
                if index > MAX_INDEX {
                    return Err(fail(
                        pos + 1,
                        format!("index {index} is above Helm's limit of {MAX_INDEX}"),
                    ));
                }
                path.push(Segment::Index(index));
                pos = close + 1;
            }
            if path.len() > MAX_DEPTH {
                // As deep as a YAML file may go: deeper would overflow the
                // stack of every walk of the tree.
                return Err(fail(
                    start,
                    format!("the key is nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            match chars.get(pos) {
                Some('.') => pos += 1,
                Some('=') => break,
                _ => {
                    let key: String = chars[start..pos].iter().collect();
                    return Err(fail(
                        start,
                        format!("key `{key}` has no value: write `{key}=VALUE`"),
                    ));
                }
            }
        }
        let key_at = at(start, pos - start);
        pos += 1; // '='
        let value_start = pos;
        let value = if chars.get(pos) == Some(&'{') {
            let close = chars[pos..].iter().position(|c| *c == '}').map(|p| p + pos);
            let Some(close) = close else {
                return Err(fail(pos, "`{` is never closed".into()));
            };
            let inner: String = chars[pos + 1..close].iter().collect();
            let mut items = Vec::new();
            let mut col = pos + 1;
            if !inner.is_empty() {
                for item in inner.split(',') {
                    let n = item.chars().count();
                    items.push(typed(item, at(col, n), as_string));
                    col += n + 1;
                }
            }
            pos = close + 1;
            Node {
                value: NodeValue::Seq(items),
                at: at(value_start, pos - value_start),
            }
        } else {
            let mut raw = String::new();
            while pos < chars.len() && chars[pos] != ',' {
                if chars[pos] == '\\' && pos + 1 < chars.len() {
                    pos += 1;
                }
                raw.push(chars[pos]);
                pos += 1;
            }
            typed(&raw, at(value_start, pos - value_start), as_string)
        };
        out.push(Assignment {
            path,
            key_at,
            value,
        });
        if chars.get(pos) == Some(&',') {
            pos += 1;
        }
    }
    Ok(out)
}

/// Types a value as Helm's `--set` does: `true`/`false`, `null`, integers
/// without a leading zero; everything else (floats included) is a string.
fn typed(raw: &str, at: Origin, as_string: bool) -> Node {
    let value = if as_string {
        NodeValue::Str(raw.to_owned())
    } else if raw.eq_ignore_ascii_case("true") {
        NodeValue::Bool(true)
    } else if raw.eq_ignore_ascii_case("false") {
        NodeValue::Bool(false)
    } else if raw.eq_ignore_ascii_case("null") {
        NodeValue::Null
    } else if raw == "0" {
        NodeValue::Int(0)
    } else if !raw.starts_with('0')
        && let Ok(i) = raw.parse::<i64>()
    {
        NodeValue::Int(i)
    } else {
        NodeValue::Str(raw.to_owned())
    };
    Node { value, at }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(text: &str) -> Vec<(String, serde_json::Value)> {
        parse_set(text, 0, false)
            .unwrap()
            .into_iter()
            .map(|a| {
                (
                    values_schema::KeyPath(a.path).to_string(),
                    a.value.to_json(),
                )
            })
            .collect()
    }

    #[test]
    fn types_values_like_helm() {
        assert_eq!(
            parsed("a.b=3,c=true,d=1.5,e=007,f=null,g="),
            vec![
                ("a.b".into(), json!(3)),
                ("c".into(), json!(true)),
                ("d".into(), json!("1.5")),
                ("e".into(), json!("007")),
                ("f".into(), json!(null)),
                ("g".into(), json!("")),
            ]
        );
        let s = parse_set("a=3", 0, true).unwrap();
        assert_eq!(s[0].value.to_json(), json!("3"));
    }

    #[test]
    fn lists_indices_and_escapes() {
        assert_eq!(
            parsed(r"services[0].domains={a.example,b.example},podAnnotations.a\.b=x\,y"),
            vec![
                (
                    "services[0].domains".into(),
                    json!(["a.example", "b.example"])
                ),
                ("podAnnotations[\"a.b\"]".into(), json!("x,y")),
            ]
        );
    }

    #[test]
    fn positions_point_into_the_argument() {
        let a = parse_set("edgeStack.replicas=three", 0, false).unwrap();
        assert_eq!((a[0].key_at.col, a[0].key_at.len), (1, 18));
        assert_eq!((a[0].value.at.col, a[0].value.at.len), (20, 5));
    }

    #[test]
    fn a_key_ten_thousand_levels_deep_is_refused() {
        // Found by tests/fuzz_set_flags.rs: the tree it built overflowed
        // the stack.
        let deep = format!("{}b=1", "a.".repeat(10_000));
        let err = parse_set(&deep, 0, false).unwrap_err();
        assert!(err.message.contains("levels deep"), "{}", err.message);
        let deep_list = format!("a{}=1", "[0]".repeat(10_000));
        assert!(parse_set(&deep_list, 0, false).is_err());
        let ok = format!("{}b=1", "a.".repeat(MAX_DEPTH - 1));
        assert!(parse_set(&ok, 0, false).is_ok());
    }

    #[test]
    fn rejects_what_helm_rejects() {
        for bad in ["edgeStack.replicas", "a[x]=1", "a[1=2", ".a=1", "a..b=1"] {
            assert!(parse_set(bad, 0, false).is_err(), "{bad}");
        }
    }
}
