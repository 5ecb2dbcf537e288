//! One `agentstorm run`: load the scenario, start the embedded gateway when the scenario
//! has no target, check the target is reachable, run the plan while collecting intervals,
//! stop (gracefully, or at once on a hard stop or an unreachable target), and build the
//! Results document and write every report from it.
//!
//! This file only wires the parts together; it owns the run's lifecycle and its exit code,
//! not any measurement or rendering. Signals are not handled here: the caller passes stop
//! tokens, so tests can stop a run the same way Ctrl-C does.
//!
//! Beside it: [`collector`] (merges the recorders each interval, streams the hlog, feeds
//! [`progress`], the live line) and [`shard`] (a shard's slice of the scenario and the
//! agreed start).

pub mod collector;
pub mod progress;
pub mod shard;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::agent::push::PushReceiver;
use crate::agent::signout_gate::SignoutGate;
use crate::agent::AgentContext;
use crate::client::{AgentConn, Target, TargetOptions, Trust};
use crate::exit::{self, Exit};
use crate::metrics::hlog::HlogWriter;
use crate::metrics::recorder::Recorder;
use crate::metrics::results::{
    RunStatus, ScenarioInfo, SchedulerStats, TargetInfo, SCHEMA_NAME, SCHEMA_VERSION,
};
use crate::metrics::Results;
use crate::protocol::{GatewayStats, STATS_PATH};
use crate::run::collector::Collector;
use crate::run::progress::Progress;
use crate::scenario::{self, LoadModel, Loaded, Spacing};
use crate::scheduler::lease::{IdPool, QUARANTINE};
use crate::scheduler::pacer::Arrivals;
use crate::scheduler::pacer::Pacer;
use crate::scheduler::plan::Plan;
use crate::sim::SimGateway;
use std::num::{NonZeroU32, NonZeroUsize};

/// Default length of one interval of the time series.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How often samples are collected (and the live display refreshed).
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: PathBuf,
    /// Overrides the scenario's target URL.
    pub target: Option<String>,
    /// Overrides the scenario's CA file.
    pub ca_file: Option<PathBuf>,
    /// Report folder; default `reports/<name>-<UTC timestamp>/`.
    pub out: Option<PathBuf>,
    /// `--set KEY=VALUE` overrides.
    pub overrides: Vec<String>,
    pub interval: Duration,
    pub progress: progress::Mode,
    /// Cancelled to stop gracefully (first Ctrl-C): no new arrivals, agents sign out.
    pub stop: CancellationToken,
    /// Cancelled to stop at once (second Ctrl-C): agents are dropped; what was recorded is
    /// still written.
    pub hard_stop: CancellationToken,
    /// Run only this shard's slice of the scenario (`--shard K/N`).
    pub shard: Option<crate::run::shard::ShardSpec>,
    /// Wait until this wall-clock time before starting (`--start-at`).
    pub start_at: Option<SystemTime>,
    /// Threads the agents run on (`--threads`); None: one per core.
    pub threads: Option<NonZeroUsize>,
}

impl RunOptions {
    pub fn new(scenario: impl Into<PathBuf>) -> RunOptions {
        RunOptions {
            scenario: scenario.into(),
            target: None,
            ca_file: None,
            out: None,
            overrides: Vec::new(),
            interval: DEFAULT_INTERVAL,
            progress: progress::Mode::Quiet,
            stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            shard: None,
            start_at: None,
            threads: None,
        }
    }
}

/// What a finished run hands back.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit_code: i32,
    pub out_dir: PathBuf,
    pub results: Results,
    pub written: Vec<PathBuf>,
}

