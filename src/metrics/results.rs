//! `Results`: the versioned document a run produces (docs/architecture.md), written as
//! `results.json`. It is the only input of every report writer, so any report can be
//! re-rendered later from this file alone, and results from shards merge exactly.
//!
//! This module owns the schema (field names are a public contract: add fields with
//! `#[serde(default)]`, bump [`SCHEMA_VERSION`] for anything else) and loading a document
//! back with a clear error. It computes nothing; the recorder fills it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::exemplar::Exemplars;

use super::histogram::Hist;
use super::names::{self, Folded};
use super::stats::{OpStats, SessionStats};
use crate::protocol::GatewayStats;

pub use super::derived::{
    CapacityResult, CapacityStep, Derived, DriftFinding, DriftMeasure, NodeRecovery, Recovery,
    ThresholdVerdict, Verdict,
};

/// Identifies the document type inside the file.
pub const SCHEMA_NAME: &str = "agentstorm.results";
/// Version of the schema; readers refuse other versions with a clear message.
pub const SCHEMA_VERSION: u32 = 1;

/// Names of the two sub-series of `poll` (successful polls split by what came back).
pub const POLL_EVENT: &str = "poll_event";
pub const POLL_EMPTY: &str = "poll_empty";

/// What a run measured, and beside it (in [`Derived`]) what that means. Every field but
/// `derived` is a measurement with a merge rule (`analysis::merge`); `derived` is computed
/// from them by `analysis::finalize`, which every command that writes results calls again
/// (run, run --processes, merge, report), so a stored verdict never outlives its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub schema_version: u32,
    pub agentstorm_version: String,
    pub scenario: ScenarioInfo,
    pub target: TargetInfo,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    pub status: RunStatus,
    /// Per operation (`signin`, `poll`, `logout`, …) plus `poll_event` and `poll_empty`,
    /// which split the successful polls by whether an event came back.
    pub operations: BTreeMap<String, OpStats>,
    pub sessions: SessionStats,
    /// Events received, by event type: at most `names::MAX_NAMES` types of at most
    /// `names::MAX_NAME_BYTES` bytes by name, the rest under `names::OTHER`.
    pub events: BTreeMap<String, u64>,
    /// How many distinct event types were counted under `names::OTHER`.
    #[serde(default, skip_serializing_if = "Folded::is_empty")]
    pub events_folded: Folded,
    pub scheduler: SchedulerStats,
    /// One entry per interval, oldest first.
    pub intervals: Vec<IntervalSnapshot>,
    /// What the target's own counters say happened during the run, when it is agentstorm's
    /// simulated gateway (it answers [`crate::protocol::STATS_PATH`]): its counters at the
    /// end less those at the start ([`GatewayStats::since`]). None for other gateways, and
    /// unless the counters were read at both ends.
    #[serde(default)]
    pub gateway: Option<GatewayStats>,
    /// The gateway's counters at the start (just before the run's clock starts), from which
    /// `gateway` is counted; kept so that shards on one gateway merge into one window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_at_start: Option<GatewayStats>,
    /// Which part of a sharded run this is (`run --shard K/N`), or for merged results the
    /// shards they hold; None for a whole run.
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// The capacity search's steps as it ran them (`load.model = "capacity-search"`). A
    /// step's pass or fail is a record here, not a derived value: the search decided the
    /// next step from it while running.
    #[serde(default)]
    pub capacity: Option<CapacityResult>,
    /// The first few failures of each kind in full: agent, time, reason, reply snippet.
    #[serde(default, skip_serializing_if = "Exemplars::is_empty")]
    pub failures: Exemplars,
    /// Computed from the fields above; kept at the top level of the JSON document.
    #[serde(flatten)]
    pub derived: Derived,
}

