//! Where a run's agents execute: on lanes. A lane is one OS thread driving a tokio
//! current-thread runtime; each new agent goes to the next lane in turn and stays there,
//! with its connection, timers and recorder shard on that one thread, so no agent's state
//! moves between cores.
//!
//! How many lanes ([`lane_count`]): as many as `--threads` says when given; otherwise one
//! per [`AGENTS_PER_LANE`] agents at the run's peak or per [`ARRIVALS_PER_LANE`] sign-in
//! arrivals per second at the plan's peak, whichever asks for more, at least one and at
//! most one per core. Agents are not spread thinner than that: a lane with fewer agents
//! runs out of work, sleeps and has to be woken, and each extra thread takes a core the
//! gateway (or, on a test box, the gateway beside the harness) could use. Arrivals count
//! apart because each opens a connection, TLS handshake included, the costliest work an
//! agent does. At 64 and 128 connections polling with no gap, one lane ran 0.82-1.07×
//! wrk's request rate where two lanes ran 0.63-0.82× and the process's shared
//! multi-thread runtime (the old layout below 128 agents per core) 0.65-0.99×; at 256 one
//! lane and two ran level (BENCHMARKS.md, issue 22). What one lane costs: it is one
//! core's worth of requests, about 75,000-85,000 of the lightest polls per second on the
//! benchmark machine. 255 agents ask that much only of a gateway that answers every call
//! within about 3 ms with no poll gap; a run that needs more gives `--threads`.
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

/// Agents at a run's peak per lane it gets (when `--threads` does not say). Measured
/// (issue 22, alternated rounds, nginx-counted): one lane beat two at 64 and 128 agents
/// (0.82-1.07× wrk against 0.63-0.82×) and ran level with two at 256.
pub const AGENTS_PER_LANE: u64 = 128;

/// Sign-in arrivals per second at the plan's peak per lane it gets (when `--threads` does
/// not say). One lane completed about 4,100 sign-ins per second over fresh TLS connections
/// (the storm benchmark, 64 in flight), where two lanes completed about 4,700: so a lane
/// per 2,000 keeps each well below what one core can handshake.
pub const ARRIVALS_PER_LANE: f64 = 2_000.0;

/// The lanes for a run of `peak_agents` concurrent agents whose plan peaks at
/// `peak_arrivals` sign-ins per second (infinite when the harness searches for the rate):
/// `threads` when the user set them, else one per [`AGENTS_PER_LANE`] agents or per
/// [`ARRIVALS_PER_LANE`] arrivals per second, whichever is more, at least one and at most
/// `cores`.
pub fn lane_count(
    peak_agents: u64,
    peak_arrivals: f64,
    threads: Option<NonZeroUsize>,
    cores: NonZeroUsize,
) -> NonZeroUsize {
    if let Some(n) = threads {
        return n;
    }
    // `as` saturates: an infinite rate asks for every core, NaN for none.
    let by_arrivals = (peak_arrivals / ARRIVALS_PER_LANE) as u64;
    let wanted = (peak_agents / AGENTS_PER_LANE)
        .max(by_arrivals)
        .clamp(1, cores.get() as u64);
    NonZeroUsize::new(wanted as usize).unwrap_or(NonZeroUsize::MIN)
}

/// Where the agents of one run execute.
pub struct Lanes {
    /// Handles to spawn agents on, each in turn.
    handles: Vec<Handle>,
    /// Dropped to end the lanes' threads.
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Lanes {
    /// The lanes for a run (see [`lane_count`]); an error if a thread or its runtime
    /// cannot be created.
    pub fn for_run(
        peak_agents: u64,
        peak_arrivals: f64,
        threads: Option<NonZeroUsize>,
        cores: NonZeroUsize,
    ) -> std::io::Result<Lanes> {
        Lanes::start(lane_count(peak_agents, peak_arrivals, threads, cores))
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

    /// The runtime for the next agent: each lane in turn.
    pub fn next(&self) -> &Handle {
        self.next_lane().1
    }

    /// The next agent's lane: its index (below [`Lanes::lanes`]) and its runtime.
    pub fn next_lane(&self) -> (usize, &Handle) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        (i, &self.handles[i])
    }

    /// The number of lanes, at least 1.
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

    #[test]
    fn one_lane_per_128_agents_up_to_the_cores_unless_threads_are_given() {
        let n = |v: usize| NonZeroUsize::new(v).expect("non-zero");
        let count = |peak, threads: Option<usize>, cores| {
            lane_count(peak, 640.0, threads.map(n), n(cores)).get()
        };
        // Few agents: one lane, whatever the cores.
        assert_eq!(count(0, None, 2), 1);
        assert_eq!(count(64, None, 2), 1);
        assert_eq!(count(2 * AGENTS_PER_LANE - 1, None, 8), 1);
        // One more lane per AGENTS_PER_LANE agents, up to one per core.
        assert_eq!(count(2 * AGENTS_PER_LANE, None, 8), 2);
        assert_eq!(count(5 * AGENTS_PER_LANE + 3, None, 8), 5);
        assert_eq!(count(1_000, None, 2), 2);
        assert_eq!(count(1_000_000, None, 8), 8);
        // `--threads` is taken as given, above or below the rule.
        assert_eq!(count(64, Some(2), 2), 2);
        assert_eq!(count(1_000, Some(1), 8), 1);
        assert_eq!(count(10, Some(16), 2), 16);
    }

    #[test]
    fn a_heavy_sign_in_rate_gets_lanes_of_its_own() {
        let n = |v: usize| NonZeroUsize::new(v).expect("non-zero");
        let count = |agents, rate, cores| lane_count(agents, rate, None, n(cores)).get();
        // 64 agents signing in at 10,000/s (the storm benchmark): a lane per 2,000/s.
        assert_eq!(count(64, 10_000.0, 2), 2);
        assert_eq!(count(64, 10_000.0, 8), 5);
        assert_eq!(count(64, ARRIVALS_PER_LANE - 1.0, 8), 1);
        assert_eq!(count(64, 2.0 * ARRIVALS_PER_LANE, 8), 2);
        // The agents still count when they ask for more.
        assert_eq!(count(1_000, 100.0, 8), 7);
        // A capacity search (no planned rate) gets every core; a plan of nothing, one.
        assert_eq!(count(64, f64::INFINITY, 4), 4);
        assert_eq!(count(0, 0.0, 4), 1);
        assert_eq!(count(0, f64::NAN, 4), 1);
        // `--threads` wins over the rate too.
        let given = lane_count(64, f64::INFINITY, Some(n(1)), n(8));
        assert_eq!(given.get(), 1);
    }

    #[tokio::test]
    async fn a_run_starts_the_lanes_its_peak_calls_for() {
        let two = NonZeroUsize::new(2).expect("2");
        let few = Lanes::for_run(64, 640.0, None, two).expect("lanes");
        assert_eq!(few.lanes(), 1);
        let name = few
            .next()
            .spawn(async { thread_name() })
            .await
            .expect("task");
        assert_eq!(name, "agentstorm-lane-0");
        let many = Lanes::for_run(1_000, 640.0, None, two).expect("lanes");
        assert_eq!(many.lanes(), 2);
        let given = Lanes::for_run(64, 640.0, Some(two), two).expect("lanes");
        assert_eq!(given.lanes(), 2);
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
