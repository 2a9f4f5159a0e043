//! Merging values as Helm does: values files in order (maps merge deeply,
//! anything else is replaced), then `--set` flags written into the result,
//! then the chart's defaults underneath, where a user's `null` deletes the
//! default key.

use crate::set_flags::Assignment;
use crate::yaml::{Entry, Node, NodeValue};
use values_schema::Segment;

/// Merges `overlay` onto `base` (a later values file onto earlier ones).
pub fn merge_files(base: &mut Node, overlay: Node) {
    match (&mut base.value, overlay.value) {
        (NodeValue::Map(entries), NodeValue::Map(over)) => {
            for e in over {
                match entries.iter_mut().find(|x| x.key == e.key) {
                    Some(existing)
                        if matches!(existing.value.value, NodeValue::Map(_))
                            && matches!(e.value.value, NodeValue::Map(_)) =>
                    {
                        existing.key_at = e.key_at;
                        merge_files(&mut existing.value, e.value);
                    }
                    Some(existing) => *existing = e,
                    None => entries.push(e),
                }
            }
            base.at = overlay.at;
        }
        (_, value) => {
            *base = Node {
                value,
                at: overlay.at,
            };
        }
    }
}

/// Writes one `--set` assignment into the user's values, creating maps and
/// lists on the way (lists are padded with nulls, as Helm pads them).
pub fn apply_set(root: &mut Node, assignment: Assignment) {
    let at = assignment.value.at;
    let mut here = root;
    let mut key_at = assignment.key_at;
    for (i, seg) in assignment.path.iter().enumerate() {
        let last = i + 1 == assignment.path.len();
        let placeholder = match assignment.path.get(i + 1) {
            Some(Segment::Index(_)) => NodeValue::Seq(Vec::new()),
            _ => NodeValue::Map(Vec::new()),
        };
        here = match seg {
            Segment::Key(k) => {
                if !matches!(here.value, NodeValue::Map(_)) {
                    *here = Node::empty_map(at);
                }
                let NodeValue::Map(entries) = &mut here.value else {
                    return;
                };
                let pos = match entries.iter().position(|e| &e.key == k) {
                    Some(p) => p,
                    None => {
                        entries.push(Entry {
                            key: k.clone(),
                            key_at,
                            value: Node {
                                value: placeholder,
                                at,
                            },
                        });
                        entries.len() - 1
                    }
                };
                entries[pos].key_at = key_at;
                &mut entries[pos].value
            }
            Segment::Index(n) => {
                if !matches!(here.value, NodeValue::Seq(_)) {
                    *here = Node {
                        value: NodeValue::Seq(Vec::new()),
                        at,
                    };
                }
                let NodeValue::Seq(items) = &mut here.value else {
                    return;
                };
                while items.len() <= *n {
                    items.push(Node {
                        value: NodeValue::Null,
                        at,
                    });
                }
                if !last && matches!(items[*n].value, NodeValue::Null) {
                    items[*n] = Node {
                        value: placeholder,
                        at,
                    };
                }
                &mut items[*n]
            }
        };
        if last {
            *here = assignment.value.clone();
        }
        key_at = assignment.key_at;
    }
}

/// Lays the user's values over the chart's defaults. A user's `null`
/// removes the key (Helm's way to drop a default).
pub fn coalesce(defaults: Node, user: Node) -> Node {
    match (defaults.value, user.value) {
        (NodeValue::Map(mut base), NodeValue::Map(over)) => {
            for e in over {
                let existing = base.iter().position(|x| x.key == e.key);
                match (existing, &e.value.value) {
                    (Some(p), NodeValue::Null) => {
                        base.remove(p);
                    }
                    (None, NodeValue::Null) => {}
                    (Some(p), _) => {
                        let old = base.remove(p);
                        base.insert(
                            p,
                            Entry {
                                key: e.key,
                                key_at: e.key_at,
                                value: coalesce(old.value, e.value),
                            },
                        );
                    }
                    (None, _) => base.push(e),
                }
            }
            Node {
                value: NodeValue::Map(base),
                at: user.at,
            }
        }
        (_, value) => Node { value, at: user.at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set_flags::parse_set;
    use crate::yaml::parse_document;
    use serde_json::json;

    fn yaml(text: &str, source: usize) -> Node {
        parse_document(text, source).unwrap().0
    }

    #[test]
    fn later_files_win_and_maps_merge() {
        let mut user = yaml("a: {x: 1, y: 2}\nl: [1, 2]\n", 1);
        merge_files(&mut user, yaml("a: {y: 3}\nl: [9]\n", 2));
        assert_eq!(user.to_json(), json!({"a": {"x": 1, "y": 3}, "l": [9]}));
    }

    #[test]
    fn null_deletes_a_default() {
        let defaults = yaml("a: {x: 1, y: 2}\nb: 1\n", 0);
        let user = yaml("a: {x: null}\nc: null\n", 1);
        assert_eq!(
            coalesce(defaults, user).to_json(),
            json!({"a": {"y": 2}, "b": 1})
        );
    }

    #[test]
    fn set_writes_into_files_values() {
        let mut user = yaml("services:\n  - name: a\n    domains: [x]\n", 1);
        for a in parse_set(
            "services[0].name=b,services[2].name=c,edgeStack.replicas=5",
            2,
            false,
        )
        .unwrap()
        {
            apply_set(&mut user, a);
        }
        assert_eq!(
            user.to_json(),
            json!({
                "services": [{"name": "b", "domains": ["x"]}, null, {"name": "c"}],
                "edgeStack": {"replicas": 5}
            })
        );
    }
}