/// The embedded gateway, while it runs.
pub(crate) struct Embedded {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Embedded {
    /// Stops the gateway and waits (at most 5 s) for it to close.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

pub async fn run(opts: RunOptions) -> Result<RunOutcome, Exit> {
    // --target and --ca-file are overrides like any --set, so they are validated with
    // the rest of the scenario (a real target has no embedded poll_wait to respect, …);
    // they aim the run and stay out of the scenario hash.
    let mut aim = Vec::new();
    if let Some(url) = &opts.target {
        aim.push(format!("target.url={}", toml_string(url)));
    }
    if let Some(ca) = &opts.ca_file {
        let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
        aim.push(format!(
            "target.ca_file={}",
            toml_string(&ca.display().to_string())
        ));
    }
    let mut loaded = scenario::load_file_aimed(&opts.scenario, &opts.overrides, &aim)
        .map_err(|e| Exit::bad_input(e.to_string()))?;
    // A shard runs its slice; the hash and text stay the whole scenario's.
    let shard = match &opts.shard {
        Some(_) if loaded.scenario.load.model == LoadModel::CapacitySearch => {
            return Err(Exit::bad_input(format!(
                "{}: a capacity search cannot be sharded (each shard would search alone); run it as one process, or shard a fixed-rate scenario",
                opts.scenario.display()
            )))
        }
        Some(spec) => Some(
            crate::run::shard::apply(&mut loaded.scenario, spec)
                .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?,
        ),
        None => None,
    };
    let sc = &loaded.scenario;
    let thresholds = crate::analysis::thresholds::parse_all(&sc.thresholds)
        .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?;
    let password = match &sc.agents.password {
        Some(secret) => secret.resolve().map_err(Exit::bad_input)?,
        None => String::new(),
    };
    // Capacity search plans its own steps; the others follow the stages.
    let plan = match sc.load.model {
        LoadModel::CapacitySearch => None,
        _ => Some(
            Plan::from_stages(&sc.load.stages)
                .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?,
        ),
    };
    let url = sc.target.url.clone();
    let embedded_wanted = sc.target.is_embedded();
    // One connection per agent (two files against the embedded gateway): raise the
    // open-file limit, and refuse a peak that cannot fit before any traffic.
    let file_limit = crate::util::limits::raise_nofile().unwrap_or(u64::MAX);
    let ids = sc.agents.ids.len();
    let peak_agents = match (&plan, sc.load.model) {
        (Some(p), LoadModel::Closed) => (p.peak_level().ceil() as u64).min(ids),
        (Some(p), _) => Pacer::new(p.clone()).planned_arrivals().min(ids),
        (None, _) => ids,
    }
    .min(u64::from(sc.load.max_in_flight));
    crate::util::limits::check_fit(peak_agents, if embedded_wanted { 2 } else { 1 }, file_limit)
        .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?;
    // Source addresses must be this machine's: checked before anything starts.
    let sources = sc.target.source_addresses.addrs();
    crate::client::TcpConnector::new(&sources)
        .check_sources()
        .map_err(|e| {
            Exit::bad_input(format!(
                "{}: target.source_addresses: {e}",
                opts.scenario.display()
            ))
        })?;
    if let Some(w) = crate::util::limits::port_warning(peak_agents, sources.len()) {
        tracing::warn!("{}: {w}", opts.scenario.display());
    }
    let out_dir = opts.out.clone().unwrap_or_else(|| match &shard {
        Some(s) => default_out_dir(
            &format!("{}-shard{}of{}", sc.name, s.index, s.count),
            SystemTime::now(),
        ),
        None => default_out_dir(&sc.name, SystemTime::now()),
    });
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        Exit::bad_input(format!(
            "cannot create report folder {}: {e}",
            out_dir.display()
        ))
    })?;

    // The other side: the embedded gateway, or the scenario's / command line's target.
    let (target_url, trust, embedded) = if embedded_wanted {
        let (addr, cert_pem, emb) = start_embedded(&loaded).await?;
        (format!("https://{addr}"), Trust::Pem(cert_pem), Some(emb))
    } else {
        let trust = if sc.target.insecure_skip_verify {
            Trust::Insecure
        } else if let Some(ca) = &sc.target.ca_file {
            let pem = std::fs::read_to_string(ca).map_err(|e| {
                Exit::bad_input(format!("CA file {}: cannot read: {e}", ca.display()))
            })?;
            Trust::Pem(pem)
        } else {
            Trust::Native
        };
        (url.trim().to_string(), trust, None)
    };
    let target = Target::new(&TargetOptions {
        url: target_url,
        trust,
        timeout: sc.target.timeout.get(),
        connect_timeout: sc.target.connect_timeout.get(),
        read_buffer_bytes: sc.target.read_buffer_bytes.map(|n| n as usize),
        source_addresses: sources,
    })
    .map_err(Exit::bad_input)?;

