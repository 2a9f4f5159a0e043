//! Paths to a key in the values tree, such as `services[0].domains[1]`.

use std::fmt;

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A key of a map.
    Key(String),
    /// An index into a list.
    Index(usize),
}

/// Where a value lives in the values tree, from the root.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// The root of the tree (an empty path).
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// Parses dotted keys such as `edgeStack.replicas` (no indices, no escapes).
    pub fn dotted(path: &str) -> Self {
        KeyPath(
            path.split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Key(s.to_owned()))
                .collect(),
        )
    }

    /// This path with a key appended.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    /// This path with a list index appended.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// The path without its last segment (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut up = self.clone();
        up.0.pop();
        up
    }

    /// The last key of the path, if the path ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Builds a path from a JSON pointer (`/services/0/name`): a segment made
    /// only of digits is a list index.
    pub fn from_json_pointer(pointer: &str) -> Self {
        KeyPath(
            pointer
                .split('/')
                .skip(1)
                .map(|raw| {
                    let key = raw.replace("~1", "/").replace("~0", "~");
                    match key.parse::<usize>() {
                        Ok(i) if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) => {
                            Segment::Index(i)
                        }
                        _ => Segment::Key(key),
                    }
                })
                .collect(),
        )
    }

    /// True for the empty path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) if k.contains(['.', '[', ']', ' ']) || k.is_empty() => {
                    write!(f, "[{k:?}]")?
                }
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_and_indices() {
        let p = KeyPath::root()
            .key("services")
            .index(0)
            .key("domains")
            .index(2);
        assert_eq!(p.to_string(), "services[0].domains[2]");
        let q = KeyPath::root().key("podAnnotations").key("a.b/c");
        assert_eq!(q.to_string(), "podAnnotations[\"a.b/c\"]");
    }

    #[test]
    fn parses_json_pointers() {
        let p = KeyPath::from_json_pointer("/services/10/a~1b");
        assert_eq!(p.to_string(), "services[10].a/b");
        assert!(KeyPath::from_json_pointer("").is_root());
    }
}
