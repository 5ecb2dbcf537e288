//! `--help` as a contract, through the built binary: every subcommand's help opens with a
//! one-line purpose, describes each of its arguments, and ends with examples and the exit
//! codes that command returns; and every example runs as written, from a copy of the
//! repository's `scenarios/`, with the exit code it promises (0 unless its description says
//! `(exit N)`). The only changes made to an example: a `run` gets a tiny load
//! ([`TINY_LOAD`]), and a `gateway` listens on a free port, which the probe aimed at
//! `127.0.0.1:8043` is pointed at. The helpers that run documented command lines are shared
//! with `docs_commands`.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::CommandFactory as _;

/// Appended to every `agentstorm run` an example or a document shows: the scenario's load
/// swapped for five arrivals in one second, so that a run takes seconds.
pub const TINY_LOAD: &str = r#" --set 'load.stages=[{ hold = "1s", rate = 5 }]'"#;

/// Environment a documented command must not inherit from the test's: where it would
/// change what the command does (a shard index, a start time, a CI summary file).
const CLEARED_ENV: [&str; 5] = [
    "RUST_LOG",
    "AGENTSTORM_START_AT",
    "AGENTSTORM_SHARDS",
    "JOB_COMPLETION_INDEX",
    "GITHUB_STEP_SUMMARY",
];

/// A temporary folder holding a copy of the repository's `scenarios/`: where documented
/// commands run, as if from the repository root, writing only there.
pub fn sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let to = dir.path().join("scenarios");
    std::fs::create_dir(&to).expect("scenarios/");
    for entry in std::fs::read_dir(&from).expect("read scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

/// `sh -c LINE` in `cwd`, with the built `agentstorm` first on PATH: the line runs exactly
/// as a user would type it (quotes, shell patterns).
pub fn shell(line: &str, cwd: &Path) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_agentstorm"))
        .parent()
        .expect("binary folder")
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .stdin(Stdio::null());
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `line` (see [`shell`]) to its end.
pub fn run_line(line: &str, cwd: &Path) -> Output {
    shell(line, cwd).output().expect("run sh")
}

/// A long-running command (`agentstorm gateway`) started in the background; it is ready
/// once a line of its stdout contains `ready`. The shell `exec`s it, so its pid is the
/// command's.
pub struct Background {
    child: Child,
    line: String,
}

impl Background {
    pub fn start(line: &str, cwd: &Path, ready: &str) -> Background {
        let mut child = shell(&format!("exec {line}"), cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let ready = ready.to_string();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if l.contains(&ready) {
                    let _ = tx.send(());
                }
            }
        });
        let mut bg = Background {
            child,
            line: line.to_string(),
        };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = bg.child.kill();
            let mut err = String::new();
            if let Some(mut e) = bg.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("`{line}` never said it was ready: {err}");
        }
        bg
    }

    /// Ctrl-C (SIGINT), then the exit code.
    pub fn interrupt(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-s", "INT", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGINT to `{}`", self.line);
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("`{}` did not stop on Ctrl-C", self.line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (bound, noted, closed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The exit code a description promises: `(exit N)`, else 0.
pub fn promised_exit(description: &str) -> i32 {
    description
        .split("(exit ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Says what a command printed, for a failed assertion.
pub fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One example of a help text: the command line and what it says it does.
#[derive(Debug, Clone)]
struct Example {
    line: String,
    about: String,
}

fn help_of(sub: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args([sub, "--help"])
        .env_remove("AGENTSTORM_START_AT")
        .output()
        .expect("run agentstorm");
    assert_eq!(o.status.code(), Some(0), "{sub} --help: {}", shown(&o));
    String::from_utf8(o.stdout).expect("utf-8 help")
}

/// The lines of the section that starts with a line beginning `title`, up to a blank line.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = help.lines().skip_while(|l| !l.starts_with(title));
    lines.next();
    lines.take_while(|l| !l.trim().is_empty()).collect()
}

fn examples(help: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    for l in section(help, "Examples:") {
        if let Some(line) = l.strip_prefix("  agentstorm ") {
            out.push(Example {
                line: format!("agentstorm {line}"),
                about: String::new(),
            });
        } else if let (Some(about), Some(last)) = (l.strip_prefix("      "), out.last_mut()) {
            last.about.push_str(about);
        } else {
            panic!("an Examples line that is neither a command nor its description: {l:?}");
        }
    }
    out
}

/// The codes an "Exit codes" block lists.
fn exit_codes(help: &str) -> BTreeSet<i32> {
    section(help, "Exit codes")
        .iter()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn subcommands() -> Vec<clap::Command> {
    agentstorm::cli::Cli::command()
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .cloned()
        .collect()
}

#[test]
fn every_subcommand_help_has_a_purpose_its_arguments_examples_and_its_exit_codes() {
    // What each command can return (src/cli, analysis::finalize): run, report and merge
    // give a run's verdict; the others less.
    let codes = |list: &[i32]| list.iter().copied().collect::<BTreeSet<i32>>();
    let expected = [
        ("run", codes(&[0, 1, 2, 3, 4])),
        ("probe", codes(&[0, 2, 3])),
        ("gateway", codes(&[0, 2])),
        ("report", codes(&[0, 1, 2, 3, 4])),
        ("compare", codes(&[0, 1, 2, 3])),
        ("merge", codes(&[0, 1, 2, 3, 4])),
        ("validate", codes(&[0, 2])),
    ];
    let subs = subcommands();
    let names: BTreeSet<&str> = subs.iter().map(|c| c.get_name()).collect();
    let listed: BTreeSet<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "a subcommand without expected exit codes here"
    );
    for sub in &subs {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(
            !about.is_empty() && !about.contains('\n'),
            "{name}: a one-line purpose: {about:?}"
        );
        let help = help_of(name);
        assert_eq!(
            help.lines().next(),
            Some(about.as_str()),
            "{name}: opens with it"
        );
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let text = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(text.len() > 10, "{name}: argument {id} is not described");
            // ... and the help shows it beside the argument's name.
            let shown_as = match arg.get_long() {
                Some(long) => format!("--{long}"),
                // A positional: `<NAME>`, or `[NAME]` when optional.
                None => match arg.get_value_names() {
                    Some(names) => names[0].to_string(),
                    None => id.to_uppercase(),
                },
            };
            let first_words: String = text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            // Beside it, or on the next line (clap's layout for a long section).
            let lines: Vec<&str> = help.lines().collect();
            assert!(
                lines.iter().enumerate().any(|(i, l)| l.contains(&shown_as)
                    && lines[i..(i + 2).min(lines.len())]
                        .iter()
                        .any(|l| l.contains(&first_words))),
                "{name}: {shown_as} and its description {first_words:?} in:\n{help}"
            );
        }
        let ex = examples(&help);
        assert!(
            (2..=4).contains(&ex.len()),
            "{name}: two or three examples, got {ex:?}"
        );
        for e in &ex {
            assert!(
                e.line.starts_with(&format!("agentstorm {name}")),
                "{name}: an example of another command: {}",
                e.line
            );
            assert!(
                !e.about.is_empty(),
                "{name}: `{}` says what it does",
                e.line
            );
        }
        let (_, want) = expected.iter().find(|(n, _)| *n == name).expect("listed");
        assert_eq!(
            &exit_codes(&help),
            want,
            "{name}: its own exit codes:\n{help}"
        );
        // Only a command that measures says "could not measure" about a target.
        if !matches!(name, "run") {
            assert!(
                !help.contains("target unreachable"),
                "{name}: run's codes:\n{help}"
            );
        }
    }
    // The top-level help points at them.
    let top = Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&top.stdout).contains("each command's --help"));
}

