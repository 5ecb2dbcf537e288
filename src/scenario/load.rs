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
/// `file: message` when there is no position (an unreadable file, or an override, whose
/// `file` is then the option that wrote it: `--set KEY=VALUE`, `--target URL`, …). When
/// several problems are reported at once (every invalid threshold), the first is this
/// error's own and the others follow in [`ScenarioError::more`], one line each.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.lines())]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when there is no position.
    pub line: usize,
    /// 1-based, in characters; 0 when there is no position.
    pub column: usize,
    /// The key path concerned, e.g. `load.stages[0].to`.
    pub key: Option<String>,
    pub message: String,
    /// Further problems found at the same time, each with its own place.
    pub more: Vec<ScenarioError>,
}

fn place(file: &str, line: usize, column: usize) -> String {
    if line == 0 {
        file.to_string()
    } else {
        format!("{file}:{line}:{column}")
    }
}

/// Reads and loads a scenario file; relative paths inside it are taken from its directory.
pub fn load_file(path: &Path, overrides: &[String]) -> Result<Loaded, ScenarioError> {
    load_file_sets(path, &Sets::plain(overrides))
}

fn load_file_sets(path: &Path, sets: &Sets) -> Result<Loaded, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioError::unplaced(name.clone(), format!("cannot read the scenario file: {e}"))
    })?;
    let mut loaded = load(&name, &text, sets, path.parent())?;
    loaded.path = path.to_path_buf();
    Ok(loaded)
}

/// Like [`load_file`], with `aim` (`key=value` overrides from `--target` and `--ca-file`,
/// and the probe's `--agent` and `--password-env`) applied last but left out of the hash:
/// they say where the load goes, not what it is, so shards aimed at different gateway
/// nodes, or a release compared with the last one on another host, still carry one
/// scenario hash. (Should the scenario not load without them, the hash keeps them.) An
/// error about what an aim wrote names its option (`--target x: …`), not a `--set`.
pub fn load_file_aimed(
    path: &Path,
    overrides: &[String],
    aim: &[String],
) -> Result<Loaded, ScenarioError> {
    let mut loaded = load_file_sets(path, &Sets::aimed(overrides, aim))?;
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
    load(name_for_messages, text, &Sets::plain(overrides), None)
}

/// [`load_str`] with `aim` applied last, as [`load_file_aimed`] does (errors name the
/// options; here the hash keeps the aim).
pub fn load_str_aimed(
    name_for_messages: &str,
    text: &str,
    overrides: &[String],
    aim: &[String],
) -> Result<Loaded, ScenarioError> {
    load(name_for_messages, text, &Sets::aimed(overrides, aim), None)
}

/// The overrides of one load, `--set`s first, then the aim's (which come from other
/// options, and are named as those in messages).
struct Sets {
    all: Vec<String>,
    /// `all[aim_from..]` came from `--target`, `--ca-file`, `--agent`, `--password-env`.
    aim_from: usize,
}

impl Sets {
    fn plain(overrides: &[String]) -> Sets {
        Sets {
            all: overrides.to_vec(),
            aim_from: overrides.len(),
        }
    }

    fn aimed(overrides: &[String], aim: &[String]) -> Sets {
        Sets {
            all: overrides.iter().chain(aim).cloned().collect(),
            aim_from: overrides.len(),
        }
    }

    /// How override `i` is named in messages: `--set KEY=VALUE` (a secret's value hidden),
    /// or the option an aim came from (`--target URL`).
    fn label(&self, i: usize) -> String {
        let raw = self.all.get(i).map_or("", String::as_str);
        if i >= self.aim_from {
            if let Some(label) = aim_label(raw) {
                return label;
            }
        }
        format!("--set {}", shown_override(raw))
    }
}

