//! `agentstorm compare BASELINE CANDIDATE`: the release engineer's regression gate. Puts
//! two Results side by side per operation (corrected and raw percentiles, error rate,
//! attempts) and per session outcome, judges each change against a [`Tolerance`] sized for
//! noisy shared machines, and renders console text and a self-contained `comparison.html`.
//! [`Comparison::regressed`] drives exit code 1.
//!
//! Reads two Results only; knows nothing of how they were produced.

use std::fmt::Write as _;
use std::path::Path;

use super::in_report_order;
use crate::metrics::results::POLL_EMPTY;
use crate::metrics::{OpStats, Results};

/// File name of the HTML comparison.
pub const COMPARISON_HTML: &str = "comparison.html";

/// How much worse a candidate may be before it counts as a regression. A latency regresses
/// only when it rises by more than BOTH the relative and the absolute allowance, so that
/// sub-millisecond jitter on a fast operation and proportional noise on a slow one are
/// both tolerated.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerance {
    /// Allowed latency rise, percent of the baseline.
    pub latency_rel_pct: f64,
    /// Allowed latency rise, milliseconds.
    pub latency_abs_ms: f64,
    /// Allowed error-rate rise (and session-ready drop), percentage points.
    pub rate_pp: f64,
    /// Percentiles (corrected latency) that gate; others are shown only.
    pub gated_percentiles: Vec<f64>,
    /// Whether raw latency gates too (corrected always does).
    pub gate_raw: bool,
    /// A latency row gates only when both runs have at least this many samples of it: a p99
    /// of 20 samples is one sample.
    pub min_samples: u64,
    /// Operations whose latency is shown but never gates: a long poll that comes back empty
    /// measures the gateway's hold time, not its speed.
    pub ungated_latency_ops: Vec<String>,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            latency_rel_pct: 10.0,
            latency_abs_ms: 1.0,
            rate_pp: 0.1,
            gated_percentiles: vec![50.0, 90.0, 99.0],
            gate_raw: false,
            min_samples: 100,
            ungated_latency_ops: vec!["poll".into(), POLL_EMPTY.into()],
        }
    }
}

/// How a measure changed from baseline to candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Better,
    /// Within tolerance.
    Same,
    Worse,
    /// Present on one side only, or not measurable on one side.
    Incomparable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    /// Percentage (deltas in percentage points).
    Pct,
    Count,
}

/// One measure side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// Operation name, or `sessions`.
    pub operation: String,
    /// `corrected p99`, `raw p50`, `error rate`, `attempts`, `ready`, …
    pub measure: String,
    pub unit: Unit,
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    pub change: Change,
    /// Whether this row can fail the comparison.
    pub gated: bool,
}

impl CompareRow {
    pub fn delta(&self) -> Option<f64> {
        Some(self.candidate? - self.baseline?)
    }

    pub fn delta_pct(&self) -> Option<f64> {
        let b = self.baseline?;
        (b != 0.0).then(|| self.delta().map(|d| d * 100.0 / b))?
    }