    let late_start = match opts.start_at {
        Some(at) => crate::run::shard::wait_for_start(at, &opts.stop).await,
        None => Duration::ZERO,
    };
    let started_wall = SystemTime::now();
    let start = Instant::now();
    let recorder = Recorder::new();
    let mut status = RunStatus::Completed;
    let mut schedule = crate::scheduler::ScheduleReport::default();
    let mut capacity = None;
    let hlog_path = out_dir.join("latency.hlog");
    let start_unix_s = started_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let hlog = HlogWriter::create(&hlog_path, start_unix_s)
        .map_err(|e| Exit::bad_input(format!("cannot write {}: {e}", hlog_path.display())))?;
    let planned = plan.as_ref().map(Plan::duration).unwrap_or_default();
    let progress = Progress::new(opts.progress, planned);
    let interval = sc.report.interval.get();
    let mut collector = Collector::new(start, interval, recorder.clone(), hlog, progress);
    // The sign-out gate and the push receiver live as long as the run.
    let services = CancellationToken::new();
    let signout_rate = NonZeroU32::new(sc.stop.signout_rate).unwrap_or(NonZeroU32::MIN);
    let gate = SignoutGate::new(signout_rate);
    tokio::spawn(gate.clone().dispatch(services.clone()));
    let push = match &sc.session.push {
        Some(p) => {
            let token = match &p.service_token {
                Some(secret) => secret.resolve().map_err(Exit::bad_input)?,
                None => uuid::Uuid::new_v4().simple().to_string(),
            };
            let receiver =
                PushReceiver::start(p.listen, p.callback_url.clone(), token, services.clone())
                    .await
                    .map_err(|e| {
                        Exit::bad_input(format!(
                            "session.push.listen {}: cannot listen: {e}",
                            p.listen
                        ))
                    })?;
            tracing::info!("push callback receiver at {}", receiver.callback_url());
            Some(receiver)
        }
        None => None,
    };

