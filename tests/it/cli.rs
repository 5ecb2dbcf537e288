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

/// Runs `agentstorm` in `dir` and returns (exit code, stderr).
fn code_and_err(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let o = agentstorm(args, dir);
    (o.status.code(), stderr(&o))
}

#[test]
fn flag_errors_name_the_flag_the_user_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "s.toml", GOOD);
    let (code, err) = code_and_err(&["run", &path, "--target", "x"], dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("agentstorm: --target x: "), "{err}");
    assert!(!err.contains("--set"), "no internal --set: {err}");
    assert!(err.contains("https://"), "says what is valid: {err}");
    // The probe's options too.
    for (args, flag) in [
        (vec!["probe", "--target", "ftp://gw"], "--target ftp://gw: "),
        (vec!["probe", "--agent", "7"], "--agent 7: "),
        (vec!["probe", &path, "--target", "x"], "--target x: "),
    ] {
        let (code, err) = code_and_err(&args, dir.path());
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(flag) && !err.contains("--set"),
            "{args:?}: {err}"
        );
    }
    // Numbers the command line refuses say what is valid, not what Rust's parser says.
    for (args, needle) in [
        (vec!["--threads", "0"], "--threads must be at least 1"),
        (vec!["--threads", "-3"], "--threads cannot be negative"),
        (vec!["--processes", "300"], "give 1 to 256 processes"),
    ] {
        let mut all = vec!["run", path.as_str()];
        all.extend(&args);
        let (code, err) = code_and_err(&all, dir.path());
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("non-zero type") && !err.contains("invalid digit"),
            "{err}"
        );
    }
    let (code, err) = code_and_err(&["gateway", "--listen", "localhost:8043"], dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("127.0.0.1:8043") && !err.contains("syntax"),
        "{err}"
    );
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn value_errors_say_what_would_be_valid_in_the_users_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "s.toml", GOOD);
    let validate = |set: &str| code_and_err(&["validate", &path, "--set", set], dir.path());
    // A stage of the wrong type says what a stage is.
    let (code, err) = validate("load.stages[0]=5");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--set load.stages[0]=5: key `load.stages[0]`"),
        "{err}"
    );
    assert!(
        err.contains("{ ramp = \"30s\", to = 100 }")
            && err.contains("{ hold = \"1m\", rate = 50 }"),
        "{err}"
    );
    assert!(!err.contains("struct") && !err.contains("Stage"), "{err}");
    // One message, with the real range, for a value serde refuses and one the checks refuse.
    let (_, negative) = validate("load.max_in_flight=-5");
    let (_, zero) = validate("load.max_in_flight=0");
    for (err, v) in [(&negative, "-5"), (&zero, "0")] {
        assert!(
            err.contains(&format!(
                "max_in_flight = {v}: give a whole number from 1 to 4294967295"
            )),
            "{err}"
        );
    }
    assert!(!negative.contains("from 0"), "{negative}");
    // A stop that would never end is refused the same way.
    let (code, err) = validate("stop.signout_rate=0");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("signout_rate = 0: give a whole number from 1 to 4294967295"),
        "{err}"
    );
    // A duration is echoed as written, not as humantime would print it.
    for set in ["session.hold=\"40d\"", "load.stages[0].hold=\"40d\""] {
        let (code, err) = validate(set);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("\"40d\"") && err.contains("30days"),
            "{set}: {err}"
        );
        assert!(!err.contains("month"), "{set}: {err}");
    }
}

#[test]
fn every_invalid_threshold_is_listed_at_once_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{GOOD}[thresholds]\n\"signin.p99\" = \"fast\"\n\"signin.errors\" = \"< 1%\"\n\"x.p99\" = \"< 1ms\"\n\"signin.p99 over 0s\" = \"< 1s\"\n"
    );
    let path = write(dir.path(), "t.toml", &text);
    for cmd in ["validate", "run"] {
        let (code, err) = code_and_err(&[cmd, &path], dir.path());
        assert_eq!(code, Some(2), "{cmd}: {err}");
        let lines: Vec<&str> = err.trim().lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "{cmd}: one line per invalid threshold:\n{err}"
        );
        for (line, key, at) in [
            (0, "signin.p99", ":7:"),
            (1, "x.p99", ":9:"),
            (2, "signin.p99 over 0s", ":10:"),
        ] {
            assert!(
                lines[line].contains(&format!("{path}{at}"))
                    && lines[line].contains(&format!("`thresholds.\"{key}\"`")),
                "{cmd}: line {line} names {key} at {at}:\n{err}"
            );
        }
    }
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn ca_file_errors_name_the_file_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "s.toml", GOOD);
    let cut = write(
        dir.path(),
        "cut.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTnH1\n",
    );
    let garbage = write(dir.path(), "garbage.pem", "not a certificate at all\n");
    // An https target uses the CA file: both are refused before any traffic.
    for (pem, needle) in [
        (&cut, "is not a complete PEM certificate"),
        (&garbage, "holds no PEM certificate"),
    ] {
        for cmd in [
            vec![
                "run",
                path.as_str(),
                "--target",
                "https://127.0.0.1:9",
                "--ca-file",
                pem,
            ],
            vec!["probe", "--target", "https://127.0.0.1:9", "--ca-file", pem],
        ] {
            let (code, err) = code_and_err(&cmd, dir.path());
            assert_eq!(code, Some(2), "{cmd:?}: {err}");
            assert!(err.contains(needle), "{cmd:?}: {err}");
            assert!(err.contains(pem.as_str()), "names the file: {err}");
            assert!(!err.contains("[45, 45"), "no byte values: {err}");
        }
    }
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn out_into_a_folder_holding_a_report_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = small_run(dir.path(), "a");
    let folder = results.parent().expect("folder").display().to_string();
    let before = std::fs::read(&results).expect("results");
    let scenario = dir.path().join("a.toml").display().to_string();
    for extra in [vec![], vec!["--processes", "2"]] {
        let mut args = vec![
            "run",
            scenario.as_str(),
            "--out",
            folder.as_str(),
            "--quiet",
        ];
        args.extend(&extra);
        let (code, err) = code_and_err(&args, dir.path());
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(&format!("--out {folder}")) && err.contains("already holds a report"),
            "{err}"
        );
        assert!(err.contains("--force"), "names the way out: {err}");
        assert_eq!(
            std::fs::read(&results).expect("results"),
            before,
            "untouched"
        );
    }
    let (code, err) = code_and_err(
        &["run", &scenario, "--out", &folder, "--quiet", "--force"],
        dir.path(),
    );
    assert_eq!(code, Some(0), "--force overwrites: {err}");
    assert_ne!(
        std::fs::read(&results).expect("results"),
        before,
        "a new run's results"
    );
}

