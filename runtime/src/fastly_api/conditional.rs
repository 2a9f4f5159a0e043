//! Conditional requests: an [`ETag`] from one answer, sent back as
//! `If-None-Match`, lets the API answer `304 Not Modified` without a body,
//! so that polling every few seconds costs the API (and us) next to
//! nothing while nothing changes.

/// An entity tag, exactly as the API sent it (quotes and `W/` included),
/// to be sent back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// Wraps a header value. `None` for an empty one.
    pub fn new(value: impl Into<String>) -> Option<ETag> {
        let value: String = value.into();
        let value = value.trim();
        (!value.is_empty()).then(|| ETag(value.to_owned()))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer to a request that may be conditional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional<T> {
    /// The resource changed (or no ETag was sent): its new value, and the
    /// ETag to send next time when the API gave one.
    Modified(T, Option<ETag>),
    /// `304`: nothing changed since the ETag that was sent.
    NotModified,
}

impl<T> Conditional<T> {
    /// The new value, or `None` when nothing changed.
    pub fn modified(self) -> Option<T> {
        match self {
            Conditional::Modified(value, _) => Some(value),
            Conditional::NotModified => None,
        }
    }

    /// Whether the API answered `304`.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, Conditional::NotModified)
    }

    /// Applies `f` to the new value, keeping the ETag.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Conditional<U> {
        match self {
            Conditional::Modified(value, etag) => Conditional::Modified(f(value), etag),
            Conditional::NotModified => Conditional::NotModified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_keep_their_exact_form() {
        assert_eq!(ETag::new(" W/\"abc\" ").unwrap().as_str(), "W/\"abc\"");
        assert_eq!(ETag::new("  "), None);
    }

    #[test]
    fn conditional_maps_and_unwraps() {
        let tag = ETag::new("\"1\"");
        let c = Conditional::Modified(2, tag.clone()).map(|n| n * 10);
        assert_eq!(c, Conditional::Modified(20, tag));
        assert_eq!(c.modified(), Some(20));
        let none: Conditional<u8> = Conditional::NotModified;
        assert!(none.is_not_modified());
        assert_eq!(none.map(|n| n + 1).modified(), None);
    }
}
