//! What CI reads: `junit.xml` (one case for the run's validity, one per threshold, failures
//! carrying measured and allowed values), `comparison-junit.xml` from `compare`, and
//! `summary.md` (also appended to `GITHUB_STEP_SUMMARY` by `merge`). The XML is read with
//! `quick-xml`, not with the crate that writes it.

use std::path::Path;
use std::process::{Command, Output};

use quick_xml::events::Event;
use quick_xml::Reader;
use quick_xml::XmlVersion;

use agentstorm::metrics::results::RunStatus;
use agentstorm::metrics::{Operation, Results};

use crate::support::fixture;

/// One `<testcase>`: name, classname, and its `<failure>` or `<error>` (tag, type, message).
#[derive(Debug)]
struct Case {
    name: String,
    classname: String,
    outcome: Option<(String, String, String)>,
}

fn attr(e: &quick_xml::events::BytesStart, key: &str) -> String {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key.as_bytes())
        .map(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .expect("attribute text")
                .into_owned()
        })
        .unwrap_or_default()
}

/// The test cases of a JUnit document, and the `failures`/`errors`/`tests` counts of its
/// first `<testsuite>`.
fn cases(xml: &str) -> (Vec<Case>, (String, String, String)) {
    let mut reader = Reader::from_str(xml);
    let mut out: Vec<Case> = Vec::new();
    let mut counts = None;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuite" if counts.is_none() => {
                    counts = Some((attr(&e, "tests"), attr(&e, "failures"), attr(&e, "errors")))
                }
                b"testcase" => out.push(Case {
                    name: attr(&e, "name"),
                    classname: attr(&e, "classname"),
                    outcome: None,
                }),
                tag @ (b"failure" | b"error") => {
                    let case = out.last_mut().expect("inside a testcase");
                    case.outcome = Some((
                        String::from_utf8_lossy(tag).into_owned(),
                        attr(&e, "type"),
                        attr(&e, "message"),
                    ));
                }
                _ => {}
            },
            _ => {}
        }
    }
    (out, counts.expect("a testsuite"))
}

/// The fixture run with every count adding up, as `report` requires of a results file.
fn consistent_fixture() -> Results {
    let mut r = fixture::sample_results();
    for _ in 0..r.sessions.ready {
        r.sessions.time_to_ready.record_us(20_000);
    }
    for _ in 0..r.scheduler.started {
        r.scheduler.lag.record_us(300);
    }
    r
}

/// The fixture run (100 sign-ins, two failed; 10 logouts, one HTTP 503) with two
/// thresholds in its scenario text: one that holds and one that fails.
fn judged_fixture(status: RunStatus) -> Results {
    let mut r = consistent_fixture();
    r.status = status;
    r.scenario.text = "name = \"fixture\"\n[thresholds]\n\"signin.p99\" = \"< 5s\"\n\
                       \"logout.errors\" = \"< 1%\"\n"
        .into();
    r
}

fn agentstorm(args: &[&Path], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentstorm"));
    c.args(args).env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs agentstorm")
}

fn report(dir: &Path, r: &Results) -> (Output, std::path::PathBuf) {
    let results = fixture::write_run(&dir.join("run"), r, &fixture::hlog_of(r));
    let out = dir.join("report");
    let o = agentstorm(
        &[Path::new("report"), &results, Path::new("--out"), &out],
        &[],
    );
    (o, out)
}

#[test]
fn junit_has_a_case_per_threshold_and_for_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (o, out) = report(dir.path(), &judged_fixture(RunStatus::Completed));
    assert_eq!(o.status.code(), Some(1), "a failed threshold exits 1");
    let xml = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml written");
    let (cases, (tests, failures, errors)) = cases(&xml);
    assert_eq!(
        (tests.as_str(), failures.as_str(), errors.as_str()),
        ("3", "1", "0")
    );
    let names: Vec<_> = cases
        .iter()
        .map(|c| (c.classname.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("run", "run completed"),
            ("thresholds", "logout.errors"),
            ("thresholds", "signin.p99")
        ],
        "validity first, then the thresholds in key order as everywhere"
    );
    assert!(
        cases[0].outcome.is_none() && cases[2].outcome.is_none(),
        "{cases:?}"
    );
    let (tag, ty, message) = cases[1].outcome.clone().expect("logout.errors failed");
    assert_eq!((tag.as_str(), ty.as_str()), ("failure", "threshold"));
    assert!(
        message.contains("measured 10.0000%") && message.contains("allowed < 1%"),
        "{message}"
    );
}

