//! `report` and `compare` on the command line refuse a results file whose counts do not
//! add up (a hand-edited count), with exit 2, the file named, every broken invariant listed
//! by its JSON path, and nothing written. The invariants themselves are unit-tested in
//! `metrics::invariants`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentstorm::metrics::invariants;
use agentstorm::metrics::Results;

use crate::support::fixture;

/// The fixture run, with the timings its counts call for.
fn consistent() -> Results {
    let mut r = fixture::sample_results();
    for _ in 0..r.sessions.ready {
        r.sessions.time_to_ready.record_us(40_000);
    }
    for _ in 0..r.scheduler.started {
        r.scheduler.lag.record_us(300);
    }
    assert_eq!(invariants::check(&r), vec![]);
    r
}

fn write(dir: &Path, name: &str, r: &Results) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(r).expect("json")).expect("write");
    path
}

/// `path` with one count changed by hand, as a user would in an editor.
fn edit(path: &Path, to: &Path, change: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    change(&mut v);
    std::fs::write(to, serde_json::to_string_pretty(&v).expect("json")).expect("write");
    to.to_path_buf()
}

fn agentstorm(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("runs agentstorm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn report_refuses_a_hand_edited_count_naming_each_broken_invariant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "results.json", &consistent());
    let o = agentstorm(dir.path(), &["report", "results.json", "--out", "good"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    std::fs::create_dir(dir.path().join("edited")).expect("folder");
    let bad = edit(&good, &dir.path().join("edited/results.json"), |v| {
        v["operations"]["logout"]["http_errors"] = 2.into();
        v["scheduler"]["planned_arrivals"] = 50.into();
    });
    let o = agentstorm(dir.path(), &["report", "edited/results.json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("edited/results.json: its counts do not add up"),
        "{err}"
    );
    for path in [
        "operations.logout.http_statuses: adds up to 1, but http_errors is 2",
        "operations.logout.count: 10, but the outcome counts beside it",
        "scheduler.planned_arrivals: 50, fewer than started + not_started + dropped_late",
    ] {
        assert!(err.contains(path), "{path:?} not in {err}");
    }
    assert!(
        !bad.with_file_name("report.html").exists(),
        "nothing written"
    );
}

#[test]
fn compare_refuses_either_input_whose_counts_do_not_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "good.json", &consistent());
    edit(&good, &dir.path().join("bad.json"), |v| {
        // one sign-in fewer, in the total only
        v["operations"]["signin"]["count"] = 99.into();
    });
    let o = agentstorm(dir.path(), &["compare", "good.json", "good.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("comparison.html")).expect("written, removed");
    for args in [["good.json", "bad.json"], ["bad.json", "good.json"]] {
        let o = agentstorm(dir.path(), &["compare", args[0], args[1]]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("bad.json: its counts do not add up")
                && err.contains("operations.signin.count: 99")
                && err
                    .contains("operations.signin.corrected: holds 100 latencies, but count − interrupted − abandoned is 99"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("good.json"), "{err}");
        assert!(
            !dir.path().join("comparison.html").exists(),
            "nothing written"
        );
    }
    // a count edited where nothing else refers to it is not caught: only invariants are
    let quiet = edit(&good, &dir.path().join("quiet.json"), |v| {
        v["events"]["AgentState_Ready"] = 5.into();
    });
    let o = agentstorm(
        dir.path(),
        &["compare", "good.json", &quiet.display().to_string()],
    );
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
}
