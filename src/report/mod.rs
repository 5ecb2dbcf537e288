//! Report writers: everything a run leaves behind for people and scripts, rendered from a
//! [`Results`] document alone so that `agentstorm report results.json`
//! re-renders any report later. Writers never see samples, the recorder or the clock; the
//! one exception is `latency.hlog`, which [`hlog::HlogWriter`] streams during the run
//! because interval histograms would grow `results.json` without bound on a long soak.
//!
//! Files written into a report folder by [`write_all`] (columns in docs/reports.md):
//! `results.json`, `summary.csv`, `retcodes.csv`, `timeseries.csv`, `sessions.csv`,
//! `events.csv`, `failures.csv`, `report.html`, `summary.md` (Markdown for CI job
//! summaries); with thresholds `thresholds.csv` and `junit.xml`; and the findings that
//! apply, `recovery.csv`, `capacity.csv`, `drift.csv`. Comparisons are a
//! separate step ([`compare`], which writes its own `junit.xml`).

use crate::metrics::hlog;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::metrics::{names, Results};

pub mod compare;
pub mod console;
pub mod findings_csv;
pub mod html;
pub mod junit;
pub mod series;
pub mod summary_md;
pub mod tables;
pub mod thresholds;

pub use console::console_summary;

/// File names inside a report folder (a public contract: scripts read them).
pub const RESULTS_JSON: &str = "results.json";
pub const SUMMARY_CSV: &str = "summary.csv";
pub const RETCODES_CSV: &str = "retcodes.csv";
pub const FAILURES_CSV: &str = "failures.csv";
pub const TIMESERIES_CSV: &str = "timeseries.csv";
pub const SESSIONS_CSV: &str = "sessions.csv";
pub const EVENTS_CSV: &str = "events.csv";
pub const LATENCY_HLOG: &str = "latency.hlog";
pub const REPORT_HTML: &str = "report.html";
pub const THRESHOLDS_CSV: &str = "thresholds.csv";

/// The order operations appear in every table; keys not listed follow alphabetically.
pub const OPERATION_ORDER: [&str; 9] = [
    "signin",
    "forcelogin",
    "resetskill",
    "poll",
    "poll_event",
    "poll_empty",
    "handshake",
    "logout",
    "forcelogout",
];

/// Where an operation stands in the report order: its place in [`OPERATION_ORDER`], or
/// after all of them (ties then go alphabetically, as a sorted map gives them).
pub fn order_rank(name: &str) -> usize {
    OPERATION_ORDER
        .iter()
        .position(|k| *k == name)
        .unwrap_or(OPERATION_ORDER.len())
}

/// The entries of a per-operation map in report order ([`OPERATION_ORDER`], then the rest
/// alphabetically).
pub fn in_report_order<V>(map: &BTreeMap<String, V>) -> Vec<(&str, &V)> {
    let mut out: Vec<(&str, &V)> = OPERATION_ORDER
        .iter()
        .filter_map(|k| map.get_key_value(*k).map(|(k, v)| (k.as_str(), v)))
        .collect();
    out.extend(
        map.iter()
            .filter(|(k, _)| !OPERATION_ORDER.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v)),
    );
    out
}

/// Writes every report file for `results` into `dir` (created if missing) and returns the
/// paths written, in writing order. `results.json` is written first so that a failure in a
/// later writer never loses the measurements.
pub fn write_all(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report folder {}", dir.display()))?;
    let mut written = Vec::new();
    let mut out = |name: &str, f: &dyn Fn(&Results, &Path) -> anyhow::Result<()>| {
        let path = dir.join(name);
        f(results, &path).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        anyhow::Ok(())
    };
    out(RESULTS_JSON, &write_results_json)?;
    out(SUMMARY_CSV, &tables::write_summary_csv)?;
    out(RETCODES_CSV, &tables::write_retcodes_csv)?;
    out(TIMESERIES_CSV, &series::write_timeseries_csv)?;
    out(SESSIONS_CSV, &series::write_sessions_csv)?;
    out(EVENTS_CSV, &series::write_events_csv)?;
    out(FAILURES_CSV, &tables::write_failures_csv)?;
    out(REPORT_HTML, &write_html)?;
    out(summary_md::SUMMARY_MD, &summary_md::write)?;
    if results.derived.recovery.is_some() {
        out(
            findings_csv::RECOVERY_CSV,
            &findings_csv::write_recovery_csv,
        )?;
    }
    if results.capacity.is_some() {
        out(
            findings_csv::CAPACITY_CSV,
            &findings_csv::write_capacity_csv,
        )?;
    }
    if !results.derived.drift.is_empty() {
        out(findings_csv::DRIFT_CSV, &findings_csv::write_drift_csv)?;
    }
    if !results.derived.thresholds.is_empty() {
        out(THRESHOLDS_CSV, &|r, p| {
            thresholds::write_csv(&r.derived.thresholds, p)
        })?;
    }
    if junit::wanted(results) {
        out(junit::JUNIT_XML, &|r, p| {
            junit::write(&junit::for_run(r), p)
        })?;
    }
    Ok(written)
}

