//! The load plan: a scenario's stages normalised into phases of linearly changing arrival
//! rate (Goose's lesson: every load shape becomes one step plan). Pure: no clock, no I/O.
//!
//! A phase is `(duration, from_rate, to_rate)` in sign-in arrivals per second. A `ramp`
//! stage changes the rate linearly from where the previous stage left it; a `hold` stage
//! keeps it, or first jumps to its `rate`. The rate starts at 0.

use std::time::Duration;

use crate::scenario::Stage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub duration: Duration,
    pub from_rate: f64,
    pub to_rate: f64,
}

impl Phase {
    /// Arrivals this phase contributes (area under the rate line).
    pub fn arrivals(&self) -> f64 {
        (self.from_rate + self.to_rate) / 2.0 * self.duration.as_secs_f64()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub phases: Vec<Phase>,
}

impl Plan {
    /// Normalises stages. Stage syntax is validated by the scenario loader; this only
    /// refuses what would make the plan meaningless, with a message naming the stage.
    pub fn from_stages(stages: &[Stage]) -> Result<Plan, String> {
        let mut rate = 0.0_f64;
        let mut phases = Vec::with_capacity(stages.len());
        for (i, s) in stages.iter().enumerate() {
            let phase = match (s.ramp, s.hold) {
                (Some(d), None) => {
                    let to = s.to.ok_or_else(|| {
                        format!("load.stages[{i}]: a ramp needs `to` (the rate it ramps to)")
                    })?;
                    Phase {
                        duration: d.get(),
                        from_rate: rate,
                        to_rate: to,
                    }
                }
                (None, Some(d)) => {
                    let r = s.rate.unwrap_or(rate);
                    Phase {
                        duration: d.get(),
                        from_rate: r,
                        to_rate: r,
                    }
                }
                _ => {
                    return Err(format!(
                        "load.stages[{i}]: write exactly one of `ramp` or `hold`"
                    ))
                }
            };
            for r in [phase.from_rate, phase.to_rate] {
                if !r.is_finite() || r < 0.0 {
                    return Err(format!(
                        "load.stages[{i}]: rate {r} must be a finite number ≥ 0 (arrivals per second)"
                    ));
                }
            }
            rate = phase.to_rate;
            phases.push(phase);
        }
        let plan = Plan { phases };
        if plan.total_arrivals() < 1.0 {
            return Err(
                "load.stages: the plan calls for no arrivals at all; give a stage a rate above 0"
                    .into(),
            );
        }
        Ok(plan)
    }

    pub fn duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// Arrivals the whole plan calls for (fractional; the pacer issues the whole ones).
    pub fn total_arrivals(&self) -> f64 {
        self.phases.iter().map(Phase::arrivals).sum()
    }

    /// The planned level (arrival rate, or population in the closed model) at `t` from the
    /// start; 0 after the end.
    pub fn level_at(&self, t: Duration) -> f64 {
        let mut start = Duration::ZERO;
        for p in &self.phases {
            let end = start + p.duration;
            if t < end {
                let d = p.duration.as_secs_f64();
                let into = (t - start).as_secs_f64();
                return if d > 0.0 {
                    p.from_rate + (p.to_rate - p.from_rate) * into / d
                } else {
                    p.to_rate
                };
            }
            start = end;
        }
        0.0
    }

    /// The highest level the plan reaches (peak rate or peak population).
    pub fn peak_level(&self) -> f64 {
        self.phases
            .iter()
            .flat_map(|p| [p.from_rate, p.to_rate])
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::duration::HumanDuration;

    fn ramp(secs: u64, to: f64) -> Stage {
        Stage {
            ramp: Some(HumanDuration::from_secs(secs)),
            to: Some(to),
            hold: None,
            rate: None,
        }
    }
    fn hold(secs: u64, rate: Option<f64>) -> Stage {
        Stage {
            ramp: None,
            to: None,
            hold: Some(HumanDuration::from_secs(secs)),
            rate,
        }
    }

    #[test]
    fn ramp_then_hold_keeps_the_rate() {
        let p = Plan::from_stages(&[ramp(120, 85.0), hold(600, None)]).expect("valid");
        assert_eq!(p.phases[0].from_rate, 0.0);
        assert_eq!(p.phases[1].from_rate, 85.0);
        assert_eq!(p.phases[1].to_rate, 85.0);
        assert_eq!(p.duration(), Duration::from_secs(720));
        assert!((p.total_arrivals() - (85.0 * 60.0 + 85.0 * 600.0)).abs() < 1e-6);
    }

    #[test]
    fn level_follows_ramps_and_holds() {
        let p =
            Plan::from_stages(&[ramp(10, 100.0), hold(10, None), ramp(10, 0.0)]).expect("valid");
        assert_eq!(p.level_at(Duration::ZERO), 0.0);
        assert_eq!(p.level_at(Duration::from_secs(5)), 50.0);
        assert_eq!(p.level_at(Duration::from_secs(15)), 100.0);
        assert_eq!(p.level_at(Duration::from_secs(25)), 50.0);
        assert_eq!(p.level_at(Duration::from_secs(31)), 0.0);
        assert_eq!(p.peak_level(), 100.0);
    }

    #[test]
    fn hold_with_rate_jumps() {
        let p = Plan::from_stages(&[hold(10, Some(100.0))]).expect("valid");
        assert_eq!(p.total_arrivals(), 1000.0);
    }

    #[test]
    fn refuses_meaningless_plans() {
        assert!(Plan::from_stages(&[hold(10, None)])
            .expect_err("no arrivals")
            .contains("no arrivals"));
        assert!(Plan::from_stages(&[ramp(10, -1.0)]).is_err());
        let mut both = ramp(1, 1.0);
        both.hold = Some(HumanDuration::from_secs(1));
        assert!(Plan::from_stages(&[both])
            .expect_err("both")
            .contains("exactly one"));
    }
}
