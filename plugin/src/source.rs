//! The inputs of a validation (the chart's defaults, values files, `--set`
//! flags) and positions inside them. Once a validation is done, the texts
//! hold no secret: [`Sources::redact`] replaces each by `<redacted>` and
//! keeps what it replaced, so that a position in the input can still be
//! shown in the redacted text.

use crate::redact::Secrets;
use values_schema::REDACTED;

/// Where an input came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A YAML file (or standard input), by the name the user gave.
    File,
    /// A flag such as `--set`, with its argument as the text.
    Flag(&'static str),
}

/// One input: its name and its full text (kept to show snippets).
#[derive(Debug, Clone)]
pub struct Source {
    /// The file name, or the flag and its argument.
    pub name: String,
    /// What kind of input.
    pub kind: SourceKind,
    /// The text (after [`Sources::redact`], with every secret replaced).
    pub text: String,
    /// The secrets replaced in `text`, in the order of the text.
    pub masks: Vec<Mask>,
}

/// A secret replaced by `<redacted>` in a source's text: where it was, in
/// the columns of the original line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mask {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the first character replaced.
    pub col: usize,
    /// Characters replaced.
    pub len: usize,
}

impl Source {
    /// Where `at` (a position in the original text) is in the redacted
    /// text: its column and length there. A span that starts or ends inside
    /// a secret covers the whole `<redacted>`.
    pub fn shown(&self, at: Origin) -> (usize, usize) {
        let mask_len = REDACTED.chars().count();
        let start = at.col;
        let end = at.col + at.len;
        let (mut new_start, mut new_end) = (start, end);
        for m in self.masks.iter().filter(|m| m.line == at.line) {
            let m_end = m.col + m.len;
            let shift = mask_len as isize - m.len as isize;
            if start >= m_end {
                new_start = new_start.saturating_add_signed(shift);
            } else if start > m.col {
                new_start = new_start.saturating_sub(start - m.col);
            }
            if end >= m_end {
                new_end = new_end.saturating_add_signed(shift);
            } else if end > m.col {
                new_end = new_end
                    .saturating_add(m_end - end)
                    .saturating_add_signed(shift);
            }
        }
        (new_start, new_end.saturating_sub(new_start))
    }
}

/// A position in a source: 1-based line and column, and the length of the
/// token there in characters (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// Index into [`Sources`].
    pub source: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Characters to underline.
    pub len: usize,
}

/// Every input of one validation, in the order Helm applies them.
#[derive(Debug, Default, Clone)]
pub struct Sources(pub Vec<Source>);

impl Sources {
    /// Adds a source and returns its index.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        kind: SourceKind,
        text: impl Into<String>,
    ) -> usize {
        self.0.push(Source {
            name: name.into(),
            kind,
            text: text.into(),
            masks: Vec::new(),
        });
        self.0.len() - 1
    }

    /// The source at `index`.
    pub fn get(&self, index: usize) -> Option<&Source> {
        self.0.get(index)
    }

    /// The text of line `line` (1-based) of source `index`.
    pub fn line(&self, index: usize, line: usize) -> Option<&str> {
        self.get(index)?.text.lines().nth(line.checked_sub(1)?)
    }

    /// Replaces every secret in every text, and in the names of flags
    /// (which carry their argument).
    pub fn redact(&mut self, secrets: &Secrets) {
        for (index, source) in self.0.iter_mut().enumerate() {
            let (text, masks) = secrets.redact_text(index, &source.kind, &source.text);
            if let SourceKind::Flag(flag) = source.kind {
                source.name = format!("{flag} {text}");
            } else {
                source.name = secrets.mask(&source.name);
            }
            source.text = text;
            source.masks = masks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(masks: Vec<Mask>) -> Source {
        Source {
            name: String::new(),
            kind: SourceKind::File,
            text: String::new(),
            masks,
        }
    }

    fn at(col: usize, len: usize) -> Origin {
        Origin {
            source: 0,
            line: 1,
            col,
            len,
        }
    }

    #[test]
    fn positions_move_with_the_masks_before_them() {
        // `token: abc, x: 1` → `token: <redacted>, x: 1`
        let s = source(vec![Mask {
            line: 1,
            col: 8,
            len: 3,
        }]);
        assert_eq!(s.shown(at(1, 5)), (1, 5), "before the secret");
        assert_eq!(s.shown(at(8, 3)), (8, 10), "the secret itself");
        assert_eq!(s.shown(at(13, 1)), (20, 1), "after it");
        assert_eq!(s.shown(at(9, 1)), (8, 10), "inside it");
        assert_eq!(s.shown(at(1, 8)), (1, 17), "ending inside it");
        let other_line = Origin {
            line: 2,
            ..at(13, 1)
        };
        assert_eq!(s.shown(other_line), (13, 1));
    }
}
