//! The open model's arrivals: a thread of its own paces them (intended times from the
//! pacer, evenly or Poisson-spaced), each arrival leases an agent id and starts an agent
//! task, at most `max_in_flight` alive at once; arrivals that find the cap full wait, in
//! a bounded backlog in the runtime, and start late (or are dropped past `max_lateness`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{lease, log_panic, release, Pool, ScheduleReport};
use crate::agent::{self, AgentContext};
use crate::scheduler::pacer::Arrivals;

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
        max_in_flight,
        shared: Arc::new(Shared {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
            pool,
            max_lateness,
            lane_stops: (0..ctx.lanes.lanes())
                .map(|_| ctx.stop.child_token())
                .collect(),
            ctx: ctx.clone(),
            halt,
            outcomes: Outcomes::default(),
        }),
    };
    let spawned = std::thread::Builder::new()
        .name("agentstorm-arrivals".into())
        .spawn(move || {
            raise_priority();
            let _ = done_tx.send(pacing.run(arrivals, start));
        });
    let mut started = match spawned {
        Ok(_) => match done_rx.await {
            Ok(out) => out,
            Err(_) => {
                tracing::error!("the arrival thread ended without a report");
                return ScheduleReport::default();
            }
        },
        Err(e) => {
            tracing::error!("cannot start the arrival thread: {e}");
            return ScheduleReport::default();
        }
    };
    let agents = &mut started.agents;
    // No more arrivals: the plan runs on until its end, unless nobody is left to act. An
    // arrival of the plan still waiting for a slot then starts late, as it would have if
    // the plan were longer (only a stop cancels it).
    let plan_end = start + plan_end;
    let backlog = started.backlog.clone();
    let places = started.backlog_places;
    let plan_over = async move {
        tokio::time::sleep_until(plan_end.into()).await;
        let _all_back = backlog.acquire_many_owned(places).await;
    };
    tokio::pin!(plan_over);
    loop {
        if agents.is_empty() {
            break;
        }
        tokio::select! {
            done = agents.join_next() => if let Some(done) = done { log_panic(done) },
            _ = &mut plan_over => break,
            _ = ctx.stop.cancelled() => break,
        }
    }
    // The end of the plan is a stop: everyone still signed in signs out through the gate.
    ctx.stop.cancel();
    while let Some(done) = agents.join_next().await {
        log_panic(done);
    }
    started.report()
}

/// Raises the calling thread's scheduling priority, so that on a machine whose cores are
/// busy with the agents (and, on one load machine, the gateway) the kernel runs it as soon
/// as its sleep ends rather than after the running task's time slice. First choice is the
/// lowest real-time priority (SCHED_FIFO 1): at 2,000 arrivals/s on 2 busy cores the
/// schedule-lag p99 measured 3.0-5.7 ms at normal priority, 3.0-3.4 ms at nice -10 and
/// 0.14-0.5 ms at SCHED_FIFO 1 (BENCHMARKS.md). The thread only sleeps, starts arrivals
/// and waits for free slots, so it cannot hold a core. Without root or CAP_SYS_NICE it
/// falls back to nice -10, then to the default; which one it got is logged at debug.
///
/// Either way with `SCHED_RESET_ON_FORK`: a thread this one starts (tokio may start one
/// for it) runs at normal priority. Agent lanes that inherited SCHED_FIFO preempted the
/// gateway on every wake-up and halved the request rate (`crate::agent::lanes`).
fn raise_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain integer and struct arguments, nothing of ours is kept; on Linux,
        // pid 0 for sched_setscheduler and a thread id for setpriority(PRIO_PROCESS) name
        // the calling thread only.
        let fifo = unsafe {
            let param = libc::sched_param { sched_priority: 1 };
            libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
        };
        if fifo == 0 {
            tracing::debug!("arrival thread: real-time priority (SCHED_FIFO 1)");
            return;
        }
        // SAFETY: as above. The policy stays SCHED_OTHER; only the flag is added, so that
        // a negative nice is not inherited either.
        unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, &param);
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
    max_in_flight: u32,
    shared: Arc<Shared>,
}

