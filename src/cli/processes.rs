//! `run SCENARIO --processes N`: one machine, N shard processes, one report. The answer
//! when one process's open-file limit (20,000 on these machines, hard) caps the agents one
//! harness process can hold.
//!
//! The parent checks the scenario and every shard's slice first (exit 2 before any
//! traffic), then starts N children — this same binary, `run SCENARIO --shard K/N --out
//! DIR/shard-K --start-at T` with the user's `--set`, `--target` and `--ca-file` — in their
//! own process group, so a terminal's Ctrl-C reaches only the parent, which forwards it:
//! the first stop sends each child SIGINT (graceful: no new arrivals, agents sign out), the
//! second sends SIGINT again (the child stops at once and still writes what it recorded),
//! and children still alive [`KILL_AFTER`] later are killed. Each child's stderr (its
//! per-interval progress lines and errors) is shown prefixed `[shard K]`.
//!
//! When the scenario's target is the embedded gateway, the parent runs ONE simulated
//! gateway in-process on a loopback port over HTTPS and hands its URL and certificate to
//! every child (with `target.reconcile = "always"` unless the scenario says `never`), so
//! the harness's counts reconcile against one gateway's. When every child has ended, their
//! results are merged with `agentstorm merge`'s code into `DIR/`.
//!
//! This file owns the children's lifecycle and the exit code of `--processes`; it measures
//! nothing itself and must not change how a single run works.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncBufReadExt as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::exit::{self, Exit};
use crate::run::shard::{self, ShardSpec};
use crate::scenario::{self, Loaded};
use crate::sim::SimGateway;

/// Most processes `--processes` starts.
pub const MAX_PROCESSES: u32 = 256;
/// How far ahead the children's common start is set when no `--start-at` was given: time
/// for every child to start and load the scenario, so they begin together.
pub const START_LEAD: Duration = Duration::from_secs(1);
/// After the second stop, children still running this long later are killed.
pub const KILL_AFTER: Duration = Duration::from_secs(30);
/// The shared gateway's certificate, written in the report folder for the children.
pub const GATEWAY_CERT: &str = "gateway-cert.pem";
/// Environment variables a child must not inherit: its shard comes from `--shard`.
const SHARD_ENV: [&str; 3] = [shard::ENV_SHARDS, shard::ENV_INDEX, shard::ENV_START_AT];

#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: PathBuf,
    pub processes: u32,
    pub target: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// Report folder; default `reports/<name>-<UTC timestamp>/`. Shard K writes to
    /// `shard-K/` inside it, the merged report to the folder itself.
    pub out: Option<PathBuf>,
    /// Write into `out` (and its shard folders) even if they hold a report (`--force`).
    pub force: bool,
    pub overrides: Vec<String>,
    /// The children's common start; default now + [`START_LEAD`].
    pub start_at: Option<SystemTime>,
    /// Children run with `--quiet` (no progress lines).
    pub quiet: bool,
    /// Each child's agent threads (`--threads`); None: the child's default.
    pub threads: Option<std::num::NonZeroUsize>,
    /// The agentstorm binary to start; None: this process's own executable.
    pub exe: Option<PathBuf>,
    /// Cancelled on the first Ctrl-C / SIGTERM.
    pub stop: CancellationToken,
    /// Cancelled on the second.
    pub hard_stop: CancellationToken,
}

impl Options {
    pub fn new(scenario: impl Into<PathBuf>, processes: u32) -> Options {
        Options {
            scenario: scenario.into(),
            processes,
            target: None,
            ca_file: None,
            out: None,
            force: false,
            overrides: Vec::new(),
            start_at: None,
            quiet: false,
            threads: None,
            exe: None,
            stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        }
    }
}

