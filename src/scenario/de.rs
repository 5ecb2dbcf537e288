//! Deserialising the model from a `toml_edit` document through `serde_path_to_error`, so
//! that every serde error (unknown key, missing key, wrong type, a value type's own parse
//! error) comes back with the key path it concerns and what kind of error it is.
//!
//! The document is first read into a `serde_value::Value` and the model is deserialised
//! from that, because `serde_value`'s error type keeps each kind apart (`UnknownField`,
//! `MissingField`, `InvalidType`, …) where `toml_edit`'s folds them into one message; so
//! the kind is never read back from wording. It owns no messages about particular keys.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_path_to_error::Segment;
use serde_value::{DeserializerError, Value};
use toml_edit::DocumentMut;

use super::tree::{self, KeyPath, Seg};

/// What went wrong, with the facts needed to write a helpful message.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A value-level error with serde's or the value type's message.
    Other(String),
    /// A value of the wrong type: what was found (serde's words, e.g. `string "x"`, or
    /// `map` for a table or a TOML date/time) and what was expected.
    InvalidType { found: String, expected: String },
    /// A value of the right type that the type cannot hold (`-5` for a `u32`): what was
    /// found, in serde's words (`integer `-5``), and what was expected.
    InvalidValue { found: String, expected: String },
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
    // Reading a parsed document into a generic value cannot meet a type it refuses.
    let value = Value::deserialize(de).map_err(|e| DeError {
        path: KeyPath(Vec::new()),
        kind: Kind::Other(e.to_string()),
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
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
        let kind = kind_of(e.into_inner());
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

/// The kind of error, from the error's own variant.
fn kind_of(e: DeserializerError) -> Kind {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    match e {
        DeserializerError::UnknownField(field, expected) => Kind::UnknownField {
            field,
            expected: names(expected),
        },
        DeserializerError::UnknownVariant(variant, expected) => Kind::UnknownVariant {
            variant,
            expected: names(expected),
        },
        DeserializerError::MissingField(field) => Kind::MissingField(field.to_string()),
        DeserializerError::InvalidType(found, expected) => Kind::InvalidType {
            found: found.to_unexpected().to_string(),
            expected,
        },
        DeserializerError::InvalidValue(found, expected) => Kind::InvalidValue {
            found: found.to_unexpected().to_string(),
            expected,
        },
        // serde's own wording for the rest (`invalid value: integer `-5`, expected u32`).
        other => Kind::Other(other.into_error::<serde::de::value::Error>().to_string()),
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
    fn every_kind_is_kept_apart() {
        assert_eq!(
            err("n = \"one\"\n").1,
            Kind::InvalidType {
                found: "string \"one\"".into(),
                expected: "u8".into()
            }
        );
        assert_eq!(
            err("n = 300\n").1,
            Kind::InvalidValue {
                found: "integer `300`".into(),
                expected: "u8".into()
            }
        );
        let (path, kind) = err("n = 1\n[[list]]\nmin = \"1s\"\nmax = \"x\"\n");
        assert_eq!(path, "list[0].max");
        assert!(matches!(kind, Kind::Other(m) if m.contains("\"x\"")));
    }
}
