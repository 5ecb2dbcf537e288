//! `agentstorm probe`: the preflight before a storm. One agent signs in, polls until it is
//! ready (or the ready timeout), and signs out, through the same client the load uses and
//! with the scenario's own settings; every exchange is kept with what the harness
//! understood of it, the gateway's TLS is described, and a verdict says whether the
//! target is ready to load-test or exactly what is wrong and what to change.
//!
//! [`advice`] turns a failure into words (pure), [`tls_facts`] reads the gateway's
//! certificate, [`render`] prints a [`Probe`]; this file runs the calls.

pub mod advice;
pub mod render;
pub mod tls_facts;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;

use crate::client::{AgentConn, Exchange, Failure, Target, TargetOptions, Trust};
use crate::exit::Exit;
use crate::metrics::exemplar::redact;
use crate::protocol::{self, event};
use crate::scenario::{self, AlreadySignedIn};
use advice::{Advice, Aim, Step};

/// Polls shown one by one; later ones are only counted.
pub const MAX_SHOWN_POLLS: usize = 30;
/// Most polls a probe makes, whatever the ready timeout.
pub const MAX_POLLS: usize = 200;
/// Longest reply shown (bytes, after masking).
const REPLY_SHOWN_BYTES: usize = 600;

/// What `agentstorm probe` was given.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A scenario whose target, agents and session settings the probe uses.
    pub scenario: Option<PathBuf>,
    pub target: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub agent: Option<u32>,
    /// The environment variable holding the agent's password.
    pub password_env: Option<String>,
    pub overrides: Vec<String>,
}

/// One call and what was understood of it.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub method: &'static str,
    pub path: String,
    /// The request body, secrets masked.
    pub sent: Option<String>,
    /// `200 OK`, `HTTP 404 Not Found`, or the transport failure.
    pub status: String,
    pub latency: Duration,
    /// The reply body, secrets masked and cut.
    pub reply: String,
    /// What the harness read in it, one line each.
    pub understood: Vec<String>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed in, ready after this long, signed out cleanly.
    Ready {
        ready_after: Duration,
    },
    NotReady(Advice),
}

/// A finished probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The URL probed (`embedded` shows the address it got).
    pub target: String,
    pub embedded: bool,
    pub agent: u32,
    /// How the certificate is checked, in words (None for http://).
    pub trust: Option<String>,
    /// What the gateway's TLS showed, or why it could not be read.
    pub tls: Option<Result<tls_facts::TlsFacts, String>>,
    pub exchanges: Vec<Exchanged>,
    /// Polls made but not shown one by one.
    pub polls_not_shown: usize,
    /// Things that work now but may not under load.
    pub warnings: Vec<String>,
    pub verdict: Verdict,
}

impl Probe {
    pub fn is_ready(&self) -> bool {
        matches!(self.verdict, Verdict::Ready { .. })
    }
}

