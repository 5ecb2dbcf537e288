//! Thresholds (the scenario's `[thresholds]` table): pass/fail conditions on a run's
//! Results, the release engineer's CI gate (exit code 1 when one fails).
//!
//! A threshold is `"<measure>[ over <window>]" = "<op> <number>[unit]"`. This module owns
//! the vocabulary (parsed in `parse`, documented in docs/reports.md), the evaluation
//! against [`Results`] and the `latency.hlog` intervals (`eval`), and rendering verdicts for
//! the console and `thresholds.csv`. It never reads files itself: the caller passes the
//! threshold map, the Results and, for windowed latency thresholds, the hlog intervals.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

mod eval;
mod parse;
mod window;

pub use eval::{evaluate, evaluate_with_hlog_file};
pub use parse::{parse_all, parse_one};

use crate::report::hlog::LatencyKind;

/// File name of the verdict table in a report folder.
pub const THRESHOLDS_CSV: &str = "thresholds.csv";

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written in the scenario, e.g. `signin.p99 over 1m`.
    pub name: String,
    pub metric: Metric,
    pub cmp: Cmp,
    pub limit: Limit,
    /// `over <duration>`: the condition must hold in every window of this length.
    pub window: Option<Duration>,
    /// The condition as written, e.g. `< 800ms`.
    pub allowed: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A latency statistic of one operation (`signin.p99`, `signin.raw.max`).
    Latency {
        operation: String,
        kind: LatencyKind,
        stat: Stat,
    },
    /// Failures of one operation (or of all operations when None), optionally only those
    /// with one outcome label (`100-003`, `http:503`, `transport:timeout`). Compared as a
    /// percentage of the attempts with a `%` limit, as a count otherwise.
    Errors {
        operation: Option<String>,
        label: Option<String>,
    },
    /// Successful operations per second over the run (or the window).
    Rate { operation: String },
    /// Attempts of one operation.
    Count { operation: String },
    /// A session outcome count, or its percentage of the sessions started with a `%` limit.
    Sessions { field: SessionField },
    /// A session timing statistic (`sessions.time_to_ready.p99`).
    SessionTiming { timing: SessionTiming, stat: Stat },
    /// The scheduler's lag behind the plan (`scheduler.lag.p99`).
    SchedulerLag { stat: Stat },
    /// Arrivals not started, or their percentage of the planned arrivals with a `%` limit.
    NotStarted,
    /// A significant trend over the run (`signin.p99.drift`: relative change of the p99
    /// trend line, percent; `signin.errors.drift`: change of the error rate, percentage
    /// points). No significant trend measures 0.
    Drift {
        operation: String,
        measure: crate::report::drift::DriftMeasure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// A percentile, 0–100.
    Percentile(f64),
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionField {
    Started,
    SignedIn,
    Ready,
    NeverReady,
    SignedOutClean,
    SignedOutUnexpected,
    SigninGivenUp,
    LeftSignedIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTiming {
    TimeToSignedIn,
    TimeToReady,
    SessionLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
        }
    }

    /// Whether `measured` satisfies `measured <op> limit` (== allows float rounding).
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => measured < limit,
            Cmp::Le => measured <= limit,
            Cmp::Gt => measured > limit,
            Cmp::Ge => measured >= limit,
            Cmp::Eq => (measured - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// A threshold's limit with its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A duration, in milliseconds.
    Ms(f64),
    /// A percentage (0–100).
    Percent(f64),
    /// A plain number (a count, or a rate per second).
    Number(f64),
}

impl Limit {
    pub fn value(self) -> f64 {
        match self {
            Limit::Ms(v) | Limit::Percent(v) | Limit::Number(v) => v,
        }
    }
}

/// Every problem found in a `[thresholds]` table (all of them, not only the first).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct ThresholdError {
    /// (threshold key, what is wrong and what is valid)
    pub problems: Vec<(String, String)>,
}

fn render_problems(problems: &[(String, String)]) -> String {
    let mut s = String::from("invalid [thresholds]:");
    for (key, msg) in problems {
        let _ = write!(s, "\n  {key:?}: {msg}");
    }
    s
}

/// The outcome of one threshold: the same record Results carry, so `report` re-renders
/// verdicts without re-evaluating them.
pub use crate::metrics::results::ThresholdVerdict as Verdict;

/// Whether every verdict passed.
pub fn all_passed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.passed)
}

/// The console block: a count, then one line per threshold, failed ones marked.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut o = String::new();
    if verdicts.is_empty() {
        return o;
    }
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if failed == 0 {
        let _ = writeln!(o, "\nThresholds: all {} passed", verdicts.len());
    } else {
        let _ = writeln!(o, "\nThresholds: {failed} of {} FAILED", verdicts.len());
    }
    let width = verdicts.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in verdicts {
        let mark = if v.passed { "pass  " } else { "FAILED" };
        let _ = writeln!(
            o,
            "  {mark} {:<width$}  measured {}, allowed {}",
            v.name, v.measured, v.allowed
        );
    }
    o
}

pub const THRESHOLDS_HEADER: [&str; 7] = [
    "threshold",
    "passed",
    "measured_value",
    "measured",
    "allowed",
    "window_start_s",
    "window_end_s",
];

/// Writes `thresholds.csv` (one row per threshold; columns in docs/reports.md).
pub fn write_csv(verdicts: &[Verdict], path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(THRESHOLDS_HEADER)?;
    for v in verdicts {
        let (ws, we) = v
            .window_s
            .map(|(a, b)| (format!("{a:.3}"), format!("{b:.3}")))
            .unwrap_or_default();
        w.write_record([
            v.name.clone(),
            v.passed.to_string(),
            v.value.map(|x| format!("{x:.6}")).unwrap_or_default(),
            v.measured.clone(),
            v.allowed.clone(),
            ws,
            we,
        ])?;
    }
    w.flush()?;
    Ok(())
}