/// Runs the N shard processes and merges them; returns the exit code: 2 bad input (nothing
/// ran, or a child refused its input), 3 a child wrote no results or results that merge
/// refuses (so nothing can be merged exactly), else the merged run's verdict by the one
/// exit-code rule (`analysis::finalize`).
pub async fn run(mut opts: Options) -> Result<i32, Exit> {
    let (loaded, out_dir) = prepare(&opts)?;
    let ca_unused =
        match crate::run::prepare::ca_file_unused(&loaded.scenario, opts.ca_file.as_deref()) {
            Some(why) => {
                eprintln!("agentstorm: warning: {why}");
                true
            }
            None => false,
        };
    let n = opts.processes;
    let gateway = if loaded.scenario.target.is_embedded() {
        Some(SharedGateway::start(&loaded, &out_dir).await?)
    } else {
        None
    };
    // The children see the shared gateway as a target URL, which `auto` would not ask for
    // its counters at the start: they are told it is agentstorm's.
    if gateway.is_some() && loaded.scenario.target.reconcile == scenario::Reconcile::Auto {
        opts.overrides.push("target.reconcile=\"always\"".into());
    }
    // A CA file the target cannot use was warned about once, here: not passed on.
    let (target, ca_file) = match &gateway {
        Some(g) => (Some(g.url.clone()), Some(g.cert.clone())),
        None if ca_unused => (opts.target.clone(), None),
        None => (opts.target.clone(), opts.ca_file.clone()),
    };
    let exe = match &opts.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            Exit::cannot_measure(format!("cannot find agentstorm's own executable: {e}"))
        })?,
    };
    let start_at = opts
        .start_at
        .unwrap_or_else(|| SystemTime::now() + START_LEAD);
    let mut children = Vec::with_capacity(n as usize);
    let mut waits = JoinSet::new();
    let kill = CancellationToken::new();
    for index in 0..n {
        let spec = ShardSpec { index, count: n };
        let mut cmd = shard_command(&exe, &opts, spec, &out_dir, start_at, &target, &ca_file);
        let mut child = cmd.spawn().map_err(|e| {
            Exit::cannot_measure(format!(
                "cannot start shard process {spec} ({}): {e}",
                exe.display()
            ))
        })?;
        let pid = child.id();
        // Read to the end whatever comes (a child must never block on a full pipe).
        let log = child.stderr.take().map(|stderr| {
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(stderr);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    eprintln!("[shard {index}] {}", text.trim_end());
                    line.clear();
                }
            })
        });
        let kill = kill.clone();
        waits.spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s.ok(),
                _ = kill.cancelled() => {
                    let _ = child.start_kill();
                    child.wait().await.ok()
                }
            };
            (index, status)
        });
        children.push(Child {
            spec,
            pid,
            log,
            status: None,
        });
    }
    supervise(&mut children, &mut waits, &opts, &kill).await;
    for c in &mut children {
        if let Some(log) = c.log.take() {
            let _ = log.await;
        }
    }
    if let Some(g) = gateway {
        g.stop().await;
    }
    finish(&children, &out_dir)
}

