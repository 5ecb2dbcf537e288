//! `--set KEY=VALUE` overrides: parsing the key path and the value, and applying them to
//! the document tree before it is deserialised, so an overridden scenario is validated
//! exactly like a file.
//!
//! KEY is a dotted path: `load.max_in_flight`, `load.stages[0].to`, `load.stages.0.to`,
//! `thresholds."signin.p99"`. VALUE is a TOML value when it parses as one (`85`, `"2m"`,
//! `true`, `[..]`, `{..}`), else the text itself as a string (`2m`, `https://gw:8043`).
//! Intermediate tables are created as needed; an array index may be one past the end to
//! add an item. Every node an override creates is marked `Origin::Set(i)`, so later errors
//! about it name the override instead of a file position.

use super::parse;
use super::tree::{Entry, KeyPath, Node, Origin, Seg, Value};

/// One step of an override's key path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    /// A bare all-digits segment (`stages.0`): an index in an array, a key in a table.
    Digits(String),
}

/// A parsed override: where, and what.
#[derive(Debug, Clone)]
pub struct Override {
    steps: Vec<Step>,
    value: Node,
}

/// Parses `KEY=VALUE`; `index` is the override's position, recorded as the new nodes'
/// origin.
pub fn parse(index: usize, raw: &str) -> Result<Override, String> {
    let (steps, rest) = parse_key(raw)?;
    let text = rest.strip_prefix('=').ok_or_else(|| {
        "expected KEY=VALUE, e.g. --set load.stages[0].to=85 or --set target.url=embedded"
            .to_string()
    })?;
    Ok(Override {
        steps,
        value: parse_value(text, index),
    })
}

/// The text before `=` is the key; a plain key has no `=` inside (quoted keys may).
fn parse_key(raw: &str) -> Result<(Vec<Step>, &str), String> {
    let example = "write a dotted key such as load.stages[0].to or thresholds.\"signin.p99\"";
    let mut steps = Vec::new();
    let mut rest = raw;
    loop {
        // One segment: a quoted key or a bare key.
        if let Some(after) = rest.strip_prefix('"') {
            let mut key = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => key.push(e),
                        None => break,
                    },
                    c => key.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("unterminated quoted key; {example}"))?;
            steps.push(Step::Key(key));
            rest = &after[end..];
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            let key = &rest[..len];
            if key.is_empty() {
                return Err(format!("empty key segment; {example}"));
            }
            steps.push(if key.bytes().all(|b| b.is_ascii_digit()) {
                Step::Digits(key.to_string())
            } else {
                Step::Key(key.to_string())
            });
            rest = &rest[len..];
        }
        // Any number of `[n]`.
        while let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| format!("unclosed `[`; {example}"))?;
            let n: usize = after[..close]
                .trim()
                .parse()
                .map_err(|_| format!("`[{}]` is not an array index; {example}", &after[..close]))?;
            steps.push(Step::Index(n));
            rest = &after[close + 1..];
        }
        match rest.strip_prefix('.') {
            Some(after) => rest = after,
            None => break,
        }
    }
    if !rest.starts_with('=') {
        return Err(if rest.is_empty() {
            "expected KEY=VALUE, e.g. --set load.stages[0].to=85".to_string()
        } else {
            format!(
                "unexpected {:?} in the key; {example}",
                rest.chars().next().unwrap_or(' ')
            )
        });
    }
    Ok((steps, rest))
}

/// A TOML value if the text is exactly one, else the text as a string.
fn parse_value(text: &str, index: usize) -> Node {
    let parsed = parse::parse(&format!("v = {text}"))
        .ok()
        .and_then(|root| match root.value {
            Value::Table(mut entries) if entries.len() == 1 && entries[0].key == "v" => {
                entries.pop().map(|e| e.node)
            }
            _ => None,
        });
    let mut node = parsed.unwrap_or(Node {
        value: Value::Str(text.to_string()),
        at: Origin::Set(index),
    });
    node.mark_set(index);
    node
}

/// Applies an override to the document; returns the key path it set.
pub fn apply(root: &mut Node, index: usize, o: &Override) -> Result<KeyPath, String> {
    set_at(root, &o.steps, o.value.clone(), index, KeyPath::default())
}

fn set_at(
    node: &mut Node,
    steps: &[Step],
    value: Node,
    index: usize,
    path: KeyPath,
) -> Result<KeyPath, String> {
    let Some((step, rest)) = steps.split_first() else {
        *node = value;
        return Ok(path);
    };
    let here = if path.is_root() {
        "the top level".to_string()
    } else {
        format!("`{path}`")
    };
    let kind = node.value.kind();
    match (&mut node.value, step) {
        (Value::Table(entries), Step::Key(k) | Step::Digits(k)) => {
            let child_path = path.key(k);
            let pos = match entries.iter().position(|e| &e.key == k) {
                Some(pos) => pos,
                None => {
                    entries.push(Entry {
                        key: k.clone(),
                        key_at: Origin::Set(index),
                        node: empty_table(index),
                    });
                    entries.len() - 1
                }
            };
            let entry = &mut entries[pos];
            if rest.is_empty() {
                entry.key_at = Origin::Set(index);
            }
            set_at(&mut entry.node, rest, value, index, child_path)
        }
        (Value::Array(items), Step::Index(n)) => set_item(items, *n, rest, value, index, path),
        (Value::Array(items), Step::Digits(d)) => match d.parse::<usize>() {
            Ok(n) => set_item(items, n, rest, value, index, path),
            Err(_) => Err(format!("{here} is an array; `{d}` is not an index")),
        },
        (Value::Table(_), Step::Index(n)) => Err(format!(
            "{here} is a table, not an array; `[{n}]` does not apply to it"
        )),
        (Value::Array(_), Step::Key(k)) => Err(format!(
            "{here} is an array; write an index before `{k}`, e.g. `{path}[0].{k}`"
        )),
        (_, _) => Err(format!(
            "{here} is {kind}, not a table; it has no keys below it"
        )),
    }
}

