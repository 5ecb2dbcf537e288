//! The gateway's own counters (D17): requests per endpoint and outcome, agents signed in
//! now and at peak, sign-outs by cause.
//!
//! Counting sits on every request, so it is a flat array of atomics indexed by endpoint and
//! outcome position, never a map behind a lock. This file owns only counting and the
//! snapshot into [`GatewayStats`]; it decides no outcome itself.
//!
//! In cluster mode (D19) each node has its own counters with the whole gateway's as their
//! parent: every count is made on both, so the totals stay exactly what a single gateway
//! reports (its peak is the peak of the sum, not the sum of the peaks) and the nodes'
//! requests add up to them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::protocol::{retcode, Endpoint, GatewayStats, SignoutCounts};

/// Rows: every endpoint, then one for paths outside the interface.
const ROWS: usize = Endpoint::ALL.len() + 1;
const UNKNOWN_ROW: usize = Endpoint::ALL.len();
/// Outcomes without a retcode, after the known retcodes.
const EXTRA: [&str; 8] = [
    "http_413", "http_500", "http_503", "http_400", "http_408", "reset", "http_429", "other",
];
const COLS: usize = retcode::KNOWN.len() + EXTRA.len();

/// What a reply was, for counting: a retcode's position in [`retcode::KNOWN`] or one of the
/// outcomes without a retcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome(u8);

impl Outcome {
    pub const HTTP_413: Outcome = Outcome(retcode::KNOWN.len() as u8);
    pub const HTTP_500: Outcome = Outcome(retcode::KNOWN.len() as u8 + 1);
    pub const HTTP_503: Outcome = Outcome(retcode::KNOWN.len() as u8 + 2);
    pub const HTTP_400: Outcome = Outcome(retcode::KNOWN.len() as u8 + 3);
    pub const HTTP_408: Outcome = Outcome(retcode::KNOWN.len() as u8 + 4);
    pub const RESET: Outcome = Outcome(retcode::KNOWN.len() as u8 + 5);
    /// A sign-in refused by the rate limit (D20).
    pub const HTTP_429: Outcome = Outcome(retcode::KNOWN.len() as u8 + 6);
    pub const OTHER: Outcome = Outcome(retcode::KNOWN.len() as u8 + 7);

    /// The outcome of a reply carrying `code`; a code outside the known list (which the
    /// configuration refuses) counts as `other`.
    pub fn of_retcode(code: &str) -> Outcome {
        retcode::KNOWN
            .iter()
            .position(|k| *k == code)
            .map(|p| Outcome(p as u8))
            .unwrap_or(Outcome::OTHER)
    }

    /// The outcome of an HTTP status sent without a retcode.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            413 => Outcome::HTTP_413,
            500 => Outcome::HTTP_500,
            503 => Outcome::HTTP_503,
            400 => Outcome::HTTP_400,
            408 => Outcome::HTTP_408,
            429 => Outcome::HTTP_429,
            _ => Outcome::OTHER,
        }
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn label(self) -> &'static str {
        let i = self.index();
        if i < retcode::KNOWN.len() {
            retcode::KNOWN[i]
        } else {
            EXTRA[(i - retcode::KNOWN.len()).min(EXTRA.len() - 1)]
        }
    }
}

/// The counters. One instance per gateway.
pub struct Counters {
    requests: Box<[[AtomicU64; COLS]; ROWS]>,
    signed_in: AtomicU64,
    signed_in_peak: AtomicU64,
    logout: AtomicU64,
    forced: AtomicU64,
    timeout: AtomicU64,
    replaced: AtomicU64,
    /// Replies `http_429` (D20).
    throttled: AtomicU64,
    /// The whole gateway's counters when these are one node's (cluster mode): every count
    /// made here is made there too.
    parent: Option<Arc<Counters>>,
}

/// Why a session ended (D17's causes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignoutCause {
    Logout,
    Forced,
    Timeout,
    Replaced,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| AtomicU64::new(0))
            })),
            signed_in: AtomicU64::new(0),
            signed_in_peak: AtomicU64::new(0),
            logout: AtomicU64::new(0),
            forced: AtomicU64::new(0),
            timeout: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            parent: None,
        }
    }
}

impl Counters {
    /// One node's counters, each count also made on `parent` (the whole gateway's).
    pub fn child_of(parent: Arc<Counters>) -> Counters {
        Counters {
            parent: Some(parent),
            ..Counters::default()
        }
    }

    /// Counts one answered request. `endpoint` None: a path outside the interface.
    pub fn count(&self, endpoint: Option<Endpoint>, outcome: Outcome) {
        let row = endpoint.map(Endpoint::index).unwrap_or(UNKNOWN_ROW);
        self.requests[row][outcome.index().min(COLS - 1)].fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::HTTP_429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(p) = &self.parent {
            p.count(endpoint, outcome);
        }
    }

