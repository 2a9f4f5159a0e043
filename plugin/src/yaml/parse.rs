//! Builds a [`Node`] tree from `yaml-rust2`'s marked events.

use super::scalar::resolve_plain;
use super::{Entry, Node, NodeValue};
use crate::source::Origin;
use std::collections::HashMap;
use values_schema::Code;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Values nested deeper than this are refused: the chart's go 6 levels
/// deep, and every walk of a tree (to JSON, the schema, dropping it)
/// recurses once a level, so that a line of 10,000 `- ` would overflow the
/// stack.
pub const MAX_DEPTH: usize = 128;

/// Values that aliases may copy into one stream, all aliases together: a
/// few lines of anchors, each aliased ten times by the next (a "billion
/// laughs"), would otherwise ask for gigabytes.
pub const MAX_ALIASED: usize = 100_000;

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
        aliased: 0,
        problems: Vec::new(),
        refused: None,
    };
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one by one rather than through `Parser::load`,
    // which recurses once per level of nesting (10,000 `- ` overflowed the
    // stack before the builder could refuse them), and so that a refusal
    // stops the parse.
    while builder.refused.is_none() {
        let (event, mark) = parser.next_token().map_err(|e| {
            let mark = e.marker();
            ParseProblem {
                code: Code::YamlSyntax,
                at: origin(source, mark, 1),
                message: format!("YAML syntax: {}", e.info()),
                help: Some(syntax_help(e.info())),
            }
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.on_event(event, mark);
    }
    match builder.refused {
        Some(problem) => Err(problem),
        None => Ok((builder.roots, builder.problems)),
    }
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
    /// Anchored nodes, with how many values and levels each holds.
    anchors: HashMap<usize, Anchored>,
    /// Values copied by aliases so far.
    aliased: usize,
    problems: Vec<ParseProblem>,
    /// Why the stream was refused (too deep, too many aliased values): the
    /// events after it are ignored.
    refused: Option<ParseProblem>,
}

struct Anchored {
    node: Node,
    values: usize,
    depth: usize,
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
            let (values, depth) = measure(node);
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    values,
                    depth,
                },
            );
        }
    }

    fn refuse(&mut self, at: Origin, message: String, help: &str) {
        self.refused = Some(ParseProblem {
            code: Code::YamlSyntax,
            at,
            message,
            help: Some(help.into()),
        });
    }
}

/// How many values a node holds (itself included) and how many levels
/// deep it goes (a scalar: 1). The trees measured are never deeper than
/// [`MAX_DEPTH`] + 1.
fn measure(node: &Node) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Node>> = match &node.value {
        NodeValue::Seq(items) => Box::new(items.iter()),
        NodeValue::Map(entries) => Box::new(entries.iter().map(|e| &e.value)),
        _ => return (1, 1),
    };
    let (mut values, mut depth) = (1, 0);
    for child in children {
        let (v, d) = measure(child);
        values += v;
        depth = depth.max(d);
    }
    (values, depth + 1)
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
        if self.refused.is_some() {
            return;
        }
        if matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.refuse(
                origin(source, &mark, 1),
                format!("values nested more than {MAX_DEPTH} levels deep"),
                "values are a few levels deep: check for a runaway `[`, `{` or `- `",
            );
            return;
        }
        match ev {
            // Anchors belong to their document.
            Event::DocumentStart => self.anchors.clear(),
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
                    Some(a) if self.aliased + a.values > MAX_ALIASED => {
                        self.refuse(
                            at,
                            format!(
                                "aliases copy more than {MAX_ALIASED} values: an alias bomb is refused"
                            ),
                            "write the values out, or alias fewer of them",
                        );
                        return;
                    }
                    Some(a) if self.stack.len() + a.depth > MAX_DEPTH + 1 => {
                        self.refuse(
                            at,
                            format!("this alias nests values more than {MAX_DEPTH} levels deep"),
                            "values are a few levels deep: check what the anchor holds",
                        );
                        return;
                    }
                    Some(a) => {
                        self.aliased += a.values;
                        Node {
                            at,
                            ..a.node.clone()
                        }
                    }
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
    fn alias_bomb_is_refused_before_it_expands() {
        // Nine levels of ten aliases each: 10^9 values if expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=9 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let started = std::time::Instant::now();
        let err = parse_document(&text, 0).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(err.code, Code::YamlSyntax);
        assert!(err.message.contains("alias bomb"), "{}", err.message);
        assert_eq!(err.at.line, 5, "the first alias over the budget");
    }

    #[test]
    fn ten_thousand_nested_lists_are_refused_not_overflowed() {
        for text in [
            "a:\n  ".to_owned() + &"- ".repeat(10_000) + "x\n",
            "- ".repeat(10_000) + "x\n",
            "a: ".to_owned() + &"{b: ".repeat(200) + "x" + &"}".repeat(200),
        ] {
            let err = parse_document(&text, 0).unwrap_err();
            assert_eq!(err.code, Code::YamlSyntax, "{}", &text[..20]);
            assert!(err.message.contains("levels deep"), "{}", err.message);
        }
        let ok = "a:\n  ".to_owned() + &"- ".repeat(MAX_DEPTH - 1) + "x\n";
        assert!(parse_document(&ok, 0).is_ok());
    }

    #[test]
    fn aliases_cannot_stack_depth() {
        // Each anchor aliased one level deeper than the last.
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..200 {
            text.push_str(&format!("a{i}: &a{i} [[[[*a{}]]]]\n", i - 1));
        }
        let err = parse_document(&text, 0).unwrap_err();
        assert!(err.message.contains("levels deep"), "{}", err.message);
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