    // Started here, on a runtime thread of ordinary priority, before any arrival thread
    // (see `crate::agent::lanes` on why that matters).
    let threads = opts.threads.unwrap_or_else(|| {
        NonZeroUsize::new(tokio::runtime::Handle::current().metrics().num_workers())
            .unwrap_or(NonZeroUsize::MIN)
    });
    let lanes = Arc::new(
        crate::agent::lanes::Lanes::for_run(peak_agents, threads)
            .map_err(|e| Exit::cannot_measure(format!("cannot start the agent threads: {e}")))?,
    );
    tracing::debug!("agents on {lanes:?} ({threads} threads, peak {peak_agents} agents)");
    if let Err(reason) = target.preflight().await {
        status = RunStatus::Aborted { reason };
    } else {
        let ctx = Arc::new(AgentContext {
            target: target.clone(),
            recorder: recorder.clone(),
            step: None,
            session: sc.session.clone(),
            password: password.into(),
            phonenum: sc.agents.phonenum.clone(),
            status: sc.agents.status,
            agenttype: sc.agents.agenttype,
            rest: sc
                .agents
                .rest_time
                .map(|t| (t.get().as_secs() as u32, sc.agents.rest_cause)),
            stop: opts.stop.child_token(),
            gate: gate.clone(),
            push: push.clone(),
            run_start: start,
            seed: sc.load.seed,
            lanes: lanes.clone(),
        });
        let pool = crate::scheduler::shared(IdPool::new(&sc.agents.ids, QUARANTINE));
        let max_lateness = sc.load.max_lateness.map(|d| d.get());
        let seed = sc.load.seed.unwrap_or_else(rand::random);
        let scheduler = async {
            match (&sc.load.model, &plan, &sc.capacity) {
                (LoadModel::Closed, Some(plan), _) => (
                    crate::scheduler::run_closed(
                        plan,
                        pool,
                        sc.load.max_in_flight,
                        ctx.clone(),
                        start,
                    )
                    .await,
                    None,
                ),
                (LoadModel::CapacitySearch, _, Some(spec)) => {
                    let (report, result) = crate::scheduler::capacity::run(
                        spec,
                        ctx.clone(),
                        pool,
                        sc.load.max_in_flight,
                        max_lateness,
                        start,
                    )
                    .await;
                    (report, Some(result))
                }
                (_, Some(plan), _) => {
                    let arrivals = Arrivals::new(
                        Pacer::new(plan.clone()),
                        sc.load.spacing == Spacing::Poisson,
                        seed,
                    );
                    (
                        crate::scheduler::run_open(
                            arrivals,
                            plan.duration(),
                            pool,
                            sc.load.max_in_flight,
                            max_lateness,
                            ctx.clone(),
                            start,
                        )
                        .await,
                        None,
                    )
                }
                // The loader guarantees a plan for open/closed and [capacity] for a search.
                _ => (crate::scheduler::ScheduleReport::default(), None),
            }
        };
        tokio::pin!(scheduler);
        let mut ticker = tokio::time::interval_at((start + TICK).into(), TICK);
        let mut watchdog = tokio::time::interval(Duration::from_millis(100));
        let unreachable_limit = sc.target.timeout.get();
        loop {
            tokio::select! {
                (report, cap) = &mut scheduler => {
                    schedule = report;
                    capacity = cap;
                    break;
                }
                _ = ticker.tick() => collector.tick(),
                _ = watchdog.tick() => {
                    if matches!(status, RunStatus::Completed) {
                        if let Some(down) = target.unreachable_for() {
                            if down > unreachable_limit {
                                status = RunStatus::Aborted {
                                    reason: format!(
                                        "target {} unreachable for {} (every connect failed)",
                                        target.url(),
                                        humantime::format_duration(Duration::from_millis(down.as_millis() as u64))
                                    ),
                                };
                                tracing::error!("{}: stopping the run", status_reason(&status));
                                ctx.stop.cancel();
                            }
                        }
                        if opts.stop.is_cancelled() {
                            status = RunStatus::Interrupted;
                        }
                    }
                }
                _ = opts.hard_stop.cancelled() => {
                    if matches!(status, RunStatus::Completed) {
                        status = RunStatus::Interrupted;
                    }
                    // Dropping the scheduler drops every agent task at once.
                    break;
                }
            }
        }
        if opts.stop.is_cancelled() && matches!(status, RunStatus::Completed) {
            status = RunStatus::Interrupted;
        }
    }
    // After a hard stop, agents were dropped mid-session: count who was left signed in.
    let dropped_signed_in = recorder.signed_in();
    collector.finish();
    services.cancel();
    // Only agentstorm's own gateway is asked for its counters (or a target the scenario
    // says to ask): a real one is sent nothing but the agent interface.
    let gateway = if sc
        .target
        .reconcile
        .wanted(embedded_wanted, target.is_simulator())
    {
        fetch_gateway_stats(&target).await
    } else {
        None
    };
    if let Some(emb) = embedded {
        emb.stop().await;
    }