/// Writes `report.html`: the self-contained page for people.
pub fn write_html(results: &Results, path: &Path) -> anyhow::Result<()> {
    let verdicts: Vec<html::ThresholdLine> = results
        .derived
        .thresholds
        .iter()
        .map(|v| html::ThresholdLine {
            name: v.name.clone(),
            measured: v.measured.clone(),
            allowed: v.allowed.clone(),
            passed: v.passed,
        })
        .collect();
    let scenario = (!results.scenario.text.is_empty()).then_some(results.scenario.text.as_str());
    std::fs::write(path, html::render(results, &verdicts, scenario))?;
    Ok(())
}

/// Reads the `latency.hlog` that sits next to a results file, if there is one: `Ok(None)`
/// when absent (window thresholds then say so; merge falls back to upper bounds).
pub fn read_hlog_beside(results_path: &Path) -> Result<Option<Vec<hlog::HlogInterval>>, String> {
    let path = results_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(LATENCY_HLOG);
    if !path.exists() {
        return Ok(None);
    }
    hlog::read_hlog(&path).map(Some)
}

/// Writes `results.json` (pretty JSON). Written to a temporary name first and renamed, so a
/// crash mid-write never leaves a truncated results file that looks complete.
pub fn write_results_json(results: &Results, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(results)?;
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Milliseconds as written in CSV files: three decimals (histograms hold microseconds, so
/// nothing is lost), empty when there is no value.
pub(crate) fn ms_cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

/// A percentage as written in CSV files, empty when the base is zero.
pub(crate) fn pct_cell(part: u64, whole: u64) -> String {
    pct(part, whole)
        .map(|x| format!("{x:.4}"))
        .unwrap_or_default()
}

/// Names the gateway sent that were counted under [`names::OTHER`] instead of their own,
/// one line per map that folded any: the reports say so, so that an `(other)` row is
/// never read as a code or event type of its own.
pub(crate) struct FoldedLine {
    /// None for event types, else the operation whose retcodes folded.
    pub operation: Option<String>,
    /// How many events or calls were counted under `(other)` because of the caps.
    pub counted: u64,
}

/// The rule, in words, for every report.
pub(crate) fn fold_rule() -> String {
    format!(
        "names longer than {} bytes, and any past the first {} of their kind, are not kept by name, so that memory stays bounded whatever the gateway sends",
        names::MAX_NAME_BYTES,
        names::MAX_NAMES,
    )
}

/// Every map that folded names: the event types first, then each operation's retcodes in
/// report order (not the poll halves, which repeat `poll`).
pub(crate) fn folded_lines(r: &Results) -> Vec<FoldedLine> {
    let line = |operation: Option<&str>, f: &names::Folded| {
        (!f.is_empty()).then(|| FoldedLine {
            operation: operation.map(str::to_string),
            counted: f.0,
        })
    };
    let mut out: Vec<FoldedLine> = line(None, &r.events_folded).into_iter().collect();
    out.extend(
        in_report_order(&r.operations)
            .into_iter()
            .filter(|(name, _)| {
                *name != crate::metrics::results::POLL_EVENT
                    && *name != crate::metrics::results::POLL_EMPTY
            })
            .filter_map(|(name, s)| line(Some(name), &s.retcodes_folded)),
    );
    out
}

pub(crate) fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}
