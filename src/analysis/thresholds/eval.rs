//! Evaluating parsed thresholds against Results (run totals and interval summaries) and,
//! for windowed latency thresholds, the interval histograms from `latency.hlog`.
//!
//! Rules (docs/reports.md): a latency with no samples cannot be measured and fails; an
//! error rate over zero attempts is 0 %; a session percentage with no session started
//! fails. A windowed threshold must hold in every window of its length that starts at an
//! interval boundary and fits in the run (one window over the whole run when the run is
//! shorter); the verdict reports the worst window.

use std::collections::BTreeMap;
use std::path::Path;

use super::window::{Slide, Slider, Worst};
use super::{
    Limit, Metric, RecoveryMeasure, SessionField, SessionTiming, Stat, Threshold, Verdict,
};
use crate::metrics::hlog::{self, HlogInterval};
use crate::metrics::results::{IntervalOp, POLL_EMPTY, POLL_EVENT};
use crate::metrics::{Hist, OpStats, Results};

/// Evaluates every threshold. `hlog` (the intervals of `latency.hlog`) is needed only by
/// windowed latency thresholds; without it they fail with a message saying so.
pub fn evaluate(
    ths: &[Threshold],
    results: &Results,
    hlog: Option<&[HlogInterval]>,
) -> Vec<Verdict> {
    evaluate_from(ths, results, hlog.map(HlogSource::Intervals))
}

/// Like [`evaluate`], streaming windowed latency thresholds from the `latency.hlog` at
/// `hlog_path` in one pass, holding only each window's histograms: the form to use after a
/// long soak, whose whole log would not fit in memory.
pub fn evaluate_with_hlog_file(
    ths: &[Threshold],
    results: &Results,
    hlog_path: Option<&Path>,
) -> Vec<Verdict> {
    evaluate_from(ths, results, hlog_path.map(HlogSource::File))
}

enum HlogSource<'a> {
    Intervals(&'a [HlogInterval]),
    File(&'a Path),
}

const NO_HLOG: &str = "needs the interval histograms in latency.hlog, which were not available";

fn evaluate_from(ths: &[Threshold], r: &Results, hlog: Option<HlogSource<'_>>) -> Vec<Verdict> {
    let mut windows = latency_windows(ths, r, hlog);
    ths.iter()
        .enumerate()
        .map(|(i, t)| {
            let measured = match (windows.remove(&i), t.window) {
                (Some(w), _) => w,
                (None, None) => whole_run(t, r).map(|v| (v, None)),
                (None, Some(w)) => windowed(t, r, w.as_secs_f64()),
            };
            verdict(t, measured)
        })
        .collect()
}

/// Windowed latency thresholds by index, all fed from one pass over the hlog.
fn latency_windows(
    ths: &[Threshold],
    r: &Results,
    hlog: Option<HlogSource<'_>>,
) -> BTreeMap<usize, Result<Worst, String>> {
    let mut sliders: Vec<(usize, String, Slider<Hist, HistAcc>)> = ths
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match (&t.metric, t.window) {
            (
                Metric::Latency {
                    operation,
                    kind,
                    stat,
                },
                Some(w),
            ) => {
                let acc = HistAcc {
                    hist: Hist::new(),
                    stat: *stat,
                };
                let slider = Slider::new(w.as_secs_f64(), (t.cmp, t.limit.value()), acc);
                Some((i, hlog::tag(operation, *kind), slider))
            }
            _ => None,
        })
        .collect();
    if sliders.is_empty() {
        return BTreeMap::new();
    }
    let tags: Vec<String> = sliders.iter().map(|(_, t, _)| t.clone()).collect();
    let mut run_end = r.duration_s;
    let mut feed = |iv: HlogInterval| {
        run_end = run_end.max(iv.end_s);
        for (_, _, slider) in sliders.iter_mut().filter(|(_, tag, _)| *tag == iv.tag) {
            slider.push(iv.start_s, iv.end_s, iv.hist.clone());
        }
    };
    let fed: Result<(), String> = match hlog {
        None => Err(NO_HLOG.into()),
        Some(HlogSource::Intervals(all)) => {
            let mut sorted: Vec<&HlogInterval> = all.iter().collect();
            sorted.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
            sorted.into_iter().for_each(|iv| feed(iv.clone()));
            Ok(())
        }
        Some(HlogSource::File(path)) => {
            hlog::for_each_interval(path, |t| tags.iter().any(|x| x == t), &mut feed)
        }
    };
    sliders
        .into_iter()
        .map(|(i, _, slider)| {
            let result = match &fed {
                Ok(()) => slider.finish(run_end),
                Err(e) => Err(e.clone()),
            };
            (i, result)
        })
        .collect()
}

