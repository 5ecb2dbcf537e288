//! The scheduler: runs a load plan on the tokio clock and starts one task per agent.
//!
//! - Open model: the arrival times come from the pacer (evenly or Poisson-spaced); each
//!   arrival leases an agent id and starts an agent, at most `max_in_flight` alive at once.
//!   An arrival that cannot start on time starts late (its lag is recorded, and its agent's
//!   corrected latency counts from the intended time) or, past `max_lateness`, is dropped
//!   and counted — never silently skipped. An arrival with no free id is counted too.
//! - Closed model: the plan's level is a population; a controller starts agents that loop
//!   (sign in, hold, sign out, pause, again) and retires the newest when it shrinks.
//!
//! At the end of the plan (or on stop) the scheduler asks every agent still signed in to
//! sign out — at the sign-out gate's bounded rate — and returns once all have finished.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentContext};
use crate::lease::IdPool;
use crate::pacer::Arrivals;
use crate::plan::Plan;
use rand::SeedableRng;

/// What the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub planned: u64,
    pub started: u64,
    pub not_started: u64,
    pub dropped_late: u64,
}

/// How often the closed model's controller compares the population with the plan.
const CONTROL_TICK: Duration = Duration::from_millis(50);

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

/// Open model: runs every arrival from `start`; returns when every agent has finished.
///
/// Arrivals are paced on a thread of their own; agents run on the runtime. As a task, an
/// arrival would wait behind every agent task that became ready first and behind the
/// run's once-a-second collection (which shares the run's task), and its timer would round
/// up to the timer wheel's next millisecond: the schedule-lag p99 at 2,000 arrivals/s was
/// 22 ms that way (BENCHMARKS.md), against the thread's OS-timer wake-ups.
pub async fn run_open(
    arrivals: Arrivals,
    plan_end: Duration,
    pool: Pool,
    max_in_flight: u32,
    max_lateness: Option<Duration>,
    ctx: Arc<AgentContext>,
    start: Instant,
) -> ScheduleReport {
    let handle = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // Dropping this future (a hard stop) halts the thread; the agents it started come back
    // in a JoinSet which, dropped unclaimed, aborts them.
    let halt = ctx.stop.child_token();
    let _halt_on_drop = halt.clone().drop_guard();
    let pacing = Pacing {
        handle,
        pool: pool.clone(),
        max_in_flight,
        max_lateness,
        ctx: ctx.clone(),
        halt,
    };
    let spawned = std::thread::Builder::new()
        .name("agentstorm-arrivals".into())
        .spawn(move || {
            raise_priority();
            let _ = done_tx.send(pacing.run(arrivals, start));
        });
    let (report, mut agents) = match spawned {
        Ok(_) => match done_rx.await {
            Ok(out) => out,
            Err(_) => {
                tracing::error!("the arrival thread ended without a report");
                (ScheduleReport::default(), JoinSet::new())
            }
        },
        Err(e) => {
            tracing::error!("cannot start the arrival thread: {e}");
            (ScheduleReport::default(), JoinSet::new())
        }
    };
    // No more arrivals: the plan runs on until its end, unless nobody is left to act.
    let plan_end = start + plan_end;
    loop {
        if agents.is_empty() {
            break;
        }
        tokio::select! {
            done = agents.join_next() => if let Some(done) = done { log_panic(done) },
            _ = tokio::time::sleep_until(plan_end.into()) => break,
            _ = ctx.stop.cancelled() => break,
        }
    }
    // The end of the plan is a stop: everyone still signed in signs out through the gate.
    ctx.stop.cancel();
    while let Some(done) = agents.join_next().await {
        log_panic(done);
    }
    report
}

