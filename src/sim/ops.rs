//! The other authenticated calls: `handshake` (push-mode heartbeat, D11/D16), `updateGuid`
//! (§2.3) and `resetskill` (§3.4).
//!
//! Owns only these three; none changes a session's phase.

use http::HeaderMap;
use tokio::time::Instant;

use super::reply::{message_key, Answer, Canned};
use super::session::{lock, Auth, Mode};
use super::stats::Outcome;
use super::validate::is_valid_token;
use super::SimGateway;
use crate::protocol::retcode;

/// Query parameter `name` of a query string (no percent-decoding: ids and digits only).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl SimGateway {
    /// `POST …/handshake`: keeps a push-mode session alive and delivers a rotated GUID.
    pub(crate) fn handshake(
        &self,
        id: u32,
        presented: Option<&[u8]>,
        headers: &HeaderMap,
    ) -> Answer {
        let now = Instant::now();
        let (session, check) = match self.authenticate(id, presented, now) {
            Auth::Active(s, c) => (s, c),
            Auth::NoPermission => return Answer::code(retcode::NO_PERMISSION),
            Auth::Closing(_) | Auth::NotSignedIn => return Answer::code(retcode::NOT_SIGNED_IN),
        };
        let token = headers
            .get("service_token")
            .map(|v| v.to_str().unwrap_or("\u{1}"));
        if token.is_some_and(|t| !is_valid_token(t)) {
            return Answer::code(retcode::SIGNIN_PARAM_EMPTY);
        }
        if !matches!(session.mode, Mode::Push { .. }) {
            // D11: in poll mode only polls keep the session alive.
            return Answer::success(Canned::PlainOk);
        }
        let mut st = lock(&session.state);
        st.last_activity = now;
        let guid = st
            .guids
            .on_reply(check, self.dynamic_guid(), &self.config.node_name, now);
        drop(st);
        let answer = Answer::success(Canned::PlainOk);
        match guid {
            Some(g) => answer.with_guid(g),
            None => answer,
        }
    }

    /// `PUT …/updateGuid`: a new GUID at once; the old one keeps its grace (D10).
    pub(crate) fn update_guid(&self, id: u32, presented: Option<&[u8]>) -> Answer {
        let now = Instant::now();
        let session = match self.authenticate(id, presented, now) {
            Auth::Active(s, _) => s,
            Auth::NoPermission => return Answer::code(retcode::NO_PERMISSION),
            Auth::Closing(_) | Auth::NotSignedIn => return Answer::code(retcode::NOT_SIGNED_IN),
        };
        let mut st = lock(&session.state);
        st.guids
            .replace(&self.config.node_name, now, self.config.guid_grace.get());
        let headers = st.guids.current.set_guid_headers();
        let body = format!(
            r#"{{"result":{{"guid":"{}"}},"{}":"success","retcode":"0"}}"#,
            st.guids.current.as_str(),
            message_key(self.config.dialect)
        );
        drop(st);
        Answer::ok_body(Outcome::of_retcode(retcode::SUCCESS), body.into()).with_guid(headers)
    }

    /// `POST …/resetskill/{autoflag}?skillid=…&phonelinkage=…`.
    pub(crate) fn reset_skill(
        &self,
        id: u32,
        autoflag: &str,
        query: &str,
        presented: Option<&[u8]>,
    ) -> Answer {
        let skills_ok = query_param(query, "skillid").is_none_or(|s| {
            s.len() <= 4000
                && s.split(';')
                    .all(|p| p.is_empty() || p.bytes().all(|b| b.is_ascii_digit()))
        });
        let linkage_ok = query_param(query, "phonelinkage")
            .is_none_or(|p| matches!(p, "" | "0" | "1" | "true" | "false"));
        if autoflag.is_empty() || !skills_ok || !linkage_ok {
            return Answer::code(retcode::BAD_URL);
        }
        match self.authenticate(id, presented, Instant::now()) {
            Auth::Active(..) => Answer::success(Canned::LogoutOk),
            Auth::NoPermission => Answer::code(retcode::NO_PERMISSION),
            Auth::Closing(_) | Auth::NotSignedIn => Answer::code(retcode::NOT_SIGNED_IN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn query_params() {
        assert_eq!(
            query_param("skillid=1;2&phonelinkage=1", "skillid"),
            Some("1;2")
        );
        assert_eq!(
            query_param("skillid=1;2&phonelinkage=1", "phonelinkage"),
            Some("1")
        );
        assert_eq!(query_param("flag", "flag"), Some(""));
        assert_eq!(query_param("", "skillid"), None);
    }
}
