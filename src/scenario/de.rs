//! A serde deserializer over the positioned document tree (`tree::Node`), so that every
//! error serde raises — unknown key, missing key, wrong type, a value type's own parse
//! error — comes back with the key path and the origin of the innermost key or value it
//! concerns.
//!
//! It plays the role `serde_path_to_error` would: an error is tagged with a place on its
//! way out of the innermost node that sees it, and outer nodes leave a tagged error alone.
//! It owns no messages about particular scenario keys.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::tree::{Entry, KeyPath, Node, Origin, Seg, Value};

/// What went wrong, with the facts needed to write a helpful message later.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A value-level error with serde's or the value type's message.
    Other(String),
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
}

/// A deserialisation error and where it happened (filled in by the innermost node).
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub kind: Kind,
    /// Path and origin of the key or value concerned; `None` until a node tags it.
    pub at: Option<(KeyPath, Origin)>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Other(m) => f.write_str(m),
            Kind::UnknownField { field, .. } => write!(f, "unknown key `{field}`"),
            Kind::UnknownVariant { variant, .. } => write!(f, "unknown value {variant:?}"),
            Kind::MissingField(k) => write!(f, "missing key `{k}`"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            kind: Kind::Other(msg.to_string()),
            at: None,
        }
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: Kind::UnknownField {
                field: field.to_string(),
                expected,
            },
            at: None,
        }
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: Kind::UnknownVariant {
                variant: variant.to_string(),
                expected,
            },
            at: None,
        }
    }
    fn missing_field(field: &'static str) -> Self {
        DeError {
            kind: Kind::MissingField(field),
            at: None,
        }
    }
}

/// Deserialises `T` from the tree rooted at `root`.
pub fn from_node<T: DeserializeOwned>(root: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDe {
        node: root,
        path: KeyPath::default(),
        key_at: None,
    })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: KeyPath,
    /// Where the key holding this value is written (None for the root and array items).
    key_at: Option<&'a Origin>,
}

