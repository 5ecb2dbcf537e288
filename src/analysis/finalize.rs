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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::ThresholdVerdict;
    use crate::metrics::sample::TransportKind;
    use crate::metrics::Hist;

    fn signins(ok: u64, transport: u64) -> Results {
        let mut r = Results::empty(RunStatus::Completed);
        let s = r.operations.entry("signin".into()).or_default();
        s.count = ok + transport;
        s.ok = ok;
        s.transport_errors = transport;
        if transport > 0 {
            s.transport.insert(TransportKind::Protocol, transport);
        }
        r.sessions.signed_in = ok;
        r
    }

    fn failed_threshold() -> ThresholdVerdict {
        ThresholdVerdict {
            name: "signin.p99".into(),
            passed: false,
            ..Default::default()
        }
    }

    #[test]
    fn one_rule_for_every_exit_code() {
        let ok = signins(10, 0);
        assert_eq!(verdict(&ok, &[]).exit_code, exit::OK);
        let v = verdict(&ok, &[failed_threshold()]);
        assert_eq!(v.exit_code, exit::FAILED);
        assert!(
            v.reason.contains("1 of 1 threshold(s) failed: signin.p99"),
            "{v:?}"
        );

        let mut interrupted = signins(10, 0);
        interrupted.status = RunStatus::Interrupted;
        interrupted.sessions.left_signed_in = 503;
        let v = verdict(&interrupted, &[failed_threshold()]);
        assert_eq!(
            v.exit_code,
            exit::INTERRUPTED,
            "interrupted wins over thresholds"
        );
        assert!(v.reason.contains("503 agent(s) left signed in"), "{v:?}");
        // Interrupted before anything was measured is still interrupted.
        let mut early = Results::empty(RunStatus::Interrupted);
        early.sessions.left_signed_in = 0;
        assert_eq!(verdict(&early, &[]).exit_code, exit::INTERRUPTED);

        let aborted = Results::empty(RunStatus::Aborted {
            reason: "target unreachable".into(),
        });
        let v = verdict(&aborted, &[]);
        assert_eq!(
            (v.exit_code, v.reason.as_str()),
            (exit::CANNOT_MEASURE, "target unreachable")
        );
    }

    #[test]
    fn no_sign_in_ever_answered_cannot_measure() {
        let v = verdict(&signins(0, 40), &[]);
        assert_eq!(v.exit_code, exit::CANNOT_MEASURE);
        assert!(
            v.reason
                .contains("all 40 sign-in attempts failed without a reply (40 protocol)"),
            "{v:?}"
        );
        // One answered sign-in (even a failed one) means the gateway was reached.
        let mut answered = signins(0, 40);
        let s = answered.operations.get_mut("signin").expect("signin");
        s.count += 1;
        s.retcode_failures = 1;
        assert_eq!(verdict(&answered, &[]).exit_code, exit::OK);
        // Nothing attempted at all is not this case either.
        assert_eq!(
            verdict(&Results::empty(RunStatus::Completed), &[]).exit_code,
            exit::OK
        );
    }

    #[test]
    fn finalize_replaces_stored_derived_values() {
        let mut r = signins(10, 0);
        r.derived.thresholds = vec![failed_threshold()];
        r.derived.verdict = Verdict {
            exit_code: exit::FAILED,
            reason: "stale".into(),
        };
        r.sessions.lost_at = Hist::new();
        r.sessions.lost_at.record_us(1_000_000);
        r.scenario.text = "name = \"x\"\n[thresholds]\n\"signin.count\" = \">= 10\"\n".into();
        let ths = thresholds_of(&r).expect("thresholds read from the text");
        assert_eq!(ths.len(), 1);
        finalize(&mut r, &ths, None);
        assert_eq!(r.derived.thresholds.len(), 1);
        assert!(r.derived.thresholds[0].passed, "{:?}", r.derived.thresholds);
        assert_eq!(r.derived.verdict.exit_code, exit::OK);
        assert_eq!(r.derived.recovery.as_ref().map(|x| x.lost), Some(1));
    }

    #[test]
    fn thresholds_come_from_the_scenario_text_only() {
        let mut r = Results::empty(RunStatus::Completed);
        // Fields that would not validate on another machine do not matter.
        r.scenario.text = "[target]\nca_file = \"/nowhere/ca.pem\"\n".into();
        assert_eq!(thresholds_of(&r).expect("no thresholds").len(), 0);
        r.scenario.text = "[thresholds]\n\"signin.p99\" = \"fast\"\n".into();
        let e = thresholds_of(&r).expect_err("bad threshold");
        assert!(e.contains("signin.p99"), "{e}");
        r.scenario.text = "[thresholds\n".into();
        assert!(thresholds_of(&r)
            .expect_err("bad toml")
            .contains("not valid TOML"));
    }
}
