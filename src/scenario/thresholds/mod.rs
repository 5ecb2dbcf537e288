//! The threshold grammar (the scenario's `[thresholds]` table): a threshold is
//! `"<measure>[ over <window>]" = "<op> <number>[unit]"`, documented in docs/reports.md.
//! This module owns the vocabulary and its parsing, so a scenario is validated with its
//! thresholds; evaluating them against a run's results is `analysis::thresholds`.

use std::collections::BTreeMap;

use crate::metrics::hlog::LatencyKind;

mod types;

use crate::metrics::results::{POLL_EMPTY, POLL_EVENT};
use crate::metrics::Operation;
pub use types::*;

const MEASURES_HELP: &str = "valid forms: <op>.p50|p90|p99|p999|max|mean, <op>.raw.p99, \
<op>.errors, <op>.errors[<retcode>|http:<status>|transport:<kind>], <op>.rate, <op>.count, \
errors, errors[<label>], sessions.<outcome>, sessions.time_to_signed_in|time_to_ready|\
session_length.<stat>, recovery.t50|t99|t100|lost|back|not_back, scheduler.lag.<stat>, \
scheduler.not_started; append \" over <duration>\" \
to latency, errors, rate and count thresholds to check every window of that length";

const RECOVERY_MEASURES: [(&str, RecoveryMeasure); 6] = [
    ("t50", RecoveryMeasure::T50),
    ("t99", RecoveryMeasure::T99),
    ("t100", RecoveryMeasure::T100),
    ("lost", RecoveryMeasure::Lost),
    ("back", RecoveryMeasure::Back),
    ("not_back", RecoveryMeasure::NotBack),
];

const SESSION_FIELDS: [(&str, SessionField); 15] = [
    ("agents", SessionField::Agents),
    ("sessions", SessionField::Started),
    // the older name for sessions begun
    ("started", SessionField::Started),
    ("resignins", SessionField::Resignins),
    ("signed_in", SessionField::SignedIn),
    ("ready", SessionField::Ready),
    ("never_ready", SessionField::NeverReady),
    ("signed_out_clean", SessionField::SignedOutClean),
    ("signed_out_unexpected", SessionField::SignedOutUnexpected),
    // the name for sessions the gateway ended under the agent
    ("dropped", SessionField::SignedOutUnexpected),
    ("signin_given_up", SessionField::SigninGivenUp),
    ("left_signed_in", SessionField::LeftSignedIn),
    ("throttled", SessionField::Throttled),
    ("throttled_agents", SessionField::ThrottledAgents),
    ("signin_retries", SessionField::SigninRetries),
];

const SESSION_TIMINGS: [(&str, SessionTiming); 3] = [
    ("time_to_signed_in", SessionTiming::TimeToSignedIn),
    ("time_to_ready", SessionTiming::TimeToReady),
    ("session_length", SessionTiming::SessionLength),
];

/// Parses a whole `[thresholds]` table, reporting every bad entry at once.
pub fn parse_all(map: &BTreeMap<String, String>) -> Result<Vec<Threshold>, ThresholdError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (key, value) in map {
        match parse_one(key, value) {
            Ok(t) => out.push(t),
            Err(msg) => problems.push((key.clone(), msg)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ThresholdError { problems })
    }
}

/// Parses one threshold; the error says what is wrong and what would be valid.
pub fn parse_one(key: &str, value: &str) -> Result<Threshold, String> {
    let (measure, window) = match key.split_once(" over ") {
        Some((m, w)) => {
            let d = crate::util::duration::parse(w).map_err(|e| format!("window: {e}"))?;
            if d.is_zero() {
                return Err("window: the window length must be more than zero".into());
            }
            (m.trim(), Some(d))
        }
        None => (key.trim(), None),
    };
    let metric = parse_metric(measure)?;
    let (cmp, limit) = parse_condition(value)?;
    check_limit(&metric, limit)?;
    if window.is_some()
        && !matches!(
            metric,
            Metric::Latency { .. }
                | Metric::Errors { .. }
                | Metric::Rate { .. }
                | Metric::Count { .. }
        )
    {
        return Err(
            "\"over <window>\" applies only to operation latency, errors, rate and count".into(),
        );
    }
    Ok(Threshold {
        name: key.to_string(),
        metric,
        cmp,
        limit,
        window,
        allowed: value.trim().to_string(),
    })
}

