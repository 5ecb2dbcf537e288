//! Sign-in: `login`, `forcelogin` (D8) and `loginex`. Validates the body (D5), waits its
//! turn in the sign-in capacity queue and its service time while holding the agent's
//! pending flag (D4), then commits: accounts (D7), already signed in (D8), `max_agents`
//! (D14), a fresh GUID (D9) and the event sequence (D15).
//!
//! Owns the sign-in reply shape; session bookkeeping is in `session`.

use std::io::Write as _;

use bytes::Bytes;
use tokio::time::Instant;

use super::config::Dialect;
use super::events;
use super::guid::GuidState;
use super::reply::{message_key, Answer, Canned};
use super::session::{Mode, Refusal, Session};
use super::stats::Outcome;
use super::validate;
use super::SimGateway;
use crate::protocol::{retcode, Endpoint};

/// The success body (§3.2) in `dialect`'s envelope (D18); `vdnid` is a JSON number in
/// every dialect, as the documents' examples show.
fn signin_ok(dialect: Dialect, id: u32, mediatype: &str, login_time_ms: u64) -> Bytes {
    let key = message_key(dialect);
    let mut out = Vec::with_capacity(200);
    let _ = write!(
        out,
        r#"{{"{key}":"","retcode":"0","result":{{"vdnid":1,"workno":"{id}","mediatype":"{mediatype}","loginTime":"{login_time_ms}","isForceChange":"false","serverName":"AgentGateway","timeRemaining":""}}}}"#
    );
    Bytes::from(out)
}

impl SimGateway {
    /// `PUT …/onlineagent/{id}`, `…/forcelogin`, `…/loginex`.
    pub(crate) async fn sign_in(&self, endpoint: Endpoint, id: u32, body: &[u8]) -> Answer {
        let Some(_pending) = self.sessions.begin_exclusive(id) else {
            return Answer::code(retcode::REPEATED_CALL);
        };
        let req = match validate::sign_in_body(body) {
            Ok(r) => r,
            Err(code) => return Answer::code(code),
        };
        if let Err(code) = self.signin_queue().await {
            return Answer::code(code);
        }
        self.service_time(endpoint).await;
        let mode = match &req.push {
            Some(p) => match self.push_target(&p.callback) {
                Ok(()) => Mode::Push {
                    callback: p.callback.as_str().into(),
                    token: p.token.as_str().into(),
                },
                Err(code) => return Answer::code(code),
            },
            None => Mode::Poll,
        };
        let now = Instant::now();
        let node = self.config.node_name.as_str();
        let result = self.sessions.sign_in(
            id,
            endpoint == Endpoint::ForceLogin,
            self.config.max_agents,
            &self.counters,
            |slot| self.check_account(slot, id, &req.password, now),
            || {
                let gen_ms = events::gen_time(self.config.dialect);
                let queue = events::signin_sequence(req.events, id, gen_ms);
                Session::new(
                    id,
                    mode,
                    GuidState::new(node, now),
                    queue,
                    now,
                    gen_ms.is_some(),
                )
            },
        );
        match result {
            Ok(session) => {
                let guid = crate::sim::session::lock(&session.state)
                    .guids
                    .current
                    .signin_headers();
                if session.is_push() {
                    self.start_push(session.clone());
                }
                let mediatype = match (endpoint, req.check_in_webm) {
                    (Endpoint::LoginEx, _) | (_, false) => "TFF",
                    _ => "TTF",
                };
                Answer::ok_body(
                    Outcome::of_retcode(retcode::SUCCESS),
                    signin_ok(self.config.dialect, id, mediatype, session.login_time_ms),
                )
                .with_guid(guid)
            }
            Err(Refusal::AlreadySignedIn) => Answer::code(retcode::ALREADY_SIGNED_IN),
            Err(Refusal::MaxAgents) => Answer::canned(
                Outcome::of_retcode(retcode::RESOURCE_UNAVAILABLE),
                Canned::MaxAgents,
            ),
            Err(Refusal::Code(code)) => Answer::code(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Reply;

    #[test]
    fn success_body_is_the_documented_shape() {
        let r: Reply =
            serde_json::from_slice(&signin_ok(Dialect::Newest, 291, "TTF", 1471585949806))
                .expect("json");
        assert_eq!(r.retcode, "0");
        let res = r.result.expect("result");
        assert_eq!(res["workno"], "291");
        assert_eq!(res["mediatype"], "TTF");
        assert_eq!(res["loginTime"], "1471585949806");
    }
}
