//! The threshold grammar's vocabulary: a parsed [`Threshold`] and what it measures
//! ([`Metric`] with its statistics, session fields and timings, recovery measures), how it
//! compares ([`Cmp`], [`Limit`]), and the error listing every invalid entry at once.

use std::fmt::Write as _;
use std::time::Duration;

use crate::metrics::hlog::LatencyKind;

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written in the scenario, e.g. `signin.p99 over 1m`.
    pub name: String,
    pub metric: Metric,
    pub cmp: Cmp,
    pub limit: Limit,
    /// `over <duration>`: the condition must hold in every window of this length.
    pub window: Option<Duration>,
    /// The condition as written, e.g. `< 800ms`.
    pub allowed: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A latency statistic of one operation (`signin.p99`, `signin.raw.max`).
    Latency {
        operation: String,
        kind: LatencyKind,
        stat: Stat,
    },
    /// Failures of one operation (or of all operations when None), optionally only those
    /// with one outcome label (`100-003`, `http:503`, `transport:timeout`). Compared as a
    /// percentage of the attempts with a `%` limit, as a count otherwise.
    Errors {
        operation: Option<String>,
        label: Option<String>,
    },
    /// Successful operations per second over the run (or the window).
    Rate { operation: String },
    /// Attempts of one operation.
    Count { operation: String },
    /// A session outcome count, or its percentage of the sessions started with a `%` limit.
    Sessions { field: SessionField },
    /// A session timing statistic (`sessions.time_to_ready.p99`).
    SessionTiming { timing: SessionTiming, stat: Stat },
    /// The scheduler's lag behind the plan (`scheduler.lag.p99`).
    SchedulerLag { stat: Stat },
    /// Recovery after lost sessions (`recovery.t99`: from the first loss until 99 % of the
    /// lost agents were ready again; `recovery.not_back`: lost agents never back).
    Recovery { measure: RecoveryMeasure },
    /// Arrivals not started, or their percentage of the planned arrivals with a `%` limit.
    NotStarted,
    /// A significant trend over the run (`signin.p99.drift`: relative change of the p99
    /// trend line, percent; `signin.errors.drift`: change of the error rate, percentage
    /// points). No significant trend measures 0.
    Drift {
        operation: String,
        measure: crate::metrics::results::DriftMeasure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// A percentile, 0–100.
    Percentile(f64),
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionField {
    Agents,
    Started,
    Resignins,
    SignedIn,
    Ready,
    NeverReady,
    SignedOutClean,
    SignedOutUnexpected,
    SigninGivenUp,
    LeftSignedIn,
    Throttled,
    ThrottledAgents,
    SigninRetries,
}

/// What a `recovery.*` threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMeasure {
    T50,
    T99,
    T100,
    Lost,
    Back,
    /// Lost agents not back in service by the run's end (a count, or a percentage of the
    /// lost).
    NotBack,
}

impl RecoveryMeasure {
    pub fn is_time(self) -> bool {
        matches!(
            self,
            RecoveryMeasure::T50 | RecoveryMeasure::T99 | RecoveryMeasure::T100
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTiming {
    TimeToSignedIn,
    TimeToReady,
    SessionLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
        }
    }

    /// Whether `measured` satisfies `measured <op> limit` (== allows float rounding).
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => measured < limit,
            Cmp::Le => measured <= limit,
            Cmp::Gt => measured > limit,
            Cmp::Ge => measured >= limit,
            Cmp::Eq => (measured - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// A threshold's limit with its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A duration, in milliseconds.
    Ms(f64),
    /// A percentage (0–100).
    Percent(f64),
    /// A plain number (a count, or a rate per second).
    Number(f64),
}

impl Limit {
    pub fn value(self) -> f64 {
        match self {
            Limit::Ms(v) | Limit::Percent(v) | Limit::Number(v) => v,
        }
    }
}

/// Every problem found in a `[thresholds]` table (all of them, not only the first).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct ThresholdError {
    /// (threshold key, what is wrong and what is valid)
    pub problems: Vec<(String, String)>,
}

fn render_problems(problems: &[(String, String)]) -> String {
    let mut s = String::from("invalid [thresholds]:");
    for (key, msg) in problems {
        let _ = write!(s, "\n  {key:?}: {msg}");
    }
    s
}
