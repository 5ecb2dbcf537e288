//! `agentstorm merge` on the command line refuses, with exit 2, the file named and nothing
//! written, what it cannot merge exactly: the same shard twice (one folder given twice, or
//! a copy), whole runs, a shard whose `latency.hlog` is missing, unreadable, cut short,
//! empty or another shard's, and a shard whose counts do not add up. The shard folders are
//! written as a run leaves them (`results.json` and `latency.hlog`) from hand-built
//! results; real runs merging are in `shard_processes.rs` and `deploy_manifest`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentstorm::metrics::{Operation, Results};

use crate::support::fixture;

/// Shard `k` of 2: `5 + k` good sign-ins and one HTTP 503, every count consistent.
fn shard(k: u32) -> Results {
    let mut r = fixture::empty_results("cli-merge");
    fixture::make_shard(&mut r, k, 2, "1001-1010");
    let ok = 5 + u64::from(k);
    let mut signin = fixture::op_stats(Operation::Signin, fixture::ok(), ok, 10);
    signin.record(&fixture::sample(
        Operation::Signin,
        fixture::http(503),
        0,
        40,
    ));
    r.operations.insert("signin".into(), signin);
    r.sessions.started = ok + 1;
    r.sessions.signed_in = ok;
    r.sessions.signin_given_up = 1;
    r.sessions.left_signed_in = ok;
    for _ in 0..ok {
        r.sessions.time_to_signed_in.record_us(12_000);
    }
    r.scheduler.planned_arrivals = ok + 1;
    r.scheduler.started = ok + 1;
    for _ in 0..=ok {
        r.scheduler.lag.record_us(300);
    }
    r
}

/// Writes shard `k` to `dir/name/`; returns its results file.
fn write_shard(dir: &Path, name: &str, r: &Results) -> PathBuf {
    fixture::write_run(&dir.join(name), r, &fixture::hlog_of(r))
}

fn two_shards(dir: &Path) -> (PathBuf, PathBuf) {
    (
        write_shard(dir, "shard-0", &shard(0)),
        write_shard(dir, "shard-1", &shard(1)),
    )
}

fn merge(dir: &Path, inputs: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentstorm"));
    c.arg("merge")
        .args(inputs)
        .arg("--out")
        .arg(dir.join("merged"))
        .env_remove("RUST_LOG");
    c.output().expect("runs agentstorm")
}

/// Asserts exit 2, nothing written, and every needle in stderr; returns stderr.
fn refused(dir: &Path, o: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    assert!(!err.contains("input "), "names files, not inputs: {err}");
    assert!(!dir.join("merged").exists(), "nothing written");
    err
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn the_shards_of_one_run_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    let o = merge(dir.path(), &[&a, &b]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = Results::load(&dir.path().join("merged/results.json")).expect("merged");
    assert_eq!(m.operations["signin"].count, 13);
    assert!(dir.path().join("merged/latency.hlog").is_file());
}

#[test]
fn one_shard_folder_given_twice_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    let o = merge(dir.path(), &[&a, &b, &a]);
    refused(dir.path(), &o, &[&format!("{} was given twice", shown(&a))]);
}

#[test]
fn a_copy_of_a_shard_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    let copy = write_shard(dir.path(), "copy", &shard(1));
    let o = merge(dir.path(), &[&a, &b, &copy]);
    refused(
        dir.path(),
        &o,
        &[&format!(
            "{} is shard 1/2, and so is {}: the same shard was given twice",
            shown(&copy),
            shown(&b)
        )],
    );
}

#[test]
fn whole_runs_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut whole = shard(0);
    whole.shard = None;
    let w = write_shard(dir.path(), "whole", &whole);
    // the same whole run twice would merge into a run twice as large
    let o = merge(dir.path(), &[&w, &w]);
    refused(
        dir.path(),
        &o,
        &[
            &format!("{}: a whole run", shown(&w)),
            "merge is for the shards",
            "`run --shard K/N`",
            "`run --processes N`",
        ],
    );
}

#[test]
fn a_shard_without_its_interval_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    std::fs::remove_file(dir.path().join("shard-1/latency.hlog")).expect("remove");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[
            &format!("{}: no latency.hlog beside it", shown(&b)),
            "is missing",
        ],
    );
}

#[test]
fn a_shard_whose_interval_log_is_cut_short_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    // a writer killed mid-line: the last line (signin.raw) is half there
    let log = dir.path().join("shard-1/latency.hlog");
    let text = std::fs::read_to_string(&log).expect("read");
    std::fs::write(&log, &text[..text.len() - 20]).expect("cut");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[&format!(
            "{}: the latency.hlog beside it holds 0 raw latencies of signin, but its results \
             count 7 signin operations",
            shown(&b)
        )],
    );
}

#[test]
fn a_shard_whose_interval_log_is_empty_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    std::fs::write(dir.path().join("shard-0/latency.hlog"), "").expect("empty");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[&format!(
            "{}: the latency.hlog beside it holds 0 corrected latencies of signin",
            shown(&a)
        )],
    );
}

#[test]
fn a_shard_whose_interval_log_is_unreadable_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    let log = dir.path().join("shard-1/latency.hlog");
    let mut text = std::fs::read_to_string(&log).expect("read");
    text.push_str("Tag=signin.raw,not a number,1.000,1.000,AAAA\n");
    std::fs::write(&log, text).expect("write");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[
            &format!("{}:", shown(&log)),
            &format!("(the interval log of {})", shown(&b)),
        ],
    );
}

#[test]
fn a_shard_with_another_shards_interval_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    std::fs::copy(
        dir.path().join("shard-0/latency.hlog"),
        dir.path().join("shard-1/latency.hlog"),
    )
    .expect("copy");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[&format!(
            "{}: the latency.hlog beside it holds 6 corrected latencies of signin, but its \
             results count 7",
            shown(&b)
        )],
    );
}

#[test]
fn a_shard_whose_counts_do_not_add_up_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_shards(dir.path());
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&b).expect("read")).expect("json");
    v["operations"]["signin"]["ok"] = 9.into();
    std::fs::write(&b, serde_json::to_string_pretty(&v).expect("json")).expect("edit");
    let o = merge(dir.path(), &[&a, &b]);
    refused(
        dir.path(),
        &o,
        &[
            &format!("{}: its counts do not add up", shown(&b)),
            "operations.signin.count: 7, but the outcome counts beside it",
            "operations.signin.retcodes: the retcodes add up to 6, but ok + handled + retcode_failures is 9 + 0 + 0",
        ],
    );
}
