//! The findings in CSV: `recovery.csv`, `capacity.csv` and `drift.csv` are written by
//! `write_all` exactly when their finding applies, with the documented headers and the
//! values of `results.json`.

use agentstorm::metrics::results::{
    CapacityResult, CapacityStep, DriftFinding, DriftMeasure, NodeRecovery, Recovery, Results,
};
use agentstorm::report::findings_csv::{CAPACITY_HEADER, DRIFT_HEADER, RECOVERY_HEADER};

use crate::support::fixture;

fn rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let mut out = vec![header];
    for rec in r.records() {
        out.push(rec.expect("row").iter().map(String::from).collect());
    }
    out
}

fn with_findings() -> Results {
    let mut r = fixture::sample_results();
    r.sessions.resignins = 7;
    r.derived.recovery = Some(Recovery {
        lost: 8,
        back: 7,
        first_loss_s: 30.5,
        t50_s: Some(1.25),
        t99_s: None,
        t100_s: None,
        resignin_attempts: 9,
        nodes: vec![NodeRecovery {
            node: "AgentGateway1".into(),
            lost: 8,
            back: 7,
            first_loss_s: 30.5,
            t50_s: Some(1.25),
            t99_s: None,
            t100_s: None,
            resignin_attempts: 9,
        }],
    });
    let step = |rate: f64, passed: bool| CapacityStep {
        rate_per_s: rate,
        achieved_rate_per_s: rate.min(50.0),
        signin_p99_ms: Some(12.5),
        passed,
        reason: if passed {
            String::new()
        } else {
            "p99, too slow".into()
        },
        ..CapacityStep::default()
    };
    r.capacity = Some(CapacityResult {
        max_sustainable_rate_per_s: Some(40.0),
        steps: vec![step(20.0, true), step(40.0, true), step(80.0, false)],
        slo: "signin.p99 < 1s".into(),
    });
    r.derived.drift = vec![DriftFinding {
        operation: "signin".into(),
        measure: DriftMeasure::ErrorRate,
        points: 40,
        slope_per_hour: 0.5,
        start: 1.0,
        end: 1.5,
        change_pct: Some(50.0),
        z: 1.0,
        p_value: 0.3,
        significant: false,
        summary: "signin error rate: no trend".into(),
        p_adjusted: Some(0.9),
        family_size: 2,
        variance_factor: None,
        practical: Some(false),
    }];
    r
}

#[test]
fn findings_csvs_hold_what_results_json_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    agentstorm::report::write_all(&with_findings(), dir.path()).expect("written");

    let rec = rows(&dir.path().join("recovery.csv"));
    assert_eq!(rec[0], RECOVERY_HEADER);
    assert_eq!(
        rec[1],
        ["all", "8", "7", "30.500", "1.250", "", "", "7", "9"]
    );
    assert_eq!(
        rec[2],
        [
            "node:AgentGateway1",
            "8",
            "7",
            "30.500",
            "1.250",
            "",
            "",
            "",
            "9"
        ]
    );
    assert_eq!(rec.len(), 3);

    let cap = rows(&dir.path().join("capacity.csv"));
    assert_eq!(cap[0], CAPACITY_HEADER);
    assert_eq!(cap.len(), 4, "one row per step");
    let col = |name: &str| {
        CAPACITY_HEADER
            .iter()
            .position(|h| *h == name)
            .expect("column")
    };
    let answers: Vec<&str> = cap[1..]
        .iter()
        .map(|r| r[col("highest_sustainable")].as_str())
        .collect();
    assert_eq!(
        answers,
        ["false", "true", "false"],
        "the step that is the answer"
    );
    assert_eq!(
        cap[3][col("reason")],
        "p99, too slow",
        "a comma survives quoting"
    );
    assert_eq!(cap[2][col("signin_p99_ms")], "12.500");

    let drift = rows(&dir.path().join("drift.csv"));
    assert_eq!(drift[0], DRIFT_HEADER);
    let col = |name: &str| {
        DRIFT_HEADER
            .iter()
            .position(|h| *h == name)
            .expect("column")
    };
    assert_eq!(drift[1][col("measure")], "error_rate_pct");
    assert_eq!(drift[1][col("variance_factor")], "", "None is empty");
    assert_eq!(drift[1][col("significant")], "false");
}

#[test]
fn no_finding_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    agentstorm::report::write_all(&fixture::sample_results(), dir.path()).expect("written");
    for f in ["recovery.csv", "capacity.csv", "drift.csv"] {
        assert!(!dir.path().join(f).exists(), "{f} without its finding");
    }
}
