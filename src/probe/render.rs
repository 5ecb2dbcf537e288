//! A finished [`Probe`] as the text a person reads: the target and its TLS, each exchange
//! (method, path, status, latency, what was sent and answered with secrets masked, what
//! the harness understood), warnings, and the verdict with what to change. Pure: the time
//! certificates are judged against is passed in.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::{Probe, Verdict};
use crate::client::tls_facts::{CertFacts, TlsFacts};

/// The whole report; `now` dates certificate expiry.
pub fn render(p: &Probe, now: SystemTime) -> String {
    let mut out = String::new();
    let which = if p.embedded {
        " (the embedded simulated gateway)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "agentstorm probe: agent {} against {}{which}\n",
        p.agent, p.target
    );
    match &p.tls {
        None => {}
        Some(Ok(facts)) => tls_block(&mut out, facts, p.trust.as_deref(), now),
        Some(Err(why)) => {
            let _ = writeln!(out, "TLS     could not be read: {why}\n");
        }
    }
    for (n, x) in p.exchanges.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>2}. {} {}  ->  {} in {:.1} ms",
            n + 1,
            x.method,
            x.path,
            x.status,
            x.latency.as_secs_f64() * 1e3
        );
        if let Some(sent) = &x.sent {
            let _ = writeln!(out, "    sent:  {sent}");
        }
        if !x.reply.is_empty() {
            let _ = writeln!(out, "    reply: {}", x.reply);
        }
        for (i, line) in x.understood.iter().enumerate() {
            let label = if i == 0 { "read: " } else { "      " };
            let _ = writeln!(out, "    {label} {line}");
        }
    }
    if p.polls_not_shown > 0 {
        let _ = writeln!(
            out,
            "    ... and {} more polls like these, not shown",
            p.polls_not_shown
        );
    }
    if let (longest @ 1.., buffer) = p.reply_heads {
        let buffer = match buffer {
            Some(n) => format!("the read buffer is {n} bytes"),
            None => "the read buffer is hyper's adaptive one".to_string(),
        };
        let _ = writeln!(
            out,
            "    reply heads: up to {longest} bytes; {buffer} (target.read_buffer_bytes)"
        );
    }
    out.push('\n');
    for w in &p.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    match &p.verdict {
        Verdict::Ready { ready_after } => {
            let _ = writeln!(
                out,
                "READY to load-test: agent {} signed in, was ready {:.1} ms after the sign-in began, and signed out cleanly.",
                p.agent,
                ready_after.as_secs_f64() * 1e3
            );
        }
        Verdict::NotReady(a) => {
            let _ = writeln!(out, "NOT READY: {}", a.problem);
            let _ = writeln!(out, "  what to change: {}", a.fix);
        }
    }
    out
}

fn tls_block(out: &mut String, facts: &TlsFacts, trust: Option<&str>, now: SystemTime) {
    let kx = if facts.key_exchange.is_empty() {
        String::new()
    } else {
        format!(", key exchange {}", facts.key_exchange)
    };
    let _ = writeln!(out, "TLS     {}, {}{kx}", facts.version, facts.cipher);
    for (i, c) in facts.chain.iter().enumerate() {
        let label = if i == 0 {
            "certificate "
        } else {
            "then        "
        };
        cert_lines(out, label, c, now);
    }
    if facts.chain.is_empty() {
        let _ = writeln!(out, "        the gateway presented no certificate");
    }
    if let Some(t) = trust {
        let _ = writeln!(out, "        trust        {t}");
    }
    out.push('\n');
}