/// Raises the calling thread's scheduling priority, so that on a machine whose cores are
/// busy with the agents (and, on one load machine, the gateway) the kernel runs it as soon
/// as its sleep ends rather than after the running task's time slice. First choice is the
/// lowest real-time priority (SCHED_FIFO 1): at 2,000 arrivals/s on 2 busy cores the
/// schedule-lag p99 measured 3.0-5.7 ms at normal priority, 3.0-3.4 ms at nice -10 and
/// 0.14-0.5 ms at SCHED_FIFO 1 (BENCHMARKS.md). The thread only sleeps, starts arrivals
/// and waits for free slots, so it cannot hold a core. Without root or CAP_SYS_NICE it
/// falls back to nice -10, then to the default; which one it got is logged at debug.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain integer and struct arguments, nothing of ours is kept; on Linux,
        // pid 0 for sched_setscheduler and a thread id for setpriority(PRIO_PROCESS) name
        // the calling thread only.
        let fifo = unsafe {
            let param = libc::sched_param { sched_priority: 1 };
            libc::sched_setscheduler(0, libc::SCHED_FIFO, &param)
        };
        if fifo == 0 {
            tracing::debug!("arrival thread: real-time priority (SCHED_FIFO 1)");
            return;
        }
        // SAFETY: as above.
        let nice = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, -10)
        };
        if nice == 0 {
            tracing::debug!("arrival thread: nice -10");
        } else {
            tracing::debug!(
                "arrival thread keeps the default priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The open model's arrival loop, on its own thread (see [`run_open`]).
struct Pacing {
    handle: tokio::runtime::Handle,
    pool: Pool,
    max_in_flight: u32,
    max_lateness: Option<Duration>,
    ctx: Arc<AgentContext>,
    halt: CancellationToken,
}

/// The longest the arrival thread sleeps at once, so a stop is seen promptly.
const PACING_SLICE: Duration = Duration::from_millis(10);

impl Pacing {
    /// Starts every arrival at its time; hands back what it did and the agents it started.
    fn run(&self, arrivals: Arrivals, start: Instant) -> (ScheduleReport, JoinSet<()>) {
        let _runtime = self.handle.enter();
        let ctx = &self.ctx;
        let mut report = ScheduleReport {
            planned: arrivals.pacer().planned_arrivals(),
            ..ScheduleReport::default()
        };
        let slots = Arc::new(Semaphore::new(self.max_in_flight.max(1) as usize));
        let mut agents = JoinSet::new();
        let mut warned_no_id = false;
        for (serial, offset) in (0u64..).zip(arrivals) {
            let intended = start + offset;
            if !self.sleep_until(intended) {
                break;
            }
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    // At max_in_flight: wait for an agent to finish (or a stop).
                    let waited = self.handle.block_on(async {
                        tokio::select! {
                            p = slots.clone().acquire_owned() => p.ok(),
                            _ = self.halt.cancelled() => None,
                        }
                    });
                    match waited {
                        Some(p) => p,
                        None => break,
                    }
                }
            };
            let lag = Instant::now().saturating_duration_since(intended);
            if self.max_lateness.is_some_and(|max| lag > max) {
                ctx.dropped_late(lag);
                report.dropped_late += 1;
                continue;
            }
            let Some(id) = lease(&self.pool) else {
                ctx.not_started();
                report.not_started += 1;
                if !warned_no_id {
                    tracing::warn!(
                        "arrival {serial} found no free agent id (all in use or held back); add ids to agents.ids"
                    );
                    warned_no_id = true;
                }
                continue;
            };
            ctx.arrival(lag);
            ctx.recorder.agent_started();
            report.started += 1;
            let ctx2 = ctx.clone();
            let pool2 = self.pool.clone();
            agents.spawn(async move {
                let end = agent::run(&ctx2, id, intended, serial, &ctx2.stop).await;
                release(&pool2, id, end);
                ctx2.recorder.agent_finished();
                drop(permit);
            });
            // Reap finished agents so the set stays as small as the live population.
            while let Some(done) = agents.try_join_next() {
                log_panic(done);
            }
        }
        (report, agents)
    }

    /// Sleeps until `until`, in slices of at most [`PACING_SLICE`]; false if halted.
    fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.halt.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(PACING_SLICE));
        }
    }
}

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
            agents.spawn(async move {
                worker(&ctx2, &pool2, token, now, first).await;
            });
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
        tokio::select! {
            _ = tokio::time::sleep_until(intended.into()) => {}
            _ = end.cancelled() => return,
        }
    }
}

fn log_panic(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        if e.is_panic() {
            tracing::error!("an agent task panicked (a bug in agentstorm): {e}");
        }
    }
}