/// What the arrival thread and its arrival tasks share for one run.
struct Shared {
    /// The in-flight slots: `max_in_flight` of them.
    slots: Arc<Semaphore>,
    pool: Pool,
    max_lateness: Option<Duration>,
    ctx: Arc<AgentContext>,
    /// The run's stop as the agents of each lane watch it: a child of `ctx.stop` per lane.
    /// An agent checks its stop on every call, and a token's check takes its locks; with one
    /// token for all, each call on one core took the locks the other core's calls had just
    /// taken, and their cache lines moved between the cores several times per request.
    lane_stops: Vec<CancellationToken>,
    /// The run's stop, and a hard stop of this scheduler.
    halt: CancellationToken,
    outcomes: Outcomes,
}

/// The longest the arrival thread sleeps at once, so a stop is seen promptly.
const PACING_SLICE: Duration = Duration::from_millis(10);

/// The most due arrivals that wait in the runtime for an in-flight slot. While the cap is
/// full, the arrival thread hands due arrivals to tasks that queue (first come, first
/// served) on the in-flight semaphore, so a finishing agent's slot passes to the next
/// arrival inside the runtime; the thread itself then wakes once per half a backlog rather
/// than once per finished agent (a wake-up and a spawn from outside the runtime for every
/// sign-in cost the storm benchmark about 8 % of the harness's CPU). Bounded, so an
/// overload of hours holds at most this many waiting tasks.
fn backlog_cap(max_in_flight: u32) -> usize {
    (max_in_flight as usize).clamp(1, 1024)
}

/// What the arrival tasks did, counted where they decide it.
#[derive(Default)]
struct Outcomes {
    started: AtomicU64,
    not_started: AtomicU64,
    dropped_late: AtomicU64,
    warned_no_id: AtomicBool,
}

/// What the arrival thread hands back: the arrival tasks, and where they count.
struct Started {
    planned: u64,
    agents: JoinSet<()>,
    shared: Arc<Shared>,
    /// The backlog's places: all of them free again means no arrival is waiting.
    backlog: Arc<Semaphore>,
    backlog_places: u32,
}

impl Started {
    /// The report, once every arrival task has ended.
    fn report(&self) -> ScheduleReport {
        let o = &self.shared.outcomes;
        ScheduleReport {
            planned: self.planned,
            started: o.started.load(Ordering::Relaxed),
            not_started: o.not_started.load(Ordering::Relaxed),
            dropped_late: o.dropped_late.load(Ordering::Relaxed),
        }
    }
}

/// One arrival's hand-over from the arrival thread to the runtime.
struct Arrival {
    intended: Instant,
    serial: u64,
    slot: Slot,
}

/// An arrival's in-flight slot, or its place in the line for one.
enum Slot {
    /// Taken by the arrival thread, `lag` after the intended time.
    Taken {
        permit: OwnedSemaphorePermit,
        lag: Duration,
    },
    /// The cap was full: a place in the backlog, given back once a slot is free.
    Waiting { place: OwnedSemaphorePermit },
}

impl Pacing {
    /// Starts every arrival at its time; hands back the agents it started.
    fn run(&self, arrivals: Arrivals, start: Instant) -> Started {
        let _runtime = self.handle.enter();
        let planned = arrivals.pacer().planned_arrivals();
        let shared = &self.shared;
        let cap = backlog_cap(self.max_in_flight);
        let backlog = Arc::new(Semaphore::new(cap));
        let refill = (cap / 2).max(1);
        // Backlog places taken in one go and not handed out yet.
        let mut stash: Option<OwnedSemaphorePermit> = None;
        let mut agents = JoinSet::new();
        for (serial, offset) in (0u64..).zip(arrivals) {
            let intended = start + offset;
            if !self.sleep_until(intended) {
                break;
            }
            let slot = match shared.slots.clone().try_acquire_owned() {
                // A free slot (the usual case below the cap): the arrival starts now, and
                // its lag is how late the thread handed it over.
                Ok(permit) => Slot::Taken {
                    permit,
                    lag: Instant::now().saturating_duration_since(intended),
                },
                Err(_) => {
                    let Some(place) = self.backlog_place(&backlog, &mut stash, refill) else {
                        break;
                    };
                    Slot::Waiting { place }
                }
            };
            let arrival = Arrival {
                intended,
                serial,
                slot,
            };
            let (lane, runtime) = shared.ctx.lanes.next_lane();
            agents.spawn_on(arrive(arrival, shared.clone(), lane), runtime);
            // Reap finished agents so the set stays as small as the live population.
            while let Some(done) = agents.try_join_next() {
                log_panic(done);
            }
        }
        // Arrivals still in the backlog start (or see the stop) on the runtime; what they
        // did is read once every task has ended.
        Started {
            planned,
            agents,
            shared: self.shared.clone(),
            backlog,
            backlog_places: cap as u32,
        }
    }

