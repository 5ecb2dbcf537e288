//! Mergeable accumulators: `OpStats` (one operation's counts by outcome plus corrected and
//! raw latency histograms) and `SessionStats` (session outcomes and their timings).
//!
//! The same types serve as the recorder's per-worker shards, as per-interval deltas and as
//! the run totals inside Results, so merging shards, intervals or whole runs is one `add`.
//! Reconciliation holds by construction: every recorded sample increments `count` and
//! exactly one of `ok`, `handled`, `retcode_failures`, `http_errors`, `transport_errors`,
//! `interrupted`; every sample but an interrupted one is in both latency histograms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::names::{self, Folded};
use super::nodes::{add_nodes, node_slot, NodeSessions};
use super::sample::{Outcome, Retcode, Sample, TransportKind};

/// One operation's outcomes and latencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Operations that ended (each ends exactly once).
    pub count: u64,
    /// Retcode `"0"`.
    pub ok: u64,
    /// A retcode other than `"0"` that the scenario's policy handled (`100-002` followed by
    /// a successful forced sign-in): in `retcodes`, not a failure.
    #[serde(default)]
    pub handled: u64,
    /// HTTP 200 with a retcode other than `"0"`, not handled.
    pub retcode_failures: u64,
    /// An HTTP status other than 200.
    pub http_errors: u64,
    /// No readable reply (connect, TLS, reset, timeout, malformed).
    pub transport_errors: u64,
    /// In flight when a hard stop ended the run: no reply, no latency, not a failure.
    #[serde(default)]
    pub interrupted: u64,
    /// Long polls given up at the stop so the agent could sign out in its turn: no reply,
    /// no latency, not a failure.
    #[serde(default)]
    pub abandoned: u64,
    /// Every retcode seen, success and handled ones included: at most `names::MAX_NAMES`
    /// by name (and `0`), the rest under `names::OTHER`.
    pub retcodes: BTreeMap<Retcode, u64>,
    /// How many distinct retcodes were counted under `names::OTHER`.
    #[serde(default, skip_serializing_if = "Folded::is_empty")]
    pub retcodes_folded: Folded,
    /// Of `retcodes`, those the policy handled (they sum to `handled`; only `100-002`
    /// is ever handled, so this map stays small).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub handled_retcodes: BTreeMap<Retcode, u64>,
    pub http_statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<TransportKind, u64>,
    /// Latency from the intended start (coordinated omission corrected), µs, every
    /// operation but the interrupted ones.
    pub corrected: Hist,
    /// Latency from the actual send, µs, the same operations.
    pub raw: Hist,
}

impl OpStats {
    pub fn record(&mut self, s: &Sample) {
        self.count += 1;
        match s.outcome {
            Outcome::Ok { retcode } => {
                if retcode.is_success() {
                    self.ok += 1;
                } else {
                    self.retcode_failures += 1;
                }
                names::count(&mut self.retcodes, &mut self.retcodes_folded, &retcode, 1);
            }
            Outcome::Handled { retcode } => {
                self.handled += 1;
                names::count(&mut self.retcodes, &mut self.retcodes_folded, &retcode, 1);
                *self.handled_retcodes.entry(retcode).or_insert(0) += 1;
            }
            Outcome::Http { status } => {
                self.http_errors += 1;
                *self.http_statuses.entry(status).or_insert(0) += 1;
            }
            Outcome::Transport { kind } => {
                self.transport_errors += 1;
                *self.transport.entry(kind).or_insert(0) += 1;
            }
            Outcome::Interrupted => {
                self.interrupted += 1;
                return;
            }
            Outcome::Abandoned => {
                self.abandoned += 1;
                return;
            }
        }
        self.corrected.record_us(s.corrected_us());
        self.raw.record_us(s.raw_us());
    }

    /// Operations that failed: an unhandled retcode, an HTTP error, or no readable reply.
    pub fn failed(&self) -> u64 {
        self.retcode_failures + self.http_errors + self.transport_errors
    }

    /// Operations that got a verdict (all but the interrupted and abandoned): the base of
    /// error rates, and the count of each latency histogram.
    pub fn judged(&self) -> u64 {
        self.count
            .saturating_sub(self.interrupted)
            .saturating_sub(self.abandoned)
    }

    /// Operations cut short without a reply (interrupted at a hard stop, or abandoned at
    /// the stop): the gateway may or may not have counted them.
    pub fn unanswered(&self) -> u64 {
        self.interrupted + self.abandoned
    }

