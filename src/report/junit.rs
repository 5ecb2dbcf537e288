//! `junit.xml`: the verdict as a CI system's test view reads it. One test case for the
//! run's validity (completed, or aborted or interrupted, which a CI job must not take for
//! a pass), one per threshold, and for `compare` one per gated measure; a failure carries
//! what was measured and what was allowed. Rendered from `Results` (or a `Comparison`)
//! alone with `quick-junit`; columns of meaning in docs/reports.md.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::compare::{delta_text, num, tolerance_text, CompareRow, Comparison};
use crate::metrics::results::{RunStatus, ThresholdVerdict};
use crate::metrics::Results;

/// File name inside a report folder.
pub const JUNIT_XML: &str = "junit.xml";
/// File name `compare` writes beside `comparison.html` (by default into the candidate's
/// report folder, whose own `junit.xml` it must not replace).
pub const COMPARISON_JUNIT_XML: &str = "comparison-junit.xml";

/// Whether a run's report folder gets a `junit.xml`: when it has thresholds to report.
pub fn wanted(r: &Results) -> bool {
    !r.derived.thresholds.is_empty()
}

/// The run's cases: validity first, then every threshold in the scenario's order.
pub fn for_run(r: &Results) -> Report {
    let mut suite = TestSuite::new(format!("agentstorm {}", r.scenario.name));
    suite.set_time(Duration::from_secs_f64(r.duration_s.max(0.0)));
    suite.add_test_case(validity(r));
    suite.add_test_cases(r.derived.thresholds.iter().map(threshold));
    let mut report = Report::new("agentstorm");
    report.add_test_suite(suite);
    report
}

fn failed(kind: NonSuccessKind, ty: &str, message: String, description: String) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_type(ty)
        .set_message(message)
        .set_description(description);
    s
}

/// `run completed`: fails (as an error, not an assertion) when the run was aborted or
/// interrupted, so a CI job never reads a partial run as a pass.
fn validity(r: &Results) -> TestCase {
    let status = match &r.status {
        RunStatus::Completed => TestCaseStatus::success(),
        RunStatus::Interrupted => failed(
            NonSuccessKind::Error,
            "interrupted",
            "the run was interrupted; its numbers cover only the time until the stop".into(),
            format!("exit code {}", r.derived.verdict.exit_code),
        ),
        RunStatus::Aborted { reason } => failed(
            NonSuccessKind::Error,
            "aborted",
            format!("the run could not measure: {reason}"),
            format!("exit code {}", r.derived.verdict.exit_code),
        ),
    };
    let mut case = TestCase::new("run completed", status);
    case.set_classname("run");
    case
}

fn threshold(v: &ThresholdVerdict) -> TestCase {
    let status = if v.passed {
        TestCaseStatus::success()
    } else {
        let window = v
            .window_s
            .map(|(a, b)| format!("; worst window {a:.1}–{b:.1} s after the start"))
            .unwrap_or_default();
        failed(
            NonSuccessKind::Failure,
            "threshold",
            format!("measured {}, allowed {}", v.measured, v.allowed),
            format!(
                "{} measured {}, allowed {}{window}",
                v.name, v.measured, v.allowed
            ),
        )
    };
    let mut case = TestCase::new(v.name.clone(), status);
    case.set_classname("thresholds");
    case
}

/// A comparison's cases: one per gated measure, failed when it got worse beyond the
/// tolerance.
pub fn for_comparison(c: &Comparison) -> Report {
    let mut suite = TestSuite::new(format!(
        "agentstorm compare {} vs {}",
        c.candidate.scenario, c.baseline.scenario
    ));
    let tolerance = tolerance_text(&c.tolerance);
    suite.add_test_cases(
        c.rows
            .iter()
            .filter(|r| r.gated)
            .map(|r| gate(r, &tolerance)),
    );
    let mut report = Report::new("agentstorm");
    report.add_test_suite(suite);
    report
}

fn gate(row: &CompareRow, tolerance: &str) -> TestCase {
    let text = format!(
        "baseline {}, candidate {}, change {}",
        num(row.baseline, row.unit),
        num(row.candidate, row.unit),
        delta_text(row)
    );
    let status = if row.is_regression() {
        failed(
            NonSuccessKind::Failure,
            "regression",
            format!("worse beyond the tolerance: {text}"),
            format!("{text}; tolerance: {tolerance}"),
        )
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(format!("{} {}", row.operation, row.measure), status);
    case.set_classname(format!("compare.{}", row.operation));
    case
}

/// Writes a report as `junit.xml` at `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, report.to_string()?)?;
    Ok(())
}
