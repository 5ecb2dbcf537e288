//! The documentation is true to the binary. Every `agentstorm …` (or `cargo run --release
//! -- …`) command line in a fenced shell block of README.md and docs/*.md (and each
//! `run:` step of a YAML block) runs as written, from a copy of `scenarios/`, with exit 0
//! (or the `(exit N)` its comment promises) — except those listed in [`SKIPPED`] with the
//! reason. A `run` is shortened ([`SHORT`]); nothing else is changed. `export NAME=VALUE`
//! lines of a block set the environment of the commands after them in that file. Also:
//! every file or link the documents name is in the repository, and every CSV column the
//! reports write is documented in docs/reports.md with its type.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cli_help::{promised_exit, run_line, sandbox, shown, TINY_LOAD};

/// Commands that cannot run here, found by a piece of their text, and why.
const SKIPPED: [(&str, &str); 5] = [
    (
        "your-storm.toml",
        "needs the reader's own scenario and gateway",
    ),
    (
        "cluster-failover.toml",
        "a 95-second drill whose recovery thresholds need the node failure it waits for \
         (tests/load_models.rs runs the drill shortened)",
    ),
    (":9090/api/v1/write", "needs a Prometheus to push to"),
    ("gw.example", "needs a real gateway (gw.example)"),
    (
        "collected/",
        "needs the shards collected from a Kubernetes Job (deploy/kubernetes/collect.sh)",
    ),
];

/// Appended to every documented `agentstorm run`: a tiny load, and the embedded gateway's
/// long-poll wait cut to half a second (a quiet poll otherwise holds the end of the run for
/// the scenario's `poll_wait`, 10 s in most of them).
fn short(line: &str) -> String {
    format!("{line}{TINY_LOAD} --set 'gateway.poll_wait=\"500ms\"'")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, as (path relative to the root, text).
fn documents() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root().join(&n)).expect("read");
            (n, text)
        })
        .collect()
}

/// One line of a shell block: a command or an `export`.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    Command { line: String, comment: String },
    Export(String, String),
}

/// The lines of the fenced blocks marked sh, bash, shell or console (continuations joined,
/// comments split off), and the `run:` steps of yaml blocks.
fn shell_lines(markdown: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut lang: Option<String> = None;
    let mut pending = String::new();
    for raw in markdown.lines() {
        let t = raw.trim();
        if let Some(info) = t.strip_prefix("```") {
            lang = match lang {
                Some(_) => None,
                None => Some(info.trim().to_string()),
            };
            continue;
        }
        let Some(l) = lang.as_deref() else { continue };
        let text = match l {
            "sh" | "bash" | "shell" | "console" => t.trim_start_matches("$ ").to_string(),
            "yaml" | "yml" => match t.trim_start_matches("- ").strip_prefix("run:") {
                Some(cmd) => cmd.trim().to_string(),
                None => continue,
            },
            _ => continue,
        };
        if let Some(head) = text.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        let whole = std::mem::take(&mut pending) + &text;
        let (line, comment) = split_comment(&whole);
        if line.is_empty() {
            continue;
        }
        match line
            .strip_prefix("export ")
            .and_then(|kv| kv.split_once('='))
        {
            Some((k, v)) => out.push(Line::Export(k.trim().into(), v.trim().into())),
            None => out.push(Line::Command {
                line,
                comment: comment.to_string(),
            }),
        }
    }
    out
}

/// A shell line without its trailing `# comment` (a `#` outside quotes, after a space).
fn split_comment(line: &str) -> (String, &str) {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => {
                return (line[..i].trim().to_string(), line[i + 1..].trim());
            }
            _ => {}
        }
        prev = c;
    }
    (line.trim().to_string(), "")
}

/// An agentstorm command line as a user would run it (the `cargo run --release --` form
/// runs the built binary), or None for another program.
fn agentstorm_command(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
        return Some(format!("agentstorm {rest}"));
    }
    line.starts_with("agentstorm ").then(|| line.to_string())
}

