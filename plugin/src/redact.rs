//! Secrets kept out of every report. The tokens written in values (the keys
//! of [`values_schema::check::SECRET_KEYS`]) are found three ways, so that a
//! miss of one is caught by another:
//!
//! - by position: every scalar written at a secret key, in a file or a
//!   `--set` flag, as the parser placed it;
//! - by value: the text of each such scalar, wherever else it appears (a
//!   token quoted in another finding, copied under another key);
//! - by key: on any line printed, what follows `token:` or `fastly_key:` (in
//!   YAML) or `token=` or `fastly_key=` (in a flag), for the lines no tree
//!   describes (a file that does not parse, a duplicate key, a values string).
//!
//! A documentation placeholder such as `<BOOTSTRAP TOKEN>` is no secret: it
//! stays visible, so that the finding about it makes sense.

use crate::source::{Mask, Origin, SourceKind};
use crate::yaml::{Node, NodeValue};
use std::fmt;
use values_schema::{KeyPath, REDACTED, is_secret};

/// A secret value shorter than this is masked where its position or key is
/// known, but not searched for in other text: a two-letter token would
/// otherwise hide every word that contains its letters.
const MIN_SEARCHED: usize = 4;

/// The last key of each secret key path, as a key heuristic looks for it.
const SECRET_NAMES: [&str; 2] = ["token", "fastly_key"];

/// The secrets of one validation. Its `Debug` shows only how many there
/// are.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Where secrets were written.
    spans: Vec<Origin>,
    /// Their texts, longest first (a token that contains another is masked
    /// whole).
    values: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Secrets {{ {} places, {} values }}",
            self.spans.len(),
            self.values.len()
        )
    }
}

impl Secrets {
    /// Records every scalar at a secret key in `node`, whose own path is
    /// `path`.
    pub fn collect(&mut self, node: &Node, path: &KeyPath) {
        match &node.value {
            NodeValue::Map(entries) => {
                for e in entries {
                    self.collect(&e.value, &path.key(e.key.clone()));
                }
            }
            NodeValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.collect(item, &path.index(i));
                }
            }
            _ if is_secret(path) => self.add(node),
            _ => {}
        }
    }

    /// Records a scalar (or every scalar of a list) as a secret, wherever
    /// it is (a `--set` value at a secret key).
    pub fn add(&mut self, node: &Node) {
        let text = match &node.value {
            NodeValue::Seq(items) => {
                items.iter().for_each(|i| self.add(i));
                return;
            }
            NodeValue::Map(entries) => {
                entries.iter().for_each(|e| self.add(&e.value));
                return;
            }
            NodeValue::Null => return,
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Str(s) => s.clone(),
        };
        // A blank token hides nothing, and a placeholder is no token.
        if text.trim().is_empty() || is_placeholder(&text) {
            return;
        }
        // A value over several lines is found by its lines' text, and by
        // the key above it.
        if !text.contains('\n') {
            self.spans.push(node.at);
        }
        self.add_value(&text);
    }

    /// Records a secret's text, to be masked wherever it appears.
    pub fn add_value(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.chars().count() >= MIN_SEARCHED && !self.values.iter().any(|v| v == line) {
                self.values.push(line.to_owned());
            }
        }
        self.values
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// `text` (a message, a name, a line of any output) with every known
    /// secret value, and any value of a `token=` or `fastly_key=` in it,
    /// replaced by `<redacted>`.
    pub fn mask(&self, text: &str) -> String {
        text.split_inclusive('\n')
            .map(|line| {
                let (content, ending) = split_ending(line);
                let mut ranges = self.value_ranges(content);
                let names = names_secret(content);
                if ranges.is_empty() && !names {
                    return line.to_owned();
                }
                let chars: Vec<char> = content.chars().collect();
                if names {
                    ranges.extend(flag_key_ranges(&chars));
                }
                replace(&chars, &ranges).0 + ending
            })
            .collect()
    }

    /// The text of source `index` with every secret replaced, and what was
    /// replaced (see [`Mask`]).
    pub fn redact_text(&self, index: usize, kind: &SourceKind, text: &str) -> (String, Vec<Mask>) {
        let mut out = String::with_capacity(text.len());
        let mut masks = Vec::new();
        let mut block = None;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let number = i + 1;
            let (content, ending) = split_ending(line);
            let mut ranges: Vec<(usize, usize)> = self
                .spans
                .iter()
                .filter(|s| s.source == index && s.line == number && s.col > 0)
                .map(|s| (s.col - 1, s.col - 1 + s.len.max(1)))
                .collect();
            ranges.extend(self.value_ranges(content));
            if ranges.is_empty() && block.is_none() && !names_secret(content) {
                out.push_str(line);
                continue;
            }
            let chars: Vec<char> = content.chars().collect();
            match kind {
                SourceKind::File => ranges.extend(yaml_key_ranges(&chars, &mut block)),
                SourceKind::Flag(_) => ranges.extend(flag_key_ranges(&chars)),
            }
            let (redacted, replaced) = replace(&chars, &ranges);
            masks.extend(replaced.into_iter().map(|(start, end)| Mask {
                line: number,
                col: start + 1,
                len: end - start,
            }));
            out.push_str(&redacted);
            out.push_str(ending);
        }
        (out, masks)
    }

    /// Where the known secret values appear in `line`, in characters.
    fn value_ranges(&self, line: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        for value in &self.values {
            let mut from = 0;
            while let Some(found) = line[from..].find(value.as_str()) {
                let start = from + found;
                let end = start + value.len();
                let chars_before = line[..start].chars().count();
                ranges.push((chars_before, chars_before + value.chars().count()));
                from = end;
            }
        }
        ranges
    }
}