fn load(
    name: &str,
    text: &str,
    given: &Sets,
    base: Option<&Path>,
) -> Result<Loaded, ScenarioError> {
    let overrides = given.all.as_slice();
    let written = ImDocument::parse(text.to_string()).map_err(|e| {
        let place = line_col(text, e.span().map_or(0, |s| s.start));
        let message = format!("TOML syntax error: {}", one_line(e.message()));
        ScenarioError::new(name.to_string(), place, None, message)
    })?;
    let mut doc = written.clone().into_mut();
    let sets = (overrides.iter().enumerate())
        .map(|(i, raw)| {
            overrides::apply(&mut doc, raw)
                .map_err(|message| ScenarioError::unplaced(given.label(i), message))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = Ctx {
        name,
        text,
        given,
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
    validate::check(&scenario).map_err(|p| ctx.problems(p))?;
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
        overrides: overrides.iter().map(|raw| shown_override(raw)).collect(),
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

/// An override as shown (`KEY=VALUE`), a secret's value hidden.
fn shown_override(raw: &str) -> String {
    match raw.split_once('=') {
        Some((key, _)) if overrides::is_secret_key(raw) => format!("{key}=<hidden>"),
        _ => raw.to_string(),
    }
}

/// The option an aim override came from, with the value the user gave it: `target.url=…`
/// is `--target URL`, `target.ca_file=…` `--ca-file PEM`, `agents.ids=…` the probe's
/// `--agent ID`, `agents.password={ env = … }` its `--password-env VAR`.
fn aim_label(raw: &str) -> Option<String> {
    let (key, value) = raw.split_once('=')?;
    let value: toml_edit::Value = value.parse().ok()?;
    let text = |v: &toml_edit::Value| v.as_str().map(str::to_string);
    Some(match key {
        "target.url" => format!("--target {}", text(&value)?),
        "target.ca_file" => format!("--ca-file {}", text(&value)?),
        "agents.ids" => format!("--agent {}", text(&value)?),
        "agents.password" => {
            let var = value.as_inline_table()?.get("env")?;
            format!("--password-env {}", text(var)?)
        }
        _ => return None,
    })
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
            more: Vec::new(),
        }
    }

    /// An error without a position: an unreadable file, a bad `--set`.
    fn unplaced(file: String, message: String) -> Self {
        ScenarioError::new(file, (0, 0), None, message)
    }

    /// An error about `key` of scenario `file` as a whole (no position), e.g. a load plan
    /// that cannot be built.
    pub fn about_key(file: impl Into<String>, key: &str, message: impl Into<String>) -> Self {
        ScenarioError::new(file.into(), (0, 0), Some(key.to_string()), message.into())
    }

    /// `file:line:column: message`, one line per problem.
    fn lines(&self) -> String {
        let mut out = format!(
            "{}: {}",
            place(&self.file, self.line, self.column),
            self.message
        );
        for e in &self.more {
            let _ = write!(out, "\n{}", e.lines());
        }
        out
    }
}

/// What turns a key path into a place: the scenario's name and text, and the document.
struct Ctx<'a> {
    name: &'a str,
    text: &'a str,
    given: &'a Sets,
    places: Places<'a>,
}

impl Ctx<'_> {
    fn error(&self, path: &KeyPath, aim: Aim, key: &KeyPath, message: String) -> ScenarioError {
        let (file, place) = match self.places.origin(path, aim) {
            Origin::File(offset) => (self.name.to_string(), line_col(self.text, offset)),
            Origin::Set(i) => (self.given.label(i), (0, 0)),
        };
        let key = (!key.is_root()).then(|| key.to_string());
        ScenarioError::new(file, place, key, message)
    }

    fn problem(&self, p: Problem) -> ScenarioError {
        let mut message = p.message.clone();
        // A value the message echoes from its parsed form is shown as written.
        if let (Some(shown), Some(written)) = (&p.echoed, self.written_string(&p.path)) {
            message = message.replacen(shown.as_str(), &format!("{written:?}"), 1);
        }
        self.error(&p.path, Aim::Value, &p.path, keyed(&p.path, &message))
    }

    /// Every problem, in the order written (those from options first), the first as the
    /// error and the rest in its `more`.
    fn problems(&self, problems: Vec<Problem>) -> ScenarioError {
        let mut errors: Vec<ScenarioError> =
            problems.into_iter().map(|p| self.problem(p)).collect();
        errors.sort_by_key(|e| (e.line, e.column));
        let mut errors = errors.into_iter();
        let mut first = errors.next().unwrap_or_else(|| {
            ScenarioError::unplaced(self.name.to_string(), "invalid scenario".into())
        });
        first.more = errors.collect();
        first
    }

    /// The string written at `path`, or at the deepest part of it the document has (a
    /// duration range written as one duration, `hold = "40d"`, holds both its ends).
    fn written_string(&self, path: &KeyPath) -> Option<String> {
        let (_, _, item) = tree::walk(self.places.effective, &path.0);
        item.as_str().map(str::to_string)
    }

    /// The value written at `path` as TOML (`-5`, `1.5`, `"many"`), if the document has it.
    fn written_value(&self, path: &KeyPath) -> Option<String> {
        let (depth, _, item) = tree::walk(self.places.effective, &path.0);
        let value = item.as_value().filter(|_| depth == path.0.len())?;
        Some(value.clone().decorated("", "").to_string())
    }

    /// [`validate::whole_number_refused`] for the value at `path`, shown as written (else in
    /// serde's words, `found`).
    fn whole_number(&self, path: &KeyPath, found: &str) -> Option<String> {
        let written = self
            .written_value(path)
            .unwrap_or_else(|| found.to_string());
        validate::whole_number_refused(path, &written)
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
            // A whole-number key says the range it takes, whatever serde refused.
            Kind::InvalidType { found, .. } | Kind::InvalidValue { found, .. }
                if self.whole_number(path, found).is_some() =>
            {
                keyed(path, &self.whole_number(path, found).unwrap_or_default())
            }
            Kind::InvalidType { found, expected } => {
                // A TOML date/time reaches serde as a map.
                let (depth, _, item) = tree::walk(self.places.effective, &path.0);
                let found = match depth == path.0.len() && item.is_datetime() {
                    true => "a date/time",
                    false => found.as_str(),
                };
                let found = match found {
                    "map" => "a table",
                    "sequence" => "an array",
                    other => other,
                };
                let mut msg = match validate::what_it_is(path) {
                    Some(what) => format!("found {found}; {what}"),
                    None => toml_words(&format!("invalid type: {found}, expected {expected}"))
                        .replace("expected a sequence", "expected an array"),
                };
                if path.0.first() == Some(&Seg::Key("thresholds".into())) {
                    msg.push_str("; thresholds are strings, e.g. \"signin.p99\" = \"< 800ms\"");
                }
                keyed(path, &msg)
            }
            Kind::InvalidValue { found, expected } => keyed(
                path,
                &toml_words(&format!("invalid value: {found}, expected {expected}")),
            ),
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
