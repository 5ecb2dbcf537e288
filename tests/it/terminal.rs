//! The binary on a terminal, through a pseudo-terminal (`script` from util-linux) set to
//! 60 columns: the live status line is cut to the terminal's width and never wraps, the
//! summary fits 100 columns, and `--quiet` still says where the reports went and the
//! verdict.

use std::path::Path;
use std::process::Command;

fn scenario(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("term.toml");
    std::fs::write(
        &path,
        r#"name = "term"
[agents]
ids = "1001-1060"
[session]
hold = "1500ms"
poll_gap = "50ms"
[load]
stages = [{ hold = "2s", rate = 30 }]
[gateway]
poll_wait = "300ms"
"#,
    )
    .expect("write scenario");
    path
}

/// What the terminal showed: every drawn line (split at carriage returns and newlines),
/// escape sequences removed.
fn screen_lines(typescript: &Path) -> Vec<String> {
    let raw = std::fs::read(typescript).expect("typescript");
    let text = String::from_utf8_lossy(&raw);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\n', '\r'])
        // `script`'s own first and last lines.
        .filter(|l| !l.starts_with("Script started") && !l.starts_with("Script done"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_live_line_fits_the_terminal_and_the_summary_100_columns() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(dir.path());
    let out = dir.path().join("out");
    let typescript = dir.path().join("typescript");
    let command = format!(
        "stty cols 60 rows 20; {} run {} --out {}",
        env!("CARGO_BIN_EXE_agentstorm"),
        s.display(),
        out.display()
    );
    let status = Command::new("timeout")
        .args(["60", "script", "-qfec", &command])
        .arg(&typescript)
        .status()
        .expect("script runs");
    assert!(status.success(), "{status:?}");
    let lines = screen_lines(&typescript);
    let live: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains('█') || l.contains('░'))
        .collect();
    assert!(!live.is_empty(), "no live line drawn: {lines:#?}");
    for l in &live {
        assert!(
            l.chars().count() <= 60,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(
        live.iter().any(|l| l.contains("stopping:")),
        "the stop phase counts down: {live:#?}"
    );
    for l in &lines {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("Operations")),
        "{lines:#?}"
    );
}

#[test]
fn quiet_prints_where_the_reports_are_and_the_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(dir.path());
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&s)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("reports: {}", out.display()).as_str(),
            "verdict: passed (exit 0)"
        ],
        "{stdout}"
    );
}
