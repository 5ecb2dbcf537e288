//! The closed model: the plan's level is a population of agents that sign in, hold, sign
//! out, pause and sign in again; a controller starts workers as the level rises and
//! retires the newest as it falls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{lease, log_panic, release, Pool, ScheduleReport};
use crate::agent::{self, AgentContext};
use crate::scheduler::plan::Plan;

/// How often the closed model's controller compares the population with the plan.
const CONTROL_TICK: Duration = Duration::from_millis(50);

/// Closed model: keeps the population at the plan's level until the plan ends.
pub async fn run_closed(
    plan: &Plan,
    pool: Pool,
    max_in_flight: u32,
    ctx: Arc<AgentContext>,
    start: Instant,
) -> ScheduleReport {
    let mut report = ScheduleReport::default();
    let cap = max_in_flight.max(1) as usize;
    let mut agents = JoinSet::new();
    // Newest last: a shrinking population retires the newest agents first.
    let mut retire: Vec<CancellationToken> = Vec::new();
    let mut serial = 0u64;
    let mut ticker = tokio::time::interval(CONTROL_TICK);
    let plan_end = start + plan.duration();
    let mut warned_cap = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = ctx.stop.cancelled() => break,
        }
        let now = Instant::now();
        if now >= plan_end {
            break;
        }
        while let Some(done) = agents.try_join_next() {
            log_panic(done);
        }
        retire.retain(|t| !t.is_cancelled());
        let mut desired = (plan.level_at(now - start) + 1e-9).floor() as usize;
        if desired > cap {
            if !warned_cap {
                tracing::warn!("population {desired} is above load.max_in_flight {cap}; capped");
                warned_cap = true;
            }
            desired = cap;
        }
        while retire.len() < desired {
            let token = ctx.stop.child_token();
            retire.push(token.clone());
            report.planned += 1;
            let ctx2 = ctx.clone();
            let pool2 = pool.clone();
            let first = serial;
            serial += 1_000_000; // each worker numbers its own sessions from here
            let lane = ctx.lanes.next();
            agents.spawn_on(
                async move {
                    worker(&ctx2, &pool2, token, now, first).await;
                },
                lane,
            );
        }
        while retire.len() > desired {
            if let Some(t) = retire.pop() {
                t.cancel();
            }
        }
    }
    ctx.stop.cancel();
    while let Some(done) = agents.join_next().await {
        log_panic(done);
    }
    report.started = report.planned;
    report
}

/// One closed-model agent: sessions back to back with a pause between, until retired.
async fn worker(
    ctx: &AgentContext,
    pool: &Pool,
    end: CancellationToken,
    first: Instant,
    serial: u64,
) {
    let mut intended = first;
    let mut serial = serial;
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    loop {
        if end.is_cancelled() {
            return;
        }
        let Some(id) = lease(pool) else {
            // Every id is in use or held back: count it once per attempt and wait.
            ctx.not_started();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                _ = end.cancelled() => return,
            }
        };
        ctx.recorder
            .arrival(Instant::now().saturating_duration_since(intended));
        ctx.recorder.agent_started();
        let end_state = agent::run(ctx, id, intended, serial, &end).await;
        release(pool, id, end_state);
        ctx.recorder.agent_finished();
        serial += 1;
        if end.is_cancelled() {
            return;
        }
        let pause = ctx.session.pause.sample(&mut rng);
        intended = Instant::now() + pause;
        if pause.is_zero() {
            // No pause: the next session starts now, not at the timer wheel's next tick.
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(intended.into()) => {}
            _ = end.cancelled() => return,
        }
    }
}
