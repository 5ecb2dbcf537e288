//! Replies as the gateway sends them: the [`Answer`] every handler returns, the canned JSON
//! bodies (built once, shared as `Bytes`), and the body type that can also cut a
//! connection mid-reply for fault injection.
//!
//! This file owns reply *shapes*; which reply a request gets is decided by the handlers.
//! `into_response` is the one place an answer becomes an HTTP response, which is also
//! where it is counted, so every reply is counted exactly once.

use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;
use hyper::body::{Body, Frame, SizeHint};

use super::config::Dialect;
use super::stats::{Counters, Outcome};
use crate::protocol::{retcode, Endpoint, CONTENT_TYPE_JSON, HEADER_GUID, HEADER_SET_GUID};

/// Success of logout (D13), newest shape.
pub const LOGOUT_OK: &[u8] = br#"{"message":"success","retcode":"0","result":{}}"#;
/// Success of logout in the developer guide's shape (D18).
pub const LOGOUT_OK_DEVGUIDE: &[u8] = br#"{"retcode":"0","msg":"","result":null}"#;

/// The envelope's message key in `dialect` (D18): `msg` in the developer guide.
pub fn message_key(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Devguide => "msg",
        Dialect::Newest | Dialect::Older => "message",
    }
}

/// A canned body, by what it is, so it can be taken from the table of any dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    /// The error or success body of `retcode::KNOWN[i]`.
    Code(usize),
    /// The reply of an empty poll wait (D1).
    EmptyPoll,
    /// Success of logout (D13).
    LogoutOk,
    /// Success of forcelogout, forcelogoutwithreason, handshake, resetskill.
    PlainOk,
    /// `100-003` with detailCode `max-agents` when the gateway is full (D14).
    MaxAgents,
    /// An HTTP error without a retcode (by status code).
    Http(u16),
}

/// The statuses [`Answer::http_error`] has a body for; anything else is a 500.
const HTTP_ERRORS: [(u16, &str); 6] = [
    (413, "request body over 64 KiB"),
    (400, "bad request"),
    (408, "request body not received in time"),
    (503, "service unavailable"),
    (429, "too many sign-ins, retry later"),
    (500, "internal server error"),
];

/// Every canned body of one dialect, built once (D18).
#[derive(Debug)]
pub struct Replies {
    codes: Vec<Bytes>,
    empty_poll: Bytes,
    logout_ok: Bytes,
    plain_ok: Bytes,
    max_agents: Bytes,
    http: Vec<Bytes>,
    /// A retcode outside `retcode::KNOWN` (cannot happen from a validated config).
    other: Bytes,
    /// `{"message":"","retcode":"0","event":` — a poll reply up to its event object.
    pub event_head: &'static [u8],
}

