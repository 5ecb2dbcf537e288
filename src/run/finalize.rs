//! The last step of a run: the Results document built from what was measured (operations,
//! sessions, events, scheduler health, intervals, the gateway's counters when asked), its
//! derived part and exit code from `analysis::finalize`, and every report written.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::collector::Collector;
use super::execute::Executed;
use super::prepare::Prepared;
use super::{RunOptions, RunOutcome};
use crate::client::Target;
use crate::exit::Exit;
use crate::metrics::recorder::Recorder;
use crate::metrics::results::{
    ScenarioInfo, SchedulerStats, TargetInfo, SCHEMA_NAME, SCHEMA_VERSION,
};
use crate::metrics::Results;
use crate::protocol::GatewayStats;

/// What the run left besides the collector's totals.
pub(super) struct Ended {
    pub executed: Executed,
    /// What the simulated gateway counted during the run, when its counters were asked for.
    pub gateway: Option<GatewayStats>,
    /// Its counters at the start, from which `gateway` is counted.
    pub gateway_at_start: Option<GatewayStats>,
    /// Agents dropped while signed in (hard stop).
    pub dropped_signed_in: u64,
    pub started_wall: SystemTime,
    pub start: Instant,
    pub late_start: Duration,
    pub hlog_path: PathBuf,
}

pub(super) fn finalize(
    opts: &RunOptions,
    p: Prepared,
    target: &Target,
    recorder: &Recorder,
    collector: &mut Collector,
    e: Ended,
) -> Result<RunOutcome, Exit> {
    let Prepared {
        loaded,
        shard,
        thresholds,
        embedded,
        out_dir,
        ..
    } = p;
    let sc = &loaded.scenario;
    let embedded_wanted = embedded;
    let Ended {
        executed:
            Executed {
                status,
                schedule,
                capacity,
            },
        gateway,
        gateway_at_start,
        dropped_signed_in,
        started_wall,
        start,
        late_start,
        hlog_path,
    } = e;
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
            s.agents = recorder.agents();
            s
        },
        events: totals.events.clone(),
        events_folded: totals.events_folded,
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
        gateway_at_start,
        shard: shard.map(|s| crate::metrics::results::ShardInfo {
            late_start_s: late_start.as_secs_f64(),
            ..s
        }),
        capacity,
        failures: totals.exemplars.clone(),
        derived: Default::default(),
    };
    crate::analysis::finalize::finalize(&mut results, &thresholds, Some(&hlog_path));
    let written = crate::report::write_all(&results, &out_dir).map_err(|e| {
        Exit::cannot_measure(format!(
            "cannot write reports to {}: {e:#}",
            out_dir.display()
        ))
    })?;
    if let Some(warning) = crate::report::summary_md::append_to_step_summary(&results) {
        crate::util::term::message(&warning);
    }
    let exit_code = results.derived.verdict.exit_code;
    Ok(RunOutcome {
        exit_code,
        out_dir,
        results,
        written,
    })
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
