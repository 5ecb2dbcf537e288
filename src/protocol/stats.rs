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

    /// Every counter (requests by endpoint and outcome, sign-outs by cause) as `f(self's,
    /// other's)`, one missing on a side read as 0 and a result of 0 left out (as the
    /// simulator leaves out the requests it never saw); the gauges are `self`'s.
    pub fn zip_counters(&self, other: &GatewayStats, f: impl Fn(u64, u64) -> u64) -> GatewayStats {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let empty = BTreeMap::new();
        let endpoints = self.requests.keys().chain(other.requests.keys());
        for endpoint in endpoints {
            if requests.contains_key(endpoint) {
                continue;
            }
            let mine = self.requests.get(endpoint).unwrap_or(&empty);
            let theirs = other.requests.get(endpoint).unwrap_or(&empty);
            let outcomes: BTreeMap<String, u64> = mine
                .keys()
                .chain(theirs.keys())
                .filter_map(|outcome| {
                    let at = |m: &BTreeMap<String, u64>| m.get(outcome).copied().unwrap_or(0);
                    let n = f(at(mine), at(theirs));
                    (n > 0).then(|| (outcome.clone(), n))
                })
                .collect();
            requests.insert(endpoint.clone(), outcomes);
        }
        requests.retain(|_, outcomes| !outcomes.is_empty());
        let (a, b) = (&self.signouts, &other.signouts);
        GatewayStats {
            signed_in: self.signed_in,
            signed_in_peak: self.signed_in_peak,
            requests,
            signouts: SignoutCounts {
                logout: f(a.logout, b.logout),
                forced: f(a.forced, b.forced),
                timeout: f(a.timeout, b.timeout),
                replaced: f(a.replaced, b.replaced),
            },
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
