//! Checks on a scenario that serde cannot express: a stage is exactly one of ramp or hold,
//! rates are finite, the plan arrives somebody, the target is a usable URL, files named
//! exist, secrets are never written inline. Each failure names the key path it concerns;
//! `load` turns that into a file position.
//!
//! This module owns the limits (named constants below) and their messages, nothing about
//! positions or text; `plan` holds the checks of the load plan (stages, capacity search).
//! Two tables serve `load`'s messages for values serde refuses, so that those say what the
//! key accepts in the same words as the checks here: [`whole_number_refused`] (the range
//! of a whole-number key) and [`what_it_is`] (what a structured value looks like).

use std::time::Duration;

use toml_edit::Item;

use super::model::{AgentStatus, Scenario};
use super::read_buffer::ReadBuffer;
use super::tree::KeyPath;
use crate::util::duration::HumanDuration;

mod plan;
mod words;

use words::agenttype_refused;
pub use words::{what_it_is, whole_number_refused};

/// Longest duration accepted anywhere in a scenario; longer is surely a typo, and keeps
/// clock arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Longest pause between polls: an agent that polls less often is not a signed-in agent.
pub const MAX_POLL_GAP: Duration = Duration::from_secs(3600);
/// Highest arrival rate (sign-ins per second) a stage may ask for.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Longest scenario name (it becomes part of the report directory's name).
pub const MAX_NAME_LEN: usize = 100;
/// `target.read_buffer_bytes` bounds: below 512 bytes a reply's status line and headers
/// rarely fit; above 1 MiB it is no longer a memory saving.
const MIN_READ_BUFFER: u32 = 512;
const MAX_READ_BUFFER: u32 = 1 << 20;

/// A failed check: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: KeyPath,
    pub message: String,
    /// The key's value as `message` shows it, quoted, when the message echoes it from the
    /// parsed value (a duration written `"40d"` displays as `"1month 9days …"`): `load`
    /// puts the value as written in its place.
    pub echoed: Option<String>,
}

fn problem(path: &[&str], message: impl Into<String>) -> Problem {
    Problem {
        path: KeyPath::keys(path),
        message: message.into(),
        echoed: None,
    }
}

impl Problem {
    /// This problem, its message echoing `shown` (which `load` replaces with the value as
    /// written).
    pub(super) fn echoing(mut self, shown: impl std::fmt::Display) -> Problem {
        self.echoed = Some(format!("\"{shown}\""));
        self
    }
}

/// A problem at `path` unless `ok`.
fn require(ok: bool, path: &[&str], message: impl Into<String>) -> Result<(), Problem> {
    if ok {
        Ok(())
    } else {
        Err(problem(path, message))
    }
}

/// Checks on the document before deserialisation, where serde's own message would repeat
/// a value that must not be shown, or would not say what was meant.
pub fn check_document(root: &Item) -> Result<(), Problem> {
    check_threshold_keys(root)?;
    let at = |path: &[&str]| path.iter().try_fold(root, |item, k| item.get(*k));
    for path in [
        &["agents", "password"][..],
        &["session", "push", "service_token"],
    ] {
        let key = path[path.len() - 1];
        require(
            at(path).is_none_or(Item::is_table_like),
            path,
            format!(
                "a secret may not be written in the scenario: secrets come from an \
                 environment variable or a file, never the scenario text; write \
                 {key} = {{ env = \"VAR\" }} or {key} = {{ file = \"path\" }}"
            ),
        )?;
    }
    Ok(())
}