/// The command line of shard `spec`: `agentstorm run SCENARIO --shard K/N --out DIR
/// --start-at T` with the run's overrides, target and settings, its output piped.
fn shard_command(
    exe: &Path,
    opts: &Options,
    spec: ShardSpec,
    out_dir: &Path,
    start_at: SystemTime,
    target: &Option<String>,
    ca_file: &Option<PathBuf>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("run")
        .arg(&opts.scenario)
        .arg("--shard")
        .arg(spec.to_string())
        .arg("--out")
        .arg(shard_dir(out_dir, spec.index))
        .arg("--start-at")
        .arg(humantime::format_rfc3339_millis(start_at).to_string());
    for o in &opts.overrides {
        cmd.arg("--set").arg(o);
    }
    if let Some(t) = &target {
        cmd.arg("--target").arg(t);
    }
    if let Some(ca) = &ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    if opts.quiet {
        cmd.arg("--quiet");
    }
    if opts.force {
        cmd.arg("--force");
    }
    if let Some(t) = opts.threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    for var in SHARD_ENV {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd
}

/// One shard process.
struct Child {
    spec: ShardSpec,
    pid: Option<u32>,
    log: Option<tokio::task::JoinHandle<()>>,
    /// Set when it has ended (None inside: it could not be waited for).
    status: Option<Option<ExitStatus>>,
}

fn shard_dir(out: &Path, index: u32) -> PathBuf {
    out.join(format!("shard-{index}"))
}

/// Checks everything a child would check, for every shard, before starting any.
fn prepare(opts: &Options) -> Result<(Loaded, PathBuf), Exit> {
    let n = opts.processes;
    if !(1..=MAX_PROCESSES).contains(&n) {
        return Err(Exit::bad_input(format!(
            "--processes {n}: give 1 to {MAX_PROCESSES} processes"
        )));
    }
    match shard::from_env(|k| std::env::var(k).ok()) {
        Ok(None) => {}
        Ok(Some(s)) => {
            return Err(Exit::bad_input(format!(
                "--processes runs its own shards, but {} and {} make this process shard {s}; \
                 unset them, or run more shards instead of --processes",
                shard::ENV_SHARDS,
                shard::ENV_INDEX
            )))
        }
        Err(e) => return Err(Exit::bad_input(e)),
    }
    if let Some(at) = opts.start_at {
        crate::run::prepare::check_start_at(at, SystemTime::now())?;
    }
    let aim = crate::run::prepare::aim(opts.target.as_deref(), opts.ca_file.as_deref());
    let loaded = scenario::load_file_aimed(&opts.scenario, &opts.overrides, &aim)
        .map_err(|e| Exit::bad_input(e.to_string()))?;
    let shown = opts.scenario.display();
    crate::scheduler::plan::Plan::from_stages(&loaded.scenario.load.stages)
        .map_err(|e| Exit::bad_input(format!("{shown}: {e}")))?;
    // The children inherit this environment: a missing password fails here, once.
    if let Some(secret) = &loaded.scenario.agents.password {
        secret.resolve().map_err(Exit::bad_input)?;
    }
    for index in 0..n {
        let mut s = loaded.scenario.clone();
        shard::apply(&mut s, &ShardSpec { index, count: n })
            .map_err(|e| Exit::bad_input(format!("{shown}: --processes {n}: {e}")))?;
    }
    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| crate::run::default_out_dir(&loaded.scenario.name, SystemTime::now()));
    for dir in std::iter::once(out_dir.clone()).chain((0..n).map(|k| shard_dir(&out_dir, k))) {
        crate::run::prepare::check_out(&dir, opts.force)?;
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        Exit::bad_input(format!(
            "cannot create report folder {}: {e}",
            out_dir.display()
        ))
    })?;
    Ok((loaded, out_dir))
}

/// Waits for every child, forwarding stops: SIGINT on the first, SIGINT again on the
/// second, a kill [`KILL_AFTER`] after that.
async fn supervise(
    children: &mut [Child],
    waits: &mut JoinSet<(u32, Option<ExitStatus>)>,
    opts: &Options,
    kill: &CancellationToken,
) {
    let (mut stopped, mut hard_stopped) = (false, false);
    let kill_at = tokio::time::sleep(Duration::MAX);
    tokio::pin!(kill_at);
    let mut kill_armed = false;
    loop {
        tokio::select! {
            joined = waits.join_next() => match joined {
                Some(Ok((index, status))) => {
                    if let Some(c) = children.get_mut(index as usize) {
                        c.status = Some(status);
                    }
                }
                Some(Err(_)) => {}
                None => break,
            },
            _ = opts.stop.cancelled(), if !stopped => {
                stopped = true;
                if !interrupt_running(children).await {
                    eprintln!("agentstorm: cannot forward the stop to the shard processes (no `kill` command); press Ctrl-C again to end them at once");
                }
            }
            _ = opts.hard_stop.cancelled(), if !hard_stopped => {
                hard_stopped = true;
                if interrupt_running(children).await {
                    kill_at.as_mut().reset(tokio::time::Instant::now() + KILL_AFTER);
                    kill_armed = true;
                } else {
                    kill.cancel();
                }
            }
            _ = &mut kill_at, if kill_armed => {
                kill_armed = false;
                eprintln!("agentstorm: shard processes still running {}s after the second stop: killing them", KILL_AFTER.as_secs());
                kill.cancel();
            }
        }
    }
}

