//! Wakes a task gives itself while it is polled, taken in that same poll.
//!
//! A waker called while its task is being polled does not go unnoticed by tokio: once the
//! poll returns, the task goes to the back of its run queue and the other worker thread is
//! woken to come and take it (a `futex` call and a thread woken for nothing), then the whole
//! task (the connection, its request, the chain of futures down to the store) is polled again
//! for nothing. Two places in a store query do it every time:
//!
//! - an exchange on a store connection: the request and the connection hand each other the
//!   request, the answer's head and each piece of its body through channels, each hand-over a
//!   wake of the task that polls both;
//! - a coalesced query (`futures`' `Shared`): the waiter whose poll completes the flight is
//!   woken with every other waiter.
//!
//! [`SamePollWaker`] is given to such futures instead of the task's waker: a wake that comes
//! while they are polled only makes the poll go round again before it returns; one that comes
//! later (the store's answer arriving) wakes the task as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Not being polled: a wake is passed on to the task.
const IDLE: u8 = 0;
/// Being polled, not woken since the poll began.
const POLLING: u8 = 1;
/// Woken while being polled: poll again.
const WOKEN: u8 = 2;

/// How many passes one poll makes while the futures keep waking it, before it yields to the
/// scheduler (a future that wakes itself on every poll, as tokio's budget does when it runs out,
/// must not keep the thread).
const PASSES: usize = 8;

/// The shared state behind the waker.
#[derive(Default)]
struct State {
    phase: AtomicU8,
    task: AtomicWaker,
}

impl Wake for State {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self
            .phase
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_err_and(|phase| phase == IDLE)
        {
            self.task.wake();
        }
    }
}

/// A waker for futures polled in passes, kept as long as they are (with a store connection, or
/// for one wait on a coalesced query).
pub(crate) struct SamePollWaker {
    state: Arc<State>,
    waker: Waker,
}

impl SamePollWaker {
    /// A waker not yet polled through.
    pub(crate) fn new() -> Self {
        let state = Arc::new(State::default());
        let waker = Waker::from(Arc::clone(&state));
        SamePollWaker { state, waker }
    }

    /// Runs `pass` (which polls its futures with the context it is given) until it is ready or
    /// nothing woke it during its last run; `cx` is the task's.
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut pass: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.state.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..PASSES {
            self.state.phase.store(POLLING, Ordering::Release);
            if let Poll::Ready(value) = pass(&mut inner) {
                self.state.phase.store(IDLE, Ordering::Release);
                // Done: a later wake (a pooled connection's socket) has no task to reach, and
                // the task is not kept alive by its waker held here.
                drop(self.state.task.take());
                return Poll::Ready(value);
            }
            if self
                .state
                .phase
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still woken after every pass: yield, and come back through the scheduler.
        self.state.phase.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Counting a task's wakes, for the tests of the futures polled through [`SamePollWaker`].
#[cfg(test)]
pub(crate) mod testing {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Context, Waker};

    /// Wakes of the task `inner` runs in: those that came while it was being polled (each makes
    /// tokio queue the task again and rouse another worker thread to take it) and all of them.
    #[derive(Default)]
    pub(crate) struct Wakes {
        polling: AtomicBool,
        /// Wakes while the task was being polled.
        pub(crate) during_poll: AtomicUsize,
        /// All wakes.
        pub(crate) total: AtomicUsize,
    }

    /// The task's waker, counted in `wakes` and passed on to `task`.
    struct CountedWaker {
        wakes: Arc<Wakes>,
        task: Waker,
    }

    impl std::task::Wake for CountedWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.total.fetch_add(1, Ordering::SeqCst);
            if self.wakes.polling.load(Ordering::SeqCst) {
                self.wakes.during_poll.fetch_add(1, Ordering::SeqCst);
            }
            self.task.wake_by_ref();
        }
    }

    /// Runs `inner` as a task would, counting its wakes.
    pub(crate) async fn counting_wakes<T>(wakes: &Arc<Wakes>, inner: impl Future<Output = T>) -> T {
        let mut inner = pin!(inner);
        std::future::poll_fn(|cx| {
            let waker = Waker::from(Arc::new(CountedWaker {
                wakes: Arc::clone(wakes),
                task: cx.waker().clone(),
            }));
            wakes.polling.store(true, Ordering::SeqCst);
            let poll = inner.as_mut().poll(&mut Context::from_waker(&waker));
            wakes.polling.store(false, Ordering::SeqCst);
            poll
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task waker that counts its wakes.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task's waker counting its wakes, and the count.
    fn counted_task() -> (Arc<Counting>, Waker) {
        let task = Arc::new(Counting::default());
        (Arc::clone(&task), Waker::from(task))
    }

    #[test]
    fn a_wake_during_the_poll_runs_another_pass_instead_of_waking_the_task() {
        let (task, waker) = counted_task();
        let mut cx = Context::from_waker(&waker);
        let same_poll = SamePollWaker::new();
        let mut passes = 0;
        let outcome = same_poll.poll(&mut cx, |inner| {
            passes += 1;
            if passes < 3 {
                inner.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(passes)
            }
        });
        assert_eq!(outcome, Poll::Ready(3));
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_after_the_poll_wakes_the_task() {
        let (task, waker) = counted_task();
        let mut cx = Context::from_waker(&waker);
        let same_poll = SamePollWaker::new();
        let mut kept = None;
        let outcome = same_poll.poll(&mut cx, |inner| {
            kept = Some(inner.waker().clone());
            Poll::<()>::Pending
        });
        assert_eq!(outcome, Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "nothing woke it yet");
        kept.expect("the pass ran").wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_wake_after_the_futures_are_done_reaches_no_task() {
        let (task, waker) = counted_task();
        let same_poll = SamePollWaker::new();
        let mut kept = None;
        let outcome = same_poll.poll(&mut Context::from_waker(&waker), |inner| {
            kept = Some(inner.waker().clone());
            Poll::Ready(())
        });
        assert_eq!(outcome, Poll::Ready(()));
        kept.expect("the pass ran").wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        assert_eq!(
            Arc::strong_count(&task),
            2,
            "the task's waker is not held any more"
        );
    }

    #[test]
    fn futures_that_wake_on_every_pass_yield_to_the_scheduler() {
        let (task, waker) = counted_task();
        let mut cx = Context::from_waker(&waker);
        let same_poll = SamePollWaker::new();
        let mut passes = 0;
        let outcome = same_poll.poll(&mut cx, |inner| {
            passes += 1;
            inner.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        assert_eq!(outcome, Poll::Pending);
        assert_eq!(passes, PASSES);
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "woken once, to come back");
    }

    #[test]
    fn a_wake_between_polls_reaches_the_task_registered_last() {
        let same_poll = SamePollWaker::new();
        let (first, first_waker) = counted_task();
        let (second, second_waker) = counted_task();
        let mut kept = None;
        for waker in [first_waker, second_waker] {
            let _ = same_poll.poll(&mut Context::from_waker(&waker), |inner| {
                kept = Some(inner.waker().clone());
                Poll::<()>::Pending
            });
        }
        kept.expect("the pass ran").wake_by_ref();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
