//! From what was measured to what it means, in one place. [`finalize`] fills a Results'
//! [`Derived`] part — recovery after lost sessions, drift over the intervals, the
//! thresholds' verdicts, and the exit code with its reason — from the measured fields
//! alone. `run`, `run --processes`, `merge` and `report` all call it, so a merged run is
//! judged as one run (not as its first shard), and a results file re-rendered later is
//! judged again rather than trusted.
//!
//! The exit-code rule lives here and nowhere else ([`verdict`]); `crate::exit` names the
//! codes.

use std::path::Path;

use crate::analysis::{drift, thresholds};
use crate::exit;
use crate::metrics::results::{Derived, Recovery, RunStatus, Verdict};
use crate::metrics::{OpStats, Results};
use crate::scenario::thresholds::Threshold;

/// Recomputes every derived field of `r`. `hlog` is the run's `latency.hlog`, needed only
/// by windowed latency thresholds (they fail, saying so, without it).
pub fn finalize(r: &mut Results, ths: &[Threshold], hlog: Option<&Path>) {
    let mut d = Derived {
        recovery: Recovery::from_sessions(&r.sessions),
        drift: drift::analyse(&r.intervals),
        ..Derived::default()
    };
    // Thresholds may read the drift findings (`signin.p99.drift`).
    r.derived.drift = d.drift.clone();
    d.thresholds = thresholds::evaluate_with_hlog_file(ths, r, hlog);
    d.verdict = verdict(r, &d.thresholds);
    r.derived = d;
}

/// The thresholds a results document's scenario sets, read from the scenario text it
/// carries (only its `[thresholds]` table: the rest may name files or variables of the
/// machine that ran it).
pub fn thresholds_of(r: &Results) -> Result<Vec<Threshold>, String> {
    #[derive(serde::Deserialize)]
    struct OnlyThresholds {
        #[serde(default)]
        thresholds: std::collections::BTreeMap<String, String>,
    }
    let t: OnlyThresholds = toml::from_str(&r.scenario.text)
        .map_err(|e| format!("its scenario text is not valid TOML: {}", e.message()))?;
    thresholds::parse_all(&t.thresholds).map_err(|e| format!("its scenario's thresholds: {e}"))
}

/// The exit code and its reason: could not measure (aborted, or no agent ever signed in
/// because every sign-in failed in transport) 3; interrupted 4; a threshold failed 1;
/// otherwise 0.
pub fn verdict(r: &Results, verdicts: &[thresholds::Verdict]) -> Verdict {
    let v = |exit_code, reason: String| Verdict { exit_code, reason };
    if let RunStatus::Aborted { reason } = &r.status {
        return v(exit::CANNOT_MEASURE, reason.clone());
    }
    if r.status == RunStatus::Interrupted {
        let left = r.sessions.left_signed_in;
        let reason = match left {
            0 => "interrupted; every signed-in agent signed out".to_string(),
            n => format!("interrupted with {n} agent(s) left signed in at the gateway"),
        };
        return v(exit::INTERRUPTED, reason);
    }
    if let Some(why) = never_signed_in(r) {
        return v(exit::CANNOT_MEASURE, why);
    }
    let failed = verdicts.iter().filter(|t| !t.passed).count();
    if failed > 0 {
        let names: Vec<&str> = verdicts
            .iter()
            .filter(|t| !t.passed)
            .map(|t| t.name.as_str())
            .collect();
        return v(
            exit::FAILED,
            format!(
                "{failed} of {} threshold(s) failed: {}",
                verdicts.len(),
                names.join(", ")
            ),
        );
    }
    v(exit::OK, String::new())
}

/// Why no agent could sign in, when every sign-in attempt failed without a reply (the
/// gateway was never reached as a gateway): the most common transport kind and the first
/// recorded reason. None when any agent signed in or any sign-in got a reply.
fn never_signed_in(r: &Results) -> Option<String> {
    if r.sessions.signed_in > 0 {
        return None;
    }
    let mut attempts = OpStats::default();
    for name in ["signin", "forcelogin"] {
        if let Some(s) = r.operations.get(name) {
            attempts.add(s);
        }
    }
    if attempts.judged() == 0 || attempts.transport_errors < attempts.judged() {
        return None;
    }
    let (kind, n) = attempts.transport.iter().max_by_key(|(_, n)| **n)?;
    let first = r
        .failures
        .kinds
        .iter()
        .filter(|(k, _)| k.starts_with("signin ") || k.starts_with("forcelogin "))
        .flat_map(|(_, list)| list.iter())
        .min_by(|a, b| a.at_s.total_cmp(&b.at_s))
        .map(|e| format!(": {}", e.reason))
        .unwrap_or_default();
    Some(format!(
        "no agent could sign in: all {} sign-in attempts failed without a reply ({n} {kind}){first}",
        attempts.judged()
    ))
}
