//! The pacer: a pure function from the plan and an arrival's index to the arrival's
//! intended start, as an offset from the run's start (vegeta's `Pace(elapsed, hits)` turned
//! around: we ask "when is hit n due?", which is what coordinated-omission correction needs).
//!
//! Arrival `n` (0-based) is due at the time `t` where the cumulative arrival count
//! `N(t) = ∫ rate` reaches `n`; the plan issues every whole `n < N(end)`. No clock here:
//! the scheduler sleeps until the times this returns.

use std::time::Duration;

use crate::scheduler::plan::Plan;

#[derive(Debug, Clone)]
pub struct Pacer {
    plan: Plan,
    total: f64,
}

impl Pacer {
    pub fn new(plan: Plan) -> Pacer {
        let total = plan.total_arrivals();
        Pacer { plan, total }
    }

    /// How many arrivals the plan issues.
    pub fn planned_arrivals(&self) -> u64 {
        // N(end) arrivals numbered from 0: every whole n strictly below the total (with a
        // hair of tolerance so 100/s × 10 s gives exactly 1000, not 999 or 1001).
        let t = self.total - 1e-9;
        if t <= 0.0 {
            0
        } else {
            t.ceil() as u64
        }
    }

    /// Intended start of arrival `n`, from the run's start; None past the plan's end.
    pub fn intended_offset(&self, n: u64) -> Option<Duration> {
        if n >= self.planned_arrivals() {
            return None;
        }
        self.offset_at_count(n as f64)
    }

    /// The time at which the planned cumulative count `N(t)` reaches `x` (the inverse of
    /// `N`), or None when the plan ends first.
    pub fn offset_at_count(&self, x: f64) -> Option<Duration> {
        if !(0.0..self.total).contains(&x) {
            return None;
        }
        let mut k = x; // arrivals still to cover, counted from the phase start
        let mut start = 0.0_f64;
        for p in &self.plan.phases {
            let d = p.duration.as_secs_f64();
            let count = p.arrivals();
            if k < count {
                let r0 = p.from_rate;
                let slope = if d > 0.0 { (p.to_rate - r0) / d } else { 0.0 };
                // Solve r0·t + slope·t²/2 = k for the smallest t ≥ 0, in the form that does
                // not cancel when slope is small or negative.
                let disc = (r0 * r0 + 2.0 * slope * k).max(0.0);
                let denom = r0 + disc.sqrt();
                let t = if denom > 0.0 { 2.0 * k / denom } else { 0.0 };
                return Some(Duration::from_secs_f64(start + t.min(d)));
            }
            k -= count;
            start += d;
        }
        // Rounding at the very end: the last arrival lands at the end of the plan.
        Some(Duration::from_secs_f64(start))
    }
}

/// The arrival times a run issues, in order: evenly spaced (arrival `n` when the planned
/// count reaches `n`), or as a Poisson process with the planned rate (cumulative
/// unit-exponential gaps mapped through the inverse of `N`, so the rate follows ramps).
/// Seeded, so a scenario with a seed repeats its arrival times exactly.
pub struct Arrivals {
    pacer: Pacer,
    poisson: bool,
    rng: rand::rngs::SmallRng,
    n: u64,
    count: f64,
}

