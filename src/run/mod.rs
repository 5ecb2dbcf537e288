//! One `agentstorm run`: load the scenario, start the embedded gateway when the scenario
//! has no target, check the target is reachable, run the plan while collecting intervals,
//! stop (gracefully, or at once on a hard stop or an unreachable target), and build the
//! Results document and write every report from it.
//!
//! This file only wires the steps together, each in its own file: [`prepare`] (scenario,
//! plan, limits, report folder), [`services`] (the other side, the sign-out gate, the push
//! receiver, the agents' threads), [`execute`] (the load model under the collector and a
//! watchdog) and [`finalize`] (Results, derived verdicts, reports, exit code). Signals are not handled here: the caller passes stop
//! tokens, so tests can stop a run the same way Ctrl-C does.
//!
//! Beside it: [`collector`] (merges the recorders each interval, streams the hlog, feeds
//! [`progress`], the live line, and [`live_metrics`], `/metrics` and remote write) and
//! [`shard`] (a shard's slice of the scenario and the agreed start).

pub mod collector;
mod execute;
mod finalize;
pub mod live_metrics;
pub(crate) mod prepare;
pub mod progress;
mod services;
pub mod shard;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::exit::Exit;
use crate::metrics::hlog::HlogWriter;
use crate::metrics::recorder::Recorder;
use crate::metrics::Results;
use crate::run::collector::Collector;
use crate::run::progress::Progress;
use crate::scheduler::plan::Plan;

pub(crate) use services::{start_embedded, Embedded};

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
    /// Threads the agents run on (`--threads`); None: as the run's peak asks, at most one
    /// per core (`crate::agent::lanes::lane_count`).
    pub threads: Option<NonZeroUsize>,
    /// Live metrics: `--metrics-listen`, `--metrics-push`, `--run-id`.
    pub metrics: live_metrics::Options,
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
            metrics: live_metrics::Options::default(),
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

pub async fn run(opts: RunOptions) -> Result<RunOutcome, Exit> {
    let prepared = prepare::prepare(&opts)?;
    let live = services::start_live_metrics(&opts, &prepared).await?;
    let side = services::other_side(&prepared).await?;
    let target = side.target.clone();
    let late_start = match opts.start_at {
        Some(at) => crate::run::shard::wait_for_start(at, &opts.stop).await,
        None => Duration::ZERO,
    };
    // Only agentstorm's own gateway is asked for its counters (or a target the scenario
    // says to ask): a real one is sent nothing but the agent interface. They are read here,
    // before the run's clock starts, and at the end; the run keeps the difference.
    let reconcile = prepared.loaded.scenario.target.reconcile;
    let at_start = services::gateway_at_start(&target, reconcile, prepared.embedded).await;
    let started_wall = SystemTime::now();
    let start = Instant::now();
    let recorder = Recorder::new();
    let out_dir = &prepared.out_dir;
    let hlog_path = out_dir.join("latency.hlog");
    let start_unix_s = started_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let hlog = HlogWriter::create(&hlog_path, start_unix_s)
        .map_err(|e| Exit::bad_input(format!("cannot write {}: {e}", hlog_path.display())))?;
    let planned = prepared
        .plan
        .as_ref()
        .map(Plan::duration)
        .unwrap_or_default();
    let progress = Progress::new(opts.progress, planned).with_stop(
        opts.stop.clone(),
        prepared.loaded.scenario.stop.signout_rate,
    );
    let interval = prepared.loaded.scenario.report.interval.get();
    let mut collector = Collector::new(start, interval, recorder.clone(), hlog, progress);
    if let Some(live) = &live {
        collector.publish_to(live.publisher(started_wall));
    }
    let svc = services::start(&prepared, opts.threads).await?;

    let executed = execute::execute(
        &opts,
        &prepared,
        &target,
        &svc,
        &recorder,
        &mut collector,
        start,
    )
    .await;

    // After a hard stop, agents were dropped mid-session: count who was left signed in.
    let dropped_signed_in = recorder.signed_in();
    collector.finish();
    // The final push, whatever the run's status: the collector has published its last totals.
    if let Some(live) = live {
        live.finish().await;
    }
    svc.token.cancel();
    let gateway =
        services::gateway_during_run(&target, at_start, reconcile, prepared.embedded).await;
    if let Some(emb) = side.embedded {
        emb.stop().await;
    }
    let ended = finalize::Ended {
        executed,
        gateway_at_start: gateway.as_ref().map(|g| g.at_start.clone()),
        gateway: gateway.map(|g| g.during),
        dropped_signed_in,
        started_wall,
        start,
        late_start,
        hlog_path,
    };
    finalize::finalize(&opts, prepared, &target, &recorder, &mut collector, ended)
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