/// Runs a probe. Bad options or scenario are `Err` (exit 2); a gateway that is not ready is
/// an `Ok` probe with a `NotReady` verdict.
pub async fn run(opts: &Options) -> Result<Probe, Exit> {
    let mut aim = Vec::new();
    if let Some(url) = &opts.target {
        aim.push(format!("target.url={}", toml_string(url)));
    }
    if let Some(ca) = &opts.ca_file {
        let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
        aim.push(format!(
            "target.ca_file={}",
            toml_string(&ca.display().to_string())
        ));
    }
    if let Some(id) = opts.agent {
        aim.push(format!("agents.ids=\"{id}\""));
    }
    if let Some(var) = &opts.password_env {
        aim.push(format!("agents.password={{ env = {} }}", toml_string(var)));
    }
    let loaded = match &opts.scenario {
        Some(path) => scenario::load_file_aimed(path, &opts.overrides, &aim),
        None => {
            let all: Vec<String> = opts.overrides.iter().chain(&aim).cloned().collect();
            scenario::load_str(
                "probe",
                "name = \"probe\"\n[agents]\nids = \"101\"\n[load]\nstages = [{ hold = \"1s\", rate = 1 }]\n",
                &all,
            )
        }
    }
    .map_err(|e| Exit::bad_input(e.to_string()))?;
    let sc = &loaded.scenario;
    let agent = sc
        .agents
        .ids
        .get(0)
        .ok_or_else(|| Exit::bad_input("agents.ids names no agent"))?;
    let password = match &sc.agents.password {
        Some(secret) => secret.resolve().map_err(Exit::bad_input)?,
        None => String::new(),
    };

    let embedded_wanted = sc.target.is_embedded();
    let (url, trust, trust_words, embedded) = if embedded_wanted {
        let (addr, pem, emb) = crate::run::start_embedded(&loaded).await?;
        (
            format!("https://{addr}"),
            Trust::Pem(pem),
            Some("the embedded gateway's generated certificate".to_string()),
            Some(emb),
        )
    } else if sc.target.insecure_skip_verify {
        let words = "not checked (insecure_skip_verify = true)".to_string();
        (
            sc.target.url.trim().to_string(),
            Trust::Insecure,
            Some(words),
            None,
        )
    } else if let Some(ca) = &sc.target.ca_file {
        let pem = std::fs::read_to_string(ca)
            .map_err(|e| Exit::bad_input(format!("CA file {}: cannot read: {e}", ca.display())))?;
        let words = format!("checked against the CA file {}", ca.display());
        (
            sc.target.url.trim().to_string(),
            Trust::Pem(pem),
            Some(words),
            None,
        )
    } else {
        let words = "checked against this machine's root certificates (give --ca-file for a private CA or a self-signed certificate)".to_string();
        (
            sc.target.url.trim().to_string(),
            Trust::Native,
            Some(words),
            None,
        )
    };
    let target = Target::new(&TargetOptions {
        url: url.clone(),
        trust,
        timeout: sc.target.timeout.get(),
        connect_timeout: sc.target.connect_timeout.get(),
        source_addresses: sc.target.source_addresses.addrs(),
        read_buffer_bytes: sc.target.read_buffer_bytes.map(|n| n as usize),
    })
    .map_err(Exit::bad_input)?;
    let https = url.starts_with("https://");
    let tls = if https {
        Some(read_tls(&url, sc.target.connect_timeout.get()).await)
    } else {
        None
    };

    let mut probe = Probe {
        target: url.clone(),
        embedded: embedded_wanted,
        agent,
        trust: https.then_some(trust_words).flatten(),
        tls,
        exchanges: Vec::new(),
        polls_not_shown: 0,
        warnings: Vec::new(),
        verdict: Verdict::NotReady(advice::never_ready("0s", &[])),
    };
    let aim = Aim { url, https };
    let phonenum = sc.agents.phonenum.render(agent);
    let signin = protocol::SignInRequest {
        password: &password,
        phonenum: &phonenum,
        status: sc.agents.status.code(),
        agenttype: sc.agents.agenttype,
        releasephone: true,
        check_in_webm: false,
        time: sc.agents.rest_time.map(|t| t.get().as_secs() as u32),
        restcause: sc.agents.rest_time.map(|_| sc.agents.rest_cause),
        call_back_uri: None,
        service_token: None,
    };
    let body = serde_json::to_vec(&signin)
        .map(Bytes::from)
        .map_err(|e| Exit::bad_input(format!("sign-in body: {e}")))?;
    let mut conn = AgentConn::new(target.clone());
    let course = Course {
        conn: &mut conn,
        probe: &mut probe,
        aim: &aim,
        ready_timeout: sc.session.ready_timeout.get(),
        forcelogin: sc.session.on_already_signed_in == AlreadySignedIn::Forcelogin,
    };
    course.run(agent, body).await;
    if let Some(emb) = embedded {
        emb.stop().await;
    }
    Ok(probe)
}

/// The calls of one probe, in order.
struct Course<'a> {
    conn: &'a mut AgentConn,
    probe: &'a mut Probe,
    aim: &'a Aim,
    ready_timeout: Duration,
    forcelogin: bool,
}

