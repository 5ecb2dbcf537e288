//! Failure exemplars: for each kind of failure (operation and outcome: a retcode,
//! `http:<status>`, `transport:<kind>`), the first few cases in full — which agent, when,
//! why in words, and a redacted snippet of what the gateway sent — so that a user who sees
//! "100 % bad_body" sees the reason beside it.
//!
//! Memory is bounded whatever a gateway sends: [`PER_KIND`] cases of at most
//! [`MAX_KINDS`] kinds, each reason and snippet cut to [`SNIPPET_BYTES`]; kinds past the
//! cap are only counted. Passwords, tokens and GUIDs are masked before anything is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sample::{Operation, Outcome};

/// Cases kept per kind of failure.
pub const PER_KIND: usize = 3;
/// Kinds of failure kept; further kinds are counted in `kinds_left_out`.
pub const MAX_KINDS: usize = 64;
/// Longest reason and reply snippet kept, in bytes.
pub const SNIPPET_BYTES: usize = 256;

/// One failed call, as a user needs it to find the cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    pub operation: String,
    /// The outcome's label as the failure tables print it (`100-007`, `http:503`,
    /// `transport:bad_body`).
    pub outcome: String,
    pub agent_id: u32,
    /// Seconds since the run's start.
    pub at_s: f64,
    /// Why, in words (serde's reason for an unreadable body, the connection's root cause,
    /// the gateway's own message for a retcode).
    pub reason: String,
    /// The start of the reply body, secrets masked (empty when nothing was read).
    pub reply: String,
}

/// The outcome's label, as the failure tables print it; None for what is not a failure
/// (a success, a handled retcode, a call cut short by a hard stop).
pub fn outcome_label(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Ok { retcode } if retcode.is_success() => None,
        Outcome::Handled { .. } | Outcome::Interrupted | Outcome::Abandoned => None,
        Outcome::Ok { retcode } => Some(retcode.as_str().to_string()),
        Outcome::Http { status } => Some(format!("http:{status}")),
        Outcome::Transport { kind } => Some(format!("transport:{}", kind.name())),
    }
}

/// The kept exemplars, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exemplars {
    /// Keyed `operation outcome`; each list oldest first.
    pub kinds: BTreeMap<String, Vec<Exemplar>>,
    /// Failures of kinds beyond [`MAX_KINDS`], not kept.
    pub kinds_left_out: u64,
}

fn key(op: Operation, label: &str) -> String {
    format!("{} {label}", op.name())
}

impl Exemplars {
    /// Whether a failure of this kind would be kept (checked before building one).
    pub fn wants(&self, op: Operation, outcome: &Outcome) -> bool {
        let Some(label) = outcome_label(outcome) else {
            return false;
        };
        match self.kinds.get(&key(op, &label)) {
            Some(list) => list.len() < PER_KIND,
            None => self.kinds.len() < MAX_KINDS,
        }
    }

    pub fn offer(&mut self, e: Exemplar) {
        let k = format!("{} {}", e.operation, e.outcome);
        let room = self.kinds.contains_key(&k) || self.kinds.len() < MAX_KINDS;
        if !room {
            self.kinds_left_out += 1;
            return;
        }
        // Kept: the earliest cases, whichever order shards hand them over in.
        let list = self.kinds.entry(k).or_default();
        list.push(e);
        list.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        list.truncate(PER_KIND);
    }

    /// Adds `o`'s cases, keeping the earliest of each kind.
    pub fn add(&mut self, o: &Exemplars) {
        for e in o.kinds.values().flatten() {
            self.offer(e.clone());
        }
        self.kinds_left_out += o.kinds_left_out;
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Every case, by kind, oldest first within a kind.
    pub fn all(&self) -> impl Iterator<Item = &Exemplar> {
        self.kinds.values().flatten()
    }
}

/// Builds an exemplar, masking secrets and cutting reason and reply to size.
pub fn exemplar(
    op: Operation,
    outcome: &Outcome,
    agent_id: u32,
    at_s: f64,
    reason: Option<&str>,
    body: &[u8],
) -> Exemplar {
    let reply = String::from_utf8_lossy(&body[..body.len().min(4 * SNIPPET_BYTES)]);
    let reason = match (reason, outcome) {
        (Some(r), _) => r.to_string(),
        (None, Outcome::Ok { retcode }) => match gateway_message(body) {
            Some(m) if !m.is_empty() => format!("retcode {retcode}: \"{m}\""),
            _ => format!("retcode {retcode} (the reply gives no message)"),
        },
        (None, _) => String::new(),
    };
    Exemplar {
        operation: op.name().to_string(),
        outcome: outcome_label(outcome).unwrap_or_default(),
        agent_id,
        at_s,
        reason: cut(&redact(&reason), SNIPPET_BYTES),
        reply: cut(&redact(&reply), SNIPPET_BYTES),
    }
}

/// The reply's own words: `message`, or `msg` as the developer guide writes it.
fn gateway_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v.get("message").or_else(|| v.get("msg"))?;
    m.as_str().map(str::to_string)
}

/// At most `max` bytes of `s`, cut at a character boundary, marked with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Names whose JSON string values are secrets, compared in lower case.
const SECRET_KEYS: &[&str] = &[
    "password",
    "pwd",
    "servicetoken",
    "service_token",
    "token",
    "guid",
    "jsessionid",
    "secret",
];

/// Masks the values of secret JSON keys (`"password":"…"`), `JSESSIONID=…`, and anything
/// shaped like a UUID (the body of every GUID) with `***`.
pub fn redact(text: &str) -> String {
    let masked = mask_secret_values(text);
    mask_uuids(&masked)
}

