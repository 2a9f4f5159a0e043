//! Builds a [`Node`] tree from `yaml-rust2`'s marked events.

use super::scalar::resolve_plain;
use super::{Entry, Node, NodeValue};
use crate::source::Origin;
use std::collections::HashMap;
use values_schema::Code;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A problem found while reading a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseProblem {
    /// `E0200` (syntax), `E0201` (duplicate key) or `E0203` (not a mapping).
    pub code: Code,
    /// Where.
    pub at: Origin,
    /// What.
    pub message: String,
    /// The fix, when known.
    pub help: Option<String>,
}

/// Parses the first document of `text` (source number `source`). An empty
/// document is an empty mapping. On a syntax error there is no tree, only
/// the problem; other problems come with the tree.
pub fn parse_document(
    text: &str,
    source: usize,
) -> Result<(Node, Vec<ParseProblem>), ParseProblem> {
    let (mut docs, problems) = parse_documents(text, source)?;
    let first = if docs.is_empty() {
        None
    } else {
        Some(docs.remove(0))
    };
    as_values(first, source, problems)
}

/// Parses every document of a stream (`---` separated), as written.
pub fn parse_documents(
    text: &str,
    source: usize,
) -> Result<(Vec<Node>, Vec<ParseProblem>), ParseProblem> {
    let mut builder = Builder {
        source,
        stack: Vec::new(),
        roots: Vec::new(),
        anchors: HashMap::new(),
        problems: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| {
        let mark = e.marker();
        ParseProblem {
            code: Code::YamlSyntax,
            at: origin(source, mark, 1),
            message: format!("YAML syntax: {}", e.info()),
            help: Some(syntax_help(e.info())),
        }
    })?;
    Ok((builder.roots, builder.problems))
}

/// A document as values: a mapping (an empty document is an empty one).
pub fn as_values(
    doc: Option<Node>,
    source: usize,
    mut problems: Vec<ParseProblem>,
) -> Result<(Node, Vec<ParseProblem>), ParseProblem> {
    let start = Origin {
        source,
        line: 1,
        col: 1,
        len: 0,
    };
    let root = doc.unwrap_or_else(|| Node::empty_map(start));
    let root = match root.value {
        NodeValue::Map(_) => root,
        NodeValue::Null => Node::empty_map(root.at),
        _ => {
            problems.push(ParseProblem {
                code: Code::NotAMapping,
                at: root.at,
                message: "values must be a mapping of keys".into(),
                help: Some("start the file with top-level keys such as `edgeStack:`".into()),
            });
            Node::empty_map(root.at)
        }
    };
    Ok((root, problems))
}

fn syntax_help(info: &str) -> String {
    if info.contains("tab") {
        "indent with spaces: YAML does not allow tabs".into()
    } else if info.contains("mapping values are not allowed") {
        "a `key: value` cannot follow another value on the same line; check the indentation, or quote a value that contains `: `".into()
    } else if info.contains("did not find expected key") || info.contains("block mapping") {
        "check the indentation: keys of one mapping must start in the same column".into()
    } else {
        "fix the YAML syntax at this position".into()
    }
}

fn origin(source: usize, mark: &Marker, len: usize) -> Origin {
    Origin {
        source,
        line: mark.line(),
        col: mark.col() + 1,
        len,
    }
}

enum Frame {
    Map {
        node: Node,
        anchor: usize,
        pending_key: Option<(String, Origin)>,
    },
    Seq {
        node: Node,
        anchor: usize,
    },
}

struct Builder {
    source: usize,
    stack: Vec<Frame>,
    roots: Vec<Node>,
    anchors: HashMap<usize, Node>,
    problems: Vec<ParseProblem>,
}

