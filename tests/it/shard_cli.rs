//! The sharding options of `agentstorm run` on the command line: the shard and start time
//! from a Kubernetes Indexed Job's environment, a late start recorded, and every bad
//! shard option refused with exit 2 before any traffic.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use agentstorm::metrics::Results;

const SCENARIO: &str = r#"name = "tiny"
[target]
timeout = "5s"
[agents]
ids = "1001-1010"
[session]
hold = "0s"
poll_gap = "10ms"
[load]
stages = [{ hold = "1s", rate = 10 }]
[gateway]
poll_wait = "1s"
"#;

fn agentstorm(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentstorm"));
    c.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("AGENTSTORM_SHARDS")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AGENTSTORM_START_AT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs agentstorm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_shard_and_start_time_come_from_an_indexed_jobs_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.toml"), SCENARIO).expect("write");
    let three_s_ago = SystemTime::now() - Duration::from_secs(3);
    let start = humantime::format_rfc3339_millis(three_s_ago).to_string();
    let o = agentstorm(
        dir.path(),
        &["run", "s.toml", "--out", "out", "--quiet"],
        &[
            ("AGENTSTORM_SHARDS", "2"),
            ("JOB_COMPLETION_INDEX", "1"),
            ("AGENTSTORM_START_AT", &start),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("late against the agreed start"),
        "{}",
        stderr(&o)
    );
    let r = Results::load(&dir.path().join("out/results.json")).expect("results");
    let s = r.shard.as_ref().expect("shard record");
    assert_eq!((s.index, s.count, s.ids.as_str()), (1, 2, "1006-1010"));
    assert!(s.late_start_s >= 3.0, "{s:?}");
    assert_eq!(r.scheduler.planned_arrivals, 5);
    assert_eq!(r.sessions.started, 5);
    // the hash is the whole scenario's
    let whole = agentstorm::scenario::load_str("s.toml", SCENARIO, &[]).expect("loads");
    assert_eq!(r.scenario.hash, whole.hash);
}

#[test]
fn bad_shard_options_exit_2_before_any_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("s.toml"), SCENARIO).expect("write");
    let far =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3 * 86_400))
            .to_string();
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (vec!["--shard", "4/4"], vec![], "0-based"),
        (vec!["--shard", "2"], vec![], "K/N"),
        (vec!["--shard", "0/11"], vec![], "no agent ids"),
        (
            vec![],
            vec![("AGENTSTORM_SHARDS", "4")],
            "JOB_COMPLETION_INDEX",
        ),
        (vec!["--start-at", "at nine"], vec![], "RFC 3339"),
        (vec!["--start-at", &far], vec![], "refusing to wait"),
        (vec!["--processes", "0"], vec![], "--processes 0"),
        (vec!["--processes", "11"], vec![], "no agent ids"),
        (
            vec!["--processes", "2"],
            vec![("AGENTSTORM_SHARDS", "4"), ("JOB_COMPLETION_INDEX", "0")],
            "runs its own shards",
        ),
    ];
    for (args, env, needle) in cases {
        let mut all = vec!["run", "s.toml", "--out", "out"];
        all.extend(&args);
        let o = agentstorm(dir.path(), &all, &env);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(
            !dir.path().join("out/results.json").exists(),
            "{args:?}: nothing ran"
        );
    }
    let o = agentstorm(
        dir.path(),
        &["run", "s.toml", "--shard", "0/2", "--processes", "2"],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "clap refuses both: {}",
        stderr(&o)
    );
}
