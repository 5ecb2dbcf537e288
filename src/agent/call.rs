//! One gateway call's sample, guaranteed: a [`Call`] is opened before the request goes out
//! and records exactly one Sample however the call ends — with its reply, as a handled
//! retcode once what followed is known (`100-002` then a successful forced sign-in), or as
//! `interrupted` when the agent's task is dropped mid-call by a hard stop, or as
//! `abandoned` when the agent gave up waiting for it at the stop. The recorder
//! counts open calls, so a hard stop can wait until every one of them is recorded.

use std::time::Instant;

use super::{record_exchange, AgentContext};
use crate::client::Exchange;
use crate::metrics::{Operation, Outcome, Sample};

pub(super) struct Call<'a> {
    ctx: &'a AgentContext,
    agent_id: u32,
    op: Operation,
    intended: Instant,
    sent_at: Instant,
    /// The reply, when it is held back until the next call says what it meant. Boxed: a
    /// call is open across the await of its reply, in every agent's task, and holding
    /// back is rare (an "already signed in" waiting for the forced sign-in).
    held: Option<Box<Exchange>>,
    recorded: bool,
}

impl<'a> Call<'a> {
    pub fn open(ctx: &'a AgentContext, agent_id: u32, op: Operation, intended: Instant) -> Self {
        ctx.recorder.call_started();
        Call {
            ctx,
            agent_id,
            op,
            intended,
            sent_at: Instant::now(),
            held: None,
            recorded: false,
        }
    }

    /// Records the call's reply as it came.
    pub fn finish(mut self, ex: &Exchange) {
        self.recorded = true;
        record_exchange(self.ctx, self.agent_id, self.op, self.intended, ex, false);
    }

    /// Records the call as abandoned: the agent gave up waiting for its reply at the stop.
    pub fn abandon(mut self) {
        self.recorded = true;
        self.ctx.record_call(&Sample {
            operation: self.op,
            intended_at: self.intended,
            sent_at: self.sent_at,
            done_at: Instant::now(),
            outcome: Outcome::Abandoned,
            poll: None,
        });
    }

    /// Keeps the reply unrecorded until [`Call::resolve`] (dropped first, it is recorded as
    /// it came).
    pub fn hold(&mut self, ex: Exchange) {
        self.held = Some(Box::new(ex));
    }

    /// Records a held reply: `handled` when what followed settled it (the forced sign-in
    /// succeeded), as it came otherwise.
    pub fn resolve(mut self, handled: bool) {
        if let Some(ex) = self.held.take() {
            self.recorded = true;
            record_exchange(
                self.ctx,
                self.agent_id,
                self.op,
                self.intended,
                &ex,
                handled,
            );
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        if let Some(ex) = self.held.take() {
            record_exchange(self.ctx, self.agent_id, self.op, self.intended, &ex, false);
            return;
        }
        self.ctx.record_call(&Sample {
            operation: self.op,
            intended_at: self.intended,
            sent_at: self.sent_at,
            done_at: Instant::now(),
            outcome: Outcome::Interrupted,
            poll: None,
        });
    }
}
