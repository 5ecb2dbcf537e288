//! Judgements of a run: what `analysis::finalize` derives from the measurements and keeps
//! in `Results.derived` (threshold verdicts, failover recovery, drift findings, the verdict
//! with its exit code — never merged, never trusted from a file, recomputed by every
//! command that writes results), and the capacity search's steps with the verdict each got
//! as the search ran (`Results.capacity`, kept as measured).

use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::stats::SessionStats;

/// What `analysis::finalize` derives from the measurements: never merged, never trusted
/// from a file, always recomputed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// The scenario's thresholds as judged on these results, in the order of their keys.
    #[serde(default)]
    pub thresholds: Vec<ThresholdVerdict>,
    /// How agents came back after the gateway ended their sessions (failover drills);
    /// None when no session was lost.
    #[serde(default)]
    pub recovery: Option<Recovery>,
    /// Trends of p99 and error rate per operation over the intervals (soak runs).
    #[serde(default)]
    pub drift: Vec<DriftFinding>,
    /// The exit code these results give, and why.
    #[serde(default)]
    pub verdict: Verdict,
}

/// The exit code a run's results give (the rule is `analysis::finalize::verdict`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub exit_code: i32,
    /// Why, in one line (empty when the run passed).
    #[serde(default)]
    pub reason: String,
}

/// Which series a drift finding is about (analysis in `report::drift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMeasure {
    /// Corrected p99 latency, ms.
    P99,
    /// Failed share of attempts, percent.
    ErrorRate,
}

/// One operation's trend in one measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftFinding {
    pub operation: String,
    pub measure: DriftMeasure,
    /// Intervals used.
    pub points: usize,
    /// Theil–Sen slope per hour (ms/h for p99, percentage points/h for the error rate).
    pub slope_per_hour: f64,
    /// The fitted line's value at the first and last interval.
    pub start: f64,
    pub end: f64,
    /// Relative change start → end, percent (None when the start is 0).
    pub change_pct: Option<f64>,
    /// Mann–Kendall Z and two-sided p-value.
    pub z: f64,
    pub p_value: f64,
    pub significant: bool,
    /// The finding in words.
    pub summary: String,
    /// `p_value` after Holm–Bonferroni over every series tested in the run (`z` and
    /// `p_value` already carry the autocorrelation correction); None in older results.
    #[serde(default)]
    pub p_adjusted: Option<f64>,
    /// Series tested together in the run (the Holm family); 0 in older results.
    #[serde(default)]
    pub family_size: usize,
    /// Hamed–Rao factor by which autocorrelation inflated Mann–Kendall's variance (1 =
    /// none); None in older results.
    #[serde(default)]
    pub variance_factor: Option<f64>,
    /// Whether the change of the fitted line (`start` → `end`, clamped to what the measure
    /// can be) is large enough to matter (see `analysis::drift`); None in older results.
    #[serde(default)]
    pub practical: Option<bool>,
}

/// Recovery after sessions were lost (computed from `sessions.lost_at` / `back_at`, and
/// per gateway node from `sessions.nodes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Sessions the gateway ended while the harness believed them signed in.
    pub lost: u64,
    /// Of those, agents that were ready again before the run ended.
    pub back: u64,
    /// Seconds since the run's start of the first loss.
    pub first_loss_s: f64,
    /// Seconds from the first loss until half / 99 % / all of the lost agents were ready
    /// again; None when that many never came back.
    pub t50_s: Option<f64>,
    pub t99_s: Option<f64>,
    pub t100_s: Option<f64>,
    /// Sign-in attempts the agents coming back made (first tries and retries).
    #[serde(default)]
    pub resignin_attempts: u64,
    /// The same per gateway node that lost sessions (the node that issued their GUID),
    /// measured from that node's first loss; empty when GUIDs name no node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeRecovery>,
}

/// One node's recovery (see [`Recovery`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRecovery {
    pub node: String,
    pub lost: u64,
    pub back: u64,
    pub first_loss_s: f64,
    pub t50_s: Option<f64>,
    pub t99_s: Option<f64>,
    pub t100_s: Option<f64>,
    pub resignin_attempts: u64,
}

