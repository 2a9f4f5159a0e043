//! The positioned values tree and its conversion to JSON.

use crate::source::Origin;
use serde_json::{Map, Number, Value};
use values_schema::{KeyPath, Segment};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where it starts.
    pub at: Origin,
}

/// A YAML value, resolved as Helm's YAML library resolves plain scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in written order.
    Map(Vec<Entry>),
}

/// A key of a mapping, where the key was written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_at: Origin,
    /// The value.
    pub value: Node,
}

impl Node {
    /// An empty mapping at `at`.
    pub fn empty_map(at: Origin) -> Self {
        Node {
            value: NodeValue::Map(Vec::new()),
            at,
        }
    }

    /// The entries, when this is a mapping.
    pub fn entries(&self) -> Option<&Vec<Entry>> {
        match &self.value {
            NodeValue::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The value under `key`, when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The entry or element at `path`, and the entry's key position when the
    /// last step is a key.
    pub fn find(&self, path: &KeyPath) -> Option<(&Node, Option<Origin>)> {
        let mut here = self;
        let mut key_at = None;
        for seg in &path.0 {
            match (seg, &here.value) {
                (Segment::Key(k), NodeValue::Map(entries)) => {
                    let e = entries.iter().find(|e| &e.key == k)?;
                    key_at = Some(e.key_at);
                    here = &e.value;
                }
                (Segment::Index(i), NodeValue::Seq(items)) => {
                    here = items.get(*i)?;
                    key_at = None;
                }
                _ => return None,
            }
        }
        Some((here, key_at))
    }

    /// The tree as JSON, as Helm hands it to the schema validator.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::Number((*i).into()),
            NodeValue::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                for e in entries {
                    map.insert(e.key.clone(), e.value.to_json());
                }
                Value::Object(map)
            }
        }
    }
}
