//! The recorder: where agents put samples, without a shared lock or a channel message per
//! sample on the hot path (as wrk2's per-thread histograms).
//!
//! Each thread that runs agents (a runtime worker or a lane, `crate::agent::lanes`) gets its own
//! shard (an [`Aggregate`] behind a mutex that only that thread takes per sample, so it is
//! never contended on the hot path). Once per interval, [`Recorder::collect`] swaps every
//! shard for an empty spare and merges the full ones outside any lock. A sample is counted in exactly one interval, and memory does not
//! grow with run length: the collector keeps totals and hands each interval out.
//!
//! Gauges that must be exact at any instant (agents alive, agents signed in) are shared
//! atomics, touched per session transition, not per request.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::exemplar::{Exemplar, Exemplars};
use super::histogram::Hist;
use super::names::{self, Folded};
use super::results::{POLL_EMPTY, POLL_EVENT};
use super::sample::{micros, Operation, Outcome, PollResult, Sample};
use super::stats::{OpStats, SessionStats};

/// Series of latency/outcome stats: every operation, plus the two halves of successful
/// polls.
pub const SERIES: usize = Operation::ALL.len() + 2;
const POLL_EVENT_IDX: usize = Operation::ALL.len();
const POLL_EMPTY_IDX: usize = Operation::ALL.len() + 1;

/// The half a sample also counts in: a poll with a reply (event or empty) has one.
fn poll_half(s: &Sample) -> Option<usize> {
    if s.operation != Operation::Poll {
        return None;
    }
    match s.poll {
        Some(PollResult::Event) => Some(POLL_EVENT_IDX),
        Some(PollResult::Empty) => Some(POLL_EMPTY_IDX),
        None => None,
    }
}

/// Name of a series index (`signin`, …, `poll_event`, `poll_empty`).
pub fn series_name(i: usize) -> &'static str {
    match i {
        POLL_EVENT_IDX => POLL_EVENT,
        POLL_EMPTY_IDX => POLL_EMPTY,
        _ => Operation::ALL.get(i).map(|o| o.name()).unwrap_or("?"),
    }
}

/// Everything the recorder accumulates; the same shape for a shard, an interval and the
/// run's totals.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub series: Vec<OpStats>,
    pub sessions: SessionStats,
    /// Events by type, capped (`names`): a gateway inventing types cannot grow it.
    pub events: BTreeMap<String, u64>,
    /// How many distinct event types were counted under `names::OTHER`.
    pub events_folded: Folded,
    /// Arrival lateness against the plan, µs.
    pub lag: Hist,
    pub arrivals: u64,
    pub not_started: u64,
    /// Arrivals dropped because they could not start within `max_lateness`.
    pub dropped_late: u64,
    /// The first few failures of each kind, in full.
    pub exemplars: Exemplars,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            series: (0..SERIES).map(|_| OpStats::default()).collect(),
            sessions: SessionStats::default(),
            events: BTreeMap::new(),
            events_folded: Folded::default(),
            lag: Hist::new(),
            arrivals: 0,
            not_started: 0,
            dropped_late: 0,
            exemplars: Exemplars::default(),
        }
    }
}

impl Aggregate {
    pub fn record(&mut self, s: &Sample) {
        self.series[s.operation.index()].record(s);
        if let Some(half) = poll_half(s) {
            self.series[half].record(s);
        }
    }

    /// Records a successful poll in its half only, a shard's hot path: one series updated
    /// per poll instead of two. The operation's own series is then short of those polls
    /// until [`Aggregate::fold_poll_halves`] adds them, which [`Recorder::collect`] does
    /// for every shard before anything reads it.
    fn record_split(&mut self, s: &Sample) {
        match poll_half(s) {
            Some(half) => self.series[half].record(s),
            None => self.series[s.operation.index()].record(s),
        }
    }

    /// Adds the two halves of successful polls into the poll series (see `record_split`).
    fn fold_poll_halves(&mut self) {
        let poll = Operation::Poll.index();
        let (ops, halves) = self.series.split_at_mut(POLL_EVENT_IDX);
        for half in halves.iter().filter(|h| !h.is_empty()) {
            ops[poll].add(half);
        }
    }