fn set_item(
    items: &mut Vec<Node>,
    n: usize,
    rest: &[Step],
    value: Node,
    index: usize,
    path: KeyPath,
) -> Result<KeyPath, String> {
    let len = items.len();
    if n > len {
        return Err(format!(
            "`{path}` has {len} item(s); index {n} is past the end (index {len} adds one)"
        ));
    }
    if n == len {
        items.push(empty_table(index));
    }
    set_at(&mut items[n], rest, value, index, path.child(Seg::Index(n)))
}

fn empty_table(index: usize) -> Node {
    Node {
        value: Value::Table(Vec::new()),
        at: Origin::Set(index),
    }
}

/// True when an override's key path reaches a password: its value is then never shown.
pub fn is_secret_key(raw: &str) -> bool {
    raw.split('=')
        .next()
        .is_some_and(|k| k.to_ascii_lowercase().contains("password"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(text: &str, sets: &[&str]) -> Result<toml::Value, String> {
        let mut root = parse::parse(text).expect("syntax");
        for (i, s) in sets.iter().enumerate() {
            let o = parse(i, s)?;
            apply(&mut root, i, &o)?;
        }
        Ok(root.to_toml())
    }

    #[test]
    fn paths_in_every_form_reach_the_same_place() {
        let text = "[load]\nstages = [{ ramp = \"1m\", to = 5 }]\n";
        for set in ["load.stages[0].to=85", "load.stages.0.to=85"] {
            let v = applied(text, &[set]).expect("applies");
            assert_eq!(v["load"]["stages"][0]["to"].as_integer(), Some(85), "{set}");
        }
        let v = applied(text, &["thresholds.\"signin.p99\"=< 800ms"]).expect("quoted key");
        assert_eq!(v["thresholds"]["signin.p99"].as_str(), Some("< 800ms"));
        let v = applied(text, &["load.stages[1].hold=10m"]).expect("append");
        assert_eq!(v["load"]["stages"][1]["hold"].as_str(), Some("10m"));
    }

    #[test]
    fn values_are_toml_when_they_parse_and_strings_otherwise() {
        let v = applied(
            "",
            &[
                "a=85",
                "b=\"2m\"",
                "c=2m",
                "d=true",
                "e=[1, 2]",
                "f={ min = \"1s\", max = \"2s\" }",
                "g=https://gw:8043",
                "h=1\nx = 2",
                "i=",
            ],
        )
        .expect("applies");
        assert_eq!(v["a"].as_integer(), Some(85));
        assert_eq!(v["b"].as_str(), Some("2m"));
        assert_eq!(v["c"].as_str(), Some("2m"));
        assert_eq!(v["d"].as_bool(), Some(true));
        assert_eq!(v["e"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["f"]["max"].as_str(), Some("2s"));
        assert_eq!(v["g"].as_str(), Some("https://gw:8043"));
        assert_eq!(
            v["h"].as_str(),
            Some("1\nx = 2"),
            "one value, never extra keys"
        );
        assert_eq!(v["i"].as_str(), Some(""));
    }

    #[test]
    fn bad_keys_and_impossible_paths_are_refused() {
        let text = "name = \"x\"\n[load]\nstages = [{ hold = \"1m\" }]\n";
        for (set, needle) in [
            ("noequals", "KEY=VALUE"),
            ("a..b=1", "empty key segment"),
            ("load.stages[x].to=1", "not an array index"),
            ("load.stages[3].to=1", "index 3 is past the end"),
            ("load.stages.to=1", "is an array"),
            ("name.first=1", "is a string, not a table"),
            ("load[0]=1", "is a table, not an array"),
            ("\"open=1", "unterminated"),
        ] {
            let e = applied(text, &[set]).expect_err(set);
            assert!(e.contains(needle), "{set}: {e}");
        }
    }

    #[test]
    fn new_nodes_are_marked_as_set() {
        let mut root = parse::parse("[load]\nmax_in_flight = 5\n").expect("syntax");
        let o = parse(3, "load.max_in_flight=7").expect("parses");
        let path = apply(&mut root, 3, &o).expect("applies");
        assert_eq!(path.to_string(), "load.max_in_flight");
        assert_eq!(root.locate(&path.0), Origin::Set(3));
        let key_at = root
            .entry("load")
            .and_then(|l| l.node.entry("max_in_flight"))
            .map(|e| e.key_at.clone());
        assert_eq!(key_at, Some(Origin::Set(3)));
    }
}