fn operation_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Operation::ALL.iter().map(|o| o.name()).collect();
    v.extend([POLL_EVENT, POLL_EMPTY]);
    v
}

fn check_operation(name: &str) -> Result<String, String> {
    let names = operation_names();
    if names.contains(&name) {
        return Ok(name.to_string());
    }
    let hint = crate::util::diag::nearest(name, &names)
        .map(|n| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown operation or measure {name:?}{hint}; operations: {}; {MEASURES_HELP}",
        names.join(", ")
    ))
}

/// `p99` → 99, `p999` → 99.9, `p9999` → 99.99, `p50` → 50, `p100` → max; `max`, `mean`.
fn parse_stat(s: &str) -> Option<Stat> {
    match s {
        "max" | "p100" => return Some(Stat::Max),
        "mean" | "avg" => return Some(Stat::Mean),
        _ => {}
    }
    let digits = s.strip_prefix('p')?;
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = digits.parse().ok()?;
    let pct = n / 10f64.powi(digits.len() as i32 - 2);
    (pct > 0.0 && pct < 100.0).then_some(Stat::Percentile(pct))
}

fn stat_or_err(s: &str) -> Result<Stat, String> {
    parse_stat(s).ok_or_else(|| {
        format!("unknown statistic {s:?}; valid: p50, p90, p99, p999 (any pNN…), max, mean")
    })
}

fn parse_metric(measure: &str) -> Result<Metric, String> {
    // an outcome label in brackets: errors[100-003]
    let (body, label) = match measure.split_once('[') {
        Some((b, rest)) => {
            let label = rest
                .strip_suffix(']')
                .ok_or("a \"[\" without a closing \"]\" at the end")?;
            if label.is_empty() {
                return Err("empty outcome label in \"[]\"; e.g. errors[100-003], errors[http:503], errors[transport:timeout]".into());
            }
            (b, Some(label.to_string()))
        }
        None => (measure, None),
    };
    let parts: Vec<&str> = body.split('.').collect();
    if label.is_some() && parts.last() != Some(&"errors") {
        return Err("an outcome label in \"[…]\" only follows \"errors\"".into());
    }
    match parts.as_slice() {
        ["errors"] => Ok(Metric::Errors {
            operation: None,
            label,
        }),
        ["sessions", field] => SESSION_FIELDS
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, f)| Metric::Sessions { field: *f })
            .ok_or_else(|| {
                format!(
                    "unknown session measure {field:?}; valid: {}, or a timing ({}) with .<stat>",
                    SESSION_FIELDS.map(|(n, _)| n).join(", "),
                    SESSION_TIMINGS.map(|(n, _)| n).join(", ")
                )
            }),
        ["sessions", timing, stat] => {
            let timing = SESSION_TIMINGS
                .iter()
                .find(|(n, _)| n == timing)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    format!(
                        "unknown session timing {timing:?}; valid: {}",
                        SESSION_TIMINGS.map(|(n, _)| n).join(", ")
                    )
                })?;
            Ok(Metric::SessionTiming {
                timing,
                stat: stat_or_err(stat)?,
            })
        }
        ["recovery", measure] => RECOVERY_MEASURES
            .iter()
            .find(|(n, _)| n == measure)
            .map(|(_, m)| Metric::Recovery { measure: *m })
            .ok_or_else(|| {
                format!(
                    "unknown recovery measure {measure:?}; valid: {}",
                    RECOVERY_MEASURES.map(|(n, _)| n).join(", ")
                )
            }),
        ["scheduler", "lag", stat] => Ok(Metric::SchedulerLag {
            stat: stat_or_err(stat)?,
        }),
        ["scheduler", "not_started"] => Ok(Metric::NotStarted),
        [op, "errors"] => Ok(Metric::Errors {
            operation: Some(check_operation(op)?),
            label,
        }),
        [op, "rate"] => Ok(Metric::Rate {
            operation: check_operation(op)?,
        }),
        [op, "count"] => Ok(Metric::Count {
            operation: check_operation(op)?,
        }),
        [op, measure @ ("p99" | "errors"), "drift"] => Ok(Metric::Drift {
            operation: check_operation(op)?,
            measure: if *measure == "p99" {
                crate::metrics::results::DriftMeasure::P99
            } else {
                crate::metrics::results::DriftMeasure::ErrorRate
            },
        }),
        [op, kind @ ("raw" | "corrected"), stat] => Ok(Metric::Latency {
            operation: check_operation(op)?,
            kind: if *kind == "raw" {
                LatencyKind::Raw
            } else {
                LatencyKind::Corrected
            },
            stat: stat_or_err(stat)?,
        }),
        [op, stat] => {
            let operation = check_operation(op)?;
            let stat = parse_stat(stat)
                .ok_or_else(|| format!("unknown measure {stat:?} for {op:?}; {MEASURES_HELP}"))?;
            Ok(Metric::Latency {
                operation,
                kind: LatencyKind::Corrected,
                stat,
            })
        }
        _ => Err(format!("cannot read {measure:?}; {MEASURES_HELP}")),
    }
}

