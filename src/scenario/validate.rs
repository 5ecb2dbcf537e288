//! Checks on a scenario that serde cannot express: a stage is exactly one of ramp or hold,
//! rates are finite, the plan arrives somebody, the target is a usable URL, files named
//! exist, secrets are never written inline. Each failure names the key path it concerns;
//! `load` turns that into a file position.
//!
//! This module owns the limits (named constants below) and their messages, nothing about
//! positions or text.

use std::time::Duration;

use super::model::{AgentStatus, LoadModel, Scenario, Stage};
use super::tree::{KeyPath, Node, Seg, Value};
use crate::util::duration::HumanDuration;

/// Longest duration accepted anywhere in a scenario; longer is surely a typo, and keeps
/// clock arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Longest pause between polls: an agent that polls less often is not a signed-in agent.
pub const MAX_POLL_GAP: Duration = Duration::from_secs(3600);
/// Highest arrival rate (sign-ins per second) a stage may ask for.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Longest scenario name (it becomes part of the report directory's name).
pub const MAX_NAME_LEN: usize = 100;

/// A failed check: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: KeyPath,
    pub message: String,
}

fn problem(path: &[&str], message: impl Into<String>) -> Problem {
    Problem {
        path: KeyPath(path.iter().map(|k| Seg::Key((*k).to_string())).collect()),
        message: message.into(),
    }
}

/// The message for a password written into the scenario; it never repeats the value.
pub const INLINE_PASSWORD: &str = "a password may not be written in the scenario: secrets come \
    from an environment variable or a file, never the scenario text; write \
    password = { env = \"VAR\" } or password = { file = \"path\" }";

/// Checks on the document before deserialisation, where serde's own message would repeat
/// a value that must not be shown.
pub fn check_tree(root: &Node) -> Result<(), Problem> {
    check_threshold_keys(root)?;
    let password = root
        .entry("agents")
        .and_then(|a| a.node.entry("password"))
        .map(|e| &e.node.value);
    match password {
        None | Some(Value::Table(_)) => Ok(()),
        Some(_) => Err(problem(&["agents", "password"], INLINE_PASSWORD)),
    }
}

/// `signin.p99 = "< 800ms"` without quotes is a nested table in TOML; say so, rather than
/// serde's "expected a string".
fn check_threshold_keys(root: &Node) -> Result<(), Problem> {
    let Some(Value::Table(entries)) = root.entry("thresholds").map(|e| &e.node.value) else {
        return Ok(());
    };
    for e in entries {
        if let Value::Table(inner) = &e.node.value {
            let example = inner
                .first()
                .map_or_else(|| e.key.clone(), |i| format!("{}.{}", e.key, i.key));
            return Err(Problem {
                path: KeyPath(vec![Seg::Key("thresholds".into()), Seg::Key(e.key.clone())]),
                message: format!(
                    "a threshold is `\"metric\" = \"condition\"`; quote a metric with a dot \
                     in it, e.g. \"{example}\" = \"< 800ms\" (unquoted, TOML reads it as a table)"
                ),
            });
        }
    }
    Ok(())
}

/// Checks on the deserialised scenario.
pub fn check(s: &Scenario) -> Result<(), Problem> {
    check_name(&s.name)?;
    check_target(s)?;
    check_agents(s)?;
    check_session(s)?;
    check_load(s)?;
    check_thresholds(s)?;
    check_gateway(s)?;
    Ok(())
}

/// The embedded gateway's behaviour model has rules of its own (`sim::GatewayConfig`); for
/// the embedded target the agent ids must also be ids that gateway accepts.
fn check_gateway(s: &Scenario) -> Result<(), Problem> {
    if let Err(problems) = s.gateway.validate() {
        if let Some(p) = problems.into_iter().next() {
            return Err(problem(&["gateway", p.key], p.message));
        }
    }
    if s.target.is_embedded() {
        let (lo, hi) = (s.gateway.agent_id_min, s.gateway.agent_id_max);
        if let Some(id) = s.agents.ids.iter().find(|id| !(lo..=hi).contains(id)) {
            return Err(problem(
                &["agents", "ids"],
                format!(
                    "agent id {id} is outside the embedded gateway's range {lo}-{hi} (gateway.agent_id_min/agent_id_max)"
                ),
            ));
        }
    }
    Ok(())
}