    /// Whether the count is the sum of the outcome counters (every operation ends as exactly
    /// one outcome).
    pub fn counts_add_up(&self) -> bool {
        self.count == self.ok + self.handled + self.failed() + self.interrupted + self.abandoned
    }

    /// Whether the counts add up (they always should; reports check it and say so): the
    /// outcome counters, the maps beside them, and one latency per operation that ended.
    pub fn reconciles(&self) -> bool {
        self.counts_add_up()
            && self.retcodes.values().sum::<u64>() == self.ok + self.handled + self.retcode_failures
            && self.handled_retcodes.values().sum::<u64>() == self.handled
            && self.http_statuses.values().sum::<u64>() == self.http_errors
            && self.transport.values().sum::<u64>() == self.transport_errors
            && self.corrected.count() == self.judged()
            && self.raw.count() == self.judged()
    }

    pub fn add(&mut self, o: &OpStats) {
        self.count += o.count;
        self.ok += o.ok;
        self.handled += o.handled;
        self.retcode_failures += o.retcode_failures;
        self.http_errors += o.http_errors;
        self.transport_errors += o.transport_errors;
        self.interrupted += o.interrupted;
        self.abandoned += o.abandoned;
        names::add(
            &mut self.retcodes,
            &mut self.retcodes_folded,
            &o.retcodes,
            &o.retcodes_folded,
        );
        add_map(&mut self.handled_retcodes, &o.handled_retcodes);
        add_map(&mut self.http_statuses, &o.http_statuses);
        add_map(&mut self.transport, &o.transport);
        self.corrected.add(&o.corrected);
        self.raw.add(&o.raw);
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every outcome with its count, labelled the one way all reports label them: the
    /// retcode as the gateway sent it (`0`, `100-002`, handled ones included),
    /// `http:<status>` for a non-200 reply, `transport:<kind>` for no readable reply,
    /// `interrupted` for a call cut short by a hard stop. In that order.
    pub fn outcome_counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .retcodes
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), *v))
            .collect();
        out.extend(self.failure_labels());
        if self.interrupted > 0 {
            out.push((INTERRUPTED.to_string(), self.interrupted));
        }
        if self.abandoned > 0 {
            out.push((ABANDONED.to_string(), self.abandoned));
        }
        out
    }

    /// Only what failed, labelled as in [`OpStats::outcome_counts`]: unhandled retcodes,
    /// HTTP statuses, transport kinds (successes, handled retcodes and interrupted calls
    /// are not failures).
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .retcodes
            .iter()
            .filter(|(k, _)| !k.is_success())
            .map(|(k, v)| {
                let handled = self.handled_retcodes.get(k).copied().unwrap_or(0);
                (k.as_str().to_string(), v.saturating_sub(handled))
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        out.extend(self.failure_labels());
        out
    }

    fn failure_labels(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let http = self
            .http_statuses
            .iter()
            .map(|(k, v)| (format!("http:{k}"), *v));
        let transport = self
            .transport
            .iter()
            .map(|(k, v)| (format!("transport:{}", k.name()), *v));
        http.chain(transport)
    }
}

/// The outcome label of calls cut short by a hard stop.
pub const INTERRUPTED: &str = "interrupted";
/// The outcome label of long polls given up at the stop.
pub const ABANDONED: &str = "abandoned";

