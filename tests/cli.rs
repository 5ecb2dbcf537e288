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