/// Each threshold must parse (grammar in `scenario::thresholds`), so a typo fails before
/// any traffic instead of after an hour-long run.
fn check_thresholds(s: &Scenario) -> Result<(), Problem> {
    for (key, value) in &s.thresholds {
        if let Err(message) = crate::scenario::thresholds::parse_one(key, value) {
            return Err(Problem {
                path: KeyPath(vec![Seg::Key("thresholds".into()), Seg::Key(key.clone())]),
                message,
            });
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), Problem> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || !ok_chars || name.starts_with('.') || name.len() > MAX_NAME_LEN {
        return Err(problem(
            &["name"],
            format!(
                "name {name:?} must be 1-{MAX_NAME_LEN} letters, digits, '-', '_' or '.' \
                 (not starting with '.'): it names the report directory, e.g. \"shift-start\""
            ),
        ));
    }
    Ok(())
}

fn check_target(s: &Scenario) -> Result<(), Problem> {
    let t = &s.target;
    let url = t.url.trim();
    if !url.eq_ignore_ascii_case("embedded") {
        let bad = |why: &str| {
            problem(
                &["target", "url"],
                format!(
                    "url {url:?} {why}; write \"embedded\" or a base URL such as \
                     \"https://gw.example:8043\""
                ),
            )
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(bad("must start with http:// or https://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("has a query string"));
        }
    }
    if let Some(ca) = &t.ca_file {
        if t.insecure_skip_verify {
            return Err(problem(
                &["target", "insecure_skip_verify"],
                "insecure_skip_verify = true and a ca_file together: choose one (verify \
                 against the CA file, or skip verification)",
            ));
        }
        if !ca.is_file() {
            return Err(problem(
                &["target", "ca_file"],
                format!(
                    "ca_file {} does not exist or is not a file (a relative path is taken \
                     from the scenario file's directory)",
                    ca.display()
                ),
            ));
        }
    }
    positive(&["target", "timeout"], t.timeout)?;
    positive(&["target", "connect_timeout"], t.connect_timeout)?;
    if let Some(n) = t.read_buffer_bytes {
        if !(MIN_READ_BUFFER..=MAX_READ_BUFFER).contains(&n) {
            return Err(problem(
                &["target", "read_buffer_bytes"],
                format!(
                    "read_buffer_bytes = {n} is outside {MIN_READ_BUFFER}-{MAX_READ_BUFFER}; \
                     e.g. read_buffer_bytes = 1024, or leave it out for hyper's adaptive buffer"
                ),
            ));
        }
    }
    if !t.is_embedded() {
        return Ok(());
    }
    // The embedded gateway answers a poll after its poll wait: a shorter request timeout
    // would turn every quiet poll into a timeout. The gateway's model is opaque here, so
    // only a `poll_wait` it serialises is looked at.
    let poll_wait = serde_json::to_value(&s.gateway)
        .ok()
        .and_then(|v| {
            v.get("poll_wait")
                .and_then(|p| p.as_str().map(str::to_string))
        })
        .and_then(|p| crate::util::duration::parse(&p).ok());
    if let Some(wait) = poll_wait {
        if t.timeout.get() <= wait {
            return Err(problem(
                &["target", "timeout"],
                format!(
                    "timeout {} must be longer than the embedded gateway's poll_wait {} \
                     (a quiet poll is answered only after poll_wait)",
                    t.timeout,
                    HumanDuration(wait)
                ),
            ));
        }
    }
    Ok(())
}

fn check_agents(s: &Scenario) -> Result<(), Problem> {
    let a = &s.agents;
    match (a.status, a.rest_time) {
        (AgentStatus::Rest, None) => {
            return Err(problem(
                &["agents", "rest_time"],
                "status = \"rest\" needs rest_time (how long the rest lasts, 1s to 23h59m59s), e.g. rest_time = \"15m\"",
            ))
        }
        (AgentStatus::Rest, Some(t)) if !(1..=86_399).contains(&t.get().as_secs()) => {
            return Err(problem(
                &["agents", "rest_time"],
                format!("rest_time {t} must be from 1s to 23h59m59s (the gateway's 1-86399 s)"),
            ))
        }
        (AgentStatus::Rest, Some(_)) => {}
        (_, Some(_)) => {
            return Err(problem(
                &["agents", "rest_time"],
                "rest_time is used only with status = \"rest\"",
            ))
        }
        (_, None) => {}
    }
    if a.ids.is_empty() {
        return Err(problem(
            &["agents", "ids"],
            "no agent ids; write ids and ranges like \"1001-2000,3001\"",
        ));
    }
    if a.agenttype != 4 && a.agenttype != 11 {
        return Err(problem(
            &["agents", "agenttype"],
            format!(
                "agenttype {} is not accepted: use 4 (PC + phone) or 11 (PC + video phone)",
                a.agenttype
            ),
        ));
    }
    if let Some(secret) = &a.password {
        match (&secret.env, &secret.file) {
            (Some(var), None) => {
                let ok = !var.is_empty() && !var.contains(['=', '\0']);
                if !ok {
                    return Err(problem(
                        &["agents", "password", "env"],
                        "env must name an environment variable, e.g. { env = \"AGENTSTORM_PASSWORD\" }",
                    ));
                }
            }
            (None, Some(path)) => {
                if path.as_os_str().is_empty() {
                    return Err(problem(
                        &["agents", "password", "file"],
                        "file must name a file holding the password, e.g. { file = \"secrets/agents.pw\" }",
                    ));
                }
            }
            _ => {
                return Err(problem(
                    &["agents", "password"],
                    "write exactly one of password = { env = \"VAR\" } or password = { file = \"path\" }",
                ))
            }
        }
    }
    Ok(())
}

fn check_session(s: &Scenario) -> Result<(), Problem> {
    let ss = &s.session;
    if let Some(skill) = &ss.resetskill {
        if !skill
            .skillid
            .chars()
            .all(|c| c.is_ascii_digit() || c == ';')
        {
            return Err(problem(
                &["session", "resetskill", "skillid"],
                format!(
                    "skillid {:?} must be skill ids separated by ';', e.g. \"1;2;5\"",
                    skill.skillid
                ),
            ));
        }
    }
    if let Some(push) = &ss.push {
        let hb = push.heartbeat.get();
        if hb.is_zero() {
            return Err(problem(
                &["session", "push", "heartbeat"],
                "heartbeat must be above 0",
            ));
        }
        if s.target.is_embedded() && hb >= s.gateway.inactivity_timeout.get() {
            return Err(problem(
                &["session", "push", "heartbeat"],
                format!(
                    "heartbeat {} must be shorter than the gateway's inactivity_timeout {} or every session times out",
                    push.heartbeat, s.gateway.inactivity_timeout
                ),
            ));
        }
        if let Some(url) = &push.callback_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(problem(
                    &["session", "push", "callback_url"],
                    format!("callback_url {url:?} must be an http:// or https:// URL"),
                ));
            }
        }
    }
    bounded(&["session", "hold", "max"], ss.hold.max, MAX_DURATION)?;
    if ss.poll_gap.max.get() > MAX_POLL_GAP {
        return Err(problem(
            &["session", "poll_gap"],
            format!(
                "poll_gap up to {} is longer than the limit {}: the gateway signs out agents \
                 that stop polling (after 120 s by default)",
                ss.poll_gap.max,
                HumanDuration(MAX_POLL_GAP)
            ),
        ));
    }
    positive(&["session", "ready_timeout"], ss.ready_timeout)?;
    Ok(())
}

fn check_load(s: &Scenario) -> Result<(), Problem> {
    let l = &s.load;
    if l.max_in_flight < 1 {
        return Err(problem(
            &["load", "max_in_flight"],
            "max_in_flight must be at least 1 (the most agents alive at once)",
        ));
    }
    if let Some(max) = l.max_lateness {
        if max.get().is_zero() {
            return Err(problem(
                &["load", "max_lateness"],
                "max_lateness must be above 0 (omit it to let late arrivals always start)",
            ));
        }
    }
    match (l.model, &s.capacity) {
        (LoadModel::CapacitySearch, None) => {
            return Err(problem(
                &["capacity"],
                "load.model = \"capacity-search\" needs a [capacity] table: start_rate, step, max_rate, slo = { signin_p99 = \"800ms\" }",
            ))
        }
        (LoadModel::CapacitySearch, Some(c)) => return check_capacity(c),
        (_, Some(_)) => {
            return Err(problem(
                &["capacity"],
                "[capacity] is used only with load.model = \"capacity-search\"",
            ))
        }
        _ => {}
    }
    if l.stages.is_empty() {
        return Err(problem(
            &["load", "stages"],
            "no stages; write e.g. stages = [ { ramp = \"2m\", to = 85 }, { hold = \"10m\" } ]",
        ));
    }
    let mut rate = 0.0_f64;
    let mut arrivals = 0.0_f64;
    let mut total = Duration::ZERO;
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
        let peak = l
            .stages
            .iter()
            .flat_map(|st| [st.to, st.rate])
            .flatten()
            .fold(0.0, f64::max);
        if total.is_zero() || peak < 1.0 {
            return Err(problem(
                &["load", "stages"],
                "a closed model's stages give a population (agents); let it reach at least 1",
            ));
        }
        return Ok(());
    }
    if total.is_zero() || arrivals < 1.0 {
        return Err(problem(
            &["load", "stages"],
            format!(
                "the stages plan {arrivals:.2} sign-ins over {}; raise a rate or a duration \
                 so that at least one agent arrives",
                HumanDuration(total)
            ),
        ));
    }
    Ok(())
}

