//! Checks on the load plan: each stage is exactly one of a ramp (to a rate) or a hold, rates
//! and durations are within the limits, the plan arrives at least one agent (a closed
//! model's population reaches one), and the capacity search has what it needs. Failures
//! name the key path, like every check in `validate`.

use std::time::Duration;

use super::{require, whole_number_refused, Problem, MAX_DURATION, MAX_RATE};
use crate::scenario::model::{CapacitySpec, LoadModel, Scenario, Stage};
use crate::scenario::tree::{KeyPath, Seg};
use crate::util::duration::HumanDuration;

pub(super) fn check_load(s: &Scenario) -> Result<(), Problem> {
    let l = &s.load;
    let key = ["load", "max_in_flight"];
    require(
        l.max_in_flight >= 1,
        &key,
        whole_number_refused(&KeyPath::keys(&key), &l.max_in_flight.to_string())
            .unwrap_or_default(),
    )?;
    require(
        l.max_lateness.is_none_or(|max| !max.get().is_zero()),
        &["load", "max_lateness"],
        "max_lateness must be above 0 (omit it to let late arrivals always start)",
    )?;
    let search = l.model == LoadModel::CapacitySearch;
    let capacity = match search {
        true => "load.model = \"capacity-search\" needs a [capacity] table: start_rate, step, max_rate, slo = { signin_p99 = \"800ms\" }",
        false => "[capacity] is used only with load.model = \"capacity-search\"",
    };
    require(search == s.capacity.is_some(), &["capacity"], capacity)?;
    if let Some(c) = &s.capacity {
        return check_capacity(c);
    }
    let stages = &["load", "stages"];
    require(
        !l.stages.is_empty(),
        stages,
        "no stages; write e.g. stages = [ { ramp = \"2m\", to = 85 }, { hold = \"10m\" } ]",
    )?;
    let (mut rate, mut arrivals, mut total) = (0.0_f64, 0.0_f64, Duration::ZERO);
    for (i, stage) in l.stages.iter().enumerate() {
        let (d, next_rate) = check_stage(i, stage, rate)?;
        let secs = d.as_secs_f64();
        arrivals += match stage.ramp {
            Some(_) => (rate + next_rate) / 2.0 * secs,
            None => next_rate * secs,
        };
        rate = next_rate;
        total = total.saturating_add(d);
    }
    if l.model == LoadModel::Closed {
        // The stages' numbers are a population: it must reach one agent.
        let peak = l.stages.iter().flat_map(|st| [st.to, st.rate]).flatten();
        return require(
            !total.is_zero() && peak.fold(0.0, f64::max) >= 1.0,
            stages,
            "a closed model's stages give a population (agents); let it reach at least 1",
        );
    }
    require(
        !total.is_zero() && arrivals >= 1.0,
        stages,
        format!(
            "the stages plan {arrivals:.2} sign-ins over {}; raise a rate or a duration \
             so that at least one agent arrives",
            HumanDuration(total)
        ),
    )
}

fn check_capacity(c: &CapacitySpec) -> Result<(), Problem> {
    for (key, v) in [
        ("start_rate", c.start_rate),
        ("step", c.step),
        ("max_rate", c.max_rate),
    ] {
        require(
            v.is_finite() && v > 0.0 && v <= MAX_RATE,
            &["capacity", key],
            format!("{key} = {v} must be a rate above 0 and at most {MAX_RATE} per second"),
        )?;
    }
    let (max, start) = (c.max_rate, c.start_rate);
    let below = format!("max_rate {max} is below start_rate {start}");
    require(max >= start, &["capacity", "max_rate"], below)?;
    let p = c.precision;
    let precision = format!("precision {p} must be between 0 and 1 (e.g. 0.05 for 5 %)");
    require(p > 0.0 && p < 1.0, &["capacity", "precision"], precision)?;
    let (held, step_hold) = (!c.step_hold.get().is_zero(), &["capacity", "step_hold"]);
    require(held, step_hold, "step_hold must be above 0")?;
    for (key, v) in [
        ("signin_error_pct", c.slo.signin_error_pct),
        ("late_arrival_pct", c.slo.late_arrival_pct),
    ] {
        require(
            (0.0..=100.0).contains(&v),
            &["capacity", "slo", key],
            format!("{key} = {v} must be a percentage from 0 to 100"),
        )?;
    }
    Ok(())
}