/// `< 800ms`, `<= 1.5s`, `> 99%`, `== 0`, `>= 90/s`.
fn parse_condition(value: &str) -> Result<(Cmp, Limit), String> {
    let v = value.trim();
    let (cmp, rest) = [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("==", Cmp::Eq),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ]
    .iter()
    .find_map(|(sym, c)| v.strip_prefix(sym).map(|r| (*c, r.trim())))
    .ok_or_else(|| {
        format!("condition {value:?} must start with one of < <= > >= == (e.g. \"< 800ms\", \"< 0.1%\", \"== 0\")")
    })?;
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, unit) = rest.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("condition {value:?}: {num:?} is not a non-negative number"))?;
    let limit = match unit.trim() {
        "" | "/s" => Limit::Number(n),
        "%" => Limit::Percent(n),
        "ms" => Limit::Ms(n),
        "s" => Limit::Ms(n * 1000.0),
        "us" | "µs" => Limit::Ms(n / 1000.0),
        "m" | "min" => Limit::Ms(n * 60_000.0),
        other => {
            return Err(format!(
                "condition {value:?}: unknown unit {other:?}; valid: ms, s, us, m, %, /s or none"
            ))
        }
    };
    Ok((cmp, limit))
}

fn check_limit(metric: &Metric, limit: Limit) -> Result<(), String> {
    let ok = match metric {
        Metric::Latency { .. } | Metric::SessionTiming { .. } | Metric::SchedulerLag { .. } => {
            matches!(limit, Limit::Ms(_))
        }
        Metric::Recovery { measure } if measure.is_time() => matches!(limit, Limit::Ms(_)),
        Metric::Errors { .. }
        | Metric::Sessions { .. }
        | Metric::NotStarted
        | Metric::Recovery { .. } => matches!(limit, Limit::Percent(_) | Limit::Number(_)),
        Metric::Rate { .. } | Metric::Count { .. } => matches!(limit, Limit::Number(_)),
        Metric::Drift { .. } => matches!(limit, Limit::Percent(_) | Limit::Number(_)),
    };
    if ok {
        return Ok(());
    }
    Err(match metric {
        Metric::Latency { .. } | Metric::SessionTiming { .. } | Metric::SchedulerLag { .. } => {
            "a latency needs a time unit: e.g. \"< 800ms\", \"< 1.5s\", \"< 500us\"".into()
        }
        Metric::Recovery { measure } if measure.is_time() => {
            "a recovery time needs a time unit: e.g. \"< 30s\"".into()
        }
        Metric::Errors { .. }
        | Metric::Sessions { .. }
        | Metric::NotStarted
        | Metric::Recovery { .. } => {
            "a count takes a plain number (\"== 0\") or a percentage (\"< 0.1%\")".into()
        }
        Metric::Rate { .. } => "a rate takes a plain number per second: \">= 90\"".into(),
        Metric::Count { .. } => "a count takes a plain number: \">= 1000\"".into(),
        Metric::Drift { .. } => {
            "a drift takes a percentage: \"< 20%\" (p99: relative rise; errors: percentage points)"
                .into()
        }
    })
}
