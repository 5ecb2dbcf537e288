//! The findings as CSV, each file written only when its finding applies: `recovery.csv`
//! (sessions lost and how agents came back), `capacity.csv` (every step of a capacity
//! search) and `drift.csv` (every series the drift analysis judged). Columns in
//! docs/reports.md; the headers are a public contract.

use std::path::Path;

use super::ms_cell;
use crate::metrics::results::DriftMeasure;
use crate::metrics::results::NodeRecovery;
use crate::metrics::Results;

pub const RECOVERY_CSV: &str = "recovery.csv";
pub const CAPACITY_CSV: &str = "capacity.csv";
pub const DRIFT_CSV: &str = "drift.csv";

pub const RECOVERY_HEADER: [&str; 9] = [
    "scope",
    "lost",
    "back",
    "first_loss_s",
    "t50_s",
    "t99_s",
    "t100_s",
    "resignins",
    "resignin_attempts",
];

pub const CAPACITY_HEADER: [&str; 14] = [
    "rate_per_s",
    "start_s",
    "end_s",
    "arrivals",
    "achieved_rate_per_s",
    "signin_count",
    "signin_failed",
    "signin_error_pct",
    "signin_p50_ms",
    "signin_p99_ms",
    "late_arrival_pct",
    "passed",
    "highest_sustainable",
    "reason",
];

pub const DRIFT_HEADER: [&str; 15] = [
    "operation",
    "measure",
    "points",
    "slope_per_hour",
    "start",
    "end",
    "change_pct",
    "z",
    "p_value",
    "p_adjusted",
    "family_size",
    "variance_factor",
    "practical",
    "significant",
    "summary",
];

/// Seconds with three decimals, empty when there is no value.
fn s_cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

/// A number with six decimals, empty when there is none.
fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

fn flag(v: Option<bool>) -> String {
    v.map(|b| b.to_string()).unwrap_or_default()
}

/// `recovery.csv`: the run as a whole (`scope` = `all`), then one row per gateway node
/// that lost sessions (`scope` = `node:<name>`, its times from its own first loss; the
/// sessions begun to come back are counted for the run only).
pub fn write_recovery_csv(r: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(RECOVERY_HEADER)?;
    if let Some(rec) = &r.derived.recovery {
        let row = |scope: String, n: &NodeRecovery, resignins: String| {
            [
                scope,
                n.lost.to_string(),
                n.back.to_string(),
                format!("{:.3}", n.first_loss_s),
                s_cell(n.t50_s),
                s_cell(n.t99_s),
                s_cell(n.t100_s),
                resignins,
                n.resignin_attempts.to_string(),
            ]
        };
        w.write_record(row(
            "all".into(),
            &rec.as_scope("all"),
            r.sessions.resignins.to_string(),
        ))?;
        for n in &rec.nodes {
            w.write_record(row(format!("node:{}", n.node), n, String::new()))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// `capacity.csv`: one row per step in the order run.
pub fn write_capacity_csv(r: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(CAPACITY_HEADER)?;
    let Some(cap) = &r.capacity else {
        w.flush()?;
        return Ok(());
    };
    for st in &cap.steps {
        let answer = cap.max_sustainable_rate_per_s == Some(st.rate_per_s) && st.passed;
        w.write_record([
            format!("{:.3}", st.rate_per_s),
            format!("{:.3}", st.start_s),
            format!("{:.3}", st.end_s),
            st.arrivals.to_string(),
            format!("{:.3}", st.achieved_rate_per_s),
            st.signin_count.to_string(),
            st.signin_failed.to_string(),
            format!("{:.4}", st.signin_error_pct),
            ms_cell(st.signin_p50_ms),
            ms_cell(st.signin_p99_ms),
            format!("{:.4}", st.late_arrival_pct),
            st.passed.to_string(),
            answer.to_string(),
            st.reason.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `drift.csv`: one row per operation and measure judged.
pub fn write_drift_csv(r: &Results, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(DRIFT_HEADER)?;
    for f in &r.derived.drift {
        let measure = match f.measure {
            DriftMeasure::P99 => "p99_ms",
            DriftMeasure::ErrorRate => "error_rate_pct",
        };
        w.write_record([
            f.operation.clone(),
            measure.to_string(),
            f.points.to_string(),
            num(Some(f.slope_per_hour)),
            num(Some(f.start)),
            num(Some(f.end)),
            num(f.change_pct),
            num(Some(f.z)),
            num(Some(f.p_value)),
            num(f.p_adjusted),
            f.family_size.to_string(),
            num(f.variance_factor),
            flag(f.practical),
            f.significant.to_string(),
            f.summary.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