    pub fn add(&mut self, o: &Aggregate) {
        for (a, b) in self.series.iter_mut().zip(&o.series) {
            if !b.is_empty() {
                a.add(b);
            }
        }
        self.sessions.add(&o.sessions);
        names::add(
            &mut self.events,
            &mut self.events_folded,
            &o.events,
            &o.events_folded,
        );
        self.lag.add(&o.lag);
        self.arrivals += o.arrivals;
        self.not_started += o.not_started;
        self.dropped_late += o.dropped_late;
        if !o.exemplars.is_empty() {
            self.exemplars.add(&o.exemplars);
        }
    }

    /// Empties it, with fresh histograms: they start at the smallest range (see
    /// `Hist::new`), where cleared ones would keep, and hold resident, the range the last
    /// second's values grew them to.
    fn reset(&mut self) {
        *self = Aggregate::default();
    }

    /// Series with at least one sample, by name.
    pub fn operations(&self) -> BTreeMap<String, OpStats> {
        self.series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (series_name(i).to_string(), s.clone()))
            .collect()
    }
}

/// A thread's shard: what it recorded since the last collection, and how many of its calls
/// are in flight (started, not yet recorded), which collection leaves in place.
#[derive(Default)]
struct ShardState {
    agg: Aggregate,
    in_flight: i64,
}

type Shard = Arc<Mutex<ShardState>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's shard of each live recorder (usually one; tests may run several).
    static LOCAL: RefCell<Vec<(u64, Shard)>> = const { RefCell::new(Vec::new()) };
}

struct Inner {
    id: u64,
    shards: Mutex<Vec<(Shard, Aggregate)>>,
    active_agents: AtomicI64,
    peak_active: AtomicI64,
    signed_in: AtomicI64,
    /// Agents signed in and ready now (got `AgentState_Ready`, session not ended).
    ready: AtomicI64,
    /// Every agent id that took part (bounded by the scenario's ids; touched once per
    /// arrival, never per request).
    ids: Mutex<HashSet<u32>>,
}

