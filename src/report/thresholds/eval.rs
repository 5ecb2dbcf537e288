//! Evaluating parsed thresholds against Results (run totals and interval summaries) and,
//! for windowed latency thresholds, the interval histograms from `latency.hlog`.
//!
//! Rules (docs/reports.md): a latency with no samples cannot be measured and fails; an
//! error rate over zero attempts is 0 %; a session percentage with no session started
//! fails. A windowed threshold must hold in every window of its length that starts at an
//! interval boundary and fits in the run (one window over the whole run when the run is
//! shorter); the verdict reports the worst window.

use std::collections::BTreeMap;

use super::{Cmp, Limit, Metric, SessionField, SessionTiming, Stat, Threshold, Verdict};
use crate::metrics::results::{IntervalOp, POLL_EMPTY, POLL_EVENT};
use crate::metrics::{Hist, OpStats, Results};
use crate::report::hlog::{self, HlogInterval};

/// Slack for comparing interval boundaries written with millisecond precision.
const EPS_S: f64 = 1e-3;

/// Evaluates every threshold. `hlog` is needed only by windowed latency thresholds; without
/// it they fail with a message saying so.
pub fn evaluate(
    ths: &[Threshold],
    results: &Results,
    hlog: Option<&[HlogInterval]>,
) -> Vec<Verdict> {
    ths.iter().map(|t| evaluate_one(t, results, hlog)).collect()
}

