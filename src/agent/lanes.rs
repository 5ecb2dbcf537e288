//! Where a run's agents execute. Two ways, chosen per run from its peak of concurrent
//! agents per thread ([`Lanes::for_run`]):
//!
//! - **Shared**: every agent is a task of the process's multi-thread runtime, whose idle
//!   workers steal queued agents from busy ones. With few agents per thread that balance
//!   matters: when the gateway answers a burst that belongs mostly to one thread's agents,
//!   the other thread takes some of them instead of idling.
//! - **Lanes**: one OS thread per core, each driving a tokio current-thread runtime; each new
//!   agent goes to the next lane in turn and stays there, with its connection, timers and
//!   recorder shard on that one thread. With many agents per thread every lane always has
//!   work, and stealing only moves agents' state between cores: at 1,000 connections
//!   polling with no gap, lanes ran 0.81× wrk's request rate against 0.76× shared (medians
//!   of 6 alternated pairs), while at 64 connections shared ran 0.83× against 0.75×
//!   (BENCHMARKS.md, session 7). oha runs its connections the lanes way.
//!
//! Lanes must start on a thread of ordinary priority: Linux threads inherit their creator's
//! scheduling policy, and lanes that inherited the arrival thread's real-time priority
//! preempted the gateway on every wake-up and halved the request rate. A run starts them
//! before its arrival thread, and that thread asks the kernel not to pass its priority on
//! (`scheduler::open`).
//!
//! Dropping [`Lanes`] tells every lane to end; a lane's runtime then drops whatever tasks
//! are left on it (a run has joined its agents by then).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Concurrent agents per thread from which a run uses lanes. Measured (session 7, pairs
/// alternated in one run): shared won at 32 agents per thread (5 of 6 pairs), lanes at 128
/// (4 of 4) and at 500 (5 of 6).
pub const LANE_MIN_AGENTS: u64 = 128;

/// Where the agents of one run execute.
pub struct Lanes {
    /// Handles to spawn agents on, each in turn: the lanes, or the one shared runtime.
    handles: Vec<Handle>,
    /// Dropped to end the lanes' threads (empty when shared).
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Lanes {
    /// Lanes when `peak_agents` would put at least [`LANE_MIN_AGENTS`] on each of
    /// `threads`, else the runtime this is called on (its worker count is `threads`).
    pub fn for_run(peak_agents: u64, threads: NonZeroUsize) -> std::io::Result<Lanes> {
        if peak_agents / threads.get() as u64 >= LANE_MIN_AGENTS {
            Lanes::start(threads)
        } else {
            Ok(Lanes::shared(Handle::current()))
        }
    }

    /// Every agent on `runtime` (a multi-thread runtime's workers share them).
    pub fn shared(runtime: Handle) -> Lanes {
        Lanes {
            handles: vec![runtime],
            stops: Vec::new(),
            next: AtomicUsize::new(0),
        }
    }

    /// Starts `count` lanes; an error if a thread or its runtime cannot be created.
    pub fn start(count: NonZeroUsize) -> std::io::Result<Lanes> {
        let mut handles = Vec::with_capacity(count.get());
        let mut stops = Vec::with_capacity(count.get());
        for i in 0..count.get() {
            let (stop, stopped) = oneshot::channel::<()>();
            // The runtime is built and dropped on its own thread: a runtime dropped in an
            // async context (where a run calls this) would panic.
            let (started, handle) = std::sync::mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name(format!("agentstorm-lane-{i}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    if started.send(Ok(runtime.handle().clone())).is_ok() {
                        // Runs the lane's tasks until the lanes are dropped; dropping the
                        // runtime then drops whatever is left.
                        let _ = runtime.block_on(stopped);
                    }
                })?;
            // A wait of one thread start, once per run.
            let handle = handle
                .recv()
                .map_err(|_| std::io::Error::other("an agent thread ended as it started"))??;
            handles.push(handle);
            stops.push(stop);
        }
        Ok(Lanes {
            handles,
            stops,
            next: AtomicUsize::new(0),
        })
    }

    /// The runtime for the next agent: each lane in turn, or the shared runtime.
    pub fn next(&self) -> &Handle {
        self.next_lane().1
    }

    /// The next agent's place: its index (below [`Lanes::places`]) and its runtime.
    pub fn next_lane(&self) -> (usize, &Handle) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        (i, &self.handles[i])
    }

    /// How many places agents go to: the lanes, or 1 when they share the runtime.
    pub fn places(&self) -> usize {
        self.handles.len()
    }

    /// The number of lanes; 0 when agents share the runtime.
    pub fn lanes(&self) -> usize {
        self.stops.len()
    }
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("lanes", &self.lanes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_string()
    }

    #[tokio::test]
    async fn agents_go_to_each_lane_in_turn_and_stay_there() {
        let lanes = Lanes::start(NonZeroUsize::new(3).expect("3")).expect("lanes");
        assert_eq!(lanes.lanes(), 3);
        let mut set = tokio::task::JoinSet::new();
        for k in 0..9 {
            set.spawn_on(
                async move {
                    let before = thread_name();
                    // A timer and a yield: the task resumes on its own lane.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    tokio::task::yield_now().await;
                    assert_eq!(thread_name(), before, "agent {k} moved");
                    (k, before)
                },
                lanes.next(),
            );
        }
        let mut per_lane: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        while let Some(done) = set.join_next().await {
            let (k, lane) = done.expect("task");
            per_lane.entry(lane).or_default().push(k);
        }
        let mut got: Vec<(String, Vec<usize>)> = per_lane.into_iter().collect();
        for (_, ks) in &mut got {
            ks.sort();
        }
        assert_eq!(
            got,
            vec![
                ("agentstorm-lane-0".to_string(), vec![0, 3, 6]),
                ("agentstorm-lane-1".to_string(), vec![1, 4, 7]),
                ("agentstorm-lane-2".to_string(), vec![2, 5, 8]),
            ]
        );
    }

    #[tokio::test]
    async fn few_agents_per_thread_share_the_runtime_many_get_lanes() {
        let two = NonZeroUsize::new(2).expect("2");
        let shared = Lanes::for_run(2 * LANE_MIN_AGENTS - 1, two).expect("shared");
        assert_eq!(shared.lanes(), 0);
        let here = std::thread::current().id();
        let ran_on = shared
            .next()
            .spawn(async { std::thread::current().id() })
            .await
            .expect("task");
        // The test's runtime is a current-thread one: a shared agent runs on this thread.
        assert_eq!(ran_on, here);
        let lanes = Lanes::for_run(2 * LANE_MIN_AGENTS, two).expect("lanes");
        assert_eq!(lanes.lanes(), 2);
        let name = lanes
            .next()
            .spawn(async { thread_name() })
            .await
            .expect("task");
        assert_eq!(name, "agentstorm-lane-0");
    }

    #[tokio::test]
    async fn dropping_the_lanes_ends_their_tasks() {
        let lanes = Lanes::start(NonZeroUsize::MIN).expect("lanes");
        let (tx, rx) = oneshot::channel::<()>();
        let (started_tx, started) = oneshot::channel::<()>();
        lanes.next().spawn(async move {
            let _keep = tx;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        started.await.expect("the task ran");
        drop(lanes);
        // The lane's runtime drops the pending task, and with it the sender.
        let ended = tokio::time::timeout(Duration::from_secs(10), rx).await;
        assert!(matches!(ended, Ok(Err(_))), "the task was not dropped");
    }
}