fn verdict(t: &Threshold, measured: Result<Worst, String>) -> Verdict {
    match measured {
        Ok((value, window_s)) => {
            let passed = t.cmp.holds(value, t.limit.value());
            let mut text = show(value, t.limit);
            if let Some((a, b)) = window_s {
                text.push_str(&format!(" (worst window {a:.0}–{b:.0} s)"));
            }
            Verdict {
                name: t.name.clone(),
                measured: text,
                allowed: t.allowed.clone(),
                passed,
                value: Some(value),
                window_s,
            }
        }
        Err(why) => Verdict {
            name: t.name.clone(),
            measured: why,
            allowed: t.allowed.clone(),
            passed: false,
            value: None,
            window_s: None,
        },
    }
}

fn show(value: f64, limit: Limit) -> String {
    match limit {
        Limit::Ms(_) => format!("{} ms", crate::util::fmt::fmt_ms(Some(value))),
        Limit::Percent(_) => format!("{value:.4}%"),
        Limit::Number(_) if value.fract() == 0.0 => format!("{value:.0}"),
        Limit::Number(_) => format!("{value:.3}"),
    }
}

fn stat_ms(h: &Hist, stat: Stat) -> Option<f64> {
    match stat {
        Stat::Percentile(p) => h.percentile_ms(p),
        Stat::Max => h.max_ms(),
        Stat::Mean => h.mean_ms(),
    }
}

const NO_SAMPLES: &str = "no samples";

fn share(part: u64, whole: u64, limit: Limit, empty_is_zero: bool) -> Result<f64, String> {
    match limit {
        Limit::Percent(_) if whole == 0 && empty_is_zero => Ok(0.0),
        Limit::Percent(_) if whole == 0 => Err("nothing to take a percentage of (0)".into()),
        Limit::Percent(_) => Ok(part as f64 * 100.0 / whole as f64),
        _ => Ok(part as f64),
    }
}

/// Operations counted in the overall error rate (the poll splits would count twice).
fn counts_overall(name: &str) -> bool {
    name != POLL_EVENT && name != POLL_EMPTY
}

fn label_count(s: &OpStats, label: &str) -> u64 {
    s.outcome_counts()
        .into_iter()
        .filter(|(l, _)| l == label)
        .map(|(_, n)| n)
        .sum()
}

/// A `recovery.*` measure: times in ms from the first loss, counts of the lost agents.
fn recovery(measure: RecoveryMeasure, r: &Results, limit: Limit) -> Result<f64, String> {
    let Some(rec) = crate::metrics::results::Recovery::from_sessions(&r.sessions) else {
        return Err("no session was lost, so there was no recovery to measure".into());
    };
    let time = |t: Option<f64>, share: &str| {
        t.map(|s| s * 1000.0).ok_or_else(|| {
            format!(
                "not reached: {share} of the {} lost agents were never back ({} were)",
                rec.lost, rec.back
            )
        })
    };
    match measure {
        RecoveryMeasure::T50 => time(rec.t50_s, "half"),
        RecoveryMeasure::T99 => time(rec.t99_s, "99 %"),
        RecoveryMeasure::T100 => time(rec.t100_s, "some"),
        RecoveryMeasure::Lost => share(rec.lost, r.sessions.started, limit, false),
        RecoveryMeasure::Back => share(rec.back, rec.lost, limit, false),
        RecoveryMeasure::NotBack => {
            share(rec.lost.saturating_sub(rec.back), rec.lost, limit, false)
        }
    }
}

