//! YAML with positions: a tree whose every key and value remembers where it
//! was written, built from `yaml-rust2`'s marked events.

mod node;
mod parse;
mod scalar;

pub use node::{Entry, Node, NodeValue};
pub use parse::{MAX_ALIASED, MAX_DEPTH, ParseProblem, as_values, parse_document, parse_documents};