/// The recovery of sessions lost at `lost_at` whose agents were back at `back_at`, as one
/// node's (`node` empty for the run as a whole); None when nothing was lost.
fn recovery_of(
    node: &str,
    lost_at: &Hist,
    back_at: &Hist,
    resignin_attempts: u64,
) -> Option<NodeRecovery> {
    let lost = lost_at.count();
    if lost == 0 {
        return None;
    }
    let first_loss_us = lost_at.0.min();
    let back = back_at.count();
    // Time at which `share` of the lost agents were back: the value of rank
    // ceil(share × lost) among the return times, if that many came back.
    let at = |share: f64| -> Option<f64> {
        let rank = ((share * lost as f64).ceil() as u64).max(1);
        if back < rank {
            return None;
        }
        let t_us = back_at.value_at_rank(rank);
        Some(t_us.saturating_sub(first_loss_us) as f64 / 1e6)
    };
    Some(NodeRecovery {
        node: node.to_string(),
        lost,
        back,
        first_loss_s: first_loss_us as f64 / 1e6,
        t50_s: at(0.5),
        t99_s: at(0.99),
        t100_s: at(1.0),
        resignin_attempts,
    })
}

impl Recovery {
    /// Computes recovery from the loss and return times; None when nothing was lost.
    pub fn from_sessions(s: &SessionStats) -> Option<Recovery> {
        let total = recovery_of("", &s.lost_at, &s.back_at, s.resignin_attempts)?;
        let nodes = s
            .nodes
            .iter()
            .filter_map(|(node, n)| recovery_of(node, &n.lost_at, &n.back_at, n.resignin_attempts))
            .collect();
        Some(Recovery {
            lost: total.lost,
            back: total.back,
            first_loss_s: total.first_loss_s,
            t50_s: total.t50_s,
            t99_s: total.t99_s,
            t100_s: total.t100_s,
            resignin_attempts: total.resignin_attempts,
            nodes,
        })
    }

    /// The run's recovery in one node's shape (`node` = `scope`), for rows that list both.
    pub fn as_scope(&self, scope: &str) -> NodeRecovery {
        NodeRecovery {
            node: scope.to_string(),
            lost: self.lost,
            back: self.back,
            first_loss_s: self.first_loss_s,
            t50_s: self.t50_s,
            t99_s: self.t99_s,
            t100_s: self.t100_s,
            resignin_attempts: self.resignin_attempts,
        }
    }
}

/// The capacity search's answer with its evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapacityResult {
    /// The highest sign-in rate whose step met the SLO; None if even the first did not.
    pub max_sustainable_rate_per_s: Option<f64>,
    /// Every step in the order run.
    pub steps: Vec<CapacityStep>,
    /// The SLO, as written, for the report.
    pub slo: String,
}

/// One step of the capacity search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    /// Target sign-in rate of the step.
    pub rate_per_s: f64,
    /// Seconds since the run's start at which the step began and its last agent finished.
    pub start_s: f64,
    pub end_s: f64,
    pub arrivals: u64,
    /// Sign-ins that succeeded, per second of the step's hold.
    pub achieved_rate_per_s: f64,
    pub signin_count: u64,
    pub signin_failed: u64,
    pub signin_error_pct: f64,
    pub signin_p99_ms: Option<f64>,
    pub signin_p50_ms: Option<f64>,
    /// Arrivals that started more than 100 ms late or were dropped, percent.
    pub late_arrival_pct: f64,
    pub passed: bool,
    /// Why the step failed, in words (empty when it passed).
    pub reason: String,
}

/// One threshold's verdict (the grammar and evaluation are in `report::thresholds`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThresholdVerdict {
    /// The threshold key as written (`signin.p99`, `signin.p99 over 1m`).
    pub name: String,
    /// What was measured, for people: value with unit and, for windows, where the worst
    /// window was; `no samples` when it could not be measured.
    pub measured: String,
    /// The condition as written (`< 800ms`).
    pub allowed: String,
    pub passed: bool,
    /// The measured number in the limit's unit (ms, %, count or per second), None when it
    /// could not be measured (which fails the threshold).
    #[serde(default)]
    pub value: Option<f64>,
    /// For windowed thresholds: the worst window, seconds since the run's start.
    #[serde(default)]
    pub window_s: Option<(f64, f64)>,
}
