//! The threshold verdicts as people and CI read them: the console block and
//! `thresholds.csv` (columns in docs/reports.md).

use std::fmt::Write as _;
use std::path::Path;

use crate::metrics::results::ThresholdVerdict as Verdict;

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
