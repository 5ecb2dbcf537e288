//! The Kubernetes manifests of `deploy/kubernetes/*.yaml` read with yaml-rust2 (a YAML 1.2
//! parser) into `serde_json::Value`, so that `deploy_manifest` indexes and compares them
//! like JSON. Strict: a file is exactly one document, a key given twice is an error
//! (yaml-rust2 refuses it), every mapping key is a string, and a node yaml-rust2 could not
//! resolve (an unknown alias, a tagged scalar that is not of its tag) is an error naming
//! it, so a manifest that is not what the checks expect fails loudly instead of being
//! misread.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The one YAML document in `src` (`Null` for an empty file).
pub fn parse(src: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(src).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [] => Ok(Value::Null),
        [doc] => to_json(doc),
        more => Err(format!("{} YAML documents, expected one", more.len())),
    }
}

fn to_json(node: &Yaml) -> Result<Value, String> {
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(n) => Value::from(*n),
        Yaml::Real(text) => node
            .as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{text:?} is not a finite number"))?,
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let Yaml::String(key) = key else {
                    return Err(format!("mapping key {key:?} is not a string"));
                };
                if map.insert(key.clone(), to_json(value)?).is_some() {
                    return Err(format!("key {key:?} given twice"));
                }
            }
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err(format!("{node:?} is not a value")),
    })
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
    // Malformed YAML, a key given twice, more than one document, a key that is not a string.
    assert!(parse("a: 1\n   b: 2\n").is_err());
    assert!(parse("a: 1\na: 2\n").is_err());
    assert!(parse("a: 1\n---\nb: 2\n").is_err());
    assert!(parse("1: x\n").is_err());
    assert!(parse("a: !!int one\n").is_err());
    // What the hand-written reader this replaced refused is YAML, and is read as YAML.
    assert_eq!(
        parse("a: &anchor 1\nb: *anchor\n").expect("aliases")["b"],
        1
    );
    assert_eq!(
        parse("a: >\n  folded\n  text\n").expect("folded")["a"],
        "folded text\n"
    );
}