/// Session outcomes: the session (sign-in to sign-out), not the request, is the unit of
/// success; `agents` says how many distinct agents the sessions belonged to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Distinct agents (ids) that took part. Set once at the end of a run (shards add:
    /// their ids are disjoint); not per interval.
    #[serde(default)]
    pub agents: u64,
    /// Sessions begun (a first sign-in attempt): an agent that signs in again after the
    /// gateway ended its session, or repeats sessions in the closed model, begins another.
    pub started: u64,
    /// Of `started`, sessions begun to come back after a lost session (`signin-again`).
    #[serde(default)]
    pub resignins: u64,
    /// Sessions whose sign-in (or forced sign-in) succeeded.
    pub signed_in: u64,
    /// Sessions that received `AgentState_Ready`.
    pub ready: u64,
    /// Sessions ended by the agent's own successful sign-out.
    pub signed_out_clean: u64,
    /// Sessions the gateway ended while the harness believed them signed in
    /// (`AgentOther_ShutdownService`, or `100-006`/`000-003` on a later call).
    pub signed_out_unexpected: u64,
    /// Agents that never got signed in (sign-in failed and the policy gave up).
    pub signin_given_up: u64,
    /// Agents still signed in when the run ended (sign-out failed or was not attempted).
    pub left_signed_in: u64,
    /// Agents that signed in but never saw `AgentState_Ready` before their session ended.
    pub never_ready: u64,
    /// Arrival (intended start) → sign-in reply with retcode 0, µs.
    pub time_to_signed_in: Hist,
    /// Arrival (intended start) → `AgentState_Ready` received, µs.
    pub time_to_ready: Hist,
    /// Sign-in success → end of the session, µs.
    pub session_length: Hist,
    /// When sessions were lost (ended by the gateway while signed in), µs since the run's
    /// start: one value per lost session.
    #[serde(default)]
    pub lost_at: Hist,
    /// When agents whose session was lost were ready again (`on_unexpected_signout =
    /// "signin-again"`), µs since the run's start.
    #[serde(default)]
    pub back_at: Hist,
    /// `eventGenTime` → receipt at the harness (a poll reply, or the push callback), µs, for
    /// events that carry the time. Depends on the gateway's and the harness's clocks
    /// agreeing: a gateway clock ahead reads as 0.
    #[serde(default)]
    pub event_delivery: Hist,
    /// The same by event type: at most [`DELIVERY_TYPES_MAX`] types, later ones together
    /// under [`DELIVERY_OTHER`], so a gateway inventing types cannot grow memory.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_delivery_by_type: BTreeMap<String, Hist>,
    /// HTTP 429 or 503 replies the agents got: the gateway or its load balancer throttling.
    #[serde(default)]
    pub throttled: u64,
    /// Distinct agents that got at least one of those.
    #[serde(default)]
    pub throttled_agents: u64,
    /// Sign-in attempts that were retries (after a throttled one, or any failed one while
    /// coming back from a lost session).
    #[serde(default)]
    pub signin_retries: u64,
    /// Sign-in attempts made by agents coming back from a lost session (first tries and
    /// retries): how many re-sign-ins the recovery took.
    #[serde(default)]
    pub resignin_attempts: u64,
    /// Time agents spent waiting before sign-in retries and re-sign-ins (backoff, and at
    /// least the gateway's `Retry-After`), µs in total.
    #[serde(default)]
    pub retry_wait_us: u64,
    /// Sessions by the gateway node that issued their GUID (its `.AgentGatewayK` suffix);
    /// empty when GUIDs name no node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeSessions>,
}

/// Most event types whose delivery latency is kept apart.
pub const DELIVERY_TYPES_MAX: usize = 16;
/// Where the delivery latency of further event types goes.
pub const DELIVERY_OTHER: &str = "(other types)";

impl SessionStats {
    /// One event's delivery latency (`eventGenTime` → receipt), overall and by type.
    pub fn record_delivery(&mut self, event_type: &str, us: u64) {
        self.event_delivery.record_us(us);
        // Per event on the agents' hot path: a type already kept costs one lookup and no
        // allocation.
        if let Some(h) = self.event_delivery_by_type.get_mut(event_type) {
            h.record_us(us);
            return;
        }
        delivery_slot(&mut self.event_delivery_by_type, event_type).record_us(us);
    }
}

/// The histogram for `event_type`, or the shared one once the map is full or for a type
/// longer than `names::MAX_NAME_BYTES` (a kept type costs two lookups here: the borrow
/// checker does not let one lookup's borrow be both returned and, on a miss, followed by
/// an insert; the per-event path looks the type up itself first).
fn delivery_slot<'a>(map: &'a mut BTreeMap<String, Hist>, event_type: &str) -> &'a mut Hist {
    if map.contains_key(event_type) {
        return map.get_mut(event_type).expect("present: just found");
    }
    let key = if event_type.len() <= names::MAX_NAME_BYTES && map.len() < DELIVERY_TYPES_MAX {
        event_type
    } else {
        DELIVERY_OTHER
    };
    if !map.contains_key(key) {
        map.insert(key.to_string(), Hist::new());
    }
    map.get_mut(key).expect("present: inserted above")
}

