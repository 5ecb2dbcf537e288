//! The scheduler: runs the pacer's arrival times on the tokio clock, leases an agent id per
//! arrival, starts one task per agent (at most `max_in_flight` alive at once), and waits for
//! every agent to finish.
//!
//! An arrival that cannot start on time (the in-flight cap is reached) starts late; its
//! lag is recorded, and its agent's corrected latency counts from the intended time, not
//! from when it finally started. An arrival with no free id is counted as not started,
//! never silently skipped. On stop, no new arrivals start; running agents sign out.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::agent::{self, AgentContext};
use crate::lease::IdPool;
use crate::pacer::Pacer;

/// What the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub planned: u64,
    pub started: u64,
    pub not_started: u64,
}

/// Runs the whole plan from `start` and returns once every agent has finished.
pub async fn run(
    pacer: &Pacer,
    pool: IdPool,
    max_in_flight: u32,
    ctx: Arc<AgentContext>,
    start: Instant,
) -> ScheduleReport {
    let mut report = ScheduleReport {
        planned: pacer.planned_arrivals(),
        ..ScheduleReport::default()
    };
    let pool = Arc::new(Mutex::new(pool));
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1) as usize));
    let mut agents = JoinSet::new();
    let mut warned_no_id = false;
    let mut n = 0u64;
    while let Some(offset) = pacer.intended_offset(n) {
        n += 1;
        let intended = start + offset;
        tokio::select! {
            _ = tokio::time::sleep_until(intended.into()) => {}
            _ = ctx.stop.cancelled() => break,
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // semaphore closed: cannot happen while we hold it
            },
            _ = ctx.stop.cancelled() => break,
        };
        let now = Instant::now();
        let leased = pool.lock().unwrap_or_else(|e| e.into_inner()).lease(now);
        let Some(id) = leased else {
            ctx.recorder.not_started();
            report.not_started += 1;
            if !warned_no_id {
                tracing::warn!(
                    "arrival {n} found no free agent id (all in use or held back); add ids to agents.ids"
                );
                warned_no_id = true;
            }
            continue;
        };
        ctx.recorder
            .arrival(now.saturating_duration_since(intended));
        ctx.recorder.agent_started();
        report.started += 1;
        let ctx2 = ctx.clone();
        let pool2 = pool.clone();
        agents.spawn(async move {
            let end = agent::run(&ctx2, id, intended).await;
            pool2
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(id, end, Instant::now());
            ctx2.recorder.agent_finished();
            drop(permit);
        });
        // Reap finished agents so the set stays as small as the live population.
        while let Some(done) = agents.try_join_next() {
            log_panic(done);
        }
    }
    while let Some(done) = agents.join_next().await {
        log_panic(done);
    }
    report
}

fn log_panic(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        if e.is_panic() {
            tracing::error!("an agent task panicked (a bug in agentstorm): {e}");
        }
    }
}

/// Time until the plan's last arrival, for progress displays.
pub fn planned_duration(pacer: &Pacer) -> Duration {
    let last = pacer.planned_arrivals().saturating_sub(1);
    pacer.intended_offset(last).unwrap_or_default()
}