#[test]
fn an_interrupted_run_is_an_error_case_not_a_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut r = judged_fixture(RunStatus::Interrupted);
    r.scenario.text = "name = \"fixture\"\n[thresholds]\n\"signin.p99\" = \"< 5s\"\n".into();
    let (o, out) = report(dir.path(), &r);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let xml = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    let (cases, (_, failures, errors)) = cases(&xml);
    assert_eq!((failures.as_str(), errors.as_str()), ("0", "1"));
    let (tag, ty, message) = cases[0].outcome.clone().expect("validity case failed");
    assert_eq!((tag.as_str(), ty.as_str()), ("error", "interrupted"));
    assert!(message.contains("interrupted"), "{message}");
}

#[test]
fn no_thresholds_no_junit_but_always_a_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (o, out) = report(dir.path(), &consistent_fixture());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.join("junit.xml").exists());
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.starts_with("## agentstorm: fixture — passed"), "{md}");
    assert!(!md.contains("### Thresholds"), "{md}");
}

#[test]
fn summary_md_holds_verdict_thresholds_operations_and_failures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, out) = report(dir.path(), &judged_fixture(RunStatus::Completed));
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.starts_with("## agentstorm: fixture — FAILED"), "{md}");
    assert!(
        md.contains("**Why:**") && md.contains("logout.errors"),
        "{md}"
    );
    assert!(md.contains("### Thresholds: 1 of 2 passed"), "{md}");
    assert!(
        md.contains("| **FAILED** | `logout.errors` | 10.0000% | < 1% |"),
        "{md}"
    );
    assert!(md.contains("| signin | 100 | 2 | 2.00 |"), "{md}");
    assert!(md.contains("| logout | 10 | 1 | 10.00 |"), "{md}");
    // Operations in the report's order: sign-in before poll before logout.
    let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("{s} in {md}"));
    assert!(at("| signin |") < at("| poll |") && at("| poll |") < at("| logout |"));
    for outcome in ["`100-003`", "`transport:connect_refused`", "`http:503`"] {
        assert!(md.contains(outcome), "{outcome} in {md}");
    }
}

/// Two consistent shards of one run, written as runs leave them.
fn shards(dir: &Path) -> Vec<std::path::PathBuf> {
    (0..2)
        .map(|k| {
            let mut r = fixture::empty_results("ci-merge");
            fixture::make_shard(&mut r, k, 2, "1001-1010");
            let signin = fixture::op_stats(Operation::Signin, fixture::ok(), 5, 10);
            r.operations.insert("signin".into(), signin);
            r.sessions.started = 5;
            r.sessions.signed_in = 5;
            r.sessions.left_signed_in = 5;
            for _ in 0..5 {
                r.sessions.time_to_signed_in.record_us(12_000);
            }
            r.scheduler.planned_arrivals = 5;
            r.scheduler.started = 5;
            for _ in 0..5 {
                r.scheduler.lag.record_us(300);
            }
            fixture::write_run(&dir.join(format!("shard-{k}")), &r, &fixture::hlog_of(&r))
        })
        .collect()
}

#[test]
fn merge_appends_the_summary_to_github_step_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let step = dir.path().join("step-summary.md");
    std::fs::write(&step, "earlier step\n").expect("step summary");
    let inputs = shards(dir.path());
    let out = dir.path().join("merged");
    let o = agentstorm(
        &[
            Path::new("merge"),
            &inputs[0],
            &inputs[1],
            Path::new("--out"),
            &out,
        ],
        &[("GITHUB_STEP_SUMMARY", &step)],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    let appended = std::fs::read_to_string(&step).expect("step summary");
    assert_eq!(
        appended,
        format!("earlier step\n{md}\n"),
        "appended after what was there"
    );
    assert!(md.contains("| signin | 10 | 0 |"), "the merged run: {md}");
}

#[test]
fn compare_writes_a_gate_per_case_junit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = consistent_fixture();
    let base = fixture::write_run(&dir.path().join("base"), &r, &fixture::hlog_of(&r));
    let cand = fixture::write_run(&dir.path().join("cand"), &r, &fixture::hlog_of(&r));
    let out = dir.path().join("cmp");
    let o = agentstorm(
        &[Path::new("compare"), &base, &cand, Path::new("--out"), &out],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let xml = std::fs::read_to_string(out.join("comparison-junit.xml")).expect("written");
    let (cases, (tests, failures, _)) = cases(&xml);
    assert!(!cases.is_empty(), "gated measures are cases");
    assert_eq!(tests, cases.len().to_string());
    assert_eq!(
        failures, "0",
        "a run compared with itself has no regression"
    );
    assert!(
        cases.iter().any(|c| c.name == "signin corrected p99"),
        "{cases:?}"
    );
    assert!(cases.iter().all(|c| c.classname.starts_with("compare.")));
}
