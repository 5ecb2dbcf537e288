//! The run itself: after the target answered one connection, the agents' shared context is
//! built and the scheduler runs the load model (open, closed or capacity search) while
//! the collector takes every second's samples; a watchdog stops the run when every connect
//! has failed for longer than the call timeout, and a hard stop drops every agent at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::collector::Collector;
use super::prepare::Prepared;
use super::services::Services;
use super::{RunOptions, TICK};
use crate::agent::AgentContext;
use crate::client::Target;
use crate::metrics::recorder::Recorder;
use crate::metrics::results::{CapacityResult, RunStatus};
use crate::scenario::{LoadModel, Spacing};
use crate::scheduler::lease::{IdPool, QUARANTINE};
use crate::scheduler::pacer::{Arrivals, Pacer};
use crate::scheduler::ScheduleReport;

/// Longest wait, after a hard stop, for the dropped agents' calls to be recorded.
const IN_FLIGHT_DRAIN: Duration = Duration::from_secs(2);

/// How the run went.
pub(super) struct Executed {
    pub status: RunStatus,
    pub schedule: ScheduleReport,
    pub capacity: Option<CapacityResult>,
}

/// Runs the load once the target has answered; every sample goes to `recorder`.
pub(super) async fn execute(
    opts: &RunOptions,
    p: &Prepared,
    target: &Arc<Target>,
    svc: &Services,
    recorder: &Recorder,
    collector: &mut Collector,
    start: Instant,
) -> Executed {
    let mut done = Executed {
        status: RunStatus::Completed,
        schedule: ScheduleReport::default(),
        capacity: None,
    };
    if let Err(reason) = target.preflight().await {
        done.status = RunStatus::Aborted { reason };
        return done;
    }
    let ctx = context(opts, p, target, svc, recorder, start);
    let sc = &p.loaded.scenario;
    let mut scheduler = Box::pin(load_model(p, ctx.clone(), start));
    let mut ticker = tokio::time::interval_at((start + TICK).into(), TICK);
    let mut watchdog = tokio::time::interval(Duration::from_millis(100));
    let unreachable_limit = sc.target.timeout.get();
    // Plain HTTP to a TLS port: asked once, at the first unreadable reply before any answer.
    let mut tls_checked = false;
    loop {
        tokio::select! {
            (report, cap) = &mut scheduler => {
                done.schedule = report;
                done.capacity = cap;
                break;
            }
            _ = ticker.tick() => collector.tick(),
            _ = watchdog.tick() => {
                if !tls_checked && target.plain_http_suspect() && matches!(done.status, RunStatus::Completed) {
                    tls_checked = true;
                    if let Some(reason) = target.plain_http_to_tls().await {
                        tracing::error!("{reason}: stopping the run");
                        done.status = RunStatus::Aborted { reason };
                        ctx.stop.cancel();
                    }
                }
                if matches!(done.status, RunStatus::Completed) {
                    if let Some(down) = target.unreachable_for() {
                        if down > unreachable_limit {
                            done.status = RunStatus::Aborted {
                                reason: format!(
                                    "target {} unreachable for {} (every connect failed)",
                                    target.url(),
                                    humantime::format_duration(Duration::from_millis(down.as_millis() as u64))
                                ),
                            };
                            tracing::error!("{}: stopping the run", status_reason(&done.status));
                            ctx.stop.cancel();
                        }
                    }
                    if opts.stop.is_cancelled() {
                        done.status = RunStatus::Interrupted;
                    }
                }
            }
            _ = opts.hard_stop.cancelled() => {
                if matches!(done.status, RunStatus::Completed) {
                    done.status = RunStatus::Interrupted;
                }
                // Dropping the scheduler drops every agent task at once.
                break;
            }
        }
    }
    // A hard stop drops every agent task; each call they had in flight records itself as
    // interrupted when its task is dropped on its lane. Wait (briefly) until all have.
    drop(scheduler);
    let drained = tokio::time::Instant::now() + IN_FLIGHT_DRAIN;
    while recorder.in_flight() > 0 && tokio::time::Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if opts.stop.is_cancelled() && matches!(done.status, RunStatus::Completed) {
        done.status = RunStatus::Interrupted;
    }
    if let Some(w) = target.head_room_warning() {
        tracing::warn!("{w}");
    }
    done
}

/// The scenario's load model, run to its end: the scheduler's report, and the capacity
/// search's result for a search.
async fn load_model(
    p: &Prepared,
    ctx: Arc<AgentContext>,
    start: Instant,
) -> (ScheduleReport, Option<CapacityResult>) {
    let sc = &p.loaded.scenario;
    let plan = &p.plan;
    let pool = crate::scheduler::shared(IdPool::new(&sc.agents.ids, QUARANTINE));
    let max_lateness = sc.load.max_lateness.map(|d| d.get());
    let seed = sc.load.seed.unwrap_or_else(rand::random);
    match (&sc.load.model, &plan, &sc.capacity) {
        (LoadModel::Closed, Some(plan), _) => (
            crate::scheduler::run_closed(plan, pool, sc.load.max_in_flight, ctx.clone(), start)
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
}

/// What every agent of the run shares.
fn context(
    opts: &RunOptions,
    p: &Prepared,
    target: &Arc<Target>,
    svc: &Services,
    recorder: &Recorder,
    start: Instant,
) -> Arc<AgentContext> {
    let sc = &p.loaded.scenario;
    Arc::new(AgentContext {
        target: target.clone(),
        recorder: recorder.clone(),
        step: None,
        session: sc.session.clone(),
        password: p.password.as_str().into(),
        phonenum: sc.agents.phonenum.clone(),
        status: sc.agents.status,
        agenttype: sc.agents.agenttype,
        rest: sc
            .agents
            .rest_time
            .map(|t| (t.get().as_secs() as u32, sc.agents.rest_cause)),
        stop: opts.stop.child_token(),
        gate: svc.gate.clone(),
        push: svc.push.clone(),
        run_start: start,
        seed: sc.load.seed,
        lanes: svc.lanes.clone(),
    })
}

fn status_reason(s: &RunStatus) -> &str {
    match s {
        RunStatus::Aborted { reason } => reason,
        _ => "",
    }
}