fn mask_secret_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(q) = rest.find('"') {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let Some(end) = rest.find('"') else {
            break;
        };
        let name = &rest[..end];
        out.push_str(name);
        out.push('"');
        rest = &rest[end + 1..];
        if !SECRET_KEYS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        // `"name" : "value"`: mask the value.
        let after = rest.trim_start();
        let Some(after_colon) = after.strip_prefix(':') else {
            continue;
        };
        let value = after_colon.trim_start();
        let Some(inner) = value.strip_prefix('"') else {
            continue;
        };
        let close = inner.find('"').unwrap_or(inner.len());
        out.push_str(&rest[..rest.len() - value.len()]);
        out.push_str("\"***\"");
        rest = inner.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    // `JSESSIONID=<guid>` outside JSON strings' keys (a Set-GUID value quoted in a reason).
    let mut s = out;
    let mut from = 0;
    while let Some(at) = s[from..].to_ascii_lowercase().find("jsessionid=") {
        let start = from + at + "jsessionid=".len();
        let end = s[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == ';' || c == ',')
            .map_or(s.len(), |e| start + e);
        s.replace_range(start..end, "***");
        from = start + 3;
    }
    s
}

/// Masks 8-4-4-4-12 hex runs (UUIDs) with `***`.
fn mask_uuids(text: &str) -> String {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let mut j = i;
        let mut ok = true;
        for (n, len) in SHAPE.iter().enumerate() {
            let run = b[j..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if run != *len {
                ok = false;
                break;
            }
            j += len;
            if n < 4 {
                if b.get(j) != Some(&b'-') {
                    ok = false;
                    break;
                }
                j += 1;
            }
        }
        let starts_word = i == 0 || !b[i - 1].is_ascii_hexdigit();
        if ok && starts_word {
            out.push_str(&text[copied..i]);
            out.push_str("***");
            i = j;
            copied = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sample::{Retcode, TransportKind};

    #[test]
    fn secrets_and_guids_are_masked() {
        let r = redact(
            r#"{"password":"hunter2","serviceToken" : "tok-1","retcode":"0","guid":"279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0"}"#,
        );
        assert!(!r.contains("hunter2") && !r.contains("tok-1"), "{r}");
        assert!(!r.contains("279fe21d"), "{r}");
        assert!(r.contains(r#""retcode":"0""#), "{r}");
        let r = redact("Set-GUID: JSESSIONID=279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0");
        assert_eq!(r, "Set-GUID: JSESSIONID=***");
        assert_eq!(
            redact("guid 279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway1 gone"),
            "guid ***.AgentGateway1 gone"
        );
        // Not a UUID: left alone.
        assert_eq!(redact("1784529722590"), "1784529722590");
    }

    #[test]
    fn kinds_and_cases_are_bounded() {
        let mut ex = Exemplars::default();
        let fail = Outcome::Transport {
            kind: TransportKind::BadBody,
        };
        for i in 0..10 {
            assert_eq!(ex.wants(Operation::Poll, &fail), i < PER_KIND);
            ex.offer(exemplar(
                Operation::Poll,
                &fail,
                1001,
                i as f64,
                Some("why"),
                b"x",
            ));
        }
        assert_eq!(ex.kinds.len(), 1);
        assert_eq!(ex.all().count(), PER_KIND);
        for code in 0..(MAX_KINDS + 5) {
            let o = Outcome::Ok {
                retcode: Retcode::new(&format!("9-{code}")),
            };
            ex.offer(exemplar(Operation::Signin, &o, 1, 0.0, None, b"{}"));
        }
        assert_eq!(ex.kinds.len(), MAX_KINDS);
        assert_eq!(ex.kinds_left_out, 6);
        // A long reply is cut.
        let long = "é".repeat(1000);
        let e = exemplar(Operation::Poll, &fail, 1, 0.0, Some(&long), long.as_bytes());
        assert!(e.reason.len() <= SNIPPET_BYTES + "…".len() && e.reply.ends_with('…'));
        // Success is no failure kind.
        let ok = Outcome::Ok {
            retcode: Retcode::new("0"),
        };
        assert!(!Exemplars::default().wants(Operation::Poll, &ok));
    }

    #[test]
    fn a_retcode_failure_gives_the_gateways_own_words() {
        let o = Outcome::Ok {
            retcode: Retcode::new("100-007"),
        };
        let e = exemplar(
            Operation::Signin,
            &o,
            1001,
            1.5,
            None,
            br#"{"retcode":"100-007","msg":"WAS unreachable"}"#,
        );
        assert_eq!(e.reason, r#"retcode 100-007: "WAS unreachable""#);
        assert_eq!(e.outcome, "100-007");
    }

    #[test]
    fn merged_cases_keep_the_earliest() {
        let fail = Outcome::Http { status: 503 };
        let mut a = Exemplars::default();
        let mut b = Exemplars::default();
        for t in [5.0, 6.0, 7.0] {
            a.offer(exemplar(Operation::Poll, &fail, 1, t, None, b""));
        }
        for t in [1.0, 2.0] {
            b.offer(exemplar(Operation::Poll, &fail, 2, t, None, b""));
        }
        a.add(&b);
        let times: Vec<f64> = a.all().map(|e| e.at_s).collect();
        // `a` was full: the other shard's earlier cases are not lost to arrival order.
        assert_eq!(times, [1.0, 2.0, 5.0]);
    }
}
