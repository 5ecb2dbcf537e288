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
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use hyper::body::{Body, Frame, SizeHint};

use super::config::Dialect;
use super::stats::{Counters, Outcome};
use crate::protocol::{retcode, Endpoint, CONTENT_TYPE_JSON, HEADER_GUID, HEADER_SET_GUID};

/// The reply of an empty poll wait (D1).
pub const EMPTY_POLL: &[u8] = br#"{"message":"","retcode":"0","event":null}"#;
/// Success of logout (D13).
pub const LOGOUT_OK: &[u8] = br#"{"message":"success","retcode":"0","result":{}}"#;
/// Success of forcelogout, forcelogoutwithreason, handshake.
pub const PLAIN_OK: &[u8] = br#"{"message":"success","retcode":"0"}"#;
/// `100-003` when the gateway is full (D14).
pub const MAX_AGENTS: &[u8] =
    br#"{"message":"resource unavailable","retcode":"100-003","detailCode":"max-agents"}"#;

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

/// `{"message":…,"retcode":…}` for every known code, built once.
static CODE_BODIES: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    retcode::KNOWN
        .iter()
        .map(|code| {
            Bytes::from(format!(
                r#"{{"message":"{}","retcode":"{}"}}"#,
                message_of(code),
                code
            ))
        })
        .collect()
});

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
}

impl Answer {
    /// HTTP 200 with the canned body of a known retcode.
    pub fn code(code: &str) -> Answer {
        let outcome = Outcome::of_retcode(code);
        let body = CODE_BODIES
            .get(outcome.index())
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(br#"{"message":"error","retcode":"000-006"}"#));
        Answer::ok_body(outcome, body)
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
        }
    }

    /// HTTP 200 with a static success body.
    pub fn success(body: &'static [u8]) -> Answer {
        Answer::ok_body(
            Outcome::of_retcode(retcode::SUCCESS),
            Bytes::from_static(body),
        )
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
        let body: &'static [u8] = match status.as_u16() {
            413 => br#"{"message":"request body over 64 KiB"}"#,
            400 => br#"{"message":"bad request"}"#,
            408 => br#"{"message":"request body not received in time"}"#,
            503 => br#"{"message":"service unavailable"}"#,
            _ => br#"{"message":"internal server error"}"#,
        };
        Answer {
            status,
            outcome: Outcome::of_status(status.as_u16()),
            body: Bytes::from_static(body),
            guid: None,
            allow: None,
            close: false,
            reset: false,
        }
    }

    pub fn with_guid(mut self, guid: GuidHeaders) -> Answer {
        self.guid = Some(guid);
        self
    }

    /// The answer in `dialect`'s shape (D18). The canned bodies are the newest shape, so
    /// the default costs nothing; the others are rewritten here, the one place every reply
    /// passes, and are for conformance runs rather than speed.
    pub fn in_dialect(mut self, dialect: Dialect, endpoint: Option<Endpoint>) -> Answer {
        match dialect {
            Dialect::Newest => {}
            Dialect::Devguide => {
                if endpoint == Some(Endpoint::Logout) && self.body.as_ref() == LOGOUT_OK {
                    self.body = Bytes::from_static(br#"{"retcode":"0","msg":"","result":null}"#);
                } else if let Some(rest) = self.body.strip_prefix(br#"{"message":"#.as_slice()) {
                    let mut b = Vec::with_capacity(self.body.len());
                    b.extend_from_slice(br#"{"msg":"#);
                    b.extend_from_slice(rest);
                    self.body = Bytes::from(b);
                }
            }
            Dialect::Older => {
                if endpoint == Some(Endpoint::GetAgentEvent) {
                    self.body = super::events::without_gen_time(&self.body);
                }
            }
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

    #[test]
    fn every_known_code_has_a_json_body_with_that_code() {
        for code in retcode::KNOWN {
            let a = Answer::code(code);
            let v: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
            assert_eq!(v["retcode"], *code);
            assert_eq!(a.outcome.label(), *code);
        }
        for body in [EMPTY_POLL, LOGOUT_OK, PLAIN_OK, MAX_AGENTS] {
            serde_json::from_slice::<serde_json::Value>(body).expect("canned body is json");
        }
    }
}
