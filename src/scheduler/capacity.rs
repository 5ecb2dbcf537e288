//! The capacity search: what is the highest sign-in rate the gateway sustains within the
//! SLO? It steps the arrival rate up from `start_rate` by `step`, holds each step for
//! `step_hold` and judges it (sign-in p99, sign-in errors, and late or dropped arrivals —
//! a step where the harness itself fell behind does not count as a pass); after the first
//! failing step it bisects between the last pass and the first failure until they are
//! within `precision`. The answer is the last passing rate, with one evidence row per step.
//!
//! Each step is an ordinary open-model run (same scheduler, same agents) whose samples are
//! also recorded into the step's own recorder, so it is judged on exactly its own data.
//! The judgement itself is a pure function.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::AgentContext;
use crate::metrics::recorder::{Aggregate, Recorder};
use crate::metrics::results::{CapacityResult, CapacityStep};
use crate::metrics::Operation;
use crate::scenario::model::CapacitySpec;
use crate::scheduler::pacer::{Arrivals, Pacer};
use crate::scheduler::plan::{Phase, Plan};
use crate::scheduler::{self, Pool, ScheduleReport};

/// An arrival later than this counts as late when judging a step.
pub const LATE_AFTER: Duration = Duration::from_millis(100);
/// Most steps a search runs (stepping plus bisection).
const MAX_STEPS: usize = 40;

