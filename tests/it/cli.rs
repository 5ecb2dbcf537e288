//! The binary's contract: exit codes and one-line errors that say where (file, line, key)
//! and what. Runs the real `agentstorm` binary.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn agentstorm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("run agentstorm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &str = r#"name = "t"
[agents]
ids = "1001-1010"
[load]
stages = [{ hold = "1s", rate = 5 }]
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn validate_accepts_the_shipped_smoke_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = agentstorm(&["validate", "scenarios/smoke.toml"], root);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok"));
}

#[test]
fn scenario_errors_exit_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "unknown.toml",
            GOOD.replace("[load]\n", "[load]\nmax_in_flihgt = 5\n"),
            "max_in_flihgt",
            ":5:",
        ),
        (
            "duration.toml",
            GOOD.replace("hold = \"1s\"", "hold = \"1 fortnight-ish\""),
            "hold",
            ":5:",
        ),
        (
            "ids.toml",
            GOOD.replace("1001-1010", "100-200"),
            "ids",
            ":3:",
        ),
    ];
    for (name, text, key, line) in cases {
        let path = write(dir.path(), name, &text);
        for cmd in ["validate", "run"] {
            let o = agentstorm(&[cmd, &path], dir.path());
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd} {name}: {err}");
            assert!(
                err.contains(&format!("{path}{line}")),
                "{cmd} {name}: no file:line in {err}"
            );
            assert!(
                err.contains(key),
                "{cmd} {name}: key {key} not named in {err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
    }
    // nothing ran, so no report folder was made
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn a_target_port_outside_1_to_65535_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "s.toml", GOOD);
    for port in ["99999", "0", "65536"] {
        let target = format!("http://127.0.0.1:{port}");
        let o = agentstorm(&["run", &path, "--target", &target], dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{target}: {err}");
        assert!(
            err.contains("outside 1-65535") && err.contains(&target),
            "{err}"
        );
    }
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn unreachable_target_exits_3_naming_the_target_and_still_writes_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    // a port nothing listens on: bind, note it, close it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let scenario = write(
        dir.path(),
        "s.toml",
        &GOOD.replace(
            "name = \"t\"",
            "name = \"t\"\n[target]\nconnect_timeout = \"2s\"\ntimeout = \"2s\"",
        ),
    );
    let target = format!("http://127.0.0.1:{port}");
    let out = dir.path().join("out");
    let t0 = Instant::now();
    let o = agentstorm(
        &[
            "run",
            &scenario,
            "--target",
            &target,
            "--out",
            &out.display().to_string(),
        ],
        dir.path(),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "stopped within its timeout"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "names the target: {err}"
    );
    assert!(err.contains("refused"), "says why: {err}");
    let results =
        agentstorm::metrics::Results::load(&out.join("results.json")).expect("results written");
    assert!(matches!(
        results.status,
        agentstorm::metrics::results::RunStatus::Aborted { .. }
    ));
}

/// Writes a small results.json by running a tiny scenario against the embedded gateway.
fn small_run(dir: &Path, name: &str) -> std::path::PathBuf {
    let scenario = write(
        dir,
        &format!("{name}.toml"),
        &GOOD.replace("name = \"t\"", &format!("name = \"{name}\"\n[gateway]\npoll_wait = \"200ms\"\n[session]\nhold = \"100ms\"\npoll_gap = \"20ms\"")),
    );
    let out = dir.join(name);
    let o = agentstorm(
        &[
            "run",
            &scenario,
            "--out",
            &out.display().to_string(),
            "--quiet",
        ],
        dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out.join("results.json")
}

#[test]
fn report_refuses_a_truncated_results_file_and_overwrites_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = small_run(dir.path(), "a");
    let folder = results.parent().expect("folder").to_path_buf();
    let summary_before = std::fs::read(folder.join("summary.csv")).expect("summary");
    let text = std::fs::read_to_string(&results).expect("read");
    std::fs::write(&results, &text[..text.len() / 2]).expect("truncate");
    let o = agentstorm(&["report", &results.display().to_string()], dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("results.json:") && err.contains("not a valid results document"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(folder.join("summary.csv")).expect("summary"),
        summary_before
    );
    // another schema version says so
    std::fs::write(
        &results,
        text.replace("\"schema_version\": 1", "\"schema_version\": 99"),
    )
    .expect("write");
    let o = agentstorm(&["report", &results.display().to_string()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("version 99"), "{}", stderr(&o));
}

#[test]
fn report_re_renders_and_compare_gates_on_a_tolerance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = small_run(dir.path(), "a");
    let b = small_run(dir.path(), "b");
    let again = dir.path().join("again");
    let o = agentstorm(
        &[
            "report",
            &a.display().to_string(),
            "--out",
            &again.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "summary.csv",
        "retcodes.csv",
        "timeseries.csv",
        "report.html",
        "results.json",
        "latency.hlog",
    ] {
        assert!(again.join(f).is_file(), "{f} re-rendered");
    }
    // generous tolerance: two runs of one scenario do not regress
    let o = agentstorm(
        &[
            "compare",
            &a.display().to_string(),
            &b.display().to_string(),
            "--latency-pct",
            "1000",
            "--latency-ms",
            "1000",
            "--errors-pp",
            "50",
        ],
        dir.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(b
        .parent()
        .expect("folder")
        .join("comparison.html")
        .is_file());
    // a baseline with every sign-in failed makes the candidate look fine, and the reverse
    // (a candidate whose sign-ins all failed) regresses
    let mut broken = agentstorm::metrics::Results::load(&b).expect("load");
    let signin = broken.operations.get_mut("signin").expect("signin");
    signin.retcode_failures = signin.ok;
    signin.ok = 0;
    // ... in the intervals too, or its counts would not add up (and it would be refused)
    for iv in &mut broken.intervals {
        if let Some(op) = iv.operations.get_mut("signin") {
            op.failed += op.ok;
            op.ok = 0;
        }
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_string(&broken).expect("json")).expect("write");
    let o = agentstorm(
        &[
            "compare",
            &a.display().to_string(),
            &bad.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn a_peak_that_cannot_fit_the_open_file_limit_is_refused_before_any_traffic() {
    // Only meaningful where the hard limit is below the need (20,000 on these machines);
    // elsewhere this scenario would really run, so it is not started at all.
    let limit = agentstorm::util::limits::raise_nofile().expect("limit");
    if limit >= 38_064 {
        eprintln!(
            "open-file hard limit {limit} fits 19,000 embedded agents: nothing to refuse here"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // 19,000 agents at once against the embedded gateway: 38,000 files > 20,000 here.
    let path = write(
        dir.path(),
        "big.toml",
        "name = \"big\"\n[agents]\nids = \"1001-20000\"\n[session]\nhold = \"1h\"\n[load]\nstages = [{ hold = \"20s\", rate = 1000 }]\n",
    );
    let out = dir.path().join("out");
    let o = agentstorm(
        &["run", &path, "--out", &out.display().to_string()],
        dir.path(),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("open files") && err.contains("--processes"),
        "names the remedy: {err}"
    );
    assert!(!out.exists(), "nothing ran, nothing written");
}