#[test]
fn every_documented_command_runs_as_written() {
    let mut ran = Vec::new();
    let mut skipped: Vec<(String, &str)> = Vec::new();
    for (doc, text) in documents() {
        // One sandbox per document: its blocks may build on each other (shards, merge).
        let dir = sandbox();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for l in shell_lines(&text) {
            let (line, comment) = match l {
                Line::Export(k, v) => {
                    env.insert(k, v);
                    continue;
                }
                Line::Command { line, comment } => (line, comment),
            };
            let Some(cmd) = agentstorm_command(&line) else {
                continue;
            };
            if let Some((_, why)) = SKIPPED.iter().find(|(piece, _)| cmd.contains(piece)) {
                skipped.push((format!("{doc}: {cmd}"), why));
                continue;
            }
            let run = match cmd.starts_with("agentstorm run ") {
                true => short(&cmd),
                false => cmd.clone(),
            };
            let mut c = crate::cli_help::shell(&run, dir.path());
            c.envs(&env);
            let o = c.output().expect("run sh");
            let want = promised_exit(&comment);
            assert_eq!(
                o.status.code(),
                Some(want),
                "{doc}: `{line}` (run as `{run}`) should exit {want}: {}",
                shown(&o)
            );
            ran.push(format!("{doc}: {cmd}"));
        }
    }
    for (cmd, why) in &skipped {
        eprintln!("skipped {cmd}: {why}");
    }
    for (piece, _) in SKIPPED {
        assert!(
            skipped.iter().any(|(c, _)| c.contains(piece)),
            "SKIPPED entry {piece:?} matches no documented command any more: remove it"
        );
    }
    assert!(ran.len() >= 6, "too few documented commands found: {ran:?}");
    eprintln!("{} documented commands ran: {ran:#?}", ran.len());
}

#[test]
fn shell_blocks_are_read_as_a_user_would_type_them() {
    let md = "text agentstorm x\n```sh\nagentstorm run a.toml \\\n  --set 'x=\"#1\"'   # a comment (exit 1)\nexport A=b\nkubectl apply\n```\n```yaml\n- run: cargo run --release -- validate s.toml\n  name: x\n```\n```\nagentstorm synopsis [ARGS]\n```\n";
    let lines = shell_lines(md);
    assert_eq!(
        lines,
        vec![
            Line::Command {
                line: "agentstorm run a.toml --set 'x=\"#1\"'".into(),
                comment: "a comment (exit 1)".into()
            },
            Line::Export("A".into(), "b".into()),
            Line::Command {
                line: "kubectl apply".into(),
                comment: String::new()
            },
            Line::Command {
                line: "cargo run --release -- validate s.toml".into(),
                comment: String::new()
            },
        ]
    );
    assert_eq!(promised_exit("a comment (exit 1)"), 1);
    assert_eq!(agentstorm_command("kubectl apply"), None);
    assert_eq!(
        agentstorm_command("cargo run --release -- validate s.toml").as_deref(),
        Some("agentstorm validate s.toml")
    );
}

#[test]
fn every_file_and_link_the_documents_name_is_in_the_repository() {
    let root = root().canonicalize().expect("root");
    let mut docs = documents();
    docs.push((
        "BENCHMARKS.md".into(),
        std::fs::read_to_string(root.join("BENCHMARKS.md")).expect("read"),
    ));
    for (doc, text) in docs {
        let here = root.join(&doc).parent().expect("folder").to_path_buf();
        assert!(!text.contains("../shared"), "{doc}: names ../shared");
        // Markdown links to files.
        for (i, _) in text.match_indices("](") {
            let target = text[i + 2..].split(')').next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("").trim();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = here.join(target);
            let found = path.canonicalize().ok();
            assert!(
                found.as_ref().is_some_and(|p| p.starts_with(&root)),
                "{doc}: the link ({target}) is not a file of the repository"
            );
        }
        // Every Markdown file named anywhere in the text (`docs/reports.md`, `gateway.md`),
        // but the one a report writes.
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c))) {
            let Some(name) = word.strip_suffix(".md").map(|_| word) else {
                continue;
            };
            if name == agentstorm::report::summary_md::SUMMARY_MD {
                continue;
            }
            let in_repo = [here.join(name), root.join(name)]
                .iter()
                .any(|p| p.canonicalize().is_ok_and(|p| p.starts_with(&root)));
            assert!(
                in_repo,
                "{doc}: names {name}, which is not in the repository"
            );
        }
    }
}

