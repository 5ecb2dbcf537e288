//! The event poll (`GET …/agentevent/{id}`): a long poll that answers one event per reply,
//! or the empty reply after `poll_wait` (D1), with GUID rotation on the reply (D10) and
//! `AgentOther_ShutdownService` for a session that was forced out (D12).
//!
//! Waiting is on the session's `Notify`, never a timer loop. This file owns only the poll;
//! it does not change a session's phase except finishing a closing one.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events;
use super::reply::{replies, Answer, Canned};
use super::session::{lock, Auth, Phase, Session};
use super::stats::Outcome;
use super::SimGateway;
use crate::protocol::retcode;

/// Counts a waiting poll on the session while it lives, and marks activity when it ends.
struct Waiting<'a>(&'a Session);

impl<'a> Waiting<'a> {
    fn new(s: &'a Session) -> Self {
        lock(&s.state).pollers += 1;
        Waiting(s)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.pollers = st.pollers.saturating_sub(1);
        st.last_activity = Instant::now();
    }
}

fn event_answer(gw: &SimGateway, event: &[u8]) -> Answer {
    let head = replies(gw.config.dialect).event_head;
    Answer::ok_body(
        Outcome::of_retcode(retcode::SUCCESS),
        events::poll_reply(head, event),
    )
}

fn empty_answer() -> Answer {
    Answer::success(Canned::EmptyPoll)
}

/// A closing session's last poll: ShutdownService, then the session is gone (D12).
fn finish_closing(gw: &SimGateway, session: &Arc<Session>) -> Answer {
    let mut st = lock(&session.state);
    if st.phase != Phase::Closing {
        return Answer::code(retcode::NOT_SIGNED_IN);
    }
    let event = st.events.pop_front();
    let done = st.events.is_empty();
    drop(st);
    if done {
        gw.sessions.remove(session);
    }
    match event {
        Some(e) => event_answer(gw, &e),
        None => Answer::code(retcode::NOT_SIGNED_IN),
    }
}

impl SimGateway {
    /// `GET …/agentevent/{id}`.
    pub(crate) async fn poll(
        &self,
        id: u32,
        presented: Option<&[u8]>,
        shutdown: &CancellationToken,
    ) -> Answer {
        let start = Instant::now();
        let (session, check) = match self.authenticate(id, presented, start) {
            Auth::Active(s, c) => (s, c),
            Auth::Closing(s) if s.is_push() => return Answer::code(retcode::WRONG_METHOD),
            Auth::Closing(s) => return finish_closing(self, &s),
            Auth::NoPermission => return Answer::code(retcode::NO_PERMISSION),
            Auth::NotSignedIn => return Answer::code(retcode::NOT_SIGNED_IN),
        };
        if session.is_push() {
            // D16: a push-mode agent gets its events by callback.
            return Answer::code(retcode::WRONG_METHOD);
        }
        let deadline = start + self.config.poll_wait.get();
        let dynamic = self.dynamic_guid();
        let node = self.config.node_name.as_str();
        let _waiting = Waiting::new(&session);
        loop {
            let notified = session.notify.notified();
            let mut notified = std::pin::pin!(notified);
            {
                let now = Instant::now();
                let mut st = lock(&session.state);
                match st.phase {
                    Phase::Active => {
                        let event: Option<Bytes> = st.events.pop_front();
                        if event.is_some() || now >= deadline {
                            let guid = st.guids.on_reply(check, dynamic, node, now);
                            drop(st);
                            let answer = match event {
                                Some(e) => event_answer(self, &e),
                                None => empty_answer(),
                            };
                            return match guid {
                                Some(g) => answer.with_guid(g),
                                None => answer,
                            };
                        }
                    }
                    Phase::Closing => {
                        drop(st);
                        return finish_closing(self, &session);
                    }
                    Phase::Replaced => return Answer::code(retcode::NO_PERMISSION),
                    // The agent signed out itself while this poll waited: the wait ends empty.
                    Phase::LoggedOut => return empty_answer(),
                    Phase::Gone => return Answer::code(retcode::NOT_SIGNED_IN),
                }
                notified.as_mut().enable();
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = shutdown.cancelled() => return empty_answer(),
            }
        }
    }
}
