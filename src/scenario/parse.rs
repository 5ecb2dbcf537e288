//! Scenario text into the positioned document tree (`tree::Node`), through toml's own
//! parser: every key and value keeps the byte span toml reports for it, and a syntax error
//! keeps toml's span and message (folded onto one line).
//!
//! It owns nothing about scenario keys; it only reads TOML.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::tree::{Entry, Node, Origin, Value};

/// A TOML syntax error: toml's message (on one line) and its byte span.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Option<Range<usize>>,
}

/// Parses scenario text into a tree with the span of every key and value.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let root: Raw = toml::from_str(text).map_err(|e| SyntaxError {
        message: one_line(e.message()),
        span: e.span(),
    })?;
    Ok(root.into_node(0..0))
}

/// Folds a multi-line message onto one line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---- reading toml's spans -------------------------------------------------------------
//
// `toml::Spanned<T>` works for every value toml has a span for, but a table that is only
// implied by a header (`x` in `[x.y]`) has none, and `Spanned` then fails. So values are
// read through the same private serde protocol `Spanned` uses, learned at run time from
// `Spanned` itself (no hard-coded names), falling back to a plain table without a span.

struct SpannedProtocol {
    name: &'static str,
    fields: &'static [&'static str],
}

fn spanned_protocol() -> Option<&'static SpannedProtocol> {
    static P: OnceLock<Option<SpannedProtocol>> = OnceLock::new();
    P.get_or_init(|| {
        let mut spy = Spy(None);
        let _ = toml::Spanned::<i64>::deserialize(&mut spy);
        spy.0
    })
    .as_ref()
}

/// A deserializer that only records the struct name and fields it is asked for.
struct Spy(Option<SpannedProtocol>);

impl<'de> Deserializer<'de> for &mut Spy {
    type Error = de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("spy"))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(SpannedProtocol { name, fields });
        Err(de::Error::custom("spy"))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A value as read from toml, with its span when toml has one.
struct SVal {
    raw: RawValue,
    span: Option<Range<usize>>,
}

/// A key as read from toml, with its span when toml has one.
struct SKey {
    name: String,
    span: Option<Range<usize>>,
}

enum RawValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<SVal>),
    Table(Vec<(SKey, SVal)>),
}

/// The root table.
struct Raw(Vec<(SKey, SVal)>);

impl Raw {
    fn into_node(self, span: Range<usize>) -> Node {
        table_node(self.0, span)
    }
}

fn table_node(entries: Vec<(SKey, SVal)>, span: Range<usize>) -> Node {
    let entries = entries
        .into_iter()
        .map(|(k, v)| {
            let key_span = k.span.unwrap_or_else(|| span.clone());
            // A table implied by a header has no span of its own: point at its key.
            let value_span = v.span.clone().unwrap_or_else(|| key_span.clone());
            Entry {
                key: k.name,
                key_at: Origin::File(key_span),
                node: v.into_node(value_span),
            }
        })
        .collect();
    Node {
        value: Value::Table(entries),
        at: Origin::File(span),
    }
}

impl SVal {
    fn into_node(self, span: Range<usize>) -> Node {
        let value = match self.raw {
            RawValue::Str(s) => Value::Str(s),
            RawValue::Int(i) => Value::Int(i),
            RawValue::Float(f) => Value::Float(f),
            RawValue::Bool(b) => Value::Bool(b),
            RawValue::Datetime(s) => Value::Datetime(s),
            RawValue::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| {
                        let s = v.span.clone().unwrap_or_else(|| span.clone());
                        v.into_node(s)
                    })
                    .collect(),
            ),
            RawValue::Table(entries) => return table_node(entries, span),
        };
        Node {
            value,
            at: Origin::File(span),
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawValue::deserialize(d)? {
            RawValue::Table(entries) => Ok(Raw(entries)),
            _ => Err(de::Error::custom("a scenario file is a TOML table")),
        }
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<SVal>()? {
            items.push(v);
        }
        Ok(RawValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<SKey>()? {
            if k.span.is_none() && k.name == DATETIME_KEY {
                return Ok(RawValue::Datetime(map.next_value::<String>()?));
            }
            entries.push((k, map.next_value::<SVal>()?));
        }
        Ok(RawValue::Table(entries))
    }
}

impl<'de> Deserialize<'de> for SVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match spanned_protocol() {
            Some(p) => d.deserialize_struct(p.name, p.fields, SValVisitor(p)),
            None => Ok(SVal {
                raw: RawValue::deserialize(d)?,
                span: None,
            }),
        }
    }
}

struct SValVisitor(&'static SpannedProtocol);

impl<'de> Visitor<'de> for SValVisitor {
    type Value = SVal;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SVal, A::Error> {
        let first = match map.next_key::<SKey>()? {
            Some(k) => k,
            None => {
                return Ok(SVal {
                    raw: RawValue::Table(Vec::new()),
                    span: None,
                })
            }
        };
        let p = self.0;
        if first.span.is_none() && p.fields.len() == 3 && first.name == p.fields[0] {
            let start: usize = map.next_value()?;
            let _end_key = map.next_key::<SKey>()?;
            let end: usize = map.next_value()?;
            let _value_key = map.next_key::<SKey>()?;
            let raw: RawValue = map.next_value()?;
            return Ok(SVal {
                raw,
                span: Some(start..end),
            });
        }
        if first.span.is_none() && first.name == DATETIME_KEY {
            return Ok(SVal {
                raw: RawValue::Datetime(map.next_value::<String>()?),
                span: None,
            });
        }
        // A table without a span of its own: its entries come straight.
        let mut entries = vec![(first, map.next_value::<SVal>()?)];
        while let Some(k) = map.next_key::<SKey>()? {
            entries.push((k, map.next_value::<SVal>()?));
        }
        Ok(SVal {
            raw: RawValue::Table(entries),
            span: None,
        })
    }
    // Values without a span (not expected from toml's text parser) still come through.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<SVal, E> {
        Ok(plain(RawValue::Str(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SVal, E> {
        Ok(plain(RawValue::Int(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SVal, E> {
        Ok(plain(RawValue::Float(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SVal, E> {
        Ok(plain(RawValue::Bool(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SVal, A::Error> {
        RawVisitor.visit_seq(seq).map(plain)
    }
}

fn plain(raw: RawValue) -> SVal {
    SVal { raw, span: None }
}

impl<'de> Deserialize<'de> for SKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match spanned_protocol() {
            Some(p) => d.deserialize_struct(p.name, p.fields, SKeyVisitor),
            None => Ok(SKey {
                name: String::deserialize(d)?,
                span: None,
            }),
        }
    }
}

struct SKeyVisitor;

impl<'de> Visitor<'de> for SKeyVisitor {
    type Value = SKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<SKey, E> {
        Ok(SKey {
            name: v.to_string(),
            span: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SKey, A::Error> {
        let _start_key = map.next_key::<String>()?;
        let start: usize = map.next_value()?;
        let _end_key = map.next_key::<String>()?;
        let end: usize = map.next_value()?;
        let _value_key = map.next_key::<String>()?;
        let name: String = map.next_value()?;
        Ok(SKey {
            name,
            span: Some(start..end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::tree::line_col;

    #[test]
    fn syntax_errors_carry_a_span_and_one_line() {
        let text = "a = 1\nb = \n";
        let e = parse(text).expect_err("bad");
        assert!(!e.message.contains('\n'), "{}", e.message);
        let (line, _) = line_col(text, e.span.expect("span").start);
        assert_eq!(line, 2);
    }
}
