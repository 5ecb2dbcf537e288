//! `--set KEY=VALUE` overrides: parsing the key path and the value, and applying them to
//! the `toml_edit` document before it is deserialised, so an overridden scenario is
//! validated exactly like a file.
//!
//! KEY is a dotted path: `load.max_in_flight`, `load.stages[0].to`, `load.stages.0.to`,
//! `thresholds."signin.p99"`. VALUE is a TOML value when it parses as one (`85`, `"2m"`,
//! `true`, `[..]`, `{..}`), else the text itself as a string (`2m`, `https://gw:8043`).
//! Intermediate tables are created as needed; an array index may be one past the end to
//! add an item. [`apply`] returns the key path it wrote, so that later errors about what it
//! wrote name the override instead of a file position (`tree::Places`).

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use super::tree::{KeyPath, Seg};

/// One step of an override's key path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    /// A bare all-digits segment (`stages.0`): an index in an array, a key in a table.
    Digits(String),
}

/// Parses `KEY=VALUE` and applies it to the document; returns the key path it set.
pub fn apply(doc: &mut DocumentMut, raw: &str) -> Result<KeyPath, String> {
    let (steps, text) = parse_key(raw)?;
    // A TOML value if the text is exactly one, else the text as a string.
    let value = text.parse().unwrap_or_else(|_| Value::from(text));
    set_at(doc.as_item_mut(), &steps, &value, KeyPath::default())
}

/// Splits `KEY=VALUE` into the key's steps and the value's text: the key ends at the first
/// `=` outside quotes.
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
    let usage = "expected KEY=VALUE, e.g. --set load.stages[0].to=85 or --set target.url=embedded";
    match rest.strip_prefix('=') {
        Some(value) => Ok((steps, value)),
        None if rest.is_empty() => Err(usage.to_string()),
        None => {
            let c = rest.chars().next().unwrap_or(' ');
            Err(format!("unexpected {c:?} in the key; {example}"))
        }
    }
}

fn set_at(
    item: &mut Item,
    steps: &[Step],
    value: &Value,
    path: KeyPath,
) -> Result<KeyPath, String> {
    let Some((step, rest)) = steps.split_first() else {
        *item = Item::Value(value.clone());
        return Ok(path);
    };
    let here = match path.is_root() {
        true => "the top level".to_string(),
        false => format!("`{path}`"),
    };
    if let Some(table) = item.as_table_like_mut() {
        let k = match step {
            Step::Key(k) | Step::Digits(k) => k,
            Step::Index(n) => {
                return Err(format!(
                    "{here} is a table, not an array; `[{n}]` does not apply to it"
                ))
            }
        };
        let child = table
            .entry(k)
            .or_insert_with(|| Item::Value(InlineTable::new().into()));
        return set_at(child, rest, value, path.key(k));
    }
    let n = match (step, item.is_array() || item.is_array_of_tables()) {
        (_, false) => {
            let kind = item.type_name();
            let a = if kind.starts_with('i') { "an" } else { "a" };
            return Err(format!(
                "{here} is {a} {kind}, not a table; it has no keys below it"
            ));
        }
        (Step::Index(n), true) => *n,
        (Step::Digits(d), true) => d
            .parse()
            .map_err(|_| format!("{here} is an array; `{d}` is not an index"))?,
        (Step::Key(k), true) => {
            return Err(format!(
                "{here} is an array; write an index before `{k}`, e.g. `{path}[0].{k}`"
            ))
        }
    };
    set_item(item, n, rest, value, path)
}

/// Writes item `n` of an array (or of an array of tables), or below it; `n` may be one past
/// the end to add an item.
fn set_item(
    item: &mut Item,
    n: usize,
    rest: &[Step],
    value: &Value,
    path: KeyPath,
) -> Result<KeyPath, String> {
    let len = match item {
        Item::ArrayOfTables(a) => a.len(),
        _ => item.as_array().map_or(0, |a| a.len()),
    };
    if n > len {
        return Err(format!(
            "`{path}` has {len} item(s); index {n} is past the end (index {len} adds one)"
        ));
    }
    let path = path.child(Seg::Index(n));
    if let Item::ArrayOfTables(tables) = item {
        if n == len {
            tables.push(Table::new());
        }
        // `[[array]]` holds tables only: a whole item is written as an inline table.
        if rest.is_empty() {
            let table = value.as_inline_table().ok_or_else(|| {
                format!("`{path}` is a [[table]] item; write a table, e.g. {{ hold = \"1m\" }}")
            })?;
            if let Some(slot) = tables.get_mut(n) {
                *slot = table.clone().into_table();
            }
            return Ok(path);
        }
    } else if let Some(items) = item.as_array_mut().filter(|a| a.len() == n) {
        items.push(InlineTable::new());
    }
    match item.get_mut(n) {
        Some(child) => set_at(child, rest, value, path),
        None => Err(format!("`{path}` cannot be written")),
    }
}

/// True when an override's key path reaches a secret (a password, a service token): its
/// value is then never shown.
pub fn is_secret_key(raw: &str) -> bool {
    raw.split('=').next().is_some_and(|k| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k.contains("token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(text: &str, sets: &[&str]) -> Result<toml::Value, String> {
        let mut doc: DocumentMut = text.parse().expect("syntax");
        for s in sets {
            apply(&mut doc, s)?;
        }
        toml::from_str(&doc.to_string()).map_err(|e| format!("not TOML: {e}\n{doc}"))
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
        let sets = [
            "a=85",
            "b=\"2m\"",
            "c=2m",
            "d=true",
            "e=[1, 2]",
            "f={ max = \"2s\" }",
            "g=https://gw:8043",
            "h=1\nx = 2",
            "i=",
        ];
        let expected =
            "a = 85\nb = \"2m\"\nc = \"2m\"\nd = true\ne = [1, 2]\nf = { max = \"2s\" }\n\
                        g = \"https://gw:8043\"\nh = \"1\\nx = 2\"\ni = \"\"\n";
        let expected: toml::Value = toml::from_str(expected).expect("TOML");
        assert_eq!(
            applied("", &sets),
            Ok(expected),
            "one value each, never extra keys"
        );
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
    fn apply_returns_the_path_it_wrote_and_keeps_the_file_as_written() {
        let text = "# the plan\n[load] # here\nmax_in_flight = 5\n[[load.stages]]\nhold = \"1m\"\n";
        let mut doc: DocumentMut = text.parse().expect("syntax");
        let mut set = |s: &str| apply(&mut doc, s).map(|p| p.to_string());
        assert_eq!(
            set("load.stages.0.rate=7"),
            Ok("load.stages[0].rate".into())
        );
        assert_eq!(
            set("load.stages[1]={ hold = \"2m\" }"),
            Ok("load.stages[1]".into())
        );
        let written = doc.to_string();
        assert!(
            written.starts_with("# the plan\n[load] # here\n"),
            "{written}"
        );
        let v: toml::Value = toml::from_str(&written).expect("TOML");
        assert_eq!(v["load"]["stages"][0]["rate"].as_integer(), Some(7));
        assert_eq!(v["load"]["stages"][1]["hold"].as_str(), Some("2m"));
    }
}
