//! The inputs of a validation (the chart's defaults, values files, `--set`
//! flags) and positions inside them.

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
    /// The file name, or the flag.
    pub name: String,
    /// What kind of input.
    pub kind: SourceKind,
    /// The text.
    pub text: String,
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
}
