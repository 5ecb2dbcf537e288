//! Loading a scenario: read the text, parse it into a positioned tree, apply `--set`
//! overrides, deserialise the model, validate it, and turn every failure into one
//! `ScenarioError` that names file, line, column and key.
//!
//! The order matters: overrides are applied before anything is checked, so an overridden
//! scenario is held to the same rules as a file, and an error about an overridden value
//! names the `--set` instead of a file position. Relative paths in the scenario
//! (`target.ca_file`, `agents.password.file`) are taken from the scenario file's directory
//! and stored resolved. This module never shows a password: not in messages, not in the
//! effective text (which holds only where a password comes from).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::de::{self, DeError, Kind};
use super::model::Scenario;
use super::overrides;
use super::parse;
use super::tree::{self, KeyPath, Node, Origin};
use super::validate::{self, Problem};

/// A scenario as loaded, with what reports need to identify it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    /// SHA-256 (hex) of the effective scenario text (`text`).
    pub hash: String,
    /// The effective scenario text: the file as written when there are no overrides, else
    /// the document with the overrides applied, written back as TOML.
    pub text: String,
    /// The overrides as given (`KEY=VALUE`), a password override's value hidden.
    pub overrides: Vec<String>,
}

/// A bad scenario: where and what. Display is one line: `file:line:column: message`, or
/// `file: message` when there is no position (an unreadable file, or a `--set` override,
/// whose `file` is then `--set KEY=VALUE`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", place(.file, .line, .column))]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when there is no position.
    pub line: usize,
    /// 1-based, in characters; 0 when there is no position.
    pub column: usize,
    /// The key path concerned, e.g. `load.stages[0].to`.
    pub key: Option<String>,
    pub message: String,
}

fn place(file: &str, line: &usize, column: &usize) -> String {
    if *line == 0 {
        file.to_string()
    } else {
        format!("{file}:{line}:{column}")
    }
}

/// Reads and loads a scenario file; relative paths inside it are taken from its directory.
pub fn load_file(path: &Path, overrides: &[String]) -> Result<Loaded, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: name.clone(),
        line: 0,
        column: 0,
        key: None,
        message: format!("cannot read the scenario file: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf);
    let mut loaded = load(&name, &text, overrides, base.as_deref())?;
    loaded.path = path.to_path_buf();
    Ok(loaded)
}

/// Like [`load_file`], with `aim` (`key=value` overrides from `--target` and `--ca-file`)
/// applied last but left out of the hash: they say where the load goes, not what it is,
/// so shards aimed at different gateway nodes, or a release compared with the last one
/// on another host, still carry one scenario hash. (Should the scenario not load without
/// them, the hash keeps them.)
pub fn load_file_aimed(
    path: &Path,
    overrides: &[String],
    aim: &[String],
) -> Result<Loaded, ScenarioError> {
    let all: Vec<String> = overrides.iter().chain(aim).cloned().collect();
    let mut loaded = load_file(path, &all)?;
    if !aim.is_empty() {
        if let Ok(unaimed) = load_file(path, overrides) {
            loaded.hash = unaimed.hash;
        }
    }
    Ok(loaded)
}

/// Loads scenario text; `name_for_messages` stands for the file in errors. Relative paths
/// inside are taken from the current directory.
pub fn load_str(
    name_for_messages: &str,
    text: &str,
    overrides: &[String],
) -> Result<Loaded, ScenarioError> {
    load(name_for_messages, text, overrides, None)
}

fn load(
    name: &str,
    text: &str,
    overrides: &[String],
    base: Option<&Path>,
) -> Result<Loaded, ScenarioError> {
    let ctx = Ctx {
        name,
        text,
        overrides,
    };
    let mut root = parse::parse(text).map_err(|e| ScenarioError {
        file: name.to_string(),
        line: ctx.position(e.span.clone()).0,
        column: ctx.position(e.span).1,
        key: None,
        message: format!("TOML syntax error: {}", e.message),
    })?;
    for (i, raw) in overrides.iter().enumerate() {
        let applied = overrides::parse(i, raw).and_then(|o| overrides::apply(&mut root, i, &o));
        if let Err(message) = applied {
            return Err(ScenarioError {
                file: ctx.set_label(i),
                line: 0,
                column: 0,
                key: None,
                message,
            });
        }
    }
    validate::check_tree(&root).map_err(|p| ctx.problem(&root, p))?;
    let mut scenario: Scenario = de::from_node(&root).map_err(|e| ctx.de_error(&root, e))?;
    if let Some(base) = base {
        resolve_paths(&mut scenario, base);
    }
    validate::check(&scenario).map_err(|p| ctx.problem(&root, p))?;

    let effective = if overrides.is_empty() {
        text.to_string()
    } else {
        toml::to_string(&root.to_toml()).unwrap_or_else(|_| {
            let mut t = text.to_string();
            for i in 0..overrides.len() {
                let _ = write!(t, "\n# {}", ctx.set_label(i));
            }
            t
        })
    };
    let hash = format!("{:x}", sha2::Sha256::digest(effective.as_bytes()));
    Ok(Loaded {
        scenario,
        path: PathBuf::from(name),
        hash,
        text: effective,
        overrides: (0..overrides.len())
            .map(|i| ctx.set_label(i).trim_start_matches("--set ").to_string())
            .collect(),
    })
}

/// Relative file paths in the scenario are relative to the scenario file.
fn resolve_paths(s: &mut Scenario, base: &Path) {
    if let Some(ca) = &mut s.target.ca_file {
        if ca.is_relative() {
            *ca = base.join(&*ca);
        }
    }
    if let Some(file) = s.agents.password.as_mut().and_then(|p| p.file.as_mut()) {
        if file.is_relative() {
            *file = base.join(&*file);
        }
    }
}