/// Cheap to clone; every clone records into the same run.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard would be a bug in this file; the data is still counts,
    // so keep going with it rather than lose the run.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                shards: Mutex::new(Vec::new()),
                active_agents: AtomicI64::new(0),
                peak_active: AtomicI64::new(0),
                signed_in: AtomicI64::new(0),
                ready: AtomicI64::new(0),
                ids: Mutex::new(HashSet::new()),
            }),
        }
    }

    fn with_shard<R>(&self, f: impl FnOnce(&mut Aggregate) -> R) -> R {
        self.with_state(|st| f(&mut st.agg))
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut ShardState) -> R) -> R {
        let id = self.inner.id;
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let at = match local.iter().position(|(i, _)| *i == id) {
                Some(at) => at,
                None => {
                    // Forget shards of recorders that are gone (only this list still holds
                    // them).
                    local.retain(|(_, s)| Arc::strong_count(s) > 1);
                    let s: Shard = Arc::new(Mutex::new(ShardState::default()));
                    lock(&self.inner.shards).push((s.clone(), Aggregate::default()));
                    local.push((id, s));
                    local.len() - 1
                }
            };
            // `f` only updates counts: it cannot reach this thread's list again.
            let mut guard = lock(&local[at].1);
            f(&mut guard)
        })
    }

    pub fn record(&self, s: &Sample) {
        self.with_shard(|a| a.record_split(s));
    }

    /// A call was sent; [`Recorder::record_call`] records how it ended.
    pub fn call_started(&self) {
        self.with_state(|st| st.in_flight += 1);
    }

    /// Records the sample of a call announced by [`Recorder::call_started`].
    pub fn record_call(&self, s: &Sample) {
        self.with_state(|st| {
            st.in_flight -= 1;
            st.agg.record_split(s);
        });
    }

    /// Calls started and not yet recorded, across every thread.
    pub fn in_flight(&self) -> u64 {
        let shards = lock(&self.inner.shards);
        let n: i64 = shards.iter().map(|(s, _)| lock(s).in_flight).sum();
        n.max(0) as u64
    }

    /// Whether this thread's shard still keeps failures of this kind (asked before one is
    /// built, so that a run of identical failures builds only the first few).
    pub fn wants_exemplar(&self, op: Operation, outcome: &Outcome) -> bool {
        self.with_shard(|a| a.exemplars.wants(op, outcome))
    }

    pub fn exemplar(&self, e: Exemplar) {
        self.with_shard(|a| a.exemplars.offer(e));
    }

    pub fn session(&self, f: impl FnOnce(&mut SessionStats)) {
        self.with_shard(|a| f(&mut a.sessions));
    }

    /// An event reached an agent: counted by type when `counted` (the reply that carried it
    /// was a success), and its delivery latency kept when known, in one visit to the shard.
    /// A type already kept costs one lookup and no allocation; one past the cap or too long
    /// is counted under `names::OTHER`, never kept.
    pub fn event_seen(&self, event_type: &str, counted: bool, delivery_us: Option<u64>) {
        self.with_shard(|a| {
            if counted {
                names::count(&mut a.events, &mut a.events_folded, event_type, 1);
            }
            if let Some(us) = delivery_us {
                a.sessions.record_delivery(event_type, us);
            }
        });
    }

    /// An arrival started an agent `lag` after its intended time.
    pub fn arrival(&self, lag: Duration) {
        self.with_shard(|a| {
            a.arrivals += 1;
            a.lag.record_us(micros(lag));
        });
    }

    /// An arrival the plan called for that could not start an agent.
    pub fn not_started(&self) {
        self.with_shard(|a| a.not_started += 1);
    }

    /// An arrival dropped because it could not start within the allowed lateness.
    pub fn dropped_late(&self, lag: Duration) {
        self.with_shard(|a| {
            a.dropped_late += 1;
            a.lag.record_us(micros(lag));
        });
    }

    pub fn agent_started(&self) {
        let now = self.inner.active_agents.fetch_add(1, Ordering::Relaxed) + 1;
        self.inner.peak_active.fetch_max(now, Ordering::Relaxed);
    }

    /// Agent `id` began its part in the run (an arrival, or a closed-model session).
    pub fn agent_took_part(&self, id: u32) {
        lock(&self.inner.ids).insert(id);
    }

    /// Distinct agent ids that took part so far.
    pub fn agents(&self) -> u64 {
        lock(&self.inner.ids).len() as u64
    }

    pub fn agent_finished(&self) {
        self.inner.active_agents.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn signed_in_changed(&self, delta: i64) {
        self.inner.signed_in.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn active_agents(&self) -> u64 {
        self.inner.active_agents.load(Ordering::Relaxed).max(0) as u64
    }

    pub fn peak_active_agents(&self) -> u64 {
        self.inner.peak_active.load(Ordering::Relaxed).max(0) as u64
    }

    pub fn signed_in(&self) -> u64 {
        self.inner.signed_in.load(Ordering::Relaxed).max(0) as u64
    }

    /// An agent became ready (+1), or its ready session ended (-1).
    pub fn ready_changed(&self, delta: i64) {
        self.inner.ready.fetch_add(delta, Ordering::Relaxed);
    }

    /// Agents signed in and ready now.
    pub fn ready_now(&self) -> u64 {
        self.inner.ready.load(Ordering::Relaxed).max(0) as u64
    }

    /// Takes everything recorded since the last call: swaps each shard for its empty spare
    /// (one short lock per shard), then merges outside the shard locks.
    pub fn collect(&self) -> Aggregate {
        let mut out = Aggregate::default();
        let mut shards = lock(&self.inner.shards);
        for (shard, spare) in shards.iter_mut() {
            {
                let mut guard = lock(shard);
                std::mem::swap(&mut guard.agg, spare);
            }
            spare.fold_poll_halves();
            out.add(spare);
            spare.reset();
        }
        out
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod session_tests {
    use super::*;
    #[test]
    fn sessions_count_once() {
        let r = Recorder::new();
        r.session(|s| s.started += 1);
        let mut total = Aggregate::default();
        let a = r.collect();
        assert_eq!(a.sessions.started, 1);
        total.add(&a);
        assert_eq!(total.sessions.started, 1);
        let mut pending = Aggregate::default();
        pending.add(&a);
        let b = r.collect();
        total.add(&b);
        assert_eq!(total.sessions.started, 1);
    }
}
