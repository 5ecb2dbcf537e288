//! Key paths in a scenario document and where each one is written: a byte offset in the
//! file (from `toml_edit`'s spans), or the `--set` override that put it there.
//!
//! It owns key paths and their display (`load.stages[0].to`, `thresholds."signin.p99"`),
//! walking a `toml_edit` document along a path, and [`Places`], which answers "where should
//! an error about this path point". It knows nothing about the scenario's keys.

use std::fmt;

use toml_edit::{ImDocument, Item, Key};

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
    /// A path of keys only, e.g. `["agents", "ids"]`.
    pub fn keys(keys: &[&str]) -> KeyPath {
        KeyPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }
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

/// Follows `path` from `root` as far as the document has it: how many steps exist, and the
/// key (when the last step is a key) and item reached.
pub fn walk<'a>(root: &'a Item, path: &[Seg]) -> (usize, Option<&'a Key>, &'a Item) {
    let (mut key, mut item) = (None, root);
    for (depth, seg) in path.iter().enumerate() {
        let next = match seg {
            Seg::Key(k) => item
                .as_table_like()
                .and_then(|t| t.get_key_value(k))
                .map(|(k, v)| (Some(k), v)),
            Seg::Index(n) => item.get(*n).map(|v| (None, v)),
        };
        match next {
            Some((k, v)) => (key, item) = (k, v),
            None => return (depth, key, item),
        }
    }
    (path.len(), key, item)
}

/// Where an error points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Byte offset in the scenario text.
    File(usize),
    /// The `--set` override with this index.
    Set(usize),
}

/// Whether an error is about a key (an unknown key, a table missing one) or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    Key,
    Value,
}

/// The document as written (with spans) and as overridden, and the path each `--set` wrote.
pub struct Places<'a> {
    pub written: &'a ImDocument<String>,
    pub effective: &'a Item,
    pub sets: &'a [KeyPath],
}

impl Places<'_> {
    /// Where to point for `path`: the deepest part of it the effective document has (a
    /// missing key is reported at its table), in the file or in the `--set` that wrote it.
    pub fn origin(&self, path: &KeyPath, aim: Aim) -> Origin {
        let (depth, _, _) = walk(self.effective, &path.0);
        let found = &path.0[..depth];
        let (written_depth, key, item) = walk(self.written.as_item(), found);
        let in_file = written_depth == found.len();
        let set = self
            .sets
            .iter()
            .rposition(|s| found.starts_with(&s.0) || (!in_file && s.0.starts_with(found)));
        if let Some(i) = set {
            return Origin::Set(i);
        }
        if found.is_empty() {
            return Origin::File(0);
        }
        let key_span = key.and_then(Key::span);
        let span = match (aim, found.last()) {
            (Aim::Key, Some(Seg::Key(_))) => key_span.or_else(|| item.span()),
            _ => item.span().or(key_span),
        };
        Origin::File(span.map_or(0, |s| s.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::diag::line_col;

    fn path(p: &str) -> KeyPath {
        let seg = |s: &str| s.parse().map_or_else(|_| Seg::Key(s.into()), Seg::Index);
        KeyPath(p.split('.').filter(|s| !s.is_empty()).map(seg).collect())
    }

    #[test]
    fn positions_in_every_table_form() {
        let text = "a = 1\n[load]\nmodel = \"open\"\n[[load.stages]]\nramp = \"1m\"\n[x.y]\nz = 1\n[p]\nq.r = 2\ns = { t = 1 }\n";
        let written = ImDocument::parse(text.to_string()).expect("parses");
        let (effective, sets) = (written.as_item(), &[]);
        let places = Places {
            written: &written,
            effective,
            sets,
        };
        let at = |p: &str, aim| match places.origin(&path(p), aim) {
            Origin::File(offset) => line_col(text, offset),
            Origin::Set(_) => panic!("not from the file"),
        };
        assert_eq!((at("a", Aim::Value), at("a", Aim::Key)), ((1, 5), (1, 1)));
        assert_eq!(at("load.model", Aim::Value), (3, 9));
        assert_eq!(at("load.stages.0.ramp", Aim::Value), (5, 8));
        assert_eq!(at("x.y.z", Aim::Value), (7, 5));
        assert_eq!(at("p.q", Aim::Value), (9, 1), "a dotted table: its key");
        assert_eq!(at("p.s.t", Aim::Value), (10, 11));
        assert_eq!(at("load", Aim::Value), (2, 1), "a table: its header");
        assert_eq!(
            at("load.nope", Aim::Key),
            (2, 2),
            "missing: its table's key"
        );
        assert_eq!(at("", Aim::Key), (1, 1));
    }

    #[test]
    fn what_a_set_wrote_points_at_the_set() {
        let written = ImDocument::parse("[load]\nmax = 1\n".to_string()).expect("parses");
        let effective: toml_edit::DocumentMut = "[load]\nmax = 1\nnew = { a = 1 }\n"
            .parse()
            .expect("parses");
        let sets = [path("load.new.a")];
        let places = Places {
            written: &written,
            effective: effective.as_item(),
            sets: &sets,
        };
        let origin = |p: &str| places.origin(&path(p), Aim::Value);
        assert_eq!(origin("load.new.a"), Origin::Set(0));
        assert_eq!(origin("load.new"), Origin::Set(0), "created by the set");
        assert_eq!(origin("load.new.b"), Origin::Set(0));
        assert_eq!(origin("load.max"), Origin::File(13));
        let quoted = KeyPath::keys(&["thresholds", "signin.p99"]).child(Seg::Index(0));
        assert_eq!(quoted.to_string(), "thresholds.\"signin.p99\"[0]");
    }
}
