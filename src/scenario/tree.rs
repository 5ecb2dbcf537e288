//! The scenario document as a tree that remembers where every key and value came from: a
//! byte span in the file, or the `--set` override that put it there.
//!
//! This is what lets every later error name a line, a column and a key path. It owns the
//! tree, key paths and their display, finding the position of a path, and turning the tree
//! back into TOML (the effective document that is hashed); `parse` builds the tree from
//! text. It knows nothing about the scenario's keys: the model and its checks live in
//! `model` and `validate`.

use std::fmt;
use std::ops::Range;

/// Where a key or value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Byte range in the scenario text.
    File(Range<usize>),
    /// The `--set` override with this index.
    Set(usize),
}

/// One value of the document and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A TOML date/time, kept as written; no scenario key takes one.
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a table with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_at: Origin,
    pub node: Node,
}

impl Value {
    /// What kind of value this is, for messages ("a string", "a table").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date/time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

impl Node {
    /// The entry for `key` when this node is a table.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Where to point for `path`: the value when it exists, else the key or value of the
    /// deepest part of the path that exists (a missing key is reported at its table).
    pub fn locate(&self, path: &[Seg]) -> Origin {
        let mut node = self;
        let mut at = self.at.clone();
        for seg in path {
            match (seg, &node.value) {
                (Seg::Key(k), Value::Table(_)) => match node.entry(k) {
                    Some(e) => {
                        node = &e.node;
                        at = e.node.at.clone();
                    }
                    None => return at,
                },
                (Seg::Index(i), Value::Array(items)) => match items.get(*i) {
                    Some(n) => {
                        node = n;
                        at = n.at.clone();
                    }
                    None => return at,
                },
                _ => return at,
            }
        }
        at
    }

    /// Every origin in this subtree becomes `Set(index)` (a value given by an override).
    pub fn mark_set(&mut self, index: usize) {
        self.at = Origin::Set(index);
        match &mut self.value {
            Value::Array(items) => items.iter_mut().for_each(|n| n.mark_set(index)),
            Value::Table(entries) => entries.iter_mut().for_each(|e| {
                e.key_at = Origin::Set(index);
                e.node.mark_set(index);
            }),
            _ => {}
        }
    }

    /// The plain TOML value, for writing the effective document.
    pub fn to_toml(&self) -> toml::Value {
        match &self.value {
            Value::Str(s) => toml::Value::String(s.clone()),
            Value::Int(i) => toml::Value::Integer(*i),
            Value::Float(f) => toml::Value::Float(*f),
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Datetime(s) => s
                .parse()
                .map(toml::Value::Datetime)
                .unwrap_or_else(|_| toml::Value::String(s.clone())),
            Value::Array(items) => toml::Value::Array(items.iter().map(Node::to_toml).collect()),
            Value::Table(entries) => toml::Value::Table(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.node.to_toml()))
                    .collect(),
            ),
        }
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `load.stages[0].to` or `thresholds."signin.p99"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn child(&self, seg: Seg) -> KeyPath {
        let mut v = self.0.clone();
        v.push(seg);
        KeyPath(v)
    }
    pub fn key(&self, k: &str) -> KeyPath {
        self.child(Seg::Key(k.to_string()))
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
    /// The path without its last step.
    pub fn parent(&self) -> KeyPath {
        KeyPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse::parse;

    fn at(text: &str, path: &[Seg]) -> (usize, usize) {
        let root = parse(text).expect("parses");
        match root.locate(path) {
            Origin::File(r) => line_col(text, r.start),
            Origin::Set(_) => panic!("not from the file"),
        }
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn spans_of_values_in_every_table_form() {
        let text = "a = 1\n[load]\nmodel = \"open\"\n[[load.stages]]\nramp = \"1m\"\n[x.y]\nz = 1\n[p]\nq.r = 2\ns = { t = 1 }\nd = 1979-05-27\n";
        assert_eq!(at(text, &[key("a")]), (1, 5));
        assert_eq!(at(text, &[key("load"), key("model")]), (3, 9));
        assert_eq!(
            at(
                text,
                &[key("load"), key("stages"), Seg::Index(0), key("ramp")]
            ),
            (5, 8)
        );
        assert_eq!(at(text, &[key("x"), key("y"), key("z")]), (7, 5));
        assert_eq!(at(text, &[key("p"), key("q"), key("r")]), (9, 7));
        assert_eq!(at(text, &[key("p"), key("s"), key("t")]), (10, 11));
        let root = parse(text).expect("parses");
        let d = root
            .entry("p")
            .and_then(|p| p.node.entry("d"))
            .map(|e| e.node.value.clone());
        assert_eq!(d, Some(Value::Datetime("1979-05-27".into())));
        // A missing key is located at its table.
        assert_eq!(at(text, &[key("load"), key("nope")]).0, 2);
    }

    #[test]
    fn paths_display_like_toml() {
        let p = KeyPath(vec![key("load"), key("stages"), Seg::Index(0), key("to")]);
        assert_eq!(p.to_string(), "load.stages[0].to");
        let q = KeyPath(vec![key("thresholds"), key("signin.p99")]);
        assert_eq!(q.to_string(), "thresholds.\"signin.p99\"");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("é = 1\nab", 8), (2, 2));
        assert_eq!(line_col("é = 1", 5), (1, 5));
    }
}
