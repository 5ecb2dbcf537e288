//! The scheduler: runs a load plan and starts one task per agent.
//!
//! - Open model: the arrival times come from the pacer (evenly or Poisson-spaced); each
//!   arrival leases an agent id and starts an agent, at most `max_in_flight` alive at once.
//!   An arrival that cannot start on time waits in a bounded backlog and starts late (its
//!   lag is recorded, and its agent's corrected latency counts from the intended time) or,
//!   past `max_lateness`, is dropped and counted — never silently skipped. An arrival with
//!   no free id is counted too.
//! - Closed model: the plan's level is a population; a controller starts agents that loop
//!   (sign in, hold, sign out, pause, again) and retires the newest when it shrinks.
//!
//! At the end of the plan (or on stop) the scheduler asks every agent still signed in to
//! sign out — at the sign-out gate's bounded rate — and returns once all have finished.
//!
//! Its parts: [`plan`] (stages as phases, pure), [`pacer`] (intended arrival times, pure),
//! [`lease`] (agent id leases, pure), the open and closed models, and [`capacity`] (the
//! capacity search's steps and verdicts).

pub mod capacity;
pub mod lease;
pub mod pacer;
pub mod plan;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::agent;
use crate::scheduler::lease::IdPool;

mod closed;
mod open;

pub use closed::run_closed;
pub use open::run_open;

/// What the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub planned: u64,
    pub started: u64,
    pub not_started: u64,
    pub dropped_late: u64,
}

/// The id pool, shared by the scheduler and its agents (and across capacity-search steps).
pub type Pool = Arc<Mutex<IdPool>>;

pub fn shared(pool: IdPool) -> Pool {
    Arc::new(Mutex::new(pool))
}

fn lease(pool: &Pool) -> Option<u32> {
    pool.lock()
        .unwrap_or_else(|e| e.into_inner())
        .lease(Instant::now())
}

fn release(pool: &Pool, id: u32, end: agent::AgentEnd) {
    pool.lock()
        .unwrap_or_else(|e| e.into_inner())
        .release(id, end, Instant::now());
}

fn log_panic(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        if e.is_panic() {
            tracing::error!("an agent task panicked (a bug in agentstorm): {e}");
        }
    }
}
