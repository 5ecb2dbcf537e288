//! A small reader for the block-style YAML of `deploy/kubernetes/*.yaml`, into
//! `serde_json::Value`, so the manifests can be checked without a YAML crate. It reads
//! block mappings and sequences (`- key: value` items included), literal block scalars
//! (`|`, `|-`), single- and double-quoted and plain scalars, flow sequences of scalars, `{}`
//! and `[]`, and comments. Anything else is an error naming the line, so a manifest that
//! outgrows it fails its test loudly instead of being misread.
//!
//! Included by `deploy_manifest.rs` with `#[path]`; its own tests run here.

#![allow(dead_code)]

use serde_json::{Map, Value};

struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

struct Reader<'a> {
    raw: Vec<&'a str>,
    at: usize,
}

pub fn parse(src: &str) -> Result<Value, String> {
    let mut r = Reader {
        raw: src.lines().collect(),
        at: 0,
    };
    let Some(first) = r.peek() else {
        return Ok(Value::Null);
    };
    if first.text == "---" {
        r.at = first.no;
    }
    let indent = r.peek().map_or(0, |l| l.indent);
    let v = r.block(indent)?;
    match r.peek() {
        None => Ok(v),
        Some(l) => Err(format!("line {}: unexpected {:?}", l.no, l.text)),
    }
}

/// The text before a ` #` comment that is outside quotes.
fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let b = s.as_bytes();
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || b[i - 1] == b' ') => return s[..i].trim_end(),
            _ => {}
        }
    }
    s.trim_end()
}

impl<'a> Reader<'a> {
    /// The next line with content (blank and comment lines skipped), not consumed.
    fn peek(&self) -> Option<Line<'a>> {
        let mut i = self.at;
        while let Some(raw) = self.raw.get(i) {
            let text = strip_comment(raw.trim_start());
            if !text.is_empty() {
                return Some(Line {
                    no: i + 1,
                    indent: raw.len() - raw.trim_start().len(),
                    text,
                });
            }
            i += 1;
        }
        None
    }

    fn block(&mut self, indent: usize) -> Result<Value, String> {
        match self.peek() {
            Some(l) if l.text == "-" || l.text.starts_with("- ") => self.sequence(indent),
            Some(_) => self.mapping(indent, None),
            None => Ok(Value::Null),
        }
    }

    /// A mapping at `indent`; `first` is an entry already cut from a `- key: value` line.
    fn mapping(&mut self, indent: usize, first: Option<(usize, &'a str)>) -> Result<Value, String> {
        let mut map = Map::new();
        let mut pending = first;
        loop {
            let (no, text) = match pending.take() {
                Some(p) => p,
                None => match self.peek() {
                    Some(l) if l.indent == indent && !l.text.starts_with('-') => {
                        self.at = l.no;
                        (l.no, l.text)
                    }
                    Some(l) if l.indent > indent => {
                        return Err(format!("line {}: unexpected indentation", l.no))
                    }
                    _ => return Ok(Value::Object(map)),
                },
            };
            let (key, rest) = split_key(text).ok_or(format!("line {no}: expected `key: value`"))?;
            let value = self.value_after(no, indent, rest)?;
            if map.insert(key.to_string(), value).is_some() {
                return Err(format!("line {no}: key {key:?} given twice"));
            }
        }
    }

    fn sequence(&mut self, indent: usize) -> Result<Value, String> {
        let mut items = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent != indent || !(l.text == "-" || l.text.starts_with("- ")) {
                break;
            }
            self.at = l.no;
            let item = l.text[1..].trim_start();
            let item_indent = indent + (l.text.len() - item.len());
            let value = if item.is_empty() {
                match self.peek() {
                    Some(n) if n.indent > indent => self.block(n.indent)?,
                    _ => Value::Null,
                }
            } else if split_key(item).is_some() && !item.starts_with(['"', '\'', '[', '{']) {
                self.mapping(item_indent, Some((l.no, item)))?
            } else {
                self.value_after(l.no, indent, item)?
            };
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    /// The value written after `key:` (or `-`) on line `no` at `indent`.
    fn value_after(&mut self, no: usize, indent: usize, rest: &'a str) -> Result<Value, String> {
        match rest {
            "" => match self.peek() {
                Some(n) if n.indent > indent => self.block(n.indent),
                Some(n) if n.indent == indent && n.text.starts_with("- ") => self.sequence(indent),
                _ => Ok(Value::Null),
            },
            "|" | "|-" => Ok(Value::String(self.literal(indent, rest == "|"))),
            _ if rest.starts_with(['|', '>', '&', '*', '!']) => {
                Err(format!("line {no}: {rest:?} is beyond this reader"))
            }
            _ => scalar(rest).map_err(|e| format!("line {no}: {e}")),
        }
    }

    /// A literal block scalar: the following lines indented deeper than `indent`.
    fn literal(&mut self, indent: usize, keep_newline: bool) -> String {
        let mut lines: Vec<&str> = Vec::new();
        let mut block_indent = None;
        while let Some(raw) = self.raw.get(self.at) {
            let own = raw.len() - raw.trim_start().len();
            if !raw.trim().is_empty() && own <= indent {
                break;
            }
            let bi = *block_indent.get_or_insert(own);
            lines.push(raw.get(bi..).unwrap_or(""));
            self.at += 1;
        }
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let mut s = lines.join("\n");
        if keep_newline && !s.is_empty() {
            s.push('\n');
        }
        s
    }
}

/// `key: rest` or `key:` → (key, rest).
fn split_key(text: &str) -> Option<(&str, &str)> {
    let (key, rest) = if let Some(k) = text.strip_suffix(':') {
        (k, "")
    } else {
        let i = text.find(": ")?;
        (&text[..i], text[i + 2..].trim())
    };
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    (!key.is_empty() && !key.contains(": ")).then_some((key, rest))
}

fn scalar(s: &str) -> Result<Value, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return Ok(Value::String(
            inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        ));
    }
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Ok(Value::String(inner.replace("''", "'")));
    }
    match s {
        "{}" => return Ok(Value::Object(Map::new())),
        "[]" => return Ok(Value::Array(vec![])),
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" | "~" => return Ok(Value::Null),
        _ => {}
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner
            .split(',')
            .map(|item| scalar(item.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if s.starts_with(['{', '[', '"', '\'']) {
        return Err(format!("{s:?} is beyond this reader"));
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(Value::from(n));
    }
    Ok(Value::String(s.to_string()))
}

#[test]
fn reads_the_block_forms_the_manifests_use() {
    let v = parse(
        "# comment\na: 1\nb:\n  c: \"two\" # trailing\n  d: [\"/bin/sh\", \"-c\"]\nlist:\n- x: 1\n  y: 'q'\n- plain text\n- |\n  line one\n    # kept\n  line three\ne: {}\nf: true\n",
    )
    .expect("parses");
    assert_eq!(v["a"], 1);
    assert_eq!(v["b"]["c"], "two");
    assert_eq!(v["b"]["d"][1], "-c");
    assert_eq!(v["list"][0]["x"], 1);
    assert_eq!(v["list"][0]["y"], "q");
    assert_eq!(v["list"][1], "plain text");
    assert_eq!(v["list"][2], "line one\n  # kept\nline three\n");
    assert_eq!(v["e"], serde_json::json!({}));
    assert_eq!(v["f"], true);
}

#[test]
fn refuses_what_it_cannot_read() {
    assert!(parse("a: &anchor 1\n").is_err());
    assert!(parse("a: >\n  folded\n").is_err());
    assert!(parse("a: 1\n   b: 2\n").is_err());
    assert!(parse("a: 1\na: 2\n").is_err());
}
