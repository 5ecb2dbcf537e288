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
//! almost none. Here a wake during the poll only sets a flag and the poll runs once more;
//! a wake from anywhere else (the I/O driver, a timer, another thread) goes to the task's
//! real waker as before.
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

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

struct Inner {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for Inner {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            // The poll in progress makes another pass.
            Ok(_) => {}
            // A pass is already owed.
            Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

/// One connection's filter: built once per connection, so polling allocates nothing.
pub(super) struct SelfWake {
    inner: Arc<Inner>,
    waker: Waker,
}

impl SelfWake {
    pub(super) fn new() -> SelfWake {
        let inner = Arc::new(Inner {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(inner.clone());
        SelfWake { inner, waker }
    }

    /// Polls `f` with the filter's waker, again while `f` woke itself during the pass (up
    /// to [`MAX_PASSES`] times), and leaves the task's real waker to be woken by anything
    /// else.
    pub(super) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.inner.task.register(cx.waker());
        let mut inner_cx = Context::from_waker(&self.waker);
        for _ in 0..=MAX_PASSES {
            self.inner.state.store(POLLING, Ordering::Release);
            let out = f(&mut inner_cx);
            let owed = self.inner.state.swap(IDLE, Ordering::AcqRel) == WOKEN;
            if out.is_ready() || !owed {
                return out;
            }
        }
        // Woken on every pass (the cooperative budget is spent, or something keeps
        // waking): let the scheduler run others first.
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

    #[test]
    fn a_wake_during_the_poll_makes_another_pass_not_a_reschedule() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut passes = 0;
        let out = filter.poll(&mut cx, |cx| {
            passes += 1;
            if passes < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(passes)
            }
        });
        assert_eq!(out, Poll::Ready(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut kept = None;
        let out: Poll<()> = filter.poll(&mut cx, |cx| {
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // Later, from the I/O driver or another thread.
        let kept = kept.expect("the pass kept the waker");
        std::thread::spawn(move || kept.wake()).join().ok();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_future_that_always_wakes_itself_yields_after_the_bound() {
        let (count, task) = counter();
        let mut cx = Context::from_waker(&task);
        let filter = SelfWake::new();
        let mut passes = 0;
        let out: Poll<()> = filter.poll(&mut cx, |cx| {
            passes += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert_eq!(out, Poll::Pending);
        assert_eq!(passes, MAX_PASSES + 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_task_waker_follows_the_latest_poll() {
        let (first, task1) = counter();
        let (second, task2) = counter();
        let filter = SelfWake::new();
        let mut kept = None;
        let _: Poll<()> = filter.poll(&mut Context::from_waker(&task1), |cx| {
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        let _: Poll<()> = filter.poll(&mut Context::from_waker(&task2), |_| Poll::Pending);
        if let Some(w) = kept {
            w.wake();
        }
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
