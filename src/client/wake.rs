//! The self-wake filter: a waker for the futures an agent's task polls on its own
//! connection (hyper's request handle and its connection's I/O future), which turns a wake
//! that happens *while the task is polling them* into one more pass of the same poll
//! instead of a reschedule.
//!
//! hyper hands a request to the connection and a reply back through channels. The agent's
//! task is on both ends (it polls the connection itself, see [`super::Live`]), so every
//! call wakes the task from inside its own poll two or three times. Tokio treats a task
//! woken during its poll as a yield: it goes to the back of the run queue and an idle
//! worker thread is woken to steal it (a futex wake and a context switch). The request
//! engine benchmark counted 0.14-0.26 futex calls and up to 0.36 context switches per
//! request from this alone; oha, whose runtimes never hand tasks across threads, makes
//! almost none. On a lane's current-thread runtime (`crate::agent::lanes`) such a wake is no
//! cheaper: the task waits until the runtime has polled its I/O driver once more. Here a
//! wake during the poll only sets a flag and the poll runs once more; a wake from anywhere
//! else (the I/O driver, a timer, another thread) goes to the task's real waker as before.
//!
//! The filter knows two parties: the call (hyper's request handle and the reply on its
//! way) and the connection (hyper's I/O future). Each gets its own waker, so a pass polls
//! only the party that was woken: handing a request to the connection wakes the connection,
//! which this same pass polls next, so it costs no second pass through hyper's connection
//! (about one in three of them before, each a read, write and flush attempt). A poll's
//! first pass polls both, as the task may have been woken by anything.
//!
//! The number of extra passes in one poll is bounded, so tokio's cooperative budget (which
//! makes a resource return pending and wake the task when the budget is spent) still ends
//! the poll: past the bound the wake goes to the real waker, as it would without the filter.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Extra passes one poll may make after wakes from inside itself.
const MAX_PASSES: usize = 8;

/// A poll is in progress: wakes only mark their party.
const POLLING: u8 = 1;
/// The call was woken since it was last polled.
const CALL: u8 = 2;
/// The connection was woken since it was last polled.
const CONN: u8 = 4;

struct Inner {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Inner {
    fn mark(&self, party: u8) {
        // Outside a poll the task must run; inside one the pass loop sees the mark.
        if self.state.fetch_or(party, Ordering::AcqRel) & POLLING == 0 {
            self.task.wake();
        }
    }
}

/// The call is polled with a waker of the filter's own state (no allocation of its own)...
impl Wake for Inner {
    fn wake(self: Arc<Self>) {
        self.mark(CALL);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.mark(CALL);
    }
}

/// ...and the connection with one that points to it.
struct ConnWaker(Arc<Inner>);

impl Wake for ConnWaker {
    fn wake(self: Arc<Self>) {
        self.0.mark(CONN);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.mark(CONN);
    }
}

/// One connection's filter: built once per connection, so polling allocates nothing.
pub(super) struct SelfWake {
    inner: Arc<Inner>,
    call: Waker,
    conn: Waker,
}

/// One pass of a poll: which parties are due, and the contexts to poll them with. A due
/// party stays marked until its context is taken, so a pass that leaves one unpolled is
/// followed by another.
pub(super) struct Pass<'a> {
    filter: &'a SelfWake,
    due: u8,
}

impl Pass<'_> {
    /// The call's context if the call is due this pass. Its mark is cleared first, so a
    /// wake from here on makes it due again.
    pub(super) fn call(&self) -> Option<Context<'_>> {
        (self.due & CALL != 0).then(|| self.call_now())
    }

    /// The call's context whether or not it is due (after the connection ended, say).
    pub(super) fn call_now(&self) -> Context<'_> {
        self.filter.inner.state.fetch_and(!CALL, Ordering::AcqRel);
        Context::from_waker(&self.filter.call)
    }

    /// The connection's context if it is due this pass, its mark cleared first: a request
    /// the call handed over during this pass is seen by this poll of the connection.
    pub(super) fn conn(&self) -> Option<Context<'_>> {
        (self.due & CONN != 0).then(|| {
            self.filter.inner.state.fetch_and(!CONN, Ordering::AcqRel);
            Context::from_waker(&self.filter.conn)
        })
    }
}