    let ended_wall = SystemTime::now();
    let totals = &collector.totals;
    let mut results = Results {
        schema: SCHEMA_NAME.into(),
        schema_version: SCHEMA_VERSION,
        agentstorm_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: sc.name.clone(),
            description: sc.description.clone(),
            hash: loaded.hash.clone(),
            path: opts.scenario.display().to_string(),
            text: loaded.text.clone(),
        },
        target: TargetInfo {
            url: target.url(),
            embedded: embedded_wanted,
            tls_verify_disabled: sc.target.insecure_skip_verify && !embedded_wanted,
        },
        started_at: rfc3339(started_wall),
        ended_at: rfc3339(ended_wall),
        duration_s: start.elapsed().as_secs_f64(),
        status,
        operations: totals.operations(),
        sessions: {
            let mut s = totals.sessions.clone();
            s.left_signed_in += dropped_signed_in;
            s
        },
        events: totals.events.clone(),
        scheduler: SchedulerStats {
            planned_arrivals: schedule
                .planned
                .max(totals.arrivals + totals.not_started + totals.dropped_late),
            started: totals.arrivals,
            not_started: totals.not_started,
            dropped_late: totals.dropped_late,
            lag: totals.lag.clone(),
            peak_active_agents: recorder.peak_active_agents(),
        },
        intervals: std::mem::take(&mut collector.intervals),
        gateway,
        thresholds: Vec::new(),
        shard: shard.map(|s| crate::metrics::results::ShardInfo {
            late_start_s: late_start.as_secs_f64(),
            ..s
        }),
        recovery: crate::metrics::results::Recovery::from_sessions(&totals.sessions),
        capacity,
        drift: Vec::new(),
        failures: totals.exemplars.clone(),
    };
    results.drift = crate::analysis::drift::analyse(&results.intervals);
    results.thresholds = crate::analysis::thresholds::evaluate_with_hlog_file(
        &thresholds,
        &results,
        Some(&hlog_path),
    );
    let written = crate::report::write_all(&results, &out_dir).map_err(|e| {
        Exit::cannot_measure(format!(
            "cannot write reports to {}: {e:#}",
            out_dir.display()
        ))
    })?;
    let exit_code = match &results.status {
        RunStatus::Aborted { .. } => exit::CANNOT_MEASURE,
        RunStatus::Interrupted if results.operations.is_empty() => exit::CANNOT_MEASURE,
        _ if !crate::analysis::thresholds::all_passed(&results.thresholds) => exit::FAILED,
        _ => exit::OK,
    };
    Ok(RunOutcome {
        exit_code,
        out_dir,
        results,
        written,
    })
}

fn status_reason(s: &RunStatus) -> &str {
    match s {
        RunStatus::Aborted { reason } => reason,
        _ => "",
    }
}

/// Starts the scenario's simulated gateway on a free loopback port (TLS, with a generated
/// certificate): its address, the certificate's PEM, and the handle that stops it.
pub(crate) async fn start_embedded(
    loaded: &Loaded,
) -> Result<(SocketAddr, String, Embedded), Exit> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Exit::cannot_measure(format!("cannot start the embedded gateway: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Exit::cannot_measure(format!("cannot start the embedded gateway: {e}")))?;
    let tls = crate::sim::tls::self_signed().map_err(|e| {
        Exit::cannot_measure(format!(
            "cannot make the embedded gateway's certificate: {e:#}"
        ))
    })?;
    let gateway = SimGateway::new(loaded.scenario.gateway.clone());
    let shutdown = CancellationToken::new();
    let task =
        tokio::spawn(gateway.serve(listener, Some(tls.server_config.clone()), shutdown.clone()));
    tracing::info!("embedded gateway listening on https://{addr}");
    Ok((addr, tls.cert_pem, Embedded { shutdown, task }))
}

/// Asks the target for the simulator's counters; None when it is not agentstorm's
/// simulated gateway (or does not answer).
async fn fetch_gateway_stats(target: &Arc<Target>) -> Option<GatewayStats> {
    let mut conn = AgentConn::new(target.clone());
    let body = conn.get_raw(STATS_PATH).await?;
    serde_json::from_slice(&body).ok()
}

/// A TOML basic string holding `s` (for building `--set` values).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `reports/<name>-<YYYYMMDDTHHMMSSZ>/`, the name made safe for a folder.
pub fn default_out_dir(name: &str, now: SystemTime) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Path::new("reports").join(format!("{safe}-{stamp}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_out_dir_is_name_and_utc_stamp() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_824_000);
        let d = default_out_dir("shift start/1", t);
        assert_eq!(d, Path::new("reports/shift-start-1-20261128T000000Z"));
    }
}