#[test]
fn every_help_example_runs_with_the_exit_code_it_promises() {
    let t0 = Instant::now();
    let dir = sandbox();
    let cwd = dir.path();
    let all: Vec<(String, Vec<Example>)> = subcommands()
        .iter()
        .map(|c| (c.get_name().to_string(), examples(&help_of(c.get_name()))))
        .collect();
    let of = |name: &str| -> Vec<Example> {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .unwrap_or_default()
    };
    let mut ran: Vec<String> = Vec::new();
    let mut check = |e: &Example, line: &str| {
        let o = run_line(line, cwd);
        let want = promised_exit(&e.about);
        assert_eq!(
            o.status.code(),
            Some(want),
            "`{}` (run as `{line}`) promises exit {want}: {}",
            e.line,
            shown(&o)
        );
        ran.push(e.line.clone());
    };

    // The standalone gateway first: the probe aimed at 127.0.0.1:8043 talks to the HTTPS one.
    let mut gateways_run = 0;
    for g in of("gateway") {
        let port = free_port();
        let line = with_listen(&g.line, port);
        let bg = Background::start(&line, cwd, "gateway listening on");
        if !g.line.contains("--plain-http") {
            for p in of("probe") {
                let line = p
                    .line
                    .replace("127.0.0.1:8043", &format!("127.0.0.1:{port}"));
                check(&p, &line);
            }
        }
        assert_eq!(bg.interrupt(), Some(promised_exit(&g.about)), "{}", g.line);
        gateways_run += 1;
    }
    // Then in the order of the data: runs write what report, compare and merge read.
    for name in ["run", "validate", "report", "compare", "merge"] {
        for e in of(name) {
            let line = match name {
                "run" => format!("{}{TINY_LOAD}", e.line),
                _ => e.line.clone(),
            };
            check(&e, &line);
        }
    }
    let total: usize = all.iter().map(|(_, e)| e.len()).sum();
    assert_eq!(
        ran.len() + gateways_run,
        total,
        "every example ran: {ran:?}"
    );
    eprintln!(
        "{total} help examples ran in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// `line` listening on `port` of the loopback: its `--listen ADDR` replaced, or one added.
fn with_listen(line: &str, port: u16) -> String {
    let addr = format!("127.0.0.1:{port}");
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.iter().position(|w| *w == "--listen") {
        Some(i) => {
            let mut w: Vec<String> = words.iter().map(|s| s.to_string()).collect();
            w[i + 1] = addr;
            w.join(" ")
        }
        None => format!("{line} --listen {addr}"),
    }
}