struct Ctx<'a> {
    name: &'a str,
    text: &'a str,
    overrides: &'a [String],
}

impl Ctx<'_> {
    /// 1-based line and column of a span's start (1:1 when toml gave no span).
    fn position(&self, span: Option<Range<usize>>) -> (usize, usize) {
        span.map_or((1, 1), |s| tree::line_col(self.text, s.start))
    }

    /// How an override is named in messages: `--set KEY=VALUE`, a password's value hidden.
    fn set_label(&self, i: usize) -> String {
        let raw = self.overrides.get(i).map(String::as_str).unwrap_or("");
        if overrides::is_secret_key(raw) {
            let key = raw.split('=').next().unwrap_or("");
            format!("--set {key}=<hidden>")
        } else {
            format!("--set {raw}")
        }
    }

    fn error(&self, at: &Origin, key: &KeyPath, message: String) -> ScenarioError {
        let (file, line, column) = match at {
            Origin::File(span) => {
                let (l, c) = tree::line_col(self.text, span.start);
                (self.name.to_string(), l, c)
            }
            Origin::Set(i) => (self.set_label(*i), 0, 0),
        };
        ScenarioError {
            file,
            line,
            column,
            key: (!key.is_root()).then(|| key.to_string()),
            message,
        }
    }

    fn problem(&self, root: &Node, p: Problem) -> ScenarioError {
        let at = root.locate(&p.path.0);
        let message = if p.path.is_root() {
            p.message
        } else {
            format!("key `{}`: {}", p.path, p.message)
        };
        self.error(&at, &p.path, message)
    }

    fn de_error(&self, root: &Node, e: DeError) -> ScenarioError {
        let (path, at) =
            e.at.clone()
                .unwrap_or_else(|| (KeyPath::default(), root.at.clone()));
        let message = match &e.kind {
            Kind::UnknownField { field, expected } => {
                let mut m = format!("unknown key `{path}`");
                match nearest(field, expected) {
                    Some(best) => {
                        let _ = write!(m, "; did you mean `{best}`?");
                    }
                    None => m.push(';'),
                }
                if !expected.is_empty() {
                    let _ = write!(m, " valid keys here: {}", expected.join(", "));
                }
                m
            }
            Kind::MissingField(k) => {
                let parent = path.parent();
                if parent.is_root() {
                    format!("missing required key `{k}` at the top level of the scenario")
                } else {
                    format!("missing required key `{path}`: table `{parent}` needs `{k}`")
                }
            }
            Kind::UnknownVariant { variant, expected } => {
                let mut m = format!("key `{path}`: unknown value {variant:?}");
                match nearest(variant, expected) {
                    Some(best) => {
                        let _ = write!(m, "; did you mean `{best}`?");
                    }
                    None => m.push(';'),
                }
                let _ = write!(m, " valid values: {}", expected.join(", "));
                m
            }
            Kind::Other(msg) => {
                let msg = plain_types(&parse::one_line(msg));
                let hint = match path.0.first() {
                    Some(tree::Seg::Key(k))
                        if k == "thresholds" && msg.contains("invalid type") =>
                    {
                        "; thresholds are strings, e.g. \"signin.p99\" = \"< 800ms\""
                    }
                    _ => "",
                };
                if path.is_root() {
                    format!("{msg}{hint}")
                } else {
                    format!("key `{path}`: {msg}{hint}")
                }
            }
        };
        self.error(&at, &path, message)
    }
}

/// Serde names Rust types in its messages ("expected u8"); a scenario's author thinks in
/// TOML values.
fn plain_types(msg: &str) -> String {
    let mut m = msg.to_string();
    for (rust, plain) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number from 0"),
        ("expected i64", "expected a whole number"),
        ("expected usize", "expected a whole number from 0"),
    ] {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{plain}");
        }
    }
    m
}

/// The closest valid name to a misspelt one, if any is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // One edit away (`mx` → `max`) or similar by Jaro-Winkler (`timout` → `timeout`);
    // fewest edits first, then the most similar.
    candidates
        .iter()
        .map(|c| {
            (
                strsim::osa_distance(word, c),
                strsim::jaro_winkler(word, c),
                *c,
            )
        })
        .filter(|(edits, score, _)| *edits <= 1 || *score >= 0.8)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_typos_only() {
        let stage = ["ramp", "to", "hold", "rate"];
        assert_eq!(nearest("hlod", &stage), Some("hold"));
        assert_eq!(nearest("rmap", &stage), Some("ramp"));
        assert_eq!(nearest("duration", &stage), None);
        let target = [
            "url",
            "ca_file",
            "insecure_skip_verify",
            "timeout",
            "connect_timeout",
        ];
        assert_eq!(nearest("timout", &target), Some("timeout"));
        assert_eq!(nearest("cafile", &target), Some("ca_file"));
        assert_eq!(nearest("zzz", &target), None);
        assert_eq!(nearest("mx", &["min", "max"]), Some("max"));
        assert_eq!(nearest("x", &["min", "max"]), None);
    }

    #[test]
    fn display_is_one_line_with_or_without_position() {
        let e = ScenarioError {
            file: "s.toml".into(),
            line: 3,
            column: 7,
            key: None,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "s.toml:3:7: bad");
        let e = ScenarioError {
            line: 0,
            column: 0,
            file: "--set a=1".into(),
            ..e
        };
        assert_eq!(e.to_string(), "--set a=1: bad");
    }
}