/// Whether `line` holds a secret key's name (the key heuristics look no
/// further into a line without one).
fn names_secret(line: &str) -> bool {
    SECRET_NAMES.iter().any(|name| line.contains(name))
}

/// A line without its ending, and the ending.
fn split_ending(line: &str) -> (&str, &str) {
    let content = line.trim_end_matches(['\n', '\r']);
    (content, &line[content.len()..])
}

/// `chars` with each of `ranges` (character indices, possibly overlapping,
/// clamped to the line) replaced by `<redacted>`, and the merged ranges.
fn replace(chars: &[char], ranges: &[(usize, usize)]) -> (String, Vec<(usize, usize)>) {
    let mut sorted: Vec<(usize, usize)> = ranges
        .iter()
        .map(|&(s, e)| (s.min(chars.len()), e.min(chars.len())))
        .filter(|(s, e)| s < e)
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in sorted {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = String::new();
    let mut at = 0;
    for &(s, e) in &merged {
        out.extend(&chars[at..s]);
        out.push_str(REDACTED);
        at = e;
    }
    out.extend(&chars[at..]);
    (out, merged)
}

/// `<SOMETHING IN CAPITALS>`, as the documentation writes what to fill in.
fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    t.len() > 2
        && t.starts_with('<')
        && t.ends_with('>')
        && t[1..t.len() - 1]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || " _-".contains(c))
}

/// The starts of each secret key name in `chars` that stands as a word of
/// its own (`token`, not `bootstrapTokenKey` or `my_token`), with the index
/// just after the name.
fn key_names(chars: &[char], before: &[char]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for name in SECRET_NAMES {
        let name: Vec<char> = name.chars().collect();
        for start in 0..chars.len() {
            if chars[start..].starts_with(&name)
                && (start == 0 || before.contains(&chars[start - 1]))
            {
                found.push((start, start + name.len()));
            }
        }
    }
    found
}