/// The header of each CSV file a report writes, by file name.
fn csv_headers() -> BTreeMap<&'static str, Vec<&'static str>> {
    use agentstorm::report::{findings_csv as f, series, tables, thresholds};
    use agentstorm::report::{
        EVENTS_CSV, FAILURES_CSV, RETCODES_CSV, SESSIONS_CSV, SUMMARY_CSV, THRESHOLDS_CSV,
        TIMESERIES_CSV,
    };
    BTreeMap::from([
        (SUMMARY_CSV, tables::SUMMARY_HEADER.to_vec()),
        (RETCODES_CSV, tables::RETCODES_HEADER.to_vec()),
        (FAILURES_CSV, tables::FAILURES_HEADER.to_vec()),
        (TIMESERIES_CSV, series::TIMESERIES_HEADER.to_vec()),
        (SESSIONS_CSV, series::SESSIONS_HEADER.to_vec()),
        (EVENTS_CSV, series::EVENTS_HEADER.to_vec()),
        (THRESHOLDS_CSV, thresholds::THRESHOLDS_HEADER.to_vec()),
        (f::RECOVERY_CSV, f::RECOVERY_HEADER.to_vec()),
        (f::CAPACITY_CSV, f::CAPACITY_HEADER.to_vec()),
        (f::DRIFT_CSV, f::DRIFT_HEADER.to_vec()),
    ])
}

/// Every `name.csv` the report writers name in their source (so a new CSV is noticed).
fn csv_files_in_report_source() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                for (i, _) in text.match_indices(".csv\"") {
                    let start = text[..i].rfind('"').map_or(i, |s| s + 1);
                    let name = &text[start..i + 4];
                    if name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || "_.".contains(c))
                    {
                        out.insert(name.to_string());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src/report"), &mut out);
    out
}

/// The rows of the `| column | type | meaning |` table that documents `file` in
/// reports.md: (column names, type).
fn documented_columns(reports: &str, file: &str) -> Vec<(Vec<String>, String)> {
    let lines: Vec<&str> = reports.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            l.trim_start_matches('#').trim() == file || l.starts_with(&format!("`{file}`,"))
        })
        .unwrap_or_else(|| panic!("docs/reports.md has no section for {file}"));
    let table = lines[start..]
        .iter()
        .position(|l| l.starts_with("| column |"))
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("{file}: no column table"));
    let head: Vec<&str> = lines[table].split('|').map(str::trim).collect();
    assert_eq!(
        head.get(2).copied(),
        Some("type"),
        "{file}: its table has a type column: {}",
        lines[table]
    );
    lines[table + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let names = cells[1]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (names, cells[2].to_string())
        })
        .collect()
}

#[test]
fn every_csv_column_is_documented_with_its_type() {
    let reports = std::fs::read_to_string(root().join("docs/reports.md")).expect("read");
    let headers = csv_headers();
    let written = csv_files_in_report_source();
    for file in &written {
        assert!(
            headers.contains_key(file.as_str()),
            "{file} is written by src/report but has no header listed in this test"
        );
    }
    let types = ["text", "integer", "number", "`true`/`false`", "empty"];
    for (file, header) in headers {
        let rows = documented_columns(&reports, file);
        let mut documented: Vec<String> = Vec::new();
        for (names, ty) in &rows {
            let words: Vec<&str> = ty.split(',').map(str::trim).collect();
            assert!(
                !words.is_empty() && words.iter().all(|w| types.contains(w)),
                "{file}: {names:?} has no type from {types:?}: {ty:?}"
            );
            documented.extend(names.iter().cloned());
        }
        let want: Vec<String> = header.iter().map(|c| c.to_string()).collect();
        let mut sorted_doc = documented.clone();
        sorted_doc.sort();
        let mut sorted_want = want.clone();
        sorted_want.sort();
        assert_eq!(
            sorted_doc, sorted_want,
            "{file}: the documented columns are not the header's"
        );
    }
    // retcodes.csv's retcode column is text in every run.
    let rows = documented_columns(&reports, "retcodes.csv");
    assert!(rows.iter().any(|(n, t)| n == &["retcode"] && t == "text"));
}

/// How long `cargo run --release -- run scenarios/smoke.toml` takes, as the documents say
/// it: measured (wall clock, the release build, this 2-core machine).
const SMOKE_TAKES: &str = "about 15 s";

#[test]
fn the_smoke_run_has_one_duration_everywhere() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).expect("read");
    let help = run_line("agentstorm run --help", &root());
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for (place, text) in [
        ("README.md", read("README.md")),
        ("scenarios/smoke.toml", read("scenarios/smoke.toml")),
        ("run --help", help),
    ] {
        assert!(text.contains(SMOKE_TAKES), "{place} says {SMOKE_TAKES:?}");
    }
    for (doc, text) in documents() {
        for other in ["~15 s", "about 20 s", "about 20 seconds", "14.5 s", "14-s"] {
            assert!(
                !text.contains(other),
                "{doc}: another smoke duration, {other:?}"
            );
        }
    }
}