/// A shard's place in a sharded run (design: N shards together run exactly the scenario).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard's index, 0-based (for merged results: unused, 0).
    pub index: u32,
    /// How many shards the run was split into.
    pub count: u32,
    /// The agent ids this shard ran, as id-range text (`1001-1250,2001-2250`).
    pub ids: String,
    /// For merged results: how many shard results went in; 1 for a single shard.
    #[serde(default = "one")]
    pub merged: u32,
    /// How late this shard started against the agreed `--start-at`, seconds (0 if on time
    /// or no start time was set).
    #[serde(default)]
    pub late_start_s: f64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// SHA-256 of the scenario file's bytes (after `--set` overrides are applied: of the
    /// effective scenario), hex.
    pub hash: String,
    /// The scenario file path as given.
    #[serde(default)]
    pub path: String,
    /// The effective scenario as run (defaults filled in, `--set` applied), as TOML. Holds
    /// no secrets: passwords are only ever named by their source (env or file).
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Base URL the agents talked to (for the embedded gateway, its loopback URL).
    pub url: String,
    /// True when the target was the in-process simulated gateway.
    pub embedded: bool,
    /// True when certificate verification was switched off on request.
    #[serde(default)]
    pub tls_verify_disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunStatus {
    /// The plan ran to its end.
    Completed,
    /// Stopped early by a signal; the reports hold what was recorded until then.
    Interrupted,
    /// Stopped because the run could not measure (target unreachable, …).
    Aborted { reason: String },
}

impl std::fmt::Display for RunStatus {
    /// In words, as the reports print it: `completed`, `interrupted`, `aborted: <reason>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunStatus::Completed => f.write_str("completed"),
            RunStatus::Interrupted => f.write_str("interrupted"),
            RunStatus::Aborted { reason } => write!(f, "aborted: {reason}"),
        }
    }
}

/// How well the scheduler kept to the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulerStats {
    /// Arrivals the plan called for.
    pub planned_arrivals: u64,
    /// Arrivals that started an agent.
    pub started: u64,
    /// Arrivals that were not started (no free agent id, stop before their time).
    pub not_started: u64,
    /// How late each arrival was against its intended time when it started (or was
    /// dropped), µs.
    pub lag: Hist,
    /// Arrivals dropped because they could not start within `load.max_lateness`.
    #[serde(default)]
    pub dropped_late: u64,
    /// Most agents alive at once.
    pub peak_active_agents: u64,
}

/// One interval's deltas, for time series. Percentiles are summaries; the full interval
/// histograms stream to `latency.hlog` instead of growing this document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalSnapshot {
    /// Seconds since the run's start at which the interval began and ended.
    pub start_s: f64,
    pub end_s: f64,
    /// Agents alive (from arrival until their session ended) at the interval's end.
    pub active_agents: u64,
    /// Agents signed in at the interval's end, as the harness believes.
    pub signed_in: u64,
    /// Agents started (arrivals) during the interval.
    pub arrivals: u64,
    /// Per operation (same keys as `Results::operations`), only those with samples.
    pub operations: BTreeMap<String, IntervalOp>,
    /// Harness resident memory at the interval's end, bytes (0 where unknown).
    #[serde(default)]
    pub rss_bytes: u64,
    /// Harness CPU use over the interval, percent of one core (0 where unknown).
    #[serde(default)]
    pub cpu_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalOp {
    pub count: u64,
    pub ok: u64,
    pub failed: u64,
    pub corrected_p50_ms: f64,
    pub corrected_p99_ms: f64,
    pub corrected_max_ms: f64,
    pub raw_p50_ms: f64,
    pub raw_p99_ms: f64,
    /// Failures by outcome label (see `OpStats::outcome_counts`): the
    /// `names::INTERVAL_LABELS_MAX` largest, the rest under `names::OTHER`.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
}