    /// A place in the backlog: from the stash, or free, or — the backlog full — once
    /// `refill` places are free again (taken together, so the thread wakes once for them);
    /// none if halted.
    fn backlog_place(
        &self,
        backlog: &Arc<Semaphore>,
        stash: &mut Option<OwnedSemaphorePermit>,
        refill: usize,
    ) -> Option<OwnedSemaphorePermit> {
        if let Some(place) = take_one(stash) {
            return Some(place);
        }
        if let Ok(place) = backlog.clone().try_acquire_owned() {
            return Some(place);
        }
        let places = self.handle.block_on(async {
            tokio::select! {
                p = backlog.clone().acquire_many_owned(refill as u32) => p.ok(),
                _ = self.shared.halt.cancelled() => None,
            }
        })?;
        *stash = Some(places);
        take_one(stash)
    }

    /// Sleeps until `until`, in slices of at most [`PACING_SLICE`]; false if halted.
    fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.shared.halt.is_cancelled() {
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

/// One backlog place out of the stash, if any is left.
fn take_one(stash: &mut Option<OwnedSemaphorePermit>) -> Option<OwnedSemaphorePermit> {
    let mut permits = stash.take()?;
    if permits.num_permits() <= 1 {
        return Some(permits);
    }
    let one = permits.split(1);
    *stash = Some(permits);
    one
}

/// One arrival in the runtime: waits for an in-flight slot, then starts its agent (or is
/// dropped as late, or counted as finding no free id).
async fn arrive(arrival: Arrival, shared: Arc<Shared>, lane: usize) {
    let Shared {
        slots,
        pool,
        max_lateness,
        ctx,
        lane_stops,
        halt,
        outcomes,
    } = &*shared;
    let Arrival {
        intended,
        serial,
        slot,
    } = arrival;
    let (permit, lag) = match slot {
        Slot::Taken { permit, lag } => (permit, lag),
        Slot::Waiting { place } => {
            // At max_in_flight: wait for an agent to finish (or a stop); first come, first
            // served, as tokio's semaphore is fair.
            let waited = tokio::select! {
                p = slots.clone().acquire_owned() => p.ok(),
                _ = halt.cancelled() => None,
            };
            let Some(permit) = waited else { return };
            drop(place);
            (permit, Instant::now().saturating_duration_since(intended))
        }
    };
    if max_lateness.is_some_and(|max| lag > max) {
        ctx.dropped_late(lag);
        outcomes.dropped_late.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Some(id) = lease(pool) else {
        ctx.not_started();
        outcomes.not_started.fetch_add(1, Ordering::Relaxed);
        if !outcomes.warned_no_id.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "arrival {serial} found no free agent id (all in use or held back); add ids to agents.ids"
            );
        }
        return;
    };
    ctx.arrival(lag);
    ctx.recorder.agent_started();
    outcomes.started.fetch_add(1, Ordering::Relaxed);
    let end = agent::run(ctx, id, intended, serial, &lane_stops[lane]).await;
    release(pool, id, end);
    ctx.recorder.agent_finished();
    drop(permit);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::raise_priority;

    /// (policy without flags, nice) of the calling thread.
    fn priority() -> (i32, i32) {
        // SAFETY: queries of the calling thread only.
        unsafe {
            let policy = libc::sched_getscheduler(0) & !libc::SCHED_RESET_ON_FORK;
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            (policy, libc::getpriority(libc::PRIO_PROCESS, tid))
        }
    }

    #[test]
    fn a_raised_priority_is_not_passed_on_to_new_threads() {
        let (before, raised, child) = std::thread::spawn(|| {
            let before = priority();
            raise_priority();
            let raised = priority();
            let child = std::thread::spawn(priority).join().expect("child thread");
            (before, raised, child)
        })
        .join()
        .expect("thread");
        if raised == before {
            eprintln!("no privilege to raise a thread's priority here; nothing to check");
            return;
        }
        assert_eq!(child.0, libc::SCHED_OTHER, "the child inherited the policy");
        assert!(
            child.1 >= before.1.min(0),
            "the child inherited nice {}",
            child.1
        );
    }
}