/// Judges one step from what its agents recorded.
pub fn judge(spec: &CapacitySpec, rate: f64, agg: &Aggregate, hold: Duration) -> CapacityStep {
    let signin = &agg.series[Operation::Signin.index()];
    let p99 = signin.corrected.percentile_ms(99.0);
    let error_pct = pct(signin.failed(), signin.judged());
    let lag = &agg.lag.0;
    let late = lag
        .len()
        .saturating_sub(lag.count_between(0, LATE_AFTER.as_micros() as u64));
    let offered = agg.arrivals + agg.dropped_late + agg.not_started;
    let late_pct = pct(late + agg.not_started, offered);
    let slo = &spec.slo;
    let mut reasons = Vec::new();
    let limit_ms = slo.signin_p99.get().as_secs_f64() * 1000.0;
    match p99 {
        None => reasons.push("no sign-ins".to_string()),
        Some(p) if p > limit_ms => reasons.push(format!("signin p99 {p:.1} ms > {limit_ms:.1} ms")),
        _ => {}
    }
    if error_pct > slo.signin_error_pct {
        reasons.push(format!(
            "signin errors {error_pct:.2}% > {:.2}%",
            slo.signin_error_pct
        ));
    }
    if late_pct > slo.late_arrival_pct {
        reasons.push(format!(
            "late or dropped arrivals {late_pct:.2}% > {:.2}% (the harness fell behind)",
            slo.late_arrival_pct
        ));
    }
    CapacityStep {
        rate_per_s: rate,
        start_s: 0.0,
        end_s: 0.0,
        arrivals: agg.arrivals,
        achieved_rate_per_s: signin.ok as f64 / hold.as_secs_f64().max(1e-9),
        signin_count: signin.count,
        signin_failed: signin.failed(),
        signin_error_pct: error_pct,
        signin_p99_ms: p99,
        signin_p50_ms: signin.corrected.percentile_ms(50.0),
        late_arrival_pct: late_pct,
        passed: reasons.is_empty(),
        reason: reasons.join("; "),
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The search's state: which rate to try next, given the steps so far. Pure.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub last_pass: Option<f64>,
    pub first_fail: Option<f64>,
}

impl Search {
    /// Records a step's verdict and returns the next rate to try, or None when done.
    pub fn next(&mut self, spec: &CapacitySpec, rate: f64, passed: bool) -> Option<f64> {
        if passed {
            self.last_pass = Some(self.last_pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.first_fail = Some(self.first_fail.map_or(rate, |f| f.min(rate)));
        }
        match (self.last_pass, self.first_fail) {
            (Some(_), None) => {
                let next = rate + spec.step;
                (next <= spec.max_rate + 1e-9).then_some(next)
            }
            (None, Some(_)) => None, // even the first step failed
            (Some(p), Some(f)) => {
                if (f - p) / p <= spec.precision {
                    None
                } else {
                    Some((p + f) / 2.0)
                }
            }
            (None, None) => None,
        }
    }
}

/// Runs the search; returns what the scheduler did over all steps and the answer.
pub async fn run(
    spec: &CapacitySpec,
    base: Arc<AgentContext>,
    pool: Pool,
    max_in_flight: u32,
    max_lateness: Option<Duration>,
    start: Instant,
) -> (ScheduleReport, CapacityResult) {
    let mut total = ScheduleReport::default();
    let mut result = CapacityResult {
        slo: format!(
            "signin p99 <= {}, signin errors <= {}%, late (>{} ms) or dropped arrivals <= {}%",
            spec.slo.signin_p99,
            spec.slo.signin_error_pct,
            LATE_AFTER.as_millis(),
            spec.slo.late_arrival_pct
        ),
        ..CapacityResult::default()
    };
    let hold = spec.step_hold.get();
    let mut search = Search::default();
    let mut rate = Some(spec.start_rate);
    while let Some(r) = rate {
        if result.steps.len() >= MAX_STEPS || base.stop.is_cancelled() {
            break;
        }
        let step_rec = Recorder::new();
        let ctx = Arc::new(AgentContext {
            step: Some(step_rec.clone()),
            stop: base.stop.child_token(),
            ..(*base).clone()
        });
        let plan = Plan {
            phases: vec![Phase {
                duration: hold,
                from_rate: r,
                to_rate: r,
            }],
        };
        let step_start = Instant::now();
        tracing::info!("capacity search: step at {r:.1} sign-ins/s");
        let report = scheduler::run_open(
            Arrivals::new(Pacer::new(plan), false, 0),
            hold,
            pool.clone(),
            max_in_flight,
            max_lateness,
            ctx,
            step_start,
        )
        .await;
        total.planned += report.planned;
        total.started += report.started;
        total.not_started += report.not_started;
        total.dropped_late += report.dropped_late;
        let mut step = judge(spec, r, &step_rec.collect(), hold);
        step.start_s = step_start.duration_since(start).as_secs_f64();
        step.end_s = start.elapsed().as_secs_f64();
        tracing::info!(
            "capacity search: {r:.1}/s {}",
            if step.passed {
                "passed".to_string()
            } else {
                format!("failed: {}", step.reason)
            }
        );
        rate = search.next(spec, r, step.passed);
        result.steps.push(step);
        if rate.is_some() {
            tokio::select! {
                _ = tokio::time::sleep(spec.settle.get()) => {}
                _ = base.stop.cancelled() => break,
            }
        }
    }
    result.max_sustainable_rate_per_s = search.last_pass;
    (total, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::SloSpec;
    use crate::util::duration::HumanDuration;

    fn spec() -> CapacitySpec {
        CapacitySpec {
            start_rate: 50.0,
            step: 50.0,
            step_hold: HumanDuration::from_secs(2),
            max_rate: 400.0,
            precision: 0.05,
            settle: HumanDuration::from_millis(0),
            slo: SloSpec {
                signin_p99: HumanDuration::from_millis(100),
                signin_error_pct: 1.0,
                late_arrival_pct: 1.0,
            },
        }
    }

    #[test]
    fn steps_up_then_bisects_to_the_knee() {
        // a gateway that sustains 230/s: the search must land within 5 % below it
        let s = spec();
        let mut search = Search::default();
        let mut rate = Some(s.start_rate);
        let mut tried = Vec::new();
        while let Some(r) = rate {
            tried.push(r);
            rate = search.next(&s, r, r <= 230.0);
            assert!(tried.len() < 40);
        }
        assert_eq!(&tried[..5], &[50.0, 100.0, 150.0, 200.0, 250.0]);
        let best = search.last_pass.expect("some step passed");
        assert!(
            (230.0 * 0.95..=230.0).contains(&best),
            "{best} from {tried:?}"
        );
    }

    #[test]
    fn stops_at_max_rate_and_when_the_first_step_fails() {
        let s = spec();
        let mut search = Search::default();
        let mut rate = Some(s.start_rate);
        let mut n = 0;
        while let Some(r) = rate {
            rate = search.next(&s, r, true);
            n += 1;
        }
        assert_eq!(n, 8, "50..=400 by 50");
        assert_eq!(search.last_pass, Some(400.0));
        let mut failing = Search::default();
        assert_eq!(failing.next(&s, 50.0, false), None);
        assert_eq!(failing.last_pass, None);
    }

    #[test]
    fn judges_latency_errors_and_lateness() {
        let s = spec();
        let mut agg = Aggregate::default();
        let t = Instant::now();
        for i in 0..100u64 {
            let ms = if i < 98 { 10 } else { 500 };
            agg.record(&crate::metrics::Sample {
                operation: Operation::Signin,
                intended_at: t,
                sent_at: t,
                done_at: t + Duration::from_millis(ms),
                outcome: crate::metrics::Outcome::Ok {
                    retcode: crate::metrics::Retcode::SUCCESS,
                },
                poll: None,
            });
            agg.lag.record_us(1_000);
        }
        agg.arrivals = 100;
        let step = judge(&s, 50.0, &agg, Duration::from_secs(2));
        assert!(!step.passed, "p99 500 ms breaks a 100 ms SLO");
        assert!(step.reason.contains("p99"), "{}", step.reason);
        assert_eq!(step.achieved_rate_per_s, 50.0);
        // late arrivals alone fail a step too
        let mut quick = Aggregate::default();
        quick.series[Operation::Signin.index()] = agg.series[Operation::Signin.index()].clone();
        quick.series[Operation::Signin.index()].corrected = crate::metrics::Hist::new();
        quick.series[Operation::Signin.index()]
            .corrected
            .record_us(5_000);
        for _ in 0..10 {
            quick.lag.record_us(300_000);
        }
        quick.arrivals = 100;
        let step = judge(&s, 50.0, &quick, Duration::from_secs(2));
        assert!(
            !step.passed && step.reason.contains("late"),
            "{}",
            step.reason
        );
        assert!((step.late_arrival_pct - 10.0).abs() < 1e-9);
    }
}