/// `signin.p99 = "< 800ms"` without quotes is a nested table in TOML; say so, rather than
/// serde's "expected a string".
fn check_threshold_keys(root: &Item) -> Result<(), Problem> {
    let Some(thresholds) = root.get("thresholds").and_then(Item::as_table_like) else {
        return Ok(());
    };
    for (key, item) in thresholds.iter() {
        if let Some(inner) = item.as_table_like() {
            let example = inner
                .iter()
                .next()
                .map_or_else(|| key.to_string(), |(i, _)| format!("{key}.{i}"));
            return Err(problem(
                &["thresholds", key],
                format!(
                    "a threshold is `\"metric\" = \"condition\"`; quote a metric with a dot \
                     in it, e.g. \"{example}\" = \"< 800ms\" (unquoted, TOML reads it as a table)"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks on the deserialised scenario: the first problem found, except that every
/// invalid threshold is listed at once.
pub fn check(s: &Scenario) -> Result<(), Vec<Problem>> {
    let one = |r: Result<(), Problem>| r.map_err(|p| vec![p]);
    one(check_name(&s.name))?;
    one(check_target(s))?;
    one(check_agents(s))?;
    one(check_session(s))?;
    one(check_stop(s))?;
    one(plan::check_load(s))?;
    check_thresholds(s)?;
    one(check_gateway(s))
}

/// The embedded gateway's behaviour model has rules of its own (`sim::GatewayConfig`); for
/// the embedded target the agent ids must also be ids that gateway accepts.
fn check_gateway(s: &Scenario) -> Result<(), Problem> {
    let first = s
        .gateway
        .validate()
        .err()
        .and_then(|p| p.into_iter().next());
    if let Some(p) = first {
        return Err(problem(&["gateway", p.key], p.message));
    }
    let (lo, hi) = (s.gateway.agent_id_min, s.gateway.agent_id_max);
    match s.agents.ids.iter().find(|id| !(lo..=hi).contains(id)) {
        Some(id) if s.target.is_embedded() => Err(problem(
            &["agents", "ids"],
            format!(
                "agent id {id} is outside the embedded gateway's range {lo}-{hi} (gateway.agent_id_min/agent_id_max)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Each threshold must parse (grammar in `scenario::thresholds`), so a typo fails before
/// any traffic instead of after an hour-long run; every invalid one is listed.
fn check_thresholds(s: &Scenario) -> Result<(), Vec<Problem>> {
    let problems: Vec<Problem> = (s.thresholds.iter())
        .filter_map(|(key, value)| {
            let e = crate::scenario::thresholds::parse_one(key, value).err()?;
            Some(problem(&["thresholds", key], e))
        })
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

fn check_name(name: &str) -> Result<(), Problem> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    require(
        !name.is_empty() && ok_chars && !name.starts_with('.') && name.len() <= MAX_NAME_LEN,
        &["name"],
        format!(
            "name {name:?} must be 1-{MAX_NAME_LEN} letters, digits, '-', '_' or '.' \
             (not starting with '.'): it names the report directory, e.g. \"shift-start\""
        ),
    )
}

fn check_url(url: &str) -> Result<(), Problem> {
    let why = match url.parse::<http::Uri>() {
        Err(_) => "is not a URL",
        Ok(u) if !matches!(u.scheme_str(), Some("http" | "https")) => {
            "must start with http:// or https://"
        }
        Ok(u) if u.host().is_none_or(str::is_empty) => "has no host",
        Ok(u) if u.query().is_some() => "has a query string",
        Ok(u) if !port_in_range(u.authority().map_or("", |a| a.as_str())) => {
            "has a port outside 1-65535"
        }
        Ok(_) => return Ok(()),
    };
    let message = format!(
        "url {url:?} {why}; write \"embedded\" or a base URL such as \"https://gw.example:8043\""
    );
    Err(problem(&["target", "url"], message))
}

/// Whether an authority's port, if it names one, is 1-65535 (`http::Uri` accepts any
/// digits there, and then reports no port at all).
fn port_in_range(authority: &str) -> bool {
    let after_host = authority.rsplit(']').next().unwrap_or(authority);
    match after_host.rsplit_once(':') {
        Some((_, digits)) => digits
            .parse::<u32>()
            .is_ok_and(|p| (1..=65535).contains(&p)),
        None => true,
    }
}

fn check_target(s: &Scenario) -> Result<(), Problem> {
    let t = &s.target;
    let url = t.url.trim();
    if !url.eq_ignore_ascii_case("embedded") {
        check_url(url)?;
    }
    if let Some(ca) = &t.ca_file {
        require(
            !t.insecure_skip_verify,
            &["target", "insecure_skip_verify"],
            "insecure_skip_verify = true and a ca_file together: choose one (verify \
             against the CA file, or skip verification)",
        )?;
        require(
            ca.is_file(),
            &["target", "ca_file"],
            format!(
                "ca_file {} does not exist or is not a file (a relative path is taken \
                 from the scenario file's directory)",
                ca.display()
            ),
        )?;
        // Read only where it is used: a plain-HTTP or embedded target ignores it (the run
        // says so), and a probe of one should not fail on it.
        if !t.is_embedded()
            && url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            check_ca_pem(ca).map_err(|m| problem(&["target", "ca_file"], m))?;
        }
    }
    positive(&["target", "timeout"], t.timeout)?;
    positive(&["target", "connect_timeout"], t.connect_timeout)?;
    if let ReadBuffer::Fixed(n) = t.read_buffer_bytes {
        let key = ["target", "read_buffer_bytes"];
        require(
            (MIN_READ_BUFFER..=MAX_READ_BUFFER).contains(&n),
            &key,
            whole_number_refused(&KeyPath::keys(&key), &n.to_string()).unwrap_or_default(),
        )?;
    }
    if !t.is_embedded() {
        return Ok(());
    }
    // The embedded gateway answers a poll after its poll wait: a shorter request timeout
    // would turn every quiet poll into a timeout. The gateway's model is opaque here, so
    // only a `poll_wait` it serialises is looked at.
    let poll_wait = serde_json::to_value(&s.gateway)
        .ok()
        .and_then(|v| crate::util::duration::parse(v.get("poll_wait")?.as_str()?).ok());
    match poll_wait {
        Some(wait) if t.timeout.get() <= wait => Err(problem(
            &["target", "timeout"],
            format!(
                "timeout \"{}\" must be longer than the embedded gateway's poll_wait {} \
                 (a quiet poll is answered only after poll_wait)",
                t.timeout,
                HumanDuration(wait)
            ),
        )
        .echoing(t.timeout)),
        _ => Ok(()),
    }
}

/// A CA file the client will trust must hold at least one complete PEM certificate that
/// reads as X.509: checked here, so the message names the file and says what is wrong in
/// words, where the TLS setup would print the PEM parser's bytes at the run's start.
fn check_ca_pem(path: &std::path::Path) -> Result<(), String> {
    use rustls_pki_types::pem::{Error, PemObject};
    use rustls_pki_types::CertificateDer;
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("ca_file {shown} cannot be read: {e}"))?;
    let text = |b: &[u8]| {
        let t = String::from_utf8_lossy(b);
        let t = t.trim();
        match t.char_indices().nth(60) {
            Some((i, _)) => format!("{}…", &t[..i]),
            None => t.to_string(),
        }
    };
    let incomplete =
        |why: String| format!("ca_file {shown} is not a complete PEM certificate: {why}");
    let mut count = 0;
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| match e {
            Error::MissingSectionEnd { end_marker } => incomplete(format!(
                "its \"-----BEGIN {0}-----\" block has no \"-----END {0}-----\" line (is \
                 the file cut short?)",
                text(&end_marker)
            )),
            Error::IllegalSectionStart { line } => incomplete(format!(
                "the line {:?} starts a PEM block but is not a valid BEGIN line",
                text(&line)
            )),
            Error::Base64Decode(why) => {
                incomplete(format!("certificate {} is not valid base64 ({why})", i + 1))
            }
            other => incomplete(other.to_string()),
        })?;
        if x509_parser::parse_x509_certificate(cert.as_ref()).is_err() {
            return Err(incomplete(format!(
                "certificate {} decodes, but not to an X.509 certificate",
                i + 1
            )));
        }
        count += 1;
    }
    match count {
        0 => Err(format!(
            "ca_file {shown} holds no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" \
             block): give the certificate of the CA that signed the gateway's, or the \
             gateway's own self-signed certificate, in PEM"
        )),
        _ => Ok(()),
    }
}

fn check_agents(s: &Scenario) -> Result<(), Problem> {
    let a = &s.agents;
    let rest = &["agents", "rest_time"];
    match (a.status, a.rest_time) {
        (AgentStatus::Rest, None) => Err(problem(
            rest,
            "status = \"rest\" needs rest_time (how long the rest lasts, 1s to 23h59m59s), e.g. rest_time = \"15m\"",
        )),
        (AgentStatus::Rest, Some(t)) => require(
            (1..=86_399).contains(&t.get().as_secs()),
            rest,
            format!("rest_time {t} must be from 1s to 23h59m59s (the gateway's 1-86399 s)"),
        ),
        (_, Some(_)) => Err(problem(rest, "rest_time is used only with status = \"rest\"")),
        (_, None) => Ok(()),
    }?;
    require(
        !a.ids.is_empty(),
        &["agents", "ids"],
        "no agent ids; write ids and ranges like \"1001-2000,3001\"",
    )?;
    let kind = a.agenttype;
    require(
        kind == 4 || kind == 11,
        &["agents", "agenttype"],
        agenttype_refused(&kind.to_string()),
    )?;
    match a.password.as_ref().map(|p| (&p.env, &p.file)) {
        None => Ok(()),
        Some((Some(var), None)) => require(
            !var.is_empty() && !var.contains(['=', '\0']),
            &["agents", "password", "env"],
            "env must name an environment variable, e.g. { env = \"AGENTSTORM_PASSWORD\" }",
        ),
        Some((None, Some(path))) => require(
            !path.as_os_str().is_empty(),
            &["agents", "password", "file"],
            "file must name a file holding the password, e.g. { file = \"secrets/agents.pw\" }",
        ),
        Some(_) => Err(problem(
            &["agents", "password"],
            "write exactly one of password = { env = \"VAR\" } or password = { file = \"path\" }",
        )),
    }
}

fn check_stop(s: &Scenario) -> Result<(), Problem> {
    let key = ["stop", "signout_rate"];
    let rate = s.stop.signout_rate;
    require(
        rate >= 1,
        &key,
        whole_number_refused(&KeyPath::keys(&key), &rate.to_string()).unwrap_or_default(),
    )
}

fn check_session(s: &Scenario) -> Result<(), Problem> {
    let ss = &s.session;
    if let Some(ids) = ss.resetskill.as_ref().map(|r| &r.skillid) {
        require(
            ids.chars().all(|c| c.is_ascii_digit() || c == ';'),
            &["session", "resetskill", "skillid"],
            format!("skillid {ids:?} must be skill ids separated by ';', e.g. \"1;2;5\""),
        )?;
    }
    if let Some(push) = &ss.push {
        let (hb, heartbeat) = (push.heartbeat.get(), &["session", "push", "heartbeat"]);
        require(!hb.is_zero(), heartbeat, "heartbeat must be above 0")?;
        require(
            !s.target.is_embedded() || hb < s.gateway.inactivity_timeout.get(),
            heartbeat,
            format!(
                "heartbeat {} must be shorter than the gateway's inactivity_timeout {} or every session times out",
                push.heartbeat, s.gateway.inactivity_timeout
            ),
        )?;
        let url = push.callback_url.as_deref().unwrap_or("http://");
        require(
            url.starts_with("http://") || url.starts_with("https://"),
            &["session", "push", "callback_url"],
            format!("callback_url {url:?} must be an http:// or https:// URL"),
        )?;
    }
    bounded(&["session", "hold", "max"], ss.hold.max, MAX_DURATION)?;
    require(
        ss.poll_gap.max.get() <= MAX_POLL_GAP,
        &["session", "poll_gap"],
        format!(
            "poll_gap up to {} is longer than the limit {}: the gateway signs out agents \
             that stop polling (after 120 s by default)",
            ss.poll_gap.max,
            HumanDuration(MAX_POLL_GAP)
        ),
    )?;
    for (i, code) in ss.on_already_signed_in_codes.iter().enumerate() {
        let shaped = code.len() == 7
            && code.as_bytes()[3] == b'-'
            && code
                .bytes()
                .enumerate()
                .all(|(j, b)| j == 3 || b.is_ascii_digit());
        require(
            shaped,
            &["session", "on_already_signed_in_codes"],
            format!(
                "entry {} ({code:?}) is not a retcode; write them as the gateway does, e.g. \
                 on_already_signed_in_codes = [\"100-002\", \"100-003\"]",
                i + 1
            ),
        )?;
    }
    let r = &ss.retry;
    positive(&["session", "retry", "initial"], r.initial)?;
    bounded(&["session", "retry", "max"], r.max, MAX_DURATION)?;
    bounded(
        &["session", "retry", "give_up_after"],
        r.give_up_after,
        MAX_DURATION,
    )?;
    require(
        r.max.get() >= r.initial.get(),
        &["session", "retry", "max"],
        format!(
            "max {} is below initial {}: the backoff grows from initial up to max",
            r.max, r.initial
        ),
    )?;
    positive(&["session", "ready_timeout"], ss.ready_timeout)
}

fn positive(path: &[&str], d: HumanDuration) -> Result<(), Problem> {
    let key = path.last().copied().unwrap_or("duration");
    let message = format!("{key} must be longer than 0, e.g. {key} = \"10s\"");
    require(!d.get().is_zero(), path, message)?;
    bounded(path, d, MAX_DURATION)
}

fn bounded(path: &[&str], d: HumanDuration, max: Duration) -> Result<(), Problem> {
    let key = path.last().copied().unwrap_or("duration");
    let message = format!(
        "{key} = \"{d}\" is longer than the limit {}",
        HumanDuration(max)
    );
    require(d.get() <= max, path, message).map_err(|p| p.echoing(d))
}