fn whole_run(t: &Threshold, r: &Results) -> Result<f64, String> {
    let empty = OpStats::default();
    let op = |name: &str| r.operations.get(name).unwrap_or(&empty);
    match &t.metric {
        Metric::Latency {
            operation,
            kind,
            stat,
        } => {
            let s = op(operation);
            let h = match kind {
                hlog::LatencyKind::Corrected => &s.corrected,
                hlog::LatencyKind::Raw => &s.raw,
            };
            stat_ms(h, *stat).ok_or_else(|| NO_SAMPLES.into())
        }
        Metric::Errors { operation, label } => {
            let picked: Vec<&OpStats> = match operation {
                Some(o) => vec![op(o)],
                None => r
                    .operations
                    .iter()
                    .filter(|(k, _)| counts_overall(k))
                    .map(|(_, v)| v)
                    .collect(),
            };
            let attempts: u64 = picked.iter().map(|s| s.judged()).sum();
            let failed: u64 = picked
                .iter()
                .map(|s| match label {
                    Some(l) => label_count(s, l),
                    None => s.failed(),
                })
                .sum();
            share(failed, attempts, t.limit, true)
        }
        Metric::Rate { operation } => {
            if r.duration_s <= 0.0 {
                return Err("the run has no duration".into());
            }
            Ok(op(operation).ok as f64 / r.duration_s)
        }
        Metric::Count { operation } => Ok(op(operation).count as f64),
        Metric::Drift { operation, measure } => {
            let f = r
                .derived
                .drift
                .iter()
                .find(|f| &f.operation == operation && f.measure == *measure)
                .ok_or_else(|| {
                    format!(
                        "too few intervals to judge a trend (needs {} with samples over at least {} minutes)",
                        crate::analysis::drift::MIN_POINTS,
                        crate::analysis::drift::MIN_SPAN_S / 60.0
                    )
                })?;
            Ok(match (f.significant, measure) {
                (false, _) => 0.0,
                (true, crate::analysis::drift::DriftMeasure::P99) => f.change_pct.unwrap_or(0.0),
                (true, crate::analysis::drift::DriftMeasure::ErrorRate) => f.end - f.start,
            })
        }
        Metric::Sessions { field } => {
            let s = &r.sessions;
            let n = match field {
                SessionField::Agents => s.agents,
                SessionField::Started => s.started,
                SessionField::Resignins => s.resignins,
                SessionField::SignedIn => s.signed_in,
                SessionField::Ready => s.ready,
                SessionField::NeverReady => s.never_ready,
                SessionField::SignedOutClean => s.signed_out_clean,
                SessionField::SignedOutUnexpected => s.signed_out_unexpected,
                SessionField::SigninGivenUp => s.signin_given_up,
                SessionField::LeftSignedIn => s.left_signed_in,
                SessionField::Throttled => s.throttled,
                SessionField::ThrottledAgents => s.throttled_agents,
                SessionField::SigninRetries => s.signin_retries,
            };
            share(n, s.started, t.limit, false)
        }
        Metric::SessionTiming { timing, stat } => {
            let s = &r.sessions;
            let h = match timing {
                SessionTiming::TimeToSignedIn => &s.time_to_signed_in,
                SessionTiming::TimeToReady => &s.time_to_ready,
                SessionTiming::SessionLength => &s.session_length,
            };
            stat_ms(h, *stat).ok_or_else(|| NO_SAMPLES.into())
        }
        Metric::SchedulerLag { stat } => {
            stat_ms(&r.scheduler.lag, *stat).ok_or_else(|| NO_SAMPLES.into())
        }
        Metric::Recovery { measure } => recovery(*measure, r, t.limit),
        Metric::NotStarted => share(
            r.scheduler.not_started,
            r.scheduler.planned_arrivals,
            t.limit,
            true,
        ),
    }
}

struct HistAcc {
    hist: Hist,
    stat: Stat,
}