/// Sends SIGINT to every child still running; false if it could not be sent.
async fn interrupt_running(children: &[Child]) -> bool {
    let mut ok = true;
    for c in children.iter().filter(|c| c.status.is_none()) {
        let Some(pid) = c.pid else { continue };
        let sent = tokio::process::Command::new("kill")
            .args(["-s", "INT", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        ok &= sent.is_ok_and(|s| s.success());
    }
    ok
}

fn describe(status: &Option<Option<ExitStatus>>) -> String {
    match status {
        Some(Some(s)) => match s.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_string(),
        },
        _ => "not waited for".to_string(),
    }
}

/// Merges the shards' results into `out_dir` and works out the exit code.
fn finish(children: &[Child], out_dir: &Path) -> Result<i32, Exit> {
    let code_of = |c: &Child| match &c.status {
        Some(Some(s)) => s.code(),
        _ => None,
    };
    if let Some(c) = children
        .iter()
        .find(|c| code_of(c) == Some(exit::BAD_INPUT))
    {
        return Err(Exit::bad_input(format!(
            "shard process {} refused its input (exit code 2; its message is above)",
            c.spec
        )));
    }
    let mut inputs = Vec::with_capacity(children.len());
    let mut missing = Vec::new();
    for c in children {
        let path = shard_dir(out_dir, c.spec.index).join("results.json");
        if path.is_file() {
            inputs.push(path);
        } else {
            missing.push(format!("{} ({})", c.spec, describe(&c.status)));
        }
    }
    if !missing.is_empty() {
        return Err(Exit::cannot_measure(format!(
            "shard process{} {} wrote no results, so the shards cannot be merged exactly; \
             the other shards' reports are in {}",
            if missing.len() == 1 { "" } else { "es" },
            missing.join(", "),
            out_dir.join("shard-*").display()
        )));
    }
    // Every shard ran: a merge refusal (a shard's interval log cut short, say) means the
    // run could not be measured whole, not that the user's input was bad.
    let verdict = crate::cli::offline::merge(&inputs, out_dir).map_err(|e| {
        if e.code == exit::BAD_INPUT {
            Exit::cannot_measure(format!(
                "the shards' results cannot be merged: {}; each shard's own report is in {}",
                e.message,
                out_dir.join("shard-*").display()
            ))
        } else {
            e
        }
    })?;
    println!("reports: {}", out_dir.display());
    Ok(verdict)
}

/// The one simulated gateway every child talks to, when the scenario's target is embedded.
struct SharedGateway {
    url: String,
    cert: PathBuf,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SharedGateway {
    async fn start(loaded: &Loaded, out_dir: &Path) -> Result<SharedGateway, Exit> {
        let failed = |e: String| Exit::cannot_measure(format!("cannot start the gateway: {e}"));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| failed(e.to_string()))?;
        let tls = crate::sim::tls::self_signed().map_err(|e| failed(format!("{e:#}")))?;
        let cert = out_dir.join(GATEWAY_CERT);
        std::fs::write(&cert, &tls.cert_pem)
            .map_err(|e| failed(format!("cannot write {}: {e}", cert.display())))?;
        let cert = std::path::absolute(&cert).unwrap_or(cert);
        let gateway = SimGateway::new(loaded.scenario.gateway.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(gateway.serve(listener, Some(tls.server_config), shutdown.clone()));
        tracing::info!("shared simulated gateway listening on https://{addr}");
        Ok(SharedGateway {
            url: format!("https://{addr}"),
            cert,
            shutdown,
            task,
        })
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