fn check_capacity(c: &crate::scenario::model::CapacitySpec) -> Result<(), Problem> {
    let positive = |key: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= MAX_RATE {
            Ok(())
        } else {
            Err(problem(
                &["capacity", key],
                format!("{key} = {v} must be a rate above 0 and at most {MAX_RATE} per second"),
            ))
        }
    };
    positive("start_rate", c.start_rate)?;
    positive("step", c.step)?;
    positive("max_rate", c.max_rate)?;
    if c.max_rate < c.start_rate {
        return Err(problem(
            &["capacity", "max_rate"],
            format!(
                "max_rate {} is below start_rate {}",
                c.max_rate, c.start_rate
            ),
        ));
    }
    if !(c.precision > 0.0 && c.precision < 1.0) {
        return Err(problem(
            &["capacity", "precision"],
            format!(
                "precision {} must be between 0 and 1 (e.g. 0.05 for 5 %)",
                c.precision
            ),
        ));
    }
    if c.step_hold.get().is_zero() {
        return Err(problem(
            &["capacity", "step_hold"],
            "step_hold must be above 0",
        ));
    }
    for (key, v) in [
        ("signin_error_pct", c.slo.signin_error_pct),
        ("late_arrival_pct", c.slo.late_arrival_pct),
    ] {
        if !(0.0..=100.0).contains(&v) {
            return Err(problem(
                &["capacity", "slo", key],
                format!("{key} = {v} must be a percentage from 0 to 100"),
            ));
        }
    }
    Ok(())
}