impl NodeDe<'_> {
    /// Tags an untagged error with the innermost place it concerns.
    fn place(&self, mut e: DeError) -> DeError {
        if e.at.is_some() {
            return e;
        }
        let at = match (&e.kind, &self.node.value) {
            // Raised by a hand-written visitor after it read the key: point at that key.
            (Kind::UnknownField { field, .. }, Value::Table(_)) => match self.node.entry(field) {
                Some(entry) => (self.path.key(field), entry.key_at.clone()),
                None => (self.path.clone(), self.node.at.clone()),
            },
            // A missing key belongs to its table: point at the table's key (its header).
            (Kind::MissingField(k), _) => (
                self.path.key(k),
                self.key_at.unwrap_or(&self.node.at).clone(),
            ),
            _ => (self.path.clone(), self.node.at.clone()),
        };
        e.at = Some(at);
        e
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Str(s) | Value::Datetime(s) => visitor.visit_str(s),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Array(items) => {
                let mut seq = SeqDe {
                    items: items.iter(),
                    index: 0,
                    path: &self.path,
                };
                match visitor.visit_seq(&mut seq) {
                    Ok(v) if seq.items.len() == 0 => Ok(v),
                    Ok(_) => Err(de::Error::invalid_length(items.len(), &"fewer items")),
                    Err(e) => Err(e),
                }
            }
            Value::Table(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                current: None,
                path: &self.path,
            }),
        };
        r.map_err(|e| self.place(e))
    }

    // TOML has no null: a value that is written is `Some`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, node, key_at) = (self.path.clone(), self.node, self.key_at);
        visitor
            .visit_some(self)
            .map_err(|e| NodeDe { node, path, key_at }.place(e))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (path, node, key_at) = (self.path.clone(), self.node, self.key_at);
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| NodeDe { node, path, key_at }.place(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Str(s) => visitor.visit_enum(StrDeserializer::<DeError>::new(s)),
            Value::Table(entries) if entries.len() == 1 => visitor.visit_enum(EnumDe {
                entry: &entries[0],
                path: &self.path,
            }),
            other => Err(de::Error::custom(format!(
                "expected a string naming one of the choices, found {}",
                other.kind()
            ))),
        };
        r.map_err(|e| self.place(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// Tags an error that no inner node tagged.
fn tag(mut e: DeError, path: KeyPath, at: &Origin) -> DeError {
    if e.at.is_none() {
        e.at = Some((path, at.clone()));
    }
    e
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p KeyPath,
}

impl<'de> de::SeqAccess<'de> for &mut SeqDe<'_, '_> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.child(Seg::Index(self.index));
        self.index += 1;
        // An error raised by the item's type after reading it (a value that does not
        // parse) concerns the item.
        seed.deserialize(NodeDe {
            node,
            path: path.clone(),
            key_at: None,
        })
        .map(Some)
        .map_err(|e| tag(e, path, &node.at))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    entries: std::slice::Iter<'a, Entry>,
    current: Option<&'a Entry>,
    path: &'p KeyPath,
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        seed.deserialize(StrDeserializer::<DeError>::new(&entry.key))
            .map(Some)
            .map_err(|mut e| {
                if e.at.is_none() {
                    e.at = Some((self.path.key(&entry.key), entry.key_at.clone()));
                }
                e
            })
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.current.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        let path = self.path.key(&entry.key);
        seed.deserialize(NodeDe {
            node: &entry.node,
            path: path.clone(),
            key_at: Some(&entry.key_at),
        })
        .map_err(|e| tag(e, path, &entry.node.at))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An externally tagged enum written as a one-entry table: `{ variant = value }`.
struct EnumDe<'a, 'p> {
    entry: &'a Entry,
    path: &'p KeyPath,
}

impl<'de, 'a, 'p> de::EnumAccess<'de> for EnumDe<'a, 'p> {
    type Error = DeError;
    type Variant = NodeDe<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'a>), DeError> {
        let path = self.path.key(&self.entry.key);
        let v = seed
            .deserialize(self.entry.key.as_str().into_deserializer())
            .map_err(|mut e: DeError| {
                if e.at.is_none() {
                    e.at = Some((path.clone(), self.entry.key_at.clone()));
                }
                e
            })?;
        Ok((
            v,
            NodeDe {
                node: &self.entry.node,
                path,
                key_at: Some(&self.entry.key_at),
            },
        ))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'_> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Err(self.place(de::Error::custom("this choice takes no value")))
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse::parse;
    use crate::scenario::tree::line_col;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        a: Inner,
        #[serde(default)]
        list: Vec<Item>,
        #[serde(default)]
        mode: Option<Mode>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
        #[serde(default)]
        f: f64,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        x: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Open,
        Closed,
    }

    fn err(text: &str) -> (DeError, String, (usize, usize)) {
        let root = parse(text).expect("syntax ok");
        let e = from_node::<Doc>(&root).expect_err("should fail");
        let (path, origin) = e.at.clone().expect("placed");
        let Origin::File(r) = origin else {
            panic!("file origin")
        };
        (e, path.to_string(), line_col(text, r.start))
    }

    #[test]
    fn accepts_integers_as_floats_and_enums_as_strings() {
        let root = parse("mode = \"closed\"\n[a]\nn = 3\nf = 2\n").expect("syntax");
        let d: Doc = from_node(&root).expect("valid");
        assert_eq!(d.a.f, 2.0);
        assert!(matches!(d.mode, Some(Mode::Closed)));
        let _ = Mode::Open;
    }

    #[test]
    fn errors_name_the_innermost_key_and_its_place() {
        let (e, path, pos) = err("[a]\nn = 3\n[[list]]\nx = \"1\"\n[[list]]\ny = 2\n");
        assert_eq!(path, "list[1].y");
        assert_eq!(pos, (6, 1));
        assert!(matches!(e.kind, Kind::UnknownField { ref field, .. } if field == "y"));

        let (e, path, pos) = err("[a]\nn = 300\n");
        assert_eq!((path.as_str(), pos), ("a.n", (2, 5)));
        assert!(matches!(e.kind, Kind::Other(ref m) if m.contains("300")));

        let (e, path, pos) = err("\n[a]\nf = 1.5\n");
        assert_eq!(path, "a.n");
        assert_eq!(pos, (2, 2), "missing key points at its table's header");
        assert_eq!(e.kind, Kind::MissingField("n"));

        let (_, path, _) = err("[b]\n");
        assert_eq!(path, "b");

        let (e, path, pos) = err("mode = \"shut\"\na = { n = 1 }\n");
        assert_eq!((path.as_str(), pos), ("mode", (1, 8)));
        assert!(matches!(e.kind, Kind::UnknownVariant { .. }));
    }
}