impl SelfWake {
    pub(super) fn new() -> SelfWake {
        let inner = Arc::new(Inner {
            state: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        SelfWake {
            call: Waker::from(inner.clone()),
            conn: Waker::from(Arc::new(ConnWaker(inner.clone()))),
            inner,
        }
    }

    /// Runs passes of `f`: the first with both parties due, then again while a party was
    /// woken during the poll (up to [`MAX_PASSES`] times), with only the woken ones due.
    /// Wakes after the poll go to the task's real waker.
    pub(super) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&Pass<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.inner.task.register(cx.waker());
        self.inner
            .state
            .store(POLLING | CALL | CONN, Ordering::Release);
        for _ in 0..=MAX_PASSES {
            let due = self.inner.state.load(Ordering::Acquire) & (CALL | CONN);
            let out = f(&Pass { filter: self, due });
            if out.is_ready() {
                self.inner.state.store(0, Ordering::Release);
                return out;
            }
            // Done unless a party was woken meanwhile (from this thread or another).
            if self
                .inner
                .state
                .compare_exchange(POLLING, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Woken on every pass (the cooperative budget is spent, or something keeps
        // waking): let the scheduler run others first.
        self.inner.state.store(0, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_wake_during_the_poll_makes_another_pass_not_a_reschedule() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut passes = 0;
        let out = filter.poll(&mut cx, |pass| {
            passes += 1;
            let _ = pass.conn();
            let cx = pass.call().expect("the call is due on every pass here");
            if passes < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(passes)
            }
        });
        assert_eq!(out, Poll::Ready(3));
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn the_first_pass_polls_both_parties_and_later_passes_only_the_woken_one() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut seen = Vec::new();
        let out: Poll<()> = filter.poll(&mut cx, |pass| {
            let call = pass.call();
            let conn = pass.conn();
            seen.push((call.is_some(), conn.is_some()));
            // On the first pass the connection wakes the call (a reply came in).
            if seen.len() == 1 {
                if let (Some(_), Some(call)) = (&conn, &call) {
                    call.waker().wake_by_ref();
                }
            }
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(seen, vec![(true, true), (true, false)]);
        assert_eq!(wakes(&count), 0);

        let mut seen = Vec::new();
        let _: Poll<()> = filter.poll(&mut cx, |pass| {
            let call = pass.call();
            let conn = pass.conn();
            seen.push((call.is_some(), conn.is_some()));
            // The call hands over a request: the connection is woken, once.
            if seen.len() == 1 {
                if let Some(c) = &conn {
                    c.waker().wake_by_ref();
                }
            }
            Poll::Pending
        });
        assert_eq!(seen, vec![(true, true), (false, true)]);
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn a_wake_of_the_connection_before_its_poll_in_the_same_pass_costs_no_extra_pass() {
        // The call hands a request to the connection (waking it), then the same pass polls
        // the connection, which takes the request: nothing is owed afterwards.
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut conn_waker: Option<Waker> = None;
        // A first poll registers the connection's waker, as hyper's connection does.
        let _: Poll<()> = filter.poll(&mut cx, |pass| {
            let _ = pass.call();
            conn_waker = pass.conn().map(|c| c.waker().clone());
            Poll::Pending
        });
        let conn_waker = conn_waker.expect("connection polled");
        let mut passes = 0;
        let out: Poll<()> = filter.poll(&mut cx, |pass| {
            passes += 1;
            if pass.call().is_some() {
                conn_waker.wake_by_ref();
            }
            let _ = pass.conn();
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(passes, 1);
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut kept = None;
        let out: Poll<()> = filter.poll(&mut cx, |pass| {
            let _ = pass.call();
            kept = pass.conn().map(|c| c.waker().clone());
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(wakes(&count), 0);
        // Later, from the I/O driver or another thread.
        let kept = kept.expect("the pass kept the waker");
        std::thread::spawn(move || kept.wake()).join().ok();
        assert_eq!(wakes(&count), 1);
    }

    #[test]
    fn a_future_that_always_wakes_itself_yields_after_the_bound() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut passes = 0;
        let out: Poll<()> = filter.poll(&mut cx, |pass| {
            passes += 1;
            let _ = pass.call();
            if let Some(c) = pass.conn() {
                c.waker().wake_by_ref();
            }
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(passes, MAX_PASSES + 1);
        assert_eq!(wakes(&count), 1);
        // The next poll starts afresh: both parties due.
        let mut first = None;
        let _: Poll<()> = filter.poll(&mut cx, |pass| {
            let due = (pass.call().is_some(), pass.conn().is_some());
            first.get_or_insert(due);
            Poll::Pending
        });
        assert_eq!(first, Some((true, true)));
    }

    #[test]
    fn the_task_waker_follows_the_latest_poll() {
        let (first, task1) = counter();
        let (second, task2) = counter();
        let filter = SelfWake::new();
        let mut kept = None;
        let _: Poll<()> = filter.poll(&mut Context::from_waker(&task1), |pass| {
            let _ = pass.conn();
            kept = pass.call().map(|c| c.waker().clone());
            Poll::Pending
        });
        let _: Poll<()> = filter.poll(&mut Context::from_waker(&task2), |pass| {
            let _ = (pass.call(), pass.conn());
            Poll::Pending
        });
        if let Some(w) = kept {
            w.wake();
        }
        assert_eq!(wakes(&first), 0);
        assert_eq!(wakes(&second), 1);
    }
}