/// What follows `token=` or `fastly_key=` (after optional `[n]` indices)
/// in a `--set` argument: up to the next unescaped `,`, or a whole `{…}`.
fn flag_key_ranges(chars: &[char]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for (_, mut pos) in key_names(chars, &['.', ',', ' ', '=', '\'', '"', '`']) {
        while chars.get(pos) == Some(&'[') {
            match chars[pos..].iter().position(|c| *c == ']') {
                Some(close) => pos += close + 1,
                None => break,
            }
        }
        if chars.get(pos) != Some(&'=') {
            continue;
        }
        let start = pos + 1;
        let mut end = start;
        if chars.get(start) == Some(&'{') {
            end = chars[start..]
                .iter()
                .position(|c| *c == '}')
                .map_or(chars.len(), |p| start + p + 1);
        } else {
            while end < chars.len() && chars[end] != ',' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
        }
        let value: String = chars[start..end.min(chars.len())].iter().collect();
        if !is_placeholder(&value) {
            ranges.push((start, end));
        }
    }
    ranges
}

/// What follows `token:` or `fastly_key:` on a YAML line: a quoted or
/// plain scalar on the line; a block scalar or a value on the next lines
/// (tracked in `block`: the column of the key whose value goes on, every
/// line indented deeper than it is masked whole).
fn yaml_key_ranges(chars: &[char], block: &mut Option<usize>) -> Vec<(usize, usize)> {
    let indent = chars.iter().take_while(|c| **c == ' ').count();
    let blank = indent == chars.len() || chars.get(indent) == Some(&'#');
    if let Some(key_col) = *block {
        if blank {
            return Vec::new();
        }
        if indent > key_col {
            return vec![(indent, chars.len())];
        }
        *block = None;
    }
    let mut ranges = Vec::new();
    for (start, mut pos) in key_names(chars, &[' ', '\t', '{', ',', '"', '\'']) {
        if start > 0 && matches!(chars[start - 1], '"' | '\'') {
            if chars.get(pos) != Some(&chars[start - 1]) {
                continue;
            }
            pos += 1;
        }
        while matches!(chars.get(pos), Some(' ' | '\t')) {
            pos += 1;
        }
        if chars.get(pos) != Some(&':') {
            continue;
        }
        pos += 1;
        if !matches!(chars.get(pos), None | Some(' ' | '\t')) {
            continue;
        }
        let flow = flow_depth(&chars[..start]) > 0;
        // Anchors and tags before the value are not the value.
        loop {
            while matches!(chars.get(pos), Some(' ' | '\t')) {
                pos += 1;
            }
            if matches!(chars.get(pos), Some('&' | '!')) {
                while pos < chars.len() && !matches!(chars[pos], ' ' | '\t') {
                    pos += 1;
                }
            } else {
                break;
            }
        }
        let value_start = pos;
        let end = match chars.get(pos) {
            None | Some('#') | Some('|') | Some('>') => {
                *block = Some(start);
                continue;
            }
            Some(q @ ('"' | '\'')) => match closing_quote(chars, pos, *q) {
                Some(close) => close + 1,
                None => {
                    *block = Some(start);
                    chars.len()
                }
            },
            _ => {
                let mut end = pos;
                while end < chars.len()
                    && !(flow && matches!(chars[end], ',' | '}' | ']'))
                    && !(chars[end] == '#' && matches!(chars[end - 1], ' ' | '\t'))
                {
                    end += 1;
                }
                while end > pos && matches!(chars[end - 1], ' ' | '\t') {
                    end -= 1;
                }
                end
            }
        };
        let value: String = chars[value_start..end].iter().collect();
        let unquoted = value.trim_matches(['"', '\'']);
        if !is_placeholder(unquoted) && !matches!(value.as_str(), "null" | "~" | "\"\"" | "\'\'") {
            ranges.push((value_start, end));
        }
    }
    ranges
}