/// Checks one stage; returns its duration and the rate it ends at.
fn check_stage(i: usize, stage: &Stage, rate: f64) -> Result<(Duration, f64), Problem> {
    let at = |key: Option<&str>, message: String| {
        let mut path = KeyPath(vec![
            Seg::Key("load".into()),
            Seg::Key("stages".into()),
            Seg::Index(i),
        ]);
        if let Some(k) = key {
            path = path.key(k);
        }
        Problem { path, message }
    };
    let check_rate = |key: &str, r: f64| {
        if r.is_finite() && (0.0..=MAX_RATE).contains(&r) {
            Ok(r)
        } else {
            Err(at(
                Some(key),
                format!("{key} = {r} must be a number of sign-ins per second from 0 to {MAX_RATE}"),
            ))
        }
    };
    let positive_stage = |key: &str, d: HumanDuration| {
        if d.get().is_zero() || d.get() > MAX_DURATION {
            Err(at(
                Some(key),
                format!(
                    "{key} = \"{d}\" must be longer than 0 and at most {}, e.g. {key} = \"2m\"",
                    HumanDuration(MAX_DURATION)
                ),
            ))
        } else {
            Ok(d.get())
        }
    };
    match (stage.ramp, stage.hold) {
        (Some(_), Some(_)) => Err(at(
            None,
            "a stage is either a ramp or a hold, not both; split it into two stages".into(),
        )),
        (None, None) => Err(at(
            None,
            "a stage needs `ramp` (with `to`) or `hold`, e.g. { ramp = \"2m\", to = 85 } or \
             { hold = \"10m\" }"
                .into(),
        )),
        (Some(d), None) => {
            if stage.rate.is_some() {
                return Err(at(
                    Some("rate"),
                    "`rate` belongs to a hold; a ramp ends at `to`".into(),
                ));
            }
            let to = stage.to.ok_or_else(|| {
                at(
                    None,
                    "a ramp needs `to`, the rate (sign-ins per second) it ends at, e.g. \
                     { ramp = \"2m\", to = 85 }"
                        .into(),
                )
            })?;
            Ok((positive_stage("ramp", d)?, check_rate("to", to)?))
        }
        (None, Some(d)) => {
            if stage.to.is_some() {
                return Err(at(
                    Some("to"),
                    "`to` belongs to a ramp; a hold keeps the rate, or sets it with `rate`".into(),
                ));
            }
            let r = match stage.rate {
                Some(r) => check_rate("rate", r)?,
                None => rate,
            };
            Ok((positive_stage("hold", d)?, r))
        }
    }
}

/// `target.read_buffer_bytes` bounds: below 512 bytes a reply's status line and headers
/// rarely fit; above 1 MiB it is no longer a memory saving.
const MIN_READ_BUFFER: u32 = 512;
const MAX_READ_BUFFER: u32 = 1 << 20;

fn positive(path: &[&str], d: HumanDuration) -> Result<(), Problem> {
    if d.get().is_zero() {
        let key = path.last().copied().unwrap_or("duration");
        return Err(problem(
            path,
            format!("{key} must be longer than 0, e.g. {key} = \"10s\""),
        ));
    }
    bounded(path, d, MAX_DURATION)
}

fn bounded(path: &[&str], d: HumanDuration, max: Duration) -> Result<(), Problem> {
    if d.get() > max {
        let key = path.last().copied().unwrap_or("duration");
        return Err(problem(
            path,
            format!(
                "{key} = \"{d}\" is longer than the limit {}",
                HumanDuration(max)
            ),
        ));
    }
    Ok(())
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