    /// Reserves a place for one more signed-in agent unless that would exceed `max`.
    /// Returns false (and changes nothing) when the gateway is full. With a parent, `max`
    /// is the whole gateway's limit: the place is taken there first.
    pub fn try_sign_in(&self, max: Option<u64>) -> bool {
        let max = match &self.parent {
            Some(p) if !p.try_sign_in(max) => return false,
            Some(_) => None,
            None => max,
        };
        let now = match max {
            None => self.signed_in.fetch_add(1, Ordering::Relaxed) + 1,
            Some(max) => {
                match self
                    .signed_in
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < max).then_some(n + 1)
                    }) {
                    Ok(prev) => prev + 1,
                    Err(_) => return false,
                }
            }
        };
        self.signed_in_peak.fetch_max(now, Ordering::Relaxed);
        true
    }

    /// One session ended for `cause` (a replaced session keeps its place: the new session
    /// takes it over, so `signed_in` does not move).
    pub fn signed_out(&self, cause: SignoutCause) {
        let counter = match cause {
            SignoutCause::Logout => &self.logout,
            SignoutCause::Forced => &self.forced,
            SignoutCause::Timeout => &self.timeout,
            SignoutCause::Replaced => &self.replaced,
        };
        if let Some(p) = &self.parent {
            p.signed_out(cause);
        }
        counter.fetch_add(1, Ordering::Relaxed);
        if cause != SignoutCause::Replaced {
            // Saturating: never wrap below zero even if a bug double-counts.
            let _ = self
                .signed_in
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    /// A snapshot; only non-zero counters appear under `requests`.
    pub fn snapshot(&self) -> GatewayStats {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (row, cells) in self.requests.iter().enumerate() {
            let name = Endpoint::ALL
                .get(row)
                .map(|e| e.name())
                .unwrap_or("unknown");
            for (col, cell) in cells.iter().enumerate() {
                let n = cell.load(Ordering::Relaxed);
                if n > 0 {
                    requests
                        .entry(name.to_string())
                        .or_default()
                        .insert(Outcome(col as u8).label().to_string(), n);
                }
            }
        }
        GatewayStats {
            signed_in: self.signed_in.load(Ordering::Relaxed),
            signed_in_peak: self.signed_in_peak.load(Ordering::Relaxed),
            requests,
            signouts: SignoutCounts {
                logout: self.logout.load(Ordering::Relaxed),
                forced: self.forced.load(Ordering::Relaxed),
                timeout: self.timeout.load(Ordering::Relaxed),
                replaced: self.replaced.load(Ordering::Relaxed),
            },
            throttled: self.throttled.load(Ordering::Relaxed),
            nodes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_label_and_count_per_endpoint() {
        let c = Counters::default();
        c.count(Some(Endpoint::Login), Outcome::of_retcode("100-002"));
        c.count(Some(Endpoint::Login), Outcome::of_retcode("0"));
        c.count(Some(Endpoint::Login), Outcome::of_retcode("0"));
        c.count(None, Outcome::of_retcode("000-002"));
        c.count(Some(Endpoint::GetAgentEvent), Outcome::RESET);
        c.count(Some(Endpoint::GetAgentEvent), Outcome::of_status(503));
        let s = c.snapshot();
        assert_eq!(s.requests["login"]["0"], 2);
        assert_eq!(s.requests["login"]["100-002"], 1);
        assert_eq!(s.requests["unknown"]["000-002"], 1);
        assert_eq!(s.requests["getAgentEvent"]["reset"], 1);
        assert_eq!(s.requests["getAgentEvent"]["http_503"], 1);
        assert_eq!(Outcome::of_retcode("999-999"), Outcome::OTHER);
    }

    #[test]
    fn max_agents_reservation_and_peak() {
        let c = Counters::default();
        assert!(c.try_sign_in(Some(2)));
        assert!(c.try_sign_in(Some(2)));
        assert!(!c.try_sign_in(Some(2)));
        c.signed_out(SignoutCause::Replaced);
        assert_eq!(c.snapshot().signed_in, 2);
        c.signed_out(SignoutCause::Timeout);
        let s = c.snapshot();
        assert_eq!((s.signed_in, s.signed_in_peak), (1, 2));
        assert_eq!((s.signouts.timeout, s.signouts.replaced), (1, 1));
    }

    /// Cluster mode: a node's counts are the whole gateway's too; `max_agents` is the
    /// whole gateway's; the total peak is the peak of the sum.
    #[test]
    fn node_counters_count_on_their_parent() {
        let total = Arc::new(Counters::default());
        let a = Counters::child_of(total.clone());
        let b = Counters::child_of(total.clone());
        a.count(Some(Endpoint::Login), Outcome::of_retcode("0"));
        b.count(Some(Endpoint::Login), Outcome::of_status(429));
        assert!(a.try_sign_in(Some(2)));
        assert!(b.try_sign_in(Some(2)));
        assert!(!a.try_sign_in(Some(2)), "the gateway is full, not the node");
        a.signed_out(SignoutCause::Forced);
        assert!(b.try_sign_in(Some(2)));
        let (t, sa, sb) = (total.snapshot(), a.snapshot(), b.snapshot());
        assert_eq!(t.requests["login"]["0"], 1);
        assert_eq!(t.requests["login"]["http_429"], 1);
        assert_eq!((t.throttled, sa.throttled, sb.throttled), (1, 0, 1));
        assert_eq!((t.signed_in, t.signed_in_peak), (2, 2));
        assert_eq!((sa.signed_in, sa.signed_in_peak), (0, 1));
        assert_eq!((sb.signed_in, sb.signed_in_peak), (2, 2));
        assert_eq!((t.signouts.forced, sa.signouts.forced), (1, 1));
        assert_eq!(Outcome::HTTP_429.label(), "http_429");
        assert_eq!(Outcome::OTHER.label(), "other");
    }
}
