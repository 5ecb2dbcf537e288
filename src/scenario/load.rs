//! Loading a scenario: read the text, parse it into a `toml_edit` document, apply `--set`
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
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use toml_edit::ImDocument;

use super::de::{self, DeError, Kind};
use super::model::Scenario;
use super::overrides;
use super::tree::{self, Aim, KeyPath, Origin, Places, Seg};
use super::validate::{self, Problem};
use crate::util::diag::{line_col, nearest, one_line, toml_words};

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
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioError::unplaced(name.clone(), format!("cannot read the scenario file: {e}"))
    })?;
    let mut loaded = load(&name, &text, overrides, path.parent())?;
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
    let written = ImDocument::parse(text.to_string()).map_err(|e| {
        let place = line_col(text, e.span().map_or(0, |s| s.start));
        let message = format!("TOML syntax error: {}", one_line(e.message()));
        ScenarioError::new(name.to_string(), place, None, message)
    })?;
    let mut doc = written.clone().into_mut();
    let sets = (overrides.iter().enumerate())
        .map(|(i, raw)| {
            overrides::apply(&mut doc, raw)
                .map_err(|message| ScenarioError::unplaced(set_label(overrides, i), message))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = Ctx {
        name,
        text,
        overrides,
        places: Places {
            written: &written,
            effective: doc.as_item(),
            sets: &sets,
        },
    };
    validate::check_document(doc.as_item()).map_err(|p| ctx.problem(p))?;
    let mut scenario: Scenario = de::from_document(&doc).map_err(|e| ctx.de_error(e))?;
    if let Some(base) = base {
        resolve_paths(&mut scenario, base);
    }
    validate::check(&scenario).map_err(|p| ctx.problem(p))?;
    let effective = if overrides.is_empty() {
        text.to_string()
    } else {
        doc.to_string()
    };
    Ok(Loaded {
        scenario,
        path: PathBuf::from(name),
        hash: format!("{:x}", sha2::Sha256::digest(effective.as_bytes())),
        text: effective,
        overrides: (0..overrides.len())
            .map(|i| {
                set_label(overrides, i)
                    .trim_start_matches("--set ")
                    .to_string()
            })
            .collect(),
    })
}

/// Relative file paths in the scenario are relative to the scenario file.
fn resolve_paths(s: &mut Scenario, base: &Path) {
    let password = s.agents.password.as_mut().and_then(|p| p.file.as_mut());
    for path in [s.target.ca_file.as_mut(), password].into_iter().flatten() {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
}

/// How override `i` is named in messages: `--set KEY=VALUE`, a secret's value hidden.
fn set_label(overrides: &[String], i: usize) -> String {
    let raw = overrides.get(i).map_or("", String::as_str);
    match raw.split_once('=') {
        Some((key, _)) if overrides::is_secret_key(raw) => format!("--set {key}=<hidden>"),
        _ => format!("--set {raw}"),
    }
}

impl ScenarioError {
    fn new(file: String, place: (usize, usize), key: Option<String>, message: String) -> Self {
        let (line, column) = place;
        ScenarioError {
            file,
            line,
            column,
            key,
            message,
        }
    }

    /// An error without a position: an unreadable file, a bad `--set`.
    fn unplaced(file: String, message: String) -> Self {
        ScenarioError::new(file, (0, 0), None, message)
    }
}

/// What turns a key path into a place: the scenario's name and text, and the document.
struct Ctx<'a> {
    name: &'a str,
    text: &'a str,
    overrides: &'a [String],
    places: Places<'a>,
}

impl Ctx<'_> {
    fn error(&self, path: &KeyPath, aim: Aim, key: &KeyPath, message: String) -> ScenarioError {
        let (file, place) = match self.places.origin(path, aim) {
            Origin::File(offset) => (self.name.to_string(), line_col(self.text, offset)),
            Origin::Set(i) => (set_label(self.overrides, i), (0, 0)),
        };
        let key = (!key.is_root()).then(|| key.to_string());
        ScenarioError::new(file, place, key, message)
    }

    fn problem(&self, p: Problem) -> ScenarioError {
        self.error(&p.path, Aim::Value, &p.path, keyed(&p.path, &p.message))
    }

    fn de_error(&self, e: DeError) -> ScenarioError {
        let path = &e.path;
        // A missing key's path is its table's: point at the table, name the key.
        let (key, aim) = match &e.kind {
            Kind::MissingField(k) => (path.key(k), Aim::Key),
            Kind::UnknownField { .. } => (path.clone(), Aim::Key),
            _ => (path.clone(), Aim::Value),
        };
        let message = match &e.kind {
            Kind::UnknownField { field, expected } => suggest(
                format!("unknown key `{path}`"),
                field,
                expected,
                "keys here",
            ),
            Kind::MissingField(k) if path.is_root() => {
                format!("missing required key `{k}` at the top level of the scenario")
            }
            Kind::MissingField(k) => {
                format!("missing required key `{key}`: table `{path}` needs `{k}`")
            }
            Kind::UnknownVariant { variant, expected } => {
                let head = keyed(path, &format!("unknown value {variant:?}"));
                suggest(head, variant, expected, "values")
            }
            Kind::InvalidType { found, expected } => {
                // A TOML date/time reaches serde as a map.
                let (depth, _, item) = tree::walk(self.places.effective, &path.0);
                let found = match depth == path.0.len() && item.is_datetime() {
                    true => "a date/time",
                    false => found.as_str(),
                };
                let mut msg = toml_words(&format!("invalid type: {found}, expected {expected}"));
                if path.0.first() == Some(&Seg::Key("thresholds".into())) {
                    msg.push_str("; thresholds are strings, e.g. \"signin.p99\" = \"< 800ms\"");
                }
                keyed(path, &msg)
            }
            Kind::Other(msg) => keyed(path, &toml_words(&one_line(msg))),
        };
        self.error(path, aim, &key, message)
    }
}

/// `key `PATH`: message`, or the message alone for the whole scenario.
fn keyed(path: &KeyPath, message: &str) -> String {
    if path.is_root() {
        message.to_string()
    } else {
        format!("key `{path}`: {message}")
    }
}

/// `head`, then the nearest of `expected` to `word` as a "did you mean", then `expected`.
fn suggest(head: String, word: &str, expected: &[String], what: &str) -> String {
    let names: Vec<&str> = expected.iter().map(String::as_str).collect();
    let mut m = match nearest(word, &names) {
        Some(best) => format!("{head}; did you mean `{best}`?"),
        None => format!("{head};"),
    };
    if !names.is_empty() {
        let _ = write!(m, " valid {what}: {}", names.join(", "));
    }
    m
}
