//! `agentstorm probe`: the preflight before a storm. One agent signs in, polls until it is
//! ready (or the ready timeout), and signs out, through the same client the load uses and
//! with the scenario's own settings; every exchange is kept with what the harness
//! understood of it, the gateway's TLS is described, and a verdict says whether the
//! target is ready to load-test or exactly what is wrong and what to change.
//!
//! [`advice`] turns a failure into words (pure), [`tls_facts`] reads the gateway's
//! certificate, [`render`] prints a [`Probe`]; this file runs the calls.

pub mod advice;
mod course;
pub mod render;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::client::{AgentConn, Exchange, Failure, Target, TargetOptions, Trust};
use crate::exit::Exit;
use crate::metrics::exemplar::redact;
use crate::protocol;
use crate::scenario::{self, AlreadySignedIn};
use advice::{Advice, Aim};

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
    pub tls: Option<Result<crate::client::tls_facts::TlsFacts, String>>,
    pub exchanges: Vec<Exchanged>,
    /// Polls made but not shown one by one.
    pub polls_not_shown: usize,
    /// Things that work now but may not under load.
    pub warnings: Vec<String>,
    /// The longest reply head seen (bytes) and the fixed read buffer it must fit (None:
    /// hyper's adaptive buffer).
    pub reply_heads: (u32, Option<usize>),
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
    let loaded = load(opts)?;
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
    let (url, trust, trust_words, embedded) = aim_at(&loaded).await?;
    let target = Target::new(&TargetOptions {
        url: url.clone(),
        trust,
        timeout: sc.target.timeout.get(),
        connect_timeout: sc.target.connect_timeout.get(),
        source_addresses: sc.target.source_addresses.addrs(),
        read_buffer_bytes: sc.target.read_buffer_bytes.exact_bytes(),
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
        reply_heads: (0, target.read_buffer_bytes()),
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
    let course = course::Course {
        conn: &mut conn,
        probe: &mut probe,
        aim: &aim,
        ready_timeout: sc.session.ready_timeout.get(),
        forcelogin: sc.session.on_already_signed_in == AlreadySignedIn::Forcelogin,
    };
    course.run(agent, body).await;
    probe.reply_heads.0 = target.longest_head();
    if let Some(w) = target.head_room_warning() {
        probe.warnings.push(w);
    }
    if let Some(emb) = embedded {
        emb.stop().await;
    }
    Ok(probe)
}

/// One exchange as shown: status, latency, the bodies masked.
pub(crate) fn exchanged(
    method: &'static str,
    path: &str,
    sent: Option<&Bytes>,
    ex: &Exchange,
) -> Exchanged {
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
pub(crate) fn message(body: &[u8]) -> String {
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
pub(crate) fn gen_time_words(gen_ms: u64, received: SystemTime) -> String {
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

pub(crate) fn ms_text(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// At most `max` bytes of `s`, cut at a character boundary and marked.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    format!(
        "{} ({} bytes in all)",
        crate::metrics::exemplar::cut(s, max),
        s.len()
    )
}

/// The gateway's TLS facts from a URL `https://host[:port]/…`.
async fn read_tls(
    url: &str,
    timeout: Duration,
) -> Result<crate::client::tls_facts::TlsFacts, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(443);
    crate::client::tls_facts::read(&host, port, timeout).await
}

/// The scenario the probe runs with: the given one, or an empty scenario's defaults, with
/// the command line's target, CA file, agent and password source applied.
fn load(opts: &Options) -> Result<scenario::Loaded, Exit> {
    let mut aim = crate::run::prepare::aim(opts.target.as_deref(), opts.ca_file.as_deref());
    if let Some(id) = opts.agent {
        aim.push(format!("agents.ids=\"{id}\""));
    }
    if let Some(var) = &opts.password_env {
        aim.push(format!(
            "agents.password={{ env = {} }}",
            crate::run::prepare::toml_string(var)
        ));
    }
    match &opts.scenario {
        Some(path) => scenario::load_file_aimed(path, &opts.overrides, &aim),
        None => scenario::load_str_aimed(
            "probe",
            "name = \"probe\"\n[agents]\nids = \"101\"\n[load]\nstages = [{ hold = \"1s\", rate = 1 }]\n",
            &opts.overrides,
            &aim,
        ),
    }
    .map_err(|e| Exit::bad_input(e.to_string()))
    .map(|mut loaded| {
        // As `run` does: a CA file the target cannot use is said, not silently ignored.
        if let Some(why) =
            crate::run::prepare::ca_file_unused(&loaded.scenario, opts.ca_file.as_deref())
        {
            crate::util::term::message(&format!("agentstorm: warning: {why}"));
            loaded.scenario.target.ca_file = None;
        }
        loaded
    })
}

/// The target's URL, the trust to check its certificate with (and how, in words), and the
/// embedded gateway when that is the target.
async fn aim_at(
    loaded: &scenario::Loaded,
) -> Result<(String, Trust, Option<String>, Option<crate::run::Embedded>), Exit> {
    let sc = &loaded.scenario;
    Ok(if sc.target.is_embedded() {
        let (addr, pem, emb) = crate::run::start_embedded(loaded).await?;
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
    })
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