impl Builder {
    /// Places a finished node: as a document root, a list item, a key or a
    /// value. `key_text` is the scalar's text when it could serve as a key.
    fn place(&mut self, node: Node, key_text: Option<String>) {
        match self.stack.last_mut() {
            None => self.roots.push(node),
            Some(Frame::Seq { node: seq, .. }) => {
                if let NodeValue::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map {
                node: map,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = key_text.unwrap_or_else(|| {
                        self.problems.push(ParseProblem {
                            code: Code::YamlSyntax,
                            at: node.at,
                            message: "a key must be a plain value, not a list or a mapping".into(),
                            help: Some("write keys as plain words".into()),
                        });
                        String::new()
                    });
                    *pending_key = Some((key, node.at));
                }
                Some((key, key_at)) => {
                    let NodeValue::Map(entries) = &mut map.value else {
                        return;
                    };
                    if key == "<<" {
                        merge_key(entries, node);
                        return;
                    }
                    if let Some(existing) = entries.iter_mut().find(|e| e.key == key) {
                        self.problems.push(ParseProblem {
                            code: Code::DuplicateKey,
                            at: key_at,
                            message: format!(
                                "key `{key}` is already set at line {}",
                                existing.key_at.line
                            ),
                            help: Some(
                                "keep one of them: Helm rejects a mapping with a repeated key"
                                    .into(),
                            ),
                        });
                        existing.value = node;
                        existing.key_at = key_at;
                    } else {
                        entries.push(Entry {
                            key,
                            key_at,
                            value: node,
                        });
                    }
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

/// YAML merge keys (`<<: *defaults`): entries not written explicitly are
/// taken from the merged mapping(s).
fn merge_key(entries: &mut Vec<Entry>, merged: Node) {
    let sources = match merged.value {
        NodeValue::Map(e) => vec![e],
        NodeValue::Seq(items) => items
            .into_iter()
            .filter_map(|n| match n.value {
                NodeValue::Map(e) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for source in sources {
        for e in source {
            if !entries.iter().any(|x| x.key == e.key) {
                entries.push(e);
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let source = self.source;
        match ev {
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                node: Node::empty_map(origin(source, &mark, 1)),
                anchor,
                pending_key: None,
            }),
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                node: Node {
                    value: NodeValue::Seq(Vec::new()),
                    at: origin(source, &mark, 1),
                },
                anchor,
            }),
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Frame::Map { node, anchor, .. } | Frame::Seq { node, anchor }) =
                    self.stack.pop()
                {
                    self.remember(anchor, &node);
                    self.place(node, None);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let (value, len) = match style {
                    TScalarStyle::Plain if !is_str_tag => {
                        (resolve_plain(&text), text.chars().count())
                    }
                    TScalarStyle::Plain => (NodeValue::Str(text.clone()), text.chars().count()),
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                        (NodeValue::Str(text.clone()), text.chars().count() + 2)
                    }
                    _ => (NodeValue::Str(text.clone()), 1),
                };
                let single_line = !text.contains('\n');
                let node = Node {
                    value,
                    at: origin(source, &mark, if single_line { len } else { 1 }),
                };
                self.remember(anchor, &node);
                self.place(node, Some(text));
            }
            Event::Alias(id) => {
                let at = origin(source, &mark, 1);
                let node = match self.anchors.get(&id) {
                    Some(n) => Node { at, ..n.clone() },
                    None => Node {
                        value: NodeValue::Null,
                        at,
                    },
                };
                let key = match &node.value {
                    NodeValue::Str(s) => Some(s.clone()),
                    _ => None,
                };
                self.place(node, key);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use values_schema::KeyPath;

    fn parse(text: &str) -> (Node, Vec<ParseProblem>) {
        parse_document(text, 0).unwrap()
    }

    #[test]
    fn remembers_positions_of_keys_and_values() {
        let (root, problems) = parse("edgeStack:\n  replicas: 3\n  memoryFootprint: \"8Gi\"\n");
        assert!(problems.is_empty());
        let (node, key) = root.find(&KeyPath::dotted("edgeStack.replicas")).unwrap();
        assert_eq!((node.at.line, node.at.col, node.at.len), (2, 13, 1));
        let key = key.unwrap();
        assert_eq!((key.line, key.col, key.len), (2, 3, 8));
        let (q, _) = root
            .find(&KeyPath::dotted("edgeStack.memoryFootprint"))
            .unwrap();
        assert_eq!((q.at.line, q.at.col, q.at.len), (3, 20, 5));
        assert_eq!(q.value, NodeValue::Str("8Gi".into()));
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = parse_document("a:\n  b: 1\n c: 2\n", 0).unwrap_err();
        assert_eq!(err.code, Code::YamlSyntax);
        assert_eq!(err.at.line, 3);
    }

    #[test]
    fn reports_duplicate_keys() {
        let (root, problems) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, Code::DuplicateKey);
        assert_eq!(problems[0].at.line, 3);
        assert_eq!(root.get("a").unwrap().value.value, NodeValue::Int(3));
    }

    #[test]
    fn follows_anchors_and_merge_keys() {
        let (root, _) = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let other = root.get("other").unwrap().value.to_json();
        assert_eq!(other, serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn reads_every_document_of_a_stream() {
        let (docs, _) = parse_documents("a: 1\n---\nb: 2\n", 0).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("b").unwrap().value.at.line, 3);
    }

    #[test]
    fn empty_documents_are_empty_maps() {
        let (root, problems) = parse("# nothing\n");
        assert!(problems.is_empty());
        assert_eq!(root.to_json(), serde_json::json!({}));
        let (_, problems) = parse("- a\n- b\n");
        assert_eq!(problems[0].code, Code::NotAMapping);
    }
}