impl SessionStats {
    pub fn add(&mut self, o: &SessionStats) {
        self.agents += o.agents;
        self.started += o.started;
        self.resignins += o.resignins;
        self.signed_in += o.signed_in;
        self.ready += o.ready;
        self.signed_out_clean += o.signed_out_clean;
        self.signed_out_unexpected += o.signed_out_unexpected;
        self.signin_given_up += o.signin_given_up;
        self.left_signed_in += o.left_signed_in;
        self.never_ready += o.never_ready;
        self.time_to_signed_in.add(&o.time_to_signed_in);
        self.time_to_ready.add(&o.time_to_ready);
        self.session_length.add(&o.session_length);
        self.lost_at.add(&o.lost_at);
        self.back_at.add(&o.back_at);
        self.event_delivery.add(&o.event_delivery);
        for (t, h) in &o.event_delivery_by_type {
            delivery_slot(&mut self.event_delivery_by_type, t).add(h);
        }
        self.throttled += o.throttled;
        self.throttled_agents += o.throttled_agents;
        self.signin_retries += o.signin_retries;
        self.resignin_attempts += o.resignin_attempts;
        self.retry_wait_us += o.retry_wait_us;
        add_nodes(&mut self.nodes, &o.nodes);
    }

    /// The sessions of one gateway node (bounded, see [`node_slot`]).
    pub fn node(&mut self, node: &str) -> &mut NodeSessions {
        node_slot(&mut self.nodes, node)
    }
}

pub(crate) fn add_map<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sample::{Operation, PollResult};
    use std::time::{Duration, Instant};

    #[test]
    fn delivery_by_type_is_capped_and_merges_exactly() {
        let mut a = SessionStats::default();
        for n in 0..DELIVERY_TYPES_MAX + 5 {
            a.record_delivery(&format!("Type{n}"), 1_000);
        }
        a.record_delivery("Type0", 3_000);
        assert_eq!(a.event_delivery.count(), DELIVERY_TYPES_MAX as u64 + 6);
        assert_eq!(a.event_delivery_by_type.len(), DELIVERY_TYPES_MAX + 1);
        assert_eq!(a.event_delivery_by_type[DELIVERY_OTHER].count(), 5);
        assert_eq!(a.event_delivery_by_type["Type0"].count(), 2);
        // A shard's new types join the merged run's "other" once it is full.
        let mut b = SessionStats::default();
        b.record_delivery("Type0", 2_000);
        b.record_delivery("Fresh", 2_000);
        a.add(&b);
        assert_eq!(a.event_delivery_by_type.len(), DELIVERY_TYPES_MAX + 1);
        assert_eq!(a.event_delivery_by_type["Type0"].count(), 3);
        assert_eq!(a.event_delivery_by_type[DELIVERY_OTHER].count(), 6);
        assert_eq!(a.event_delivery.count(), DELIVERY_TYPES_MAX as u64 + 8);
    }

    fn sample(outcome: Outcome) -> Sample {
        let t = Instant::now();
        Sample {
            operation: Operation::Signin,
            intended_at: t,
            sent_at: t,
            done_at: t + Duration::from_millis(3),
            outcome,
            poll: None::<PollResult>,
        }
    }

    #[test]
    fn every_outcome_lands_in_exactly_one_bucket() {
        let mut s = OpStats::default();
        s.record(&sample(Outcome::Ok {
            retcode: Retcode::SUCCESS,
        }));
        s.record(&sample(Outcome::Ok {
            retcode: Retcode::new("100-002"),
        }));
        s.record(&sample(Outcome::Http { status: 503 }));
        s.record(&sample(Outcome::Transport {
            kind: TransportKind::Reset,
        }));
        assert_eq!((s.count, s.ok, s.failed()), (4, 1, 3));
        assert_eq!(s.retcodes[&Retcode::new("100-002")], 1);
        assert_eq!(s.http_statuses[&503], 1);
        assert_eq!(s.transport[&TransportKind::Reset], 1);
        assert_eq!(s.corrected.count(), 4);
        assert!(s.reconciles());
        let labels: Vec<String> = s.outcome_counts().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["0", "100-002", "http:503", "transport:reset"]);
        assert_eq!(s.error_counts().len(), 3);

        let mut merged = OpStats::default();
        merged.add(&s);
        merged.add(&s);
        assert_eq!(merged.count, 8);
        assert_eq!(merged.retcodes[&Retcode::SUCCESS], 2);
        assert!(merged.reconciles());
        merged.ok += 1;
        assert!(!merged.reconciles());
    }

    #[test]
    fn op_stats_round_trip_through_json() {
        let mut s = OpStats::default();
        s.record(&sample(Outcome::Http { status: 500 }));
        s.record(&sample(Outcome::Transport {
            kind: TransportKind::ConnectRefused,
        }));
        let text = serde_json::to_string(&s).expect("serialises");
        let back: OpStats = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, s);
    }
}