impl Course<'_> {
    async fn run(mut self, agent: u32, body: Bytes) {
        let started = Instant::now();
        let Some(mut guid) = self.sign_in(agent, body).await else {
            return;
        };
        let ready = self.poll_until_ready(agent, &mut guid, started).await;
        let signed_out = self.sign_out(agent, guid.as_deref()).await;
        self.probe.verdict = match (ready, signed_out) {
            (Err(a), _) | (Ok(_), Err(a)) => Verdict::NotReady(a),
            (Ok(ready_after), Ok(())) => Verdict::Ready { ready_after },
        };
    }

    /// Signs in (and forces the sign-in on `100-002` when the scenario does); the GUID
    /// handed out (None: none was) when signed in, None on failure with the verdict set.
    async fn sign_in(&mut self, agent: u32, body: Bytes) -> Option<Option<String>> {
        let mut forced = false;
        loop {
            let path = if forced {
                protocol::forcelogin_path(agent)
            } else {
                protocol::signin_path(agent)
            };
            let ex = self
                .conn
                .call(Method::PUT, &path, Some(body.clone()), None)
                .await;
            let mut shown = exchanged("PUT", &path, Some(&body), &ex);
            let outcome = match &ex.result {
                Ok(r) if r.retcode.is_success() => {
                    shown.understood.push("retcode 0: signed in".into());
                    match &r.guid {
                        Some(g) => shown.understood.push(format!(
                            "GUID handed out ({}): sent as the Guid header on every later call",
                            mask_guid(g)
                        )),
                        None => {
                            shown
                                .understood
                                .push("no GUID in the reply's headers (Set-GUID or Guid)".into());
                            self.probe.warnings.push("the sign-in reply handed out no GUID (no Set-GUID or Guid header): later calls go without one".into());
                        }
                    }
                    Some(Ok(r.guid.clone()))
                }
                Ok(r)
                    if r.retcode.as_str() == protocol::retcode::ALREADY_SIGNED_IN
                        && self.forcelogin
                        && !forced =>
                {
                    shown.understood.push(
                        "retcode 100-002: already signed in; forcing the sign-in (session.on_already_signed_in = \"forcelogin\")".into(),
                    );
                    None
                }
                Ok(r) => {
                    let a =
                        advice::for_retcode(Step::Signin, r.retcode.as_str(), &message(&ex.body));
                    shown.understood.push(a.problem.clone());
                    Some(Err(a))
                }
                Err(f) => {
                    let a = advice::for_failure(
                        Step::Signin,
                        *f,
                        ex.reason.as_deref().unwrap_or(""),
                        self.aim,
                    );
                    shown.understood.push(a.problem.clone());
                    Some(Err(a))
                }
            };
            self.probe.exchanges.push(shown);
            match outcome {
                None => forced = true,
                Some(Ok(guid)) => return Some(guid),
                Some(Err(a)) => {
                    self.probe.verdict = Verdict::NotReady(a);
                    return None;
                }
            }
        }
    }

    /// Polls until `AgentState_Ready`; how long after the sign-in began it came, or why
    /// not.
    async fn poll_until_ready(
        &mut self,
        agent: u32,
        guid: &mut Option<String>,
        started: Instant,
    ) -> Result<Duration, Advice> {
        let path = protocol::poll_path(agent);
        let mut events: Vec<String> = Vec::new();
        let mut failures_in_a_row = 0;
        for n in 0..MAX_POLLS {
            if started.elapsed() >= self.ready_timeout {
                break;
            }
            let ex = self
                .conn
                .call(Method::GET, &path, None, guid.as_deref())
                .await;
            let received = SystemTime::now();
            let mut shown = exchanged("GET", &path, None, &ex);
            let mut verdict = None;
            match &ex.result {
                Ok(r) if r.retcode.is_success() => {
                    failures_in_a_row = 0;
                    match &r.event_type {
                        None => shown
                            .understood
                            .push("retcode 0, no event (the wait ended empty)".into()),
                        Some(t) => {
                            shown.understood.push(format!("retcode 0, event {t}"));
                            if let Some(ms) = r.event_gen_ms {
                                shown.understood.push(gen_time_words(ms, received));
                            }
                            if !events.contains(t) {
                                events.push(t.clone());
                            }
                            if t == event::READY {
                                let after = ex.done_at.saturating_duration_since(started);
                                shown.understood.push(format!(
                                    "ready {} after the sign-in began",
                                    ms_text(after)
                                ));
                                verdict = Some(Ok(after));
                            } else if t == event::SHUTDOWN_SERVICE {
                                verdict = Some(Err(Advice {
                                    problem: "the gateway ended the session (AgentOther_ShutdownService) before the agent was ready".into(),
                                    fix: "check the gateway's log for this agent, and that no other client signs it in".into(),
                                }));
                            }
                        }
                    }
                    if let Some(g) = &r.guid {
                        if guid.as_deref() != Some(g) {
                            shown.understood.push(format!(
                                "GUID rotated ({}): adopted for every later call",
                                mask_guid(g)
                            ));
                            *guid = Some(g.clone());
                        }
                    }
                }
                Ok(r) => {
                    let a = advice::for_retcode(Step::Poll, r.retcode.as_str(), &message(&ex.body));
                    shown.understood.push(a.problem.clone());
                    failures_in_a_row += 1;
                    if matches!(
                        r.retcode.as_str(),
                        protocol::retcode::NO_PERMISSION | protocol::retcode::NOT_SIGNED_IN
                    ) || failures_in_a_row >= 3
                    {
                        verdict = Some(Err(a));
                    }
                }
                Err(f) => {
                    let a = advice::for_failure(
                        Step::Poll,
                        *f,
                        ex.reason.as_deref().unwrap_or(""),
                        self.aim,
                    );
                    shown.understood.push(a.problem.clone());
                    failures_in_a_row += 1;
                    if failures_in_a_row >= 3 {
                        verdict = Some(Err(a));
                    }
                }
            }
            let failed = failures_in_a_row > 0;
            if n < MAX_SHOWN_POLLS || verdict.is_some() {
                self.probe.exchanges.push(shown);
            } else {
                self.probe.polls_not_shown += 1;
            }
            if let Some(v) = verdict {
                return v;
            }
            if failed {
                // A failing gateway is not hammered.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Err(advice::never_ready(
            &humantime::format_duration(self.ready_timeout).to_string(),
            &events,
        ))
    }

    async fn sign_out(&mut self, agent: u32, guid: Option<&str>) -> Result<(), Advice> {
        let path = protocol::logout_path(agent);
        let ex = self.conn.call(Method::DELETE, &path, None, guid).await;
        let mut shown = exchanged("DELETE", &path, None, &ex);
        let result = match &ex.result {
            Ok(r) if r.retcode.is_success() => {
                shown.understood.push("retcode 0: signed out".into());
                Ok(())
            }
            Ok(r) => Err(advice::for_retcode(
                Step::Signout,
                r.retcode.as_str(),
                &message(&ex.body),
            )),
            Err(f) => Err(advice::for_failure(
                Step::Signout,
                *f,
                ex.reason.as_deref().unwrap_or(""),
                self.aim,
            )),
        };
        if let Err(a) = &result {
            shown.understood.push(a.problem.clone());
        }
        self.probe.exchanges.push(shown);
        result
    }
}