impl Slide<Hist> for HistAcc {
    fn add(&mut self, item: &Hist) {
        self.hist.add(item);
    }
    fn sub(&mut self, item: &Hist) -> bool {
        self.hist.0.subtract(&item.0).is_ok()
    }
    fn cleared(&self) -> Self {
        HistAcc {
            hist: Hist::new(),
            stat: self.stat,
        }
    }
    fn value(&self, _span_s: f64) -> Option<f64> {
        stat_ms(&self.hist, self.stat)
    }
}

fn windowed(t: &Threshold, r: &Results, window_s: f64) -> Result<Worst, String> {
    match &t.metric {
        Metric::Errors { .. } | Metric::Rate { .. } | Metric::Count { .. } => {
            windowed_counts(t, r, window_s)
        }
        _ => Err("this measure cannot be checked over windows".into()),
    }
}

/// Counters summed over a window of intervals.
#[derive(Default, Clone)]
struct Counts {
    attempts: u64,
    ok: u64,
    failed: u64,
}

fn interval_counts(ops: &BTreeMap<String, IntervalOp>, metric: &Metric) -> Counts {
    let one = |o: &IntervalOp, label: &Option<String>| Counts {
        attempts: o.count,
        ok: o.ok,
        failed: match label {
            Some(l) if l == crate::protocol::retcode::SUCCESS => o.ok,
            Some(l) => o.errors.get(l).copied().unwrap_or(0),
            None => o.failed,
        },
    };
    let pick = |name: &str, label: &Option<String>| {
        ops.get(name).map(|o| one(o, label)).unwrap_or_default()
    };
    match metric {
        Metric::Errors {
            operation: None,
            label,
        } => ops
            .iter()
            .filter(|(k, _)| counts_overall(k))
            .map(|(_, o)| one(o, label))
            .fold(Counts::default(), |a, b| Counts {
                attempts: a.attempts + b.attempts,
                ok: a.ok + b.ok,
                failed: a.failed + b.failed,
            }),
        Metric::Errors {
            operation: Some(op),
            label,
        } => pick(op, label),
        Metric::Rate { operation } | Metric::Count { operation } => pick(operation, &None),
        _ => Counts::default(),
    }
}

fn windowed_counts(t: &Threshold, r: &Results, window_s: f64) -> Result<Worst, String> {
    let mut items: Vec<(f64, f64, Counts)> = r
        .intervals
        .iter()
        .map(|iv| {
            (
                iv.start_s,
                iv.end_s,
                interval_counts(&iv.operations, &t.metric),
            )
        })
        .collect();
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    let run_end = r
        .duration_s
        .max(items.iter().map(|i| i.1).fold(0.0, f64::max));
    let acc = CountAcc {
        counts: Counts::default(),
        metric: &t.metric,
        limit: t.limit,
    };
    let mut slider = Slider::new(window_s, (t.cmp, t.limit.value()), acc);
    for (a, b, c) in items {
        slider.push(a, b, c);
    }
    slider.finish(run_end)
}

struct CountAcc<'a> {
    counts: Counts,
    metric: &'a Metric,
    limit: Limit,
}

impl Slide<Counts> for CountAcc<'_> {
    fn add(&mut self, c: &Counts) {
        self.counts.attempts += c.attempts;
        self.counts.ok += c.ok;
        self.counts.failed += c.failed;
    }
    fn sub(&mut self, c: &Counts) -> bool {
        let a = &self.counts;
        match (
            a.attempts.checked_sub(c.attempts),
            a.ok.checked_sub(c.ok),
            a.failed.checked_sub(c.failed),
        ) {
            (Some(attempts), Some(ok), Some(failed)) => {
                self.counts = Counts {
                    attempts,
                    ok,
                    failed,
                };
                true
            }
            _ => false,
        }
    }
    fn cleared(&self) -> Self {
        CountAcc {
            counts: Counts::default(),
            metric: self.metric,
            limit: self.limit,
        }
    }
    fn value(&self, span_s: f64) -> Option<f64> {
        let a = &self.counts;
        match self.metric {
            Metric::Errors { .. } => share(a.failed, a.attempts, self.limit, true).ok(),
            Metric::Rate { .. } => (span_s > 0.0).then(|| a.ok as f64 / span_s),
            _ => Some(a.attempts as f64),
        }
    }
}