impl Replies {
    fn build(dialect: Dialect) -> Replies {
        let key = message_key(dialect);
        let code = |message: &str, code: &str| {
            Bytes::from(format!(r#"{{"{key}":"{message}","retcode":"{code}"}}"#))
        };
        Replies {
            codes: retcode::KNOWN
                .iter()
                .map(|c| code(message_of(c), c))
                .collect(),
            empty_poll: Bytes::from(format!(r#"{{"{key}":"","retcode":"0","event":null}}"#)),
            logout_ok: match dialect {
                Dialect::Devguide => Bytes::from_static(LOGOUT_OK_DEVGUIDE),
                Dialect::Newest | Dialect::Older => Bytes::from_static(LOGOUT_OK),
            },
            plain_ok: code("success", retcode::SUCCESS),
            max_agents: Bytes::from(format!(
                r#"{{"{key}":"resource unavailable","retcode":"100-003","detailCode":"max-agents"}}"#
            )),
            http: HTTP_ERRORS
                .iter()
                .map(|(_, m)| Bytes::from(format!(r#"{{"{key}":"{m}"}}"#)))
                .collect(),
            other: code("error", "000-006"),
            event_head: match dialect {
                Dialect::Devguide => br#"{"msg":"","retcode":"0","event":"#,
                Dialect::Newest | Dialect::Older => br#"{"message":"","retcode":"0","event":"#,
            },
        }
    }

    /// The body of `canned` in this dialect (a reference count, no copy).
    pub fn get(&self, canned: Canned) -> Bytes {
        match canned {
            Canned::Code(i) => self.codes.get(i).unwrap_or(&self.other).clone(),
            Canned::EmptyPoll => self.empty_poll.clone(),
            Canned::LogoutOk => self.logout_ok.clone(),
            Canned::PlainOk => self.plain_ok.clone(),
            Canned::MaxAgents => self.max_agents.clone(),
            Canned::Http(status) => {
                let i = HTTP_ERRORS
                    .iter()
                    .position(|(s, _)| *s == status)
                    .unwrap_or(HTTP_ERRORS.len() - 1);
                self.http[i].clone()
            }
        }
    }
}

/// One table per dialect, in the order of [`Dialect`]'s variants.
static REPLIES: LazyLock<[Replies; 3]> = LazyLock::new(|| {
    [
        Replies::build(Dialect::Newest),
        Replies::build(Dialect::Devguide),
        Replies::build(Dialect::Older),
    ]
});

/// The canned replies of `dialect`.
pub fn replies(dialect: Dialect) -> &'static Replies {
    &REPLIES[match dialect {
        Dialect::Newest => 0,
        Dialect::Devguide => 1,
        Dialect::Older => 2,
    }]
}

fn message_of(code: &str) -> &'static str {
    match code {
        retcode::SUCCESS => "success",
        retcode::WRONG_METHOD => "wrong method for agent events",
        retcode::BAD_URL => "invalid url or parameter",
        retcode::NO_PERMISSION => "no permission, the guid is missing or expired",
        retcode::SWITCHING_OVER => "agent is being switched over",
        retcode::MESSAGE_PARAM => "message parameter error",
        retcode::REPEATED_CALL => "interface invoked repeatedly",
        retcode::SIGNIN_PARAM_EMPTY => "sign-in parameter empty or invalid",
        retcode::ALREADY_SIGNED_IN => "agent already signed in",
        retcode::RESOURCE_UNAVAILABLE => "resource unavailable",
        retcode::WRONG_PASSWORD => "wrong user name or password",
        retcode::BAD_SIGNOUT_PARAM => "invalid sign-out parameter",
        retcode::NOT_SIGNED_IN => "agent not signed in",
        retcode::OPERATION_EXCEPTION => "exception during the agent operation",
        retcode::ALREADY_SIGNED_OUT => "agent already signed out",
        retcode::SET_STATE_FAILED => "failed to set agent state",
        retcode::SIGNOUT_STATE_ERROR => "state error at sign-out",
        retcode::SIGNIN_PARAM_INVALID => "invalid sign-in parameter",
        retcode::WRONG_AGENT_TYPE => "wrong agent type",
        retcode::INVALID_PHONE => "invalid phone",
        retcode::PHONE_OUT_OF_RANGE => "phone number out of range",
        retcode::CANNOT_FORCE_OUT => "agent cannot be forced out",
        retcode::INVALID_IP => "invalid ip address",
        retcode::ACCOUNT_LOCKED => "account is locked",
        _ => "error",
    }
}

static CONTENT_TYPE_VALUE: HeaderValue = HeaderValue::from_static(CONTENT_TYPE_JSON);
static CLOSE: HeaderValue = HeaderValue::from_static("close");

/// GUID headers on a reply: `Set-GUID: JSESSIONID=<guid>` always, `Guid: <guid>` on
/// sign-in replies (D9).
#[derive(Debug, Clone)]
pub struct GuidHeaders {
    pub guid: HeaderValue,
    pub set_guid: HeaderValue,
    pub with_guid: bool,
}

/// A reply before it becomes HTTP: what to send and how to count it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub outcome: Outcome,
    pub body: Bytes,
    pub guid: Option<GuidHeaders>,
    pub allow: Option<&'static str>,
    /// Close the connection after this reply (the request body was not read).
    pub close: bool,
    /// Fault injection: send part of the body, then cut the connection.
    pub reset: bool,
    /// `Retry-After`, in seconds (a throttled sign-in, D20).
    pub retry_after_s: Option<u64>,
    /// Which canned body `body` is, if one: [`Answer::in_dialect`] swaps in that dialect's.
    pub canned: Option<Canned>,
}

impl Answer {
    /// HTTP 200 with the canned body of a known retcode.
    pub fn code(code: &str) -> Answer {
        let outcome = Outcome::of_retcode(code);
        Answer::canned(outcome, Canned::Code(outcome.index()))
    }

    /// HTTP 200 with a canned body (newest shape until [`Answer::in_dialect`]).
    pub fn canned(outcome: Outcome, canned: Canned) -> Answer {
        let mut a = Answer::ok_body(outcome, replies(Dialect::Newest).get(canned));
        a.canned = Some(canned);
        a
    }

    /// HTTP 200 with a body whose retcode is `outcome`.
    pub fn ok_body(outcome: Outcome, body: Bytes) -> Answer {
        Answer {
            status: StatusCode::OK,
            outcome,
            body,
            guid: None,
            allow: None,
            close: false,
            reset: false,
            retry_after_s: None,
            canned: None,
        }
    }

    /// HTTP 200 with a canned success body: [`Canned::EmptyPoll`], `LogoutOk`, `PlainOk`.
    pub fn success(canned: Canned) -> Answer {
        Answer::canned(Outcome::of_retcode(retcode::SUCCESS), canned)
    }

    /// D2: an unknown path.
    pub fn not_found() -> Answer {
        let mut a = Answer::code(retcode::BAD_URL);
        a.status = StatusCode::NOT_FOUND;
        a
    }

    /// D2: a known path with the wrong method; `code` is `000-001` on the event path.
    pub fn wrong_method(code: &str, allow: &'static str) -> Answer {
        let mut a = Answer::code(code);
        a.status = StatusCode::METHOD_NOT_ALLOWED;
        a.allow = Some(allow);
        a
    }

    /// An HTTP error without a retcode (413, 400, injected 500/503); JSON all the same.
    pub fn http_error(status: StatusCode) -> Answer {
        let canned = Canned::Http(status.as_u16());
        Answer {
            status,
            outcome: Outcome::of_status(status.as_u16()),
            body: replies(Dialect::Newest).get(canned),
            guid: None,
            allow: None,
            close: false,
            reset: false,
            retry_after_s: None,
            canned: Some(canned),
        }
    }

    /// D20: a sign-in beyond the rate limit, HTTP 429 with `Retry-After` (seconds).
    pub fn throttled(retry_after_s: u64) -> Answer {
        let mut a = Answer::http_error(StatusCode::TOO_MANY_REQUESTS);
        a.retry_after_s = Some(retry_after_s);
        a
    }

    pub fn with_guid(mut self, guid: GuidHeaders) -> Answer {
        self.guid = Some(guid);
        self
    }

    /// The answer in `dialect`'s shape (D18): a canned body is taken from that dialect's
    /// prebuilt table (a reference count, no copy); other bodies were built in it.
    pub fn in_dialect(mut self, dialect: Dialect) -> Answer {
        if let (Some(c), false) = (self.canned, dialect == Dialect::Newest) {
            self.body = replies(dialect).get(c);
        }
        self
    }

    /// The HTTP response; counts it under `endpoint` (None: unknown path).
    pub fn into_response(
        self,
        counters: &Counters,
        endpoint: Option<Endpoint>,
    ) -> http::Response<ReplyBody> {
        counters.count(
            endpoint,
            if self.reset {
                Outcome::RESET
            } else {
                self.outcome
            },
        );
        self.into_response_uncounted()
    }

    /// The HTTP response of a reply the gateway does not count (its own paths).
    pub fn into_response_uncounted(self) -> http::Response<ReplyBody> {
        let len = self.body.len();
        let body = if self.reset {
            ReplyBody::cut(self.body.slice(..len / 2))
        } else {
            ReplyBody::full(self.body)
        };
        let mut resp = http::Response::new(body);
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, CONTENT_TYPE_VALUE.clone());
        if self.reset {
            // Promise the whole body, deliver half: the client sees a cut reply.
            h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        if let Some(g) = self.guid {
            if g.with_guid {
                h.insert(HEADER_GUID, g.guid);
            }
            h.insert(HEADER_SET_GUID, g.set_guid);
            h.insert(
                crate::protocol::HEADER_SIM_GATEWAY,
                HeaderValue::from_static("agentstorm"),
            );
        }
        if let Some(allow) = self.allow {
            h.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(secs) = self.retry_after_s {
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            h.insert(CONNECTION, CLOSE.clone());
        }
        resp
    }
}

/// A reply body: the whole of it, or (fault injection) part of it followed by an error
/// that makes hyper drop the connection.
pub struct ReplyBody {
    data: Option<Bytes>,
    fail: bool,
}

impl ReplyBody {
    pub fn full(data: Bytes) -> ReplyBody {
        ReplyBody {
            data: (!data.is_empty()).then_some(data),
            fail: false,
        }
    }

    pub fn cut(partial: Bytes) -> ReplyBody {
        ReplyBody {
            data: (!partial.is_empty()).then_some(partial),
            fail: true,
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.fail {
            self.fail = false;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault injection: reply cut",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.fail
    }

    fn size_hint(&self) -> SizeHint {
        if self.fail {
            return SizeHint::default();
        }
        SizeHint::with_exact(self.data.as_ref().map(|d| d.len() as u64).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_POLL: &[u8] = br#"{"message":"","retcode":"0","event":null}"#;
    const PLAIN_OK: &[u8] = br#"{"message":"success","retcode":"0"}"#;
    const MAX_AGENTS: &[u8] =
        br#"{"message":"resource unavailable","retcode":"100-003","detailCode":"max-agents"}"#;

    #[test]
    fn every_known_code_has_a_json_body_with_that_code() {
        for code in retcode::KNOWN {
            let a = Answer::code(code);
            let v: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
            assert_eq!(v["retcode"], *code);
            assert_eq!(a.outcome.label(), *code);
        }
        for body in [
            EMPTY_POLL,
            LOGOUT_OK,
            LOGOUT_OK_DEVGUIDE,
            PLAIN_OK,
            MAX_AGENTS,
        ] {
            serde_json::from_slice::<serde_json::Value>(body).expect("canned body is json");
        }
    }

    /// Every canned body of every dialect is JSON with that dialect's message key (D18),
    /// and the newest table holds the constants above.
    #[test]
    fn every_dialect_table_has_its_message_key() {
        let mut all: Vec<Canned> = (0..retcode::KNOWN.len()).map(Canned::Code).collect();
        all.extend([
            Canned::EmptyPoll,
            Canned::LogoutOk,
            Canned::PlainOk,
            Canned::MaxAgents,
            Canned::Http(413),
            Canned::Http(400),
            Canned::Http(408),
            Canned::Http(503),
            Canned::Http(429),
            Canned::Http(500),
            Canned::Http(502),
        ]);
        for dialect in [Dialect::Newest, Dialect::Devguide, Dialect::Older] {
            for c in &all {
                let body = replies(dialect).get(*c);
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                let (has, lacks) = match dialect {
                    Dialect::Devguide => ("msg", "message"),
                    _ => ("message", "msg"),
                };
                assert!(
                    v.get(has).is_some() && v.get(lacks).is_none(),
                    "{dialect:?} {v}"
                );
            }
        }
        let newest = replies(Dialect::Newest);
        assert_eq!(newest.get(Canned::EmptyPoll), EMPTY_POLL);
        assert_eq!(newest.get(Canned::LogoutOk), LOGOUT_OK);
        assert_eq!(newest.get(Canned::PlainOk), PLAIN_OK);
        assert_eq!(newest.get(Canned::MaxAgents), MAX_AGENTS);
        assert_eq!(
            replies(Dialect::Devguide).get(Canned::LogoutOk),
            LOGOUT_OK_DEVGUIDE
        );
        let a = Answer::code(retcode::NOT_SIGNED_IN).in_dialect(Dialect::Devguide);
        let v: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
        assert_eq!(v["retcode"], retcode::NOT_SIGNED_IN);
    }
}
