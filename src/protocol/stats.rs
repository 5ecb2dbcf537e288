//! The simulated gateway's own counters as they travel (decision D17): what
//! `GET /agentstorm/v1/stats` serves and the harness reconciles against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Endpoint;

/// The simulated gateway's own counters, served as JSON at [`STATS_PATH`](super::STATS_PATH) (decision D17).
/// The harness reads them at a run's start and end and keeps the difference
/// ([`GatewayStats::since`]) to reconcile its counts with the server's: a gateway reused
/// across runs counts them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Agents signed in now. A gauge, not a counter: in a difference it is the value at
    /// the end.
    pub signed_in: u64,
    /// Highest `signed_in` since the gateway started. A peak cannot be differenced: in a
    /// difference it is still the gateway's lifetime peak as read at the end, which earlier
    /// runs against the same gateway may have set.
    pub signed_in_peak: u64,
    /// Requests answered, by endpoint log name (`login`, `getAgentEvent`, …, or `unknown`
    /// for paths outside the interface) and then by outcome: the retcode of the reply, or
    /// `http_<status>` for a reply without one, or `reset` for a connection the gateway cut
    /// on purpose (fault injection).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sessions ended, by cause.
    pub signouts: SignoutCounts,
    /// Sign-ins refused with HTTP 429 by the sign-in rate limit (D20); also counted under
    /// `requests` as `http_429`. Absent (0) from gateways without one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: u64,
    /// Cluster mode (D19): each node's own counters, in node order. The totals above are
    /// the whole gateway's, and every node's `requests` add up to them. Empty (and absent
    /// from the JSON) for a single gateway and in results written before cluster mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStats>,
}

/// One node of a simulated cluster (D19), as [`GatewayStats::nodes`] lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// The node name, as in its GUIDs' `.AgentGatewayK` suffix and the sticky cookie.
    pub name: String,
    /// Serving now (a gauge): false while a `fail_node` window holds it down.
    #[serde(default)]
    pub up: bool,
    /// Agents signed in on this node now (a gauge).
    #[serde(default)]
    pub signed_in: u64,
    /// Highest `signed_in` of this node since the gateway started (a lifetime peak).
    #[serde(default)]
    pub signed_in_peak: u64,
    /// Requests this node answered, by endpoint and outcome, as [`GatewayStats::requests`].
    #[serde(default)]
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sessions of this node ended, by cause; a failure's sessions count as `forced`.
    #[serde(default)]
    pub signouts: SignoutCounts,
    /// Sessions that were signed in on this node when it failed.
    #[serde(default)]
    pub lost_at_failure: u64,
    /// Times this node failed.
    #[serde(default)]
    pub failures: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `requests` maps of two snapshots, cell by cell through `f`; a result of 0 is left out.
fn zip_requests(
    mine: &BTreeMap<String, BTreeMap<String, u64>>,
    theirs: &BTreeMap<String, BTreeMap<String, u64>>,
    f: &impl Fn(u64, u64) -> u64,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let empty = BTreeMap::new();
    for endpoint in mine.keys().chain(theirs.keys()) {
        if requests.contains_key(endpoint) {
            continue;
        }
        let a = mine.get(endpoint).unwrap_or(&empty);
        let b = theirs.get(endpoint).unwrap_or(&empty);
        let outcomes: BTreeMap<String, u64> = a
            .keys()
            .chain(b.keys())
            .filter_map(|outcome| {
                let at = |m: &BTreeMap<String, u64>| m.get(outcome).copied().unwrap_or(0);
                let n = f(at(a), at(b));
                (n > 0).then(|| (outcome.clone(), n))
            })
            .collect();
        requests.insert(endpoint.clone(), outcomes);
    }
    requests.retain(|_, outcomes| !outcomes.is_empty());
    requests
}

fn zip_signouts(
    a: &SignoutCounts,
    b: &SignoutCounts,
    f: &impl Fn(u64, u64) -> u64,
) -> SignoutCounts {
    SignoutCounts {
        logout: f(a.logout, b.logout),
        forced: f(a.forced, b.forced),
        timeout: f(a.timeout, b.timeout),
        replaced: f(a.replaced, b.replaced),
    }
}

impl GatewayStats {
    /// This snapshot (of one node's counters) as that node's entry in a cluster's
    /// [`GatewayStats::nodes`]; its `throttled` and `nodes` are dropped (a node has none).
    pub fn into_node(
        self,
        name: String,
        up: bool,
        lost_at_failure: u64,
        failures: u64,
    ) -> NodeStats {
        NodeStats {
            name,
            up,
            signed_in: self.signed_in,
            signed_in_peak: self.signed_in_peak,
            requests: self.requests,
            signouts: self.signouts,
            lost_at_failure,
            failures,
        }
    }
}