fn evaluate_one(t: &Threshold, r: &Results, hlog: Option<&[HlogInterval]>) -> Verdict {
    let measured = match t.window {
        None => whole_run(t, r).map(|v| (v, None)),
        Some(w) => windowed(t, r, hlog, w.as_secs_f64()),
    };
    match measured {
        Ok((value, window_s)) => {
            let passed = t.cmp.holds(value, t.limit.value());
            let mut text = show(value, t.limit);
            if let Some((a, b)) = window_s {
                let _ = std::fmt::Write::write_fmt(
                    &mut text,
                    format_args!(" (worst window {a:.0}–{b:.0} s)"),
                );
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
        Limit::Ms(_) => format!("{} ms", crate::report::console::fmt_ms(Some(value))),
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
            let attempts: u64 = picked.iter().map(|s| s.count).sum();
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
        Metric::Sessions { field } => {
            let s = &r.sessions;
            let n = match field {
                SessionField::Started => s.started,
                SessionField::SignedIn => s.signed_in,
                SessionField::Ready => s.ready,
                SessionField::NeverReady => s.never_ready,
                SessionField::SignedOutClean => s.signed_out_clean,
                SessionField::SignedOutUnexpected => s.signed_out_unexpected,
                SessionField::SigninGivenUp => s.signin_given_up,
                SessionField::LeftSignedIn => s.left_signed_in,
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
        Metric::NotStarted => share(
            r.scheduler.not_started,
            r.scheduler.planned_arrivals,
            t.limit,
            true,
        ),
    }
}

/// Index ranges `[lo, hi)` of the windows over intervals sorted by start: one window per
/// interval start whose window fits in the run, each holding the intervals that end
/// within it (at least its first one). Both ends only move forward, so callers can slide
/// an accumulator. When no window fits, one range covers everything.
pub(crate) fn window_ranges(
    spans: &[(f64, f64)],
    window_s: f64,
    run_end_s: f64,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut hi = 0;
    for (lo, &(start, _)) in spans.iter().enumerate() {
        if start + window_s > run_end_s + EPS_S {
            break;
        }
        hi = hi.max(lo + 1);
        while hi < spans.len() && spans[hi].1 <= start + window_s + EPS_S {
            hi += 1;
        }
        out.push((lo, hi));
    }
    if out.is_empty() && !spans.is_empty() {
        out.push((0, spans.len()));
    }
    out
}

/// A window accumulator that can slide: add the interval entering, take away the one
/// leaving (false when it cannot, and then the window is rebuilt from scratch).
trait Slide<T> {
    fn add(&mut self, item: &T);
    fn sub(&mut self, item: &T) -> bool;
    /// An empty accumulator with the same settings.
    fn cleared(&self) -> Self;
    /// The measured value of the window, None when it has no samples.
    fn value(&self, span_s: f64) -> Option<f64>;
}

/// Slides `acc` over every window and returns the worst value for the comparison `goal`
/// with its window, or why nothing could be measured.
fn worst_window<T, A: Slide<T>>(
    items: &[(f64, f64, T)],
    window_s: f64,
    run_end_s: f64,
    goal: (Cmp, f64),
    mut acc: A,
) -> Result<(f64, Option<(f64, f64)>), String> {
    let (cmp, limit) = goal;
    let spans: Vec<(f64, f64)> = items.iter().map(|(a, b, _)| (*a, *b)).collect();
    let (mut cur_lo, mut cur_hi) = (0, 0);
    let mut worst: Option<(f64, (f64, f64))> = None;
    for (lo, hi) in window_ranges(&spans, window_s, run_end_s) {
        while cur_hi < hi {
            acc.add(&items[cur_hi].2);
            cur_hi += 1;
        }
        while cur_lo < lo {
            if !acc.sub(&items[cur_lo].2) {
                acc = acc.cleared();
                items[lo..hi].iter().for_each(|(_, _, x)| acc.add(x));
                cur_lo = lo;
                break;
            }
            cur_lo += 1;
        }
        let (ws, we) = (items[lo].0, items[hi - 1].1);
        let Some(v) = acc.value(we - ws) else {
            continue;
        };
        let worse = match worst {
            None => true,
            Some((w, _)) => match cmp {
                Cmp::Lt | Cmp::Le => v > w,
                Cmp::Gt | Cmp::Ge => v < w,
                Cmp::Eq => (v - limit).abs() > (w - limit).abs(),
            },
        };
        if worse {
            worst = Some((v, (ws, we)));
        }
    }
    worst
        .map(|(v, w)| (v, Some(w)))
        .ok_or_else(|| format!("{NO_SAMPLES} in any window"))
}

struct HistAcc {
    hist: Hist,
    stat: Stat,
}

impl Slide<&Hist> for HistAcc {
    fn add(&mut self, item: &&Hist) {
        self.hist.add(item);
    }
    fn sub(&mut self, item: &&Hist) -> bool {
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

fn windowed(
    t: &Threshold,
    r: &Results,
    hlog: Option<&[HlogInterval]>,
    window_s: f64,
) -> Result<(f64, Option<(f64, f64)>), String> {
    let limit = t.limit.value();
    match &t.metric {
        Metric::Latency {
            operation,
            kind,
            stat,
        } => {
            let hlog = hlog
                .ok_or("needs the interval histograms in latency.hlog, which were not available")?;
            let tag = hlog::tag(operation, *kind);
            let mut items: Vec<(f64, f64, &Hist)> = hlog
                .iter()
                .filter(|iv| iv.tag == tag)
                .map(|iv| (iv.start_s, iv.end_s, &iv.hist))
                .collect();
            items.sort_by(|a, b| a.0.total_cmp(&b.0));
            let run_end = r
                .duration_s
                .max(items.iter().map(|i| i.1).fold(0.0, f64::max));
            worst_window(
                &items,
                window_s,
                run_end,
                (t.cmp, limit),
                HistAcc {
                    hist: Hist::new(),
                    stat: *stat,
                },
            )
        }
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

fn windowed_counts(
    t: &Threshold,
    r: &Results,
    window_s: f64,
) -> Result<(f64, Option<(f64, f64)>), String> {
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
    worst_window(&items, window_s, run_end, (t.cmp, t.limit.value()), acc)
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

#[cfg(test)]
mod tests {
    use super::window_ranges;

    #[test]
    fn windows_start_at_each_boundary_and_fit_in_the_run() {
        let spans: Vec<(f64, f64)> = (0..6)
            .map(|i| (i as f64 * 10.0, i as f64 * 10.0 + 10.0))
            .collect();
        // 20 s windows over a 60 s run: starts 0,10,20,30,40
        assert_eq!(
            window_ranges(&spans, 20.0, 60.0),
            [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
        );
        // a window shorter than an interval still holds one interval
        assert_eq!(window_ranges(&spans, 5.0, 60.0).len(), 6);
        assert_eq!(window_ranges(&spans, 5.0, 60.0)[2], (2, 3));
        // a run shorter than the window: one window over everything
        assert_eq!(window_ranges(&spans, 600.0, 60.0), [(0, 6)]);
        assert!(window_ranges(&[], 10.0, 60.0).is_empty());
        // a gap (an interval not logged) does not shift the window bounds
        let gappy = [(0.0, 10.0), (20.0, 30.0), (30.0, 40.0)];
        assert_eq!(window_ranges(&gappy, 20.0, 40.0), [(0, 1), (1, 3)]);
    }
}
