//! The calls of one probe, in order: sign in (forcing it on `100-002` when the scenario
//! does), poll until ready, sign out; each exchange kept with what was understood of it,
//! and the verdict set from how far it got.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Method;

use super::advice::{self, Advice, Aim, Step};
use super::{exchanged, gen_time_words, mask_guid, message, ms_text, Exchanged, Probe, Verdict};
use super::{MAX_POLLS, MAX_SHOWN_POLLS};
use crate::client::{AgentConn, Exchange, GatewayReply};
use crate::protocol::{self, event};

/// The calls of one probe, in order.
pub(super) struct Course<'a> {
    pub conn: &'a mut AgentConn,
    pub probe: &'a mut Probe,
    pub aim: &'a Aim,
    pub ready_timeout: Duration,
    pub forcelogin: bool,
}

impl Course<'_> {
    pub async fn run(mut self, agent: u32, body: Bytes) {
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
                    verdict = good_poll(r, &ex, &mut shown, started, received, &mut events);
                    adopt_guid(r, &mut shown, guid);
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

/// What a poll answered with retcode 0 says: the event, its time, and whether the course
/// is over (ready, or the session ended); `events` collects the event types seen.
fn good_poll(
    r: &GatewayReply,
    ex: &Exchange,
    shown: &mut Exchanged,
    started: Instant,
    received: SystemTime,
    events: &mut Vec<String>,
) -> Option<Result<Duration, Advice>> {
    match &r.event_type {
        None => shown
            .understood
            .push("retcode 0, no event (the wait ended empty)".into()),
        Some(t) => {
            shown.understood.push(format!("retcode 0, event {t}"));
            if let Some(ms) = r.event_gen_ms {
                shown.understood.push(gen_time_words(ms, received));
            }
            if !events.iter().any(|e| e == t) {
                events.push(t.to_string());
            }
            if t == event::READY {
                let after = ex.done_at.saturating_duration_since(started);
                shown
                    .understood
                    .push(format!("ready {} after the sign-in began", ms_text(after)));
                return Some(Ok(after));
            } else if t == event::SHUTDOWN_SERVICE {
                return Some(Err(Advice {
                    problem: "the gateway ended the session (AgentOther_ShutdownService) before the agent was ready".into(),
                    fix: "check the gateway's log for this agent, and that no other client signs it in".into(),
                }));
            }
        }
    }
    None
}

/// A GUID handed out on a poll reply (dynamic authentication) is used from then on.
fn adopt_guid(r: &GatewayReply, shown: &mut Exchanged, guid: &mut Option<String>) {
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
