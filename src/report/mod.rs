//! Report writers (placeholder API; the reports helper replaces this module).
use std::path::{Path, PathBuf};

use crate::metrics::Results;

/// Writes every report file for `results` into `dir` (created if missing).
pub fn write_all(_results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    Ok(vec![])
}

/// The summary table printed at the end of a run.
pub fn console_summary(_results: &Results) -> String {
    String::new()
}