/// One exchange as shown: status, latency, the bodies masked.
fn exchanged(method: &'static str, path: &str, sent: Option<&Bytes>, ex: &Exchange) -> Exchanged {
    let status = match &ex.result {
        Ok(_) => "200 OK".to_string(),
        Err(Failure::Http(s)) => match http::StatusCode::from_u16(*s) {
            Ok(code) => format!("HTTP {code}"),
            Err(_) => format!("HTTP {s}"),
        },
        Err(Failure::Transport(kind)) => format!("no reply: {}", crate::client::describe(*kind)),
    };
    Exchanged {
        method,
        path: path.to_string(),
        sent: sent.map(|b| redact(&String::from_utf8_lossy(b))),
        status,
        latency: ex.done_at.saturating_duration_since(ex.sent_at),
        reply: cut(
            &redact(&String::from_utf8_lossy(&ex.body)),
            REPLY_SHOWN_BYTES,
        ),
        understood: Vec::new(),
    }
}

/// The reply's own words (`message`, or `msg` as the developer guide writes it), masked.
fn message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let m = v
        .get("message")
        .or_else(|| v.get("msg"))
        .and_then(|m| m.as_str());
    redact(m.unwrap_or(""))
}

/// A GUID shown without its secret part: `***` and the node suffix, if any.
pub fn mask_guid(guid: &str) -> String {
    match guid.split_once('.') {
        Some((_, node)) if !node.is_empty() => format!("***.{node}"),
        _ => "***".into(),
    }
}

/// `eventGenTime` and how long before receipt it was, by this machine's clock.
fn gen_time_words(gen_ms: u64, received: SystemTime) -> String {
    let stamped = UNIX_EPOCH + Duration::from_millis(gen_ms);
    let at = humantime::format_rfc3339_millis(stamped);
    match received.duration_since(stamped) {
        Ok(d) => format!(
            "eventGenTime {gen_ms} ({at}): received {} later by this machine's clock (as exact as the two clocks agree)",
            ms_text(d)
        ),
        Err(e) => format!(
            "eventGenTime {gen_ms} ({at}): {} after receipt by this machine's clock: the two clocks disagree",
            ms_text(e.duration())
        ),
    }
}

fn ms_text(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// At most `max` bytes of `s`, cut at a character boundary and marked.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The gateway's TLS facts from a URL `https://host[:port]/…`.
async fn read_tls(url: &str, timeout: Duration) -> Result<tls_facts::TlsFacts, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(443);
    tls_facts::read(&host, port, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_shown_by_their_node_only() {
        assert_eq!(
            mask_guid("279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0"),
            "***.AgentGateway0"
        );
        assert_eq!(mask_guid("opaque-token"), "***");
        assert_eq!(mask_guid("x."), "***");
    }

    #[test]
    fn event_times_are_read_against_the_receipt() {
        let gen = 1_784_529_722_590;
        let received = UNIX_EPOCH + Duration::from_millis(gen + 12);
        let w = gen_time_words(gen, received);
        assert!(
            w.contains("2026-07-20T06:42:02.590Z") && w.contains("12.0 ms later"),
            "{w}"
        );
        let early = UNIX_EPOCH + Duration::from_millis(gen - 40);
        assert!(gen_time_words(gen, early).contains("40.0 ms after receipt"));
    }

    #[test]
    fn long_replies_are_cut_on_a_character() {
        let s = "é".repeat(400);
        let c = cut(&s, 601);
        assert!(
            c.starts_with(&"é".repeat(300)) && c.ends_with("(800 bytes in all)"),
            "{c}"
        );
        assert_eq!(cut("short", 10), "short");
    }
}
