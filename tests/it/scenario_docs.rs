//! docs/scenarios.md stays in step with the scenario model: every key the model has is
//! documented, and the smallest example in the docs loads.

use std::path::Path;

use agentstorm::scenario::{load_file, load_str};

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios.md");
    std::fs::read_to_string(&path).expect("docs/scenarios.md exists")
}

#[test]
fn every_model_key_is_documented() {
    let docs = docs();
    // shift-start sets every table, so serialising it shows every key the model has.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/shift-start.toml");
    let loaded = load_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let value = toml::Value::try_from(&loaded.scenario).expect("scenario serialises");
    let top = value.as_table().expect("a table");
    let mut keys: Vec<String> = Vec::new();
    for (k, v) in top {
        keys.push(k.clone());
        if matches!(k.as_str(), "gateway" | "thresholds") {
            continue; // documented elsewhere / free-form
        }
        if let Some(t) = v.as_table() {
            keys.extend(t.keys().cloned());
        }
    }
    // Keys that are absent when unset, or live inside values.
    keys.extend(
        [
            "ca_file", "ramp", "to", "hold", "rate", "env", "file", "min", "max",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")) && !docs.contains(&format!("`[{k}]`")))
        .collect();
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    assert!(keys.len() > 25, "walked too few keys: {keys:?}");
    assert!(docs.contains("(gateway.md)"), "links the gateway docs");
}

#[test]
fn the_smallest_example_in_the_docs_loads() {
    let docs = docs();
    let start = docs.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let end = start + docs[start..].find("```").expect("closed block");
    let example = &docs[start..end];
    let l = load_str("docs example", example, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.scenario.name, "tiny");
}
