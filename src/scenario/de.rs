//! Deserialising the model from a `toml_edit` document through `serde_path_to_error`, so
//! that every serde error (unknown key, missing key, wrong type, a value type's own parse
//! error) comes back with the key path it concerns and what kind of error it is.
//!
//! The kind is read back from serde's own wording (`unknown field `x`, expected one of …`,
//! `missing field `x``, `unknown variant …`), which serde's `de::Error` defaults fix. It
//! owns no messages about particular scenario keys.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml_edit::DocumentMut;

use super::tree::{self, KeyPath, Seg};

/// What went wrong, with the facts needed to write a helpful message.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A value-level error with serde's or the value type's message.
    Other(String),
    UnknownField {
        field: String,
        expected: Vec<String>,
    },
    UnknownVariant {
        variant: String,
        expected: Vec<String>,
    },
    /// A table lacks this key; the error's path is the table's.
    MissingField(String),
}

/// A deserialisation error and the key path it concerns (for an unknown key, the key).
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub path: KeyPath,
    pub kind: Kind,
}

/// Deserialises `T` from the document.
pub fn from_document<T: DeserializeOwned>(doc: &DocumentMut) -> Result<T, DeError> {
    let de = toml_edit::de::Deserializer::from(doc.clone());
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut path = KeyPath(
            e.path()
                .iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        Some(Seg::Key(key.clone()))
                    }
                    Segment::Unknown => None,
                })
                .collect(),
        );
        let kind = kind_of(e.inner().message());
        if let Kind::UnknownField { field, .. } = &kind {
            // Raised while reading the key, the path ends with it; raised by a hand-written
            // visitor after reading it, the path is the table's.
            let below = path.key(field);
            let has_below = tree::walk(doc.as_item(), &below.0).0 == below.0.len();
            if has_below || path.0.last() != Some(&Seg::Key(field.clone())) {
                path = below;
            }
        }
        DeError { path, kind }
    })
}

/// Reads the kind of error back from serde's message.
fn kind_of(message: &str) -> Kind {
    let named = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        let (name, expected) = rest.split_once("`, ").unwrap_or((rest, ""));
        let names = expected.split('`').skip(1).step_by(2);
        Some((name.to_string(), names.map(str::to_string).collect()))
    };
    if let Some((field, expected)) = named("unknown field `") {
        return Kind::UnknownField { field, expected };
    }
    if let Some((variant, expected)) = named("unknown variant `") {
        return Kind::UnknownVariant { variant, expected };
    }
    match message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        Some(field) => Kind::MissingField(field.to_string()),
        None => Kind::Other(message.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::values::DurationRange;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        n: u8,
        #[serde(default)]
        list: Vec<DurationRange>,
    }

    fn err(text: &str) -> (String, Kind) {
        let doc: DocumentMut = text.parse().expect("syntax ok");
        let e = from_document::<Doc>(&doc).expect_err("should fail");
        (e.path.to_string(), e.kind)
    }

    fn unknown(field: &str, expected: &[&str]) -> Kind {
        let expected = expected.iter().map(|s| s.to_string()).collect();
        Kind::UnknownField {
            field: field.into(),
            expected,
        }
    }

    #[test]
    fn errors_name_the_key_path_and_kind() {
        assert_eq!(
            err("n = 1\ny = 2\n"),
            ("y".into(), unknown("y", &["n", "list"]))
        );
        // Raised by a hand-written visitor after it read the key: the path still ends with it.
        let text = "n = 1\n[[list]]\nmin = \"1s\"\nmx = \"2s\"\n";
        assert_eq!(
            err(text),
            ("list[0].mx".into(), unknown("mx", &["min", "max"]))
        );
        assert_eq!(
            err("list = []\n"),
            ("".into(), Kind::MissingField("n".into()))
        );
    }

    #[test]
    fn every_wording_of_serde_is_read_back() {
        let e = kind_of("unknown variant `shut`, expected `open` or `closed`");
        let expected = vec!["open".to_string(), "closed".to_string()];
        assert_eq!(
            e,
            Kind::UnknownVariant {
                variant: "shut".into(),
                expected
            }
        );
        assert_eq!(
            kind_of("unknown field `x`, there are no fields"),
            unknown("x", &[])
        );
        assert_eq!(
            kind_of("unknown field `x`, expected `y`"),
            unknown("x", &["y"])
        );
        assert_eq!(kind_of("bad"), Kind::Other("bad".into()));
    }
}