impl Arrivals {
    pub fn new(pacer: Pacer, poisson: bool, seed: u64) -> Arrivals {
        use rand::SeedableRng;
        Arrivals {
            pacer,
            poisson,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            n: 0,
            count: 0.0,
        }
    }

    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.poisson {
            use rand::Rng;
            // -ln(U) with U in (0, 1] is a unit exponential gap in "planned count" space.
            let u: f64 = 1.0 - self.rng.random::<f64>();
            self.count += -u.ln();
            self.pacer.offset_at_count(self.count)
        } else {
            let t = self.pacer.intended_offset(self.n);
            self.n += 1;
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plan::Phase;

    fn plan(phases: &[(f64, f64, f64)]) -> Pacer {
        Pacer::new(Plan {
            phases: phases
                .iter()
                .map(|&(d, a, b)| Phase {
                    duration: Duration::from_secs_f64(d),
                    from_rate: a,
                    to_rate: b,
                })
                .collect(),
        })
    }

    fn ms(p: &Pacer, n: u64) -> f64 {
        p.intended_offset(n).expect("within plan").as_secs_f64() * 1000.0
    }

    #[test]
    fn constant_rate_table() {
        let p = plan(&[(10.0, 100.0, 100.0)]);
        assert_eq!(p.planned_arrivals(), 1000);
        for (n, want_ms) in [(0, 0.0), (1, 10.0), (50, 500.0), (999, 9990.0)] {
            assert!((ms(&p, n) - want_ms).abs() < 1e-6, "n={n}: {}", ms(&p, n));
        }
        assert_eq!(p.intended_offset(1000), None);
    }

    #[test]
    fn linear_ramp_table() {
        // 0 → 100/s over 10 s: N(t) = 5 t², so arrival n is due at sqrt(n / 5) s.
        let p = plan(&[(10.0, 0.0, 100.0)]);
        assert_eq!(p.planned_arrivals(), 500);
        for (n, want_s) in [
            (0u64, 0.0f64),
            (5, 1.0),
            (20, 2.0),
            (125, 5.0),
            (499, (499.0f64 / 5.0).sqrt()),
        ] {
            assert!(
                (ms(&p, n) - want_s * 1000.0).abs() < 1e-3,
                "n={n}: {}",
                ms(&p, n)
            );
        }
    }

    #[test]
    fn ramp_down_and_phase_boundaries() {
        // 1 s at 10/s (10 arrivals), then 100 → 0 over 2 s (100 arrivals).
        let p = plan(&[(1.0, 10.0, 10.0), (2.0, 100.0, 0.0)]);
        assert_eq!(p.planned_arrivals(), 110);
        assert!((ms(&p, 9) - 900.0).abs() < 1e-6);
        assert!((ms(&p, 10) - 1000.0).abs() < 1e-6);
        // N(t) in phase 2 = 100 t − 25 t²; 75 arrivals in → t = 1 s.
        assert!((ms(&p, 85) - 2000.0).abs() < 1e-3, "{}", ms(&p, 85));
        // times never go backwards
        let times: Vec<f64> = (0..110).map(|n| ms(&p, n)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().expect("non-empty") <= 3000.0);
    }

    #[test]
    fn poisson_spacing_follows_the_rate_and_repeats_with_its_seed() {
        let times: Vec<f64> = Arrivals::new(plan(&[(100.0, 50.0, 50.0)]), true, 7)
            .map(|d| d.as_secs_f64())
            .collect();
        // 5,000 expected; a Poisson count has sd ≈ 71, so ±5 sd is a safe band
        assert!((4650..=5350).contains(&times.len()), "{}", times.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        // exponential gaps: coefficient of variation ≈ 1 (constant spacing would give 0)
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((0.9..1.1).contains(&cv), "cv {cv}");
        let again: Vec<f64> = Arrivals::new(plan(&[(100.0, 50.0, 50.0)]), true, 7)
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(times, again);
        // a ramp: the second half of 0 → 100/s over 10 s holds 3/4 of the arrivals
        let ramp: Vec<f64> = Arrivals::new(plan(&[(10.0, 0.0, 100.0)]), true, 1)
            .map(|d| d.as_secs_f64())
            .collect();
        let late = ramp.iter().filter(|t| **t >= 5.0).count() as f64 / ramp.len() as f64;
        assert!((0.68..0.82).contains(&late), "{late}");
        let constant: Vec<Duration> = Arrivals::new(plan(&[(1.0, 4.0, 4.0)]), false, 0).collect();
        assert_eq!(constant.len(), 4);
    }

    #[test]
    fn zero_rate_hold_issues_nothing_and_is_skipped() {
        let p = plan(&[(5.0, 0.0, 0.0), (1.0, 4.0, 4.0)]);
        assert_eq!(p.planned_arrivals(), 4);
        assert!((ms(&p, 0) - 5000.0).abs() < 1e-6);
        assert!((ms(&p, 3) - 5750.0).abs() < 1e-6);
    }
}