    /// A gated row that got worse beyond tolerance.
    pub fn is_regression(&self) -> bool {
        self.gated && self.change == Change::Worse
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunLabel {
    pub scenario: String,
    pub hash: String,
    pub started_at: String,
    pub agentstorm_version: String,
}

impl RunLabel {
    fn of(r: &Results) -> RunLabel {
        RunLabel {
            scenario: r.scenario.name.clone(),
            hash: r.scenario.hash.clone(),
            started_at: r.started_at.clone(),
            agentstorm_version: r.agentstorm_version.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub baseline: RunLabel,
    pub candidate: RunLabel,
    pub tolerance: Tolerance,
    pub rows: Vec<CompareRow>,
    /// Warnings for people (different scenarios, unfinished runs).
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(CompareRow::is_regression)
    }

    pub fn regressions(&self) -> impl Iterator<Item = &CompareRow> {
        self.rows.iter().filter(|r| r.is_regression())
    }
}

/// Compares a candidate run with a baseline.
pub fn compare(baseline: &Results, candidate: &Results, tolerance: &Tolerance) -> Comparison {
    let mut notes = Vec::new();
    if baseline.scenario.hash != candidate.scenario.hash {
        notes.push(format!(
            "the runs used different scenarios ({:?} {} vs {:?} {}): differences may come from the scenario, not the gateway",
            baseline.scenario.name,
            short(&baseline.scenario.hash),
            candidate.scenario.name,
            short(&candidate.scenario.hash)
        ));
    }
    for (which, r) in [("baseline", baseline), ("candidate", candidate)] {
        if !matches!(r.status, crate::metrics::results::RunStatus::Completed) {
            notes.push(format!("the {which} run did not complete: {}", r.status));
        }
    }
    let all: std::collections::BTreeMap<String, ()> = baseline
        .operations
        .keys()
        .chain(candidate.operations.keys())
        .map(|k| (k.clone(), ()))
        .collect();
    let empty = OpStats::default();
    let mut rows = Vec::new();
    for (name, _) in in_report_order(&all) {
        let b = baseline.operations.get(name).unwrap_or(&empty);
        let c = candidate.operations.get(name).unwrap_or(&empty);
        operation_rows(&mut rows, name, b, c, tolerance);
    }
    session_rows(&mut rows, baseline, candidate, tolerance);
    Comparison {
        baseline: RunLabel::of(baseline),
        candidate: RunLabel::of(candidate),
        tolerance: tolerance.clone(),
        rows,
        notes,
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn latency_change(b: Option<f64>, c: Option<f64>, t: &Tolerance) -> Change {
    let (Some(b), Some(c)) = (b, c) else {
        return Change::Incomparable;
    };
    let allowed = t.latency_abs_ms.max(b * t.latency_rel_pct / 100.0);
    if c - b > allowed {
        Change::Worse
    } else if b - c > allowed {
        Change::Better
    } else {
        Change::Same
    }
}

fn rate_change(b: Option<f64>, c: Option<f64>, pp: f64, higher_is_worse: bool) -> Change {
    let (Some(b), Some(c)) = (b, c) else {
        return Change::Incomparable;
    };
    let rise = if higher_is_worse { c - b } else { b - c };
    if rise > pp + 1e-12 {
        Change::Worse
    } else if -rise > pp + 1e-12 {
        Change::Better
    } else {
        Change::Same
    }
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    super::pct(part, whole)
}

fn pct_label(p: f64) -> String {
    if p == 99.9 {
        "p999".into()
    } else {
        format!("p{p}")
    }
}

fn operation_rows(rows: &mut Vec<CompareRow>, name: &str, b: &OpStats, c: &OpStats, t: &Tolerance) {
    let missing = b.count > 0 && c.count == 0;
    rows.push(CompareRow {
        operation: name.into(),
        measure: "attempts".into(),
        unit: Unit::Count,
        baseline: Some(b.count as f64),
        candidate: Some(c.count as f64),
        change: if missing { Change::Worse } else { Change::Same },
        // an operation the candidate never performed cannot be judged: that fails
        gated: missing,
    });
    let latency_gate_op = !t.ungated_latency_ops.iter().any(|o| o == name);
    let enough = b.count >= t.min_samples && c.count >= t.min_samples;
    for (kind, bh, ch, kind_gated) in [
        ("corrected", &b.corrected, &c.corrected, true),
        ("raw", &b.raw, &c.raw, t.gate_raw),
    ] {
        for p in [50.0, 90.0, 99.0, 99.9] {
            let (bv, cv) = (bh.percentile_ms(p), ch.percentile_ms(p));
            rows.push(CompareRow {
                operation: name.into(),
                measure: format!("{kind} {}", pct_label(p)),
                unit: Unit::Ms,
                baseline: bv,
                candidate: cv,
                change: latency_change(bv, cv, t),
                gated: kind_gated
                    && latency_gate_op
                    && enough
                    && t.gated_percentiles.iter().any(|g| (g - p).abs() < 1e-9),
            });
        }
    }
    let (be, ce) = (pct(b.failed(), b.judged()), pct(c.failed(), c.judged()));
    rows.push(CompareRow {
        operation: name.into(),
        measure: "error rate".into(),
        unit: Unit::Pct,
        baseline: be,
        candidate: ce,
        change: rate_change(be, ce, t.rate_pp, true),
        gated: true,
    });
}

fn session_rows(rows: &mut Vec<CompareRow>, b: &Results, c: &Results, t: &Tolerance) {
    let (bs, cs) = (&b.sessions, &c.sessions);
    if bs.started == 0 && cs.started == 0 {
        return;
    }
    let measures: [(&str, u64, u64, bool); 4] = [
        ("ready", bs.ready, cs.ready, false),
        (
            "unexpected sign-out",
            bs.signed_out_unexpected,
            cs.signed_out_unexpected,
            true,
        ),
        (
            "sign-in given up",
            bs.signin_given_up,
            cs.signin_given_up,
            true,
        ),
        ("left signed in", bs.left_signed_in, cs.left_signed_in, true),
    ];
    for (name, bn, cn, higher_is_worse) in measures {
        let (bv, cv) = (pct(bn, bs.started), pct(cn, cs.started));
        rows.push(CompareRow {
            operation: "sessions".into(),
            // a share of the agents started
            measure: format!("{name} %"),
            unit: Unit::Pct,
            baseline: bv,
            candidate: cv,
            change: rate_change(bv, cv, t.rate_pp, higher_is_worse),
            gated: true,
        });
    }
    let (bv, cv) = (
        bs.time_to_ready.percentile_ms(99.0),
        cs.time_to_ready.percentile_ms(99.0),
    );
    rows.push(CompareRow {
        operation: "sessions".into(),
        measure: "time to ready p99".into(),
        unit: Unit::Ms,
        baseline: bv,
        candidate: cv,
        change: latency_change(bv, cv, t),
        gated: bs.time_to_ready.count() >= t.min_samples
            && cs.time_to_ready.count() >= t.min_samples,
    });
}

pub(crate) fn num(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "-".into(),
        (Some(x), Unit::Ms) => super::console::fmt_ms(Some(x)),
        (Some(x), Unit::Pct) => format!("{x:.3}%"),
        (Some(x), Unit::Count) => format!("{x:.0}"),
    }
}

pub(crate) fn delta_text(r: &CompareRow) -> String {
    let Some(d) = r.delta() else {
        return "-".into();
    };
    match r.unit {
        Unit::Ms => match r.delta_pct() {
            Some(p) => format!("{d:+.2} ms ({p:+.1}%)"),
            None => format!("{d:+.2} ms"),
        },
        Unit::Pct => format!("{d:+.3} pp"),
        Unit::Count => format!("{d:+.0}"),
    }
}

fn verdict_text(r: &CompareRow) -> &'static str {
    match (r.change, r.gated) {
        (Change::Worse, true) => "REGRESSION",
        (Change::Worse, false) => "worse (not gated)",
        (Change::Better, _) => "better",
        (Change::Same, _) => "same",
        (Change::Incomparable, _) => "n/a",
    }
}

pub(crate) fn tolerance_text(t: &Tolerance) -> String {
    format!(
        "latency may rise by up to {}% or {} ms, whichever is more (corrected {}{}; rows with at least {} samples on both sides); error and session rates by up to {} percentage points",
        t.latency_rel_pct,
        t.latency_abs_ms,
        t.gated_percentiles.iter().map(|p| pct_label(*p)).collect::<Vec<_>>().join("/"),
        if t.gate_raw { ", raw too" } else { "" },
        t.min_samples,
        t.rate_pp
    )
}

/// Console rendering: header, notes, the table, and the outcome line.
pub fn render_text(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Comparison: baseline {:?} ({}) vs candidate {:?} ({})",
        c.baseline.scenario, c.baseline.started_at, c.candidate.scenario, c.candidate.started_at
    );
    let _ = writeln!(o, "  tolerance: {}", tolerance_text(&c.tolerance));
    for n in &c.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(
        o,
        "{:<14}{:<28}{:>12}{:>12}  {:<22}verdict",
        "operation", "measure", "baseline", "candidate", "delta"
    );
    for r in &c.rows {
        let _ = writeln!(
            o,
            "{:<14}{:<28}{:>12}{:>12}  {:<22}{}",
            r.operation,
            r.measure,
            num(r.baseline, r.unit),
            num(r.candidate, r.unit),
            delta_text(r),
            verdict_text(r)
        );
    }
    let n = c.regressions().count();
    if n == 0 {
        let _ = writeln!(o, "Result: no regression");
    } else {
        let _ = writeln!(o, "Result: REGRESSION in {n} measure(s):");
        for r in c.regressions() {
            let _ = writeln!(
                o,
                "  {} {}: {} -> {} ({})",
                r.operation,
                r.measure,
                num(r.baseline, r.unit),
                num(r.candidate, r.unit),
                delta_text(r)
            );
        }
    }
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small self-contained HTML page (inline CSS, no scripts, no external assets).
pub fn render_html(c: &Comparison) -> String {
    let mut o = String::new();
    let outcome = if c.regressed() {
        format!("REGRESSION in {} measure(s)", c.regressions().count())
    } else {
        "no regression".to_string()
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>agentstorm comparison</title>\n<style>\
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
table{{border-collapse:collapse}}td,th{{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}}\
td.l,th.l{{text-align:left}}tr.regression td{{background:#fdd}}tr.better td{{background:#dfd}}\
tr.worse td{{background:#ffe9c6}}.outcome{{font-size:1.2em;font-weight:bold}}\
</style></head><body>\n<h1>agentstorm comparison</h1>\n<p>Baseline: <b>{}</b> ({}, agentstorm {})<br>Candidate: <b>{}</b> ({}, agentstorm {})</p>\n<p class=\"outcome\">{}</p>\n<p>Tolerance: {}</p>\n",
        esc(&c.baseline.scenario),
        esc(&c.baseline.started_at),
        esc(&c.baseline.agentstorm_version),
        esc(&c.candidate.scenario),
        esc(&c.candidate.started_at),
        esc(&c.candidate.agentstorm_version),
        esc(&outcome),
        esc(&tolerance_text(&c.tolerance)),
    );
    if !c.notes.is_empty() {
        let _ = writeln!(o, "<ul>");
        for n in &c.notes {
            let _ = writeln!(o, "<li>{}</li>", esc(n));
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(
        o,
        "<table>\n<tr><th class=\"l\">operation</th><th class=\"l\">measure</th><th>baseline</th><th>candidate</th><th>delta</th><th class=\"l\">verdict</th></tr>"
    );
    for r in &c.rows {
        let class = match (r.change, r.gated) {
            (Change::Worse, true) => "regression",
            (Change::Worse, false) => "worse",
            (Change::Better, _) => "better",
            _ => "same",
        };
        let unit = match r.unit {
            Unit::Ms => " ms",
            _ => "",
        };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}{unit}</td><td>{}{unit}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&r.operation),
            esc(&r.measure),
            esc(&num(r.baseline, r.unit)),
            esc(&num(r.candidate, r.unit)),
            esc(&delta_text(r)),
            verdict_text(r)
        );
    }
    let _ = writeln!(o, "</table>\n</body></html>");
    o
}

/// Writes `comparison.html`.
pub fn write_html(c: &Comparison, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render_html(c))
}