impl IntervalOp {
    pub fn from_stats(s: &OpStats) -> IntervalOp {
        let mut errors = s.error_counts().into_iter().collect();
        names::keep_largest(&mut errors, names::INTERVAL_LABELS_MAX);
        IntervalOp {
            count: s.count,
            ok: s.ok,
            failed: s.failed(),
            corrected_p50_ms: s.corrected.percentile_ms(50.0).unwrap_or(0.0),
            corrected_p99_ms: s.corrected.percentile_ms(99.0).unwrap_or(0.0),
            corrected_max_ms: s.corrected.max_ms().unwrap_or(0.0),
            raw_p50_ms: s.raw.percentile_ms(50.0).unwrap_or(0.0),
            raw_p99_ms: s.raw.percentile_ms(99.0).unwrap_or(0.0),
            errors,
        }
    }
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a valid results document: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: not an agentstorm results document (schema {found:?}, expected {SCHEMA_NAME:?})"
    )]
    Schema { path: String, found: String },
    #[error("{path}: results schema version {found} is not supported (this agentstorm reads version {SCHEMA_VERSION}); re-render it with the agentstorm that wrote it")]
    Version { path: String, found: u64 },
}

impl Results {
    /// A document with no measurements, of this schema version: what a run that could not
    /// start writes, and a base for tests and merges.
    pub fn empty(status: RunStatus) -> Results {
        Results {
            schema: SCHEMA_NAME.into(),
            schema_version: SCHEMA_VERSION,
            agentstorm_version: env!("CARGO_PKG_VERSION").into(),
            scenario: ScenarioInfo::default(),
            target: TargetInfo::default(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: "2026-01-01T00:00:00Z".into(),
            duration_s: 0.0,
            status,
            operations: BTreeMap::new(),
            sessions: SessionStats::default(),
            events: BTreeMap::new(),
            events_folded: Folded::default(),
            scheduler: SchedulerStats::default(),
            intervals: vec![],
            gateway: None,
            gateway_at_start: None,
            shard: None,
            capacity: None,
            failures: Exemplars::default(),
            derived: Derived::default(),
        }
    }

    /// Reads a results document, checking its schema name and version before the body so
    /// that a file from another version says so instead of failing on a missing field.
    pub fn load(path: &Path) -> Result<Results, LoadError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: shown.clone(),
            source,
        })?;
        let parse_err = |e: serde_json::Error| LoadError::Parse {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        #[derive(Deserialize)]
        struct Header {
            schema: Option<String>,
            schema_version: Option<u64>,
        }
        let header: Header = serde_json::from_str(&text).map_err(parse_err)?;
        let found = header.schema.unwrap_or_default();
        if found != SCHEMA_NAME {
            return Err(LoadError::Schema { path: shown, found });
        }
        let version = header.schema_version.unwrap_or(0);
        if version != u64::from(SCHEMA_VERSION) {
            return Err(LoadError::Version {
                path: shown,
                found: version,
            });
        }
        serde_json::from_str(&text).map_err(parse_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn minimal() -> Results {
        let mut r = Results::empty(RunStatus::Aborted { reason: "x".into() });
        r.ended_at = "2026-01-01T00:00:01Z".into();
        r.duration_s = 1.0;
        r
    }

    #[test]
    fn load_round_trip_and_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("r.json");
        let r = minimal();
        std::fs::write(&good, serde_json::to_string(&r).expect("ser")).expect("write");
        assert_eq!(Results::load(&good).expect("loads"), r);

        let text = serde_json::to_string(&r).expect("ser");
        let truncated = dir.path().join("t.json");
        std::fs::write(&truncated, &text[..text.len() / 2]).expect("write");
        let e = Results::load(&truncated).expect_err("truncated");
        assert!(matches!(e, LoadError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("t.json:1:"), "{e}");

        let other = dir.path().join("v.json");
        std::fs::write(
            &other,
            text.replace("\"schema_version\":1", "\"schema_version\":9"),
        )
        .expect("write");
        let e = Results::load(&other).expect_err("version");
        assert!(e.to_string().contains("version 9"), "{e}");

        let foreign = dir.path().join("f.json");
        std::fs::write(&foreign, "{\"hello\":1}").expect("write");
        assert!(matches!(
            Results::load(&foreign),
            Err(LoadError::Schema { .. })
        ));
    }
}