impl NodeStats {
    /// Counters as `f(self's, other's)`, gauges (`up`, `signed_in`, `signed_in_peak`)
    /// self's, as [`GatewayStats::zip_counters`] does for the totals.
    fn zip_counters(&self, other: &NodeStats, f: &impl Fn(u64, u64) -> u64) -> NodeStats {
        NodeStats {
            name: self.name.clone(),
            up: self.up,
            signed_in: self.signed_in,
            signed_in_peak: self.signed_in_peak,
            requests: zip_requests(&self.requests, &other.requests, f),
            signouts: zip_signouts(&self.signouts, &other.signouts, f),
            lost_at_failure: f(self.lost_at_failure, other.lost_at_failure),
            failures: f(self.failures, other.failures),
        }
    }
}

impl GatewayStats {
    /// All requests the gateway saw for one endpoint, whatever their outcome.
    pub fn endpoint_total(&self, endpoint: Endpoint) -> u64 {
        self.requests
            .get(endpoint.name())
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// What the gateway counted between `start` (an earlier snapshot of the same gateway)
    /// and `self`: every request counter and sign-out cause minus its value at the start,
    /// saturating at 0 (a gateway restarted in between counts from 0 again, and a smaller
    /// counter must not wrap). The gauges are `self`'s: `signed_in` now, and
    /// `signed_in_peak` the lifetime peak (see the field docs).
    pub fn since(&self, start: &GatewayStats) -> GatewayStats {
        self.zip_counters(start, u64::saturating_sub)
    }

    /// Every counter (requests by endpoint and outcome, sign-outs by cause, `throttled`, and
    /// each node's counters, nodes matched by name) as `f(self's, other's)`, one missing on
    /// a side read as 0 and a result of 0 left out (as the simulator leaves out the
    /// requests it never saw); the gauges are `self`'s (a node only `other` has gets
    /// gauges of 0).
    pub fn zip_counters(&self, other: &GatewayStats, f: impl Fn(u64, u64) -> u64) -> GatewayStats {
        let blank = NodeStats::default();
        // Nodes by name: self's in its order, then any only the other has.
        let mut nodes: Vec<NodeStats> = self
            .nodes
            .iter()
            .map(|n| {
                let theirs = other.nodes.iter().find(|o| o.name == n.name);
                n.zip_counters(theirs.unwrap_or(&blank), &f)
            })
            .collect();
        for o in &other.nodes {
            if !self.nodes.iter().any(|n| n.name == o.name) {
                let mut gone = NodeStats {
                    name: o.name.clone(),
                    ..NodeStats::default()
                };
                gone = gone.zip_counters(o, &f);
                nodes.push(gone);
            }
        }
        GatewayStats {
            signed_in: self.signed_in,
            signed_in_peak: self.signed_in_peak,
            requests: zip_requests(&self.requests, &other.requests, &f),
            signouts: zip_signouts(&self.signouts, &other.signouts, &f),
            throttled: f(self.throttled, other.throttled),
            nodes,
        }
    }
}

/// Sessions ended, by cause (D17).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoutCounts {
    /// The agent signed out itself (`logout`, `forcelogout`, `forcelogoutwithreason`).
    pub logout: u64,
    /// The gateway or an inspector forced it out (fault model, failover cue).
    pub forced: u64,
    /// No poll or heartbeat within the inactivity timeout (D11).
    pub timeout: u64,
    /// A `forcelogin` replaced the session (D8).
    pub replaced: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(
        signed_in: u64,
        peak: u64,
        requests: &[(&str, &str, u64)],
        logout: u64,
    ) -> GatewayStats {
        let mut g = GatewayStats {
            signed_in,
            signed_in_peak: peak,
            ..Default::default()
        };
        for (endpoint, outcome, n) in requests {
            g.requests
                .entry(endpoint.to_string())
                .or_default()
                .insert(outcome.to_string(), *n);
        }
        g.signouts.logout = logout;
        g
    }

    #[test]
    fn since_is_what_was_counted_between_two_snapshots() {
        // A gateway reused by an earlier run: 20 sign-ins, 50 polls, 20 sign-outs already.
        let start = stats(
            0,
            20,
            &[
                ("login", "0", 20),
                ("getAgentEvent", "0", 50),
                ("logout", "0", 20),
            ],
            20,
        );
        let mut end = stats(
            3,
            20,
            &[
                ("login", "0", 40),
                ("login", "100-002", 2),
                ("getAgentEvent", "0", 50),
                ("logout", "0", 37),
            ],
            37,
        );
        end.signouts.timeout = 1;
        let d = end.since(&start);
        assert_eq!(d.requests["login"]["0"], 20);
        assert_eq!(d.requests["login"]["100-002"], 2);
        assert_eq!(d.endpoint_total(Endpoint::Login), 22);
        assert_eq!(d.requests["logout"]["0"], 17);
        // Nothing new on an endpoint: left out, as the simulator leaves it out.
        assert!(!d.requests.contains_key("getAgentEvent"), "{d:?}");
        assert_eq!(d.endpoint_total(Endpoint::GetAgentEvent), 0);
        assert_eq!(
            d.signouts,
            SignoutCounts {
                logout: 17,
                timeout: 1,
                ..Default::default()
            }
        );
        // Gauges: the end's values (the peak is the gateway's lifetime peak).
        assert_eq!((d.signed_in, d.signed_in_peak), (3, 20));
        // From a fresh gateway's snapshot, the difference is the end itself.
        assert_eq!(end.since(&GatewayStats::default()), end);
        assert_eq!(end.since(&end).requests, BTreeMap::new());
    }