fn cert_lines(out: &mut String, label: &str, c: &CertFacts, now: SystemTime) {
    let names = if c.names.is_empty() {
        "no subjectAltName names".to_string()
    } else {
        format!("names {}", c.names.join(", "))
    };
    let _ = writeln!(out, "        {label} {}; {names}", c.subject);
    let mut kind = Vec::new();
    if c.self_signed {
        kind.push("self-signed");
    }
    if c.is_ca {
        kind.push("CA:TRUE");
    }
    let kind = if kind.is_empty() {
        String::new()
    } else {
        format!(" ({})", kind.join(", "))
    };
    let _ = writeln!(out, "                     issued by {}{kind}", c.issuer);
    let _ = writeln!(
        out,
        "                     valid {} to {} ({})",
        humantime::format_rfc3339_seconds(c.not_before),
        humantime::format_rfc3339_seconds(c.not_after),
        expiry(c, now)
    );
}

/// `expires in 29 days`, `EXPIRED 3 days ago`, `NOT VALID YET (from ...)`.
fn expiry(c: &CertFacts, now: SystemTime) -> String {
    let days = |d: Duration| d.as_secs() / 86_400;
    if now < c.not_before {
        return "NOT VALID YET".into();
    }
    match c.not_after.duration_since(now) {
        Ok(left) => format!("expires in {} days", days(left)),
        Err(e) => format!("EXPIRED {} days ago", days(e.duration())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::advice::Advice;
    use super::super::Exchanged;
    use super::*;
    use std::time::UNIX_EPOCH;

    fn probe(verdict: Verdict) -> Probe {
        let day = Duration::from_secs(86_400);
        Probe {
            target: "https://gw.example:8043".into(),
            embedded: false,
            agent: 1001,
            trust: Some("checked against the CA file ca.pem".into()),
            tls: Some(Ok(TlsFacts {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                key_exchange: "X25519".into(),
                chain: vec![CertFacts {
                    subject: "CN=gw.example".into(),
                    issuer: "CN=gw.example".into(),
                    names: vec!["gw.example".into()],
                    not_before: UNIX_EPOCH + 100 * day,
                    not_after: UNIX_EPOCH + 200 * day,
                    is_ca: true,
                    self_signed: true,
                }],
            })),
            exchanges: vec![Exchanged {
                method: "PUT",
                path: "/agentgateway/resource/onlineagent/1001".into(),
                sent: Some(r#"{"password":"***"}"#.into()),
                status: "200 OK".into(),
                latency: Duration::from_micros(3_250),
                reply: r#"{"retcode":"0"}"#.into(),
                understood: vec!["retcode 0: signed in".into(), "GUID handed out".into()],
            }],
            polls_not_shown: 4,
            reply_heads: (0, Some(2048)),
            warnings: vec![],
            verdict,
        }
    }

    #[test]
    fn a_ready_probe_shows_tls_exchanges_and_the_verdict() {
        let now = UNIX_EPOCH + Duration::from_secs(190 * 86_400);
        let text = render(
            &probe(Verdict::Ready {
                ready_after: Duration::from_millis(41),
            }),
            now,
        );
        for want in [
            "agent 1001 against https://gw.example:8043",
            "TLS     TLSv1.3, TLS13_AES_128_GCM_SHA256, key exchange X25519",
            "CN=gw.example; names gw.example",
            "(self-signed, CA:TRUE)",
            "expires in 10 days",
            "trust        checked against the CA file ca.pem",
            " 1. PUT /agentgateway/resource/onlineagent/1001  ->  200 OK in 3.2 ms",
            "    sent:  {\"password\":\"***\"}",
            "    read:  retcode 0: signed in",
            "           GUID handed out",
            "4 more polls",
            "READY to load-test: agent 1001 signed in, was ready 41.0 ms",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
    }

    #[test]
    fn a_failed_probe_says_what_and_what_to_change() {
        let now = UNIX_EPOCH + Duration::from_secs(203 * 86_400);
        let text = render(
            &probe(Verdict::NotReady(Advice {
                problem: "the sign-in answered retcode 100-004".into(),
                fix: "give the password".into(),
            })),
            now,
        );
        assert!(text.contains("EXPIRED 3 days ago"), "{text}");
        assert!(text.contains("NOT READY: the sign-in answered retcode 100-004\n  what to change: give the password"), "{text}");
        assert!(!text.contains("READY to"), "{text}");
    }
}