/// How many flow collections (`{`, `[`) are open at the end of `chars`,
/// quotes skipped.
fn flow_depth(chars: &[char]) -> usize {
    let mut depth = 0usize;
    let mut quote = None;
    for &c in chars {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    depth
}

/// The index of the quote that closes the one at `open`, escapes skipped
/// (`\"` in double quotes, `''` in single quotes).
fn closing_quote(chars: &[char], open: usize, quote: char) -> Option<usize> {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote == '"' => i += 2,
            c if c == quote => {
                if quote == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> String {
        Secrets::default().redact_text(0, &SourceKind::File, text).0
    }

    fn flag(text: &str) -> String {
        Secrets::default()
            .redact_text(0, &SourceKind::Flag("--set"), text)
            .0
    }

    #[test]
    fn masks_values_after_secret_keys_in_yaml() {
        assert_eq!(yaml("  token: abc\n"), "  token: <redacted>\n");
        assert_eq!(
            yaml("# token: abc\n"),
            "# token: <redacted>\n",
            "commented out"
        );
        assert_eq!(
            yaml("fastly_key: \"a\\\"b\" # c\n"),
            "fastly_key: <redacted> # c\n"
        );
        assert_eq!(yaml("fastly_key: 'a''b'\n"), "fastly_key: <redacted>\n");
        assert_eq!(
            yaml("fastly_key: a,b # c\n"),
            "fastly_key: <redacted> # c\n"
        );
        assert_eq!(
            yaml("bootstrap: {token: abc, x: 1}\n"),
            "bootstrap: {token: <redacted>, x: 1}\n"
        );
        assert_eq!(
            yaml("bootstrap: {\"token\": abc, token: d}\n"),
            "bootstrap: {\"token\": <redacted>, token: <redacted>}\n"
        );
        assert_eq!(
            yaml("token: &t !!str abc\n"),
            "token: &t !!str <redacted>\n"
        );
        assert_eq!(
            yaml("a:\n  token: |\n    abc\n\n    def\n  b: 1\n"),
            "a:\n  token: |\n    <redacted>\n\n    <redacted>\n  b: 1\n"
        );
        assert_eq!(
            yaml("fastly_key:\n  - a\n  - b\nc: 1\n"),
            "fastly_key:\n  <redacted>\n  <redacted>\nc: 1\n"
        );
        assert_eq!(
            yaml("token: \"abc\n  def\"\n"),
            "token: <redacted>\n  <redacted>\n"
        );
    }

    #[test]
    fn leaves_other_keys_and_placeholders() {
        for text in [
            "bootstrapTokenKey: bootstrap-token\n",
            "my_token: x\n",
            "token: <BOOTSTRAP TOKEN>\n",
            "tokens: 3\n",
            "token:x\n",
            "my-token: x\n",
            "  token: null\n",
            "fastly_key: \"\"\n",
        ] {
            assert_eq!(yaml(text), text);
        }
    }

    #[test]
    fn masks_values_after_secret_keys_in_flags() {
        assert_eq!(flag("fastly_key=abc"), "fastly_key=<redacted>");
        assert_eq!(
            flag("a=1,bootstrap.token=x\\,y,b=2"),
            "a=1,bootstrap.token=<redacted>,b=2"
        );
        assert_eq!(
            flag("fastly_key[0]={a,b},c=1"),
            "fastly_key[0]=<redacted>,c=1"
        );
        assert_eq!(
            flag("fastly_key=<AUTOMATION TOKEN>"),
            "fastly_key=<AUTOMATION TOKEN>"
        );
        assert_eq!(flag("a.token_x=1"), "a.token_x=1");
    }

    #[test]
    fn masks_known_values_anywhere() {
        let mut secrets = Secrets::default();
        secrets.add_value("s3cr3t-t0ken");
        secrets.add_value("ab");
        assert_eq!(
            secrets.mask("x `s3cr3t-t0ken` and s3cr3t-t0ken\nab"),
            "x `<redacted>` and <redacted>\nab"
        );
        assert_eq!(
            secrets.mask("--set fastly_key=zz"),
            "--set fastly_key=<redacted>"
        );
        assert_eq!(format!("{secrets:?}"), "Secrets { 0 places, 1 values }");
    }
}