    fn node(name: &str, signed_in: u64, polls: u64, lost: u64) -> NodeStats {
        let mut n = NodeStats {
            name: name.to_string(),
            up: true,
            signed_in,
            signed_in_peak: signed_in + 1,
            lost_at_failure: lost,
            ..Default::default()
        };
        n.requests
            .entry("getAgentEvent".to_string())
            .or_default()
            .insert("0".to_string(), polls);
        n.signouts.forced = lost;
        n
    }

    /// Cluster mode (D19): per-node counters are differenced like the totals, nodes
    /// matched by name; per-node gauges are the end's.
    #[test]
    fn since_differences_every_node() {
        let mut start = stats(4, 4, &[("getAgentEvent", "0", 30)], 0);
        start.nodes = vec![
            node("AgentGateway0", 2, 10, 0),
            node("AgentGateway1", 2, 20, 0),
        ];
        start.throttled = 5;
        let mut end = stats(1, 6, &[("getAgentEvent", "0", 45)], 0);
        let mut down = node("AgentGateway1", 0, 25, 2);
        down.up = false;
        down.failures = 1;
        end.nodes = vec![
            node("AgentGateway0", 1, 20, 0),
            down,
            node("AgentGateway2", 0, 0, 0),
        ];
        end.throttled = 8;
        let d = end.since(&start);
        assert_eq!(d.throttled, 3);
        assert_eq!(d.nodes.len(), 3);
        let names: Vec<&str> = d.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["AgentGateway0", "AgentGateway1", "AgentGateway2"]);
        assert_eq!(d.nodes[0].requests["getAgentEvent"]["0"], 10);
        assert_eq!(d.nodes[1].requests["getAgentEvent"]["0"], 5);
        assert_eq!((d.nodes[1].lost_at_failure, d.nodes[1].failures), (2, 1));
        assert_eq!(d.nodes[1].signouts.forced, 2);
        // Gauges are the end's.
        assert_eq!((d.nodes[0].signed_in, d.nodes[0].signed_in_peak), (1, 2));
        assert!(d.nodes[0].up && !d.nodes[1].up);
        // A node that counted nothing new is still listed, with nothing under requests.
        assert!(d.nodes[2].requests.is_empty());
        // The nodes' requests add up to the total's, in the difference too.
        let per_node: u64 = d
            .nodes
            .iter()
            .filter_map(|n| n.requests.get("getAgentEvent").and_then(|m| m.get("0")))
            .sum();
        assert_eq!(per_node, d.requests["getAgentEvent"]["0"]);
        // Summing two windows (as a merge does) keeps a node only one side has.
        let sum = GatewayStats::default().zip_counters(&d, u64::saturating_add);
        assert_eq!(sum.nodes.len(), 3);
        assert_eq!(sum.nodes[1].requests["getAgentEvent"]["0"], 5);
    }

    /// A single gateway's stats JSON is what it was before cluster mode: no `nodes`, no
    /// `throttled`; and results written then still read.
    #[test]
    fn single_gateway_json_is_unchanged() {
        let g = stats(1, 2, &[("login", "0", 3)], 0);
        let text = serde_json::to_string(&g).expect("json");
        assert!(
            !text.contains("nodes") && !text.contains("throttled"),
            "{text}"
        );
        let old = r#"{"signed_in":1,"signed_in_peak":2,"requests":{},"signouts":{"logout":0,"forced":0,"timeout":0,"replaced":0}}"#;
        let back: GatewayStats = serde_json::from_str(old).expect("old stats read");
        assert!(back.nodes.is_empty() && back.throttled == 0);
    }

    #[test]
    fn since_saturates_when_a_counter_went_down() {
        // The gateway restarted between the two snapshots: nothing wraps below zero.
        let start = stats(5, 9, &[("login", "0", 9), ("logout", "0", 4)], 4);
        let end = stats(1, 2, &[("login", "0", 2), ("login", "100-003", 1)], 1);
        let d = end.since(&start);
        assert_eq!(d.endpoint_total(Endpoint::Login), 1);
        assert_eq!(d.requests["login"].get("0"), None);
        assert!(!d.requests.contains_key("logout"));
        assert_eq!(d.signouts.logout, 0);
        assert_eq!((d.signed_in, d.signed_in_peak), (1, 2));
    }
}