/// Checks one stage; returns its duration and the rate it ends at.
fn check_stage(i: usize, stage: &Stage, rate: f64) -> Result<(Duration, f64), Problem> {
    let at = |key: Option<&str>, message: &str| {
        let path = KeyPath::keys(&["load", "stages"]).child(Seg::Index(i));
        let path = key.map_or_else(|| path.clone(), |k| path.key(k));
        let message = message.to_string();
        Problem {
            path,
            message,
            echoed: None,
        }
    };
    let check_rate = |key: &str, r: f64| {
        if r.is_finite() && (0.0..=MAX_RATE).contains(&r) {
            return Ok(r);
        }
        let message =
            format!("{key} = {r} must be a number of sign-ins per second from 0 to {MAX_RATE}");
        Err(at(Some(key), &message))
    };
    let duration = |key: &str, d: HumanDuration| {
        if !d.get().is_zero() && d.get() <= MAX_DURATION {
            return Ok(d.get());
        }
        let max = HumanDuration(MAX_DURATION);
        let message =
            format!("{key} = \"{d}\" must be longer than 0 and at most {max}, e.g. {key} = \"2m\"");
        Err(at(Some(key), &message).echoing(d))
    };
    match (stage.ramp, stage.hold, stage.to, stage.rate) {
        (Some(_), Some(_), _, _) => Err(at(
            None,
            "a stage is either a ramp or a hold, not both; split it into two stages",
        )),
        (None, None, _, _) => Err(at(
            None,
            "a stage needs `ramp` (with `to`) or `hold`, e.g. { ramp = \"2m\", to = 85 } or \
             { hold = \"10m\" }",
        )),
        (Some(_), None, _, Some(_)) => Err(at(
            Some("rate"),
            "`rate` belongs to a hold; a ramp ends at `to`",
        )),
        (Some(_), None, None, None) => Err(at(
            None,
            "a ramp needs `to`, the rate (sign-ins per second) it ends at, e.g. \
             { ramp = \"2m\", to = 85 }",
        )),
        (Some(d), None, Some(to), None) => Ok((duration("ramp", d)?, check_rate("to", to)?)),
        (None, Some(_), Some(_), _) => Err(at(
            Some("to"),
            "`to` belongs to a ramp; a hold keeps the rate, or sets it with `rate`",
        )),
        (None, Some(d), None, r) => {
            let r = r.map_or(Ok(rate), |r| check_rate("rate", r))?;
            Ok((duration("hold", d)?, r))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::load_str;

    fn stages(stages: &str) -> Result<(), String> {
        let text = format!("name = \"t\"\n[agents]\nids = \"1001\"\n[load]\nstages = {stages}\n");
        load_str("t.toml", &text, &[])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_plan_must_arrive_at_least_one_agent() {
        // A ramp from 0 to 1/s over 1 s plans half an arrival; over 2 s, one.
        let e = stages("[{ ramp = \"1s\", to = 1 }]").expect_err("half an arrival");
        assert!(e.contains("plan 0.50 sign-ins over 1s"), "{e}");
        stages("[{ ramp = \"2s\", to = 1 }]").expect("one arrival");
        // A hold keeps the rate the ramp reached; `rate` on the first stage starts there.
        stages("[{ ramp = \"1s\", to = 1 }, { hold = \"1s\" }]").expect("1.5 arrivals");
        stages("[{ hold = \"1s\", rate = 2 }]").expect("two arrivals");
        let e = stages("[{ hold = \"10m\" }]").expect_err("rate stays 0");
        assert!(e.contains("plan 0.00 sign-ins"), "{e}");
    }

    #[test]
    fn a_stage_is_exactly_one_of_ramp_or_hold() {
        let e = stages("[{ ramp = \"1s\", hold = \"1s\", to = 1 }]").expect_err("both");
        assert!(e.contains("not both"), "{e}");
        let e = stages("[{ ramp = \"1s\", to = 1, rate = 2 }]").expect_err("rate on ramp");
        assert!(e.contains("`rate` belongs to a hold"), "{e}");
        let e = stages("[{ hold = \"31d\", rate = 1 }]").expect_err("too long");
        assert!(e.contains("at most 30days"), "{e}");
        let e = stages("[{ hold = \"1m\", rate = inf }]").expect_err("infinite");
        assert!(e.contains("from 0 to 1000000"), "{e}");
    }
}
