//! Loading a scenario file: read, apply `--set` overrides, deserialise, validate, and turn
//! every failure into a `ScenarioError` that names file, line, column and key.
//! (Placeholder: the scenario helper replaces this with the full loader.)

use std::path::{Path, PathBuf};

use super::model::Scenario;

/// A scenario as loaded, with what reports need to identify it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    /// SHA-256 (hex) of the effective scenario text (file plus overrides).
    pub hash: String,
}

/// A bad scenario: where and what. Display is one line `file:line:column: message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

pub fn load_file(path: &Path, _overrides: &[String]) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        key: None,
        message: e.to_string(),
    })?;
    let scenario: Scenario = toml::from_str(&text).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        key: None,
        message: e.message().to_string(),
    })?;
    use sha2::Digest as _;
    let hash = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    Ok(Loaded {
        scenario,
        path: path.to_path_buf(),
        hash,
    })
}