#[test]
fn a_start_more_than_an_hour_ago_is_refused_saying_both_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "s.toml", GOOD);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    let given = humantime::format_rfc3339_seconds(two_hours_ago).to_string();
    for extra in [vec![], vec!["--processes", "2"]] {
        let mut args = vec!["run", path.as_str(), "--start-at", given.as_str()];
        args.extend(&extra);
        let (code, err) = code_and_err(&args, dir.path());
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(&format!("--start-at {given}")),
            "the time given: {err}"
        );
        assert!(err.contains("in the past (now is 20"), "and now: {err}");
    }
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_the_target_cannot_use_is_a_warning_and_the_run_goes_on() {
    let gateway = crate::support::gateway::gateway("poll_wait = \"200ms\"").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = GOOD.replace(
        "name = \"t\"",
        "name = \"t\"\n[session]\nhold = \"100ms\"\npoll_gap = \"20ms\"\n[gateway]\npoll_wait = \"200ms\"",
    );
    let path = write(dir.path(), "s.toml", &fast);
    // Not a certificate at all: a target that cannot use it must not read it.
    let pem = write(dir.path(), "ca.pem", "not a certificate\n");
    let cases = [
        (Some(gateway.url.clone()), "is plain HTTP"),
        (None, "the embedded gateway"),
    ];
    for (i, (target, why)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out-{i}")).display().to_string();
        let mut args = vec![
            "run".to_string(),
            path.clone(),
            "--ca-file".into(),
            pem.clone(),
        ];
        args.extend(["--out".to_string(), out.clone(), "--quiet".into()]);
        if let Some(t) = &target {
            args.extend(["--target".to_string(), t.clone()]);
        }
        let cwd = dir.path().to_path_buf();
        let o = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            agentstorm(&args, &cwd)
        })
        .await
        .expect("joins");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{target:?}: {err}");
        assert!(
            err.contains(&format!("warning: --ca-file {pem} is not used")) && err.contains(why),
            "{target:?}: says why: {err}"
        );
        assert!(
            Path::new(&out).join("results.json").is_file(),
            "the run went on"
        );
    }
    // The probe says the same, and goes on to its verdict.
    let cwd = dir.path().to_path_buf();
    let probe_pem = pem.clone();
    let o =
        tokio::task::spawn_blocking(move || agentstorm(&["probe", "--ca-file", &probe_pem], &cwd))
            .await
            .expect("joins");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("warning: --ca-file {pem} is not used"))
            && err.contains("the embedded gateway"),
        "probe says why: {err}"
    );
}

#[test]
fn retcodes_csv_retcodes_read_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = small_run(dir.path(), "a");
    let text = std::fs::read_to_string(results.with_file_name("retcodes.csv")).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let cells: Vec<String> = reader
        .records()
        .map(|r| r.expect("row")[1].to_string())
        .collect();
    assert!(cells.contains(&"retcode:0".to_string()), "{text}");
    // What pandas' read_csv types as a number, a boolean or a missing value: none of them.
    let not_text = [
        "", "true", "false", "True", "False", "TRUE", "FALSE", "NA", "NaN", "nan", "null", "None",
    ];
    for cell in &cells {
        assert!(
            cell.parse::<f64>().is_err() && !not_text.contains(&cell.as_str()),
            "{cell:?} would not read as text:\n{text}"
        );
        assert!(
            ["retcode:", "http:", "transport:"]
                .iter()
                .any(|p| cell.starts_with(p))
                || cell == "interrupted"
                || cell == "abandoned",
            "{cell:?}"
        );
    }
}
