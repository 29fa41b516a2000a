//! One task per key for work that concurrent requests would otherwise each start: the
//! TokenReview of a token or the SubjectAccessReview of a (user, metric) whose cached answer
//! has just expired under load, the start of a resource's label cache. Callers arriving while
//! it runs wait for the same answer (as k8s.io/apiserver's token cache does with
//! `singleflight`). The work runs as a task of its own, so it finishes, and stores what it
//! found, even when every caller has given up waiting; its key is free again as soon as it
//! ends. Nothing is kept here after that: answers are cached by the work itself, with their
//! own lifetimes. (Store queries are shared differently, by `metrics_store::Coalescing`: in
//! their callers' futures, dropped when all give up, since an answer nobody waits for is
//! not kept; a review's or a cache start's is.)

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::oneshot;

/// A running task's answer, shared by its callers; an error is its message.
type Flight<V> = Shared<BoxFuture<'static, Result<V, String>>>;

/// The tasks running, by key.
type Running<K, V> = Arc<Mutex<HashMap<K, Flight<V>>>>;

/// Runs at most one task per key at a time, and shares its answer with every caller.
pub struct SingleFlight<K, V> {
    running: Running<K, V>,
}

impl<K, V> std::fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.running.lock().map(|running| running.len()).ok();
        f.debug_struct("SingleFlight")
            .field("running", &running)
            .finish()
    }
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            running: Arc::default(),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The answer of the task running for `key`, or of one spawned now from `work` (which
    /// is not called when a task is running). Must be called within a Tokio runtime.
    pub async fn run<F>(&self, key: &K, work: impl FnOnce() -> F) -> Result<V, String>
    where
        F: Future<Output = Result<V, String>> + Send + 'static,
    {
        // Under the lock only the map changes: the task is spawned after, so nothing that
        // frees a key (and takes the lock) can run while it is held.
        let (flight, answer) = {
            let mut running = self
                .running
                .lock()
                .map_err(|_| "the single-flight lock is poisoned".to_owned())?;
            match running.get(key) {
                Some(flight) => (flight.clone(), None),
                None => {
                    let (answer, answered) = oneshot::channel();
                    let flight = async move {
                        answered.await.unwrap_or_else(|_| {
                            Err("the task ended without an answer (panicked or cancelled)".into())
                        })
                    }
                    .boxed()
                    .shared();
                    running.insert(key.clone(), flight.clone());
                    (flight, Some(answer))
                }
            }
        };
        if let Some(answer) = answer {
            // Made first, so the key is freed however the rest ends.
            let landing = Landing {
                running: Arc::clone(&self.running),
                key: key.clone(),
            };
            let work = work();
            tokio::spawn(async move {
                let _landing = landing;
                // Nobody may be waiting any more: the answer was stored by the work itself.
                let _ = answer.send(work.await);
            });
        }
        flight.await
    }

    /// How many tasks are running; for tests.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.running
            .lock()
            .map(|running| running.len())
            .unwrap_or(0)
    }
}

/// Frees a task's key when the task ends, answered, failed or panicked.
struct Landing<K: Eq + Hash, V> {
    running: Running<K, V>,
    key: K,
}

impl<K: Eq + Hash, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Work that counts its runs, takes 100 ms and answers the count.
    fn counted(runs: &Arc<AtomicUsize>) -> impl Future<Output = Result<usize, String>> + use<> {
        let runs = Arc::clone(runs);
        async move {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(run)
        }
    }

    #[tokio::test]
    async fn callers_of_one_key_share_one_run_and_other_keys_run_apart() {
        let flights = SingleFlight::<&str, usize>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (a1, a2, a3, b) = tokio::join!(
            flights.run(&"a", || counted(&runs)),
            flights.run(&"a", || counted(&runs)),
            flights.run(&"a", || counted(&runs)),
            flights.run(&"b", || counted(&runs)),
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(a1, a2);
        assert_eq!(a1, a3);
        assert_ne!(a1.unwrap(), b.unwrap());
        assert_eq!(flights.running(), 0, "keys are freed when their tasks end");
        // A caller after the end runs the work again: no answer is kept.
        assert_eq!(flights.run(&"a", || counted(&runs)).await, Ok(3));
    }

    #[tokio::test]
    async fn the_work_finishes_when_every_caller_gave_up() {
        let flights = SingleFlight::<&str, usize>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let work = {
            let finished = Arc::clone(&finished);
            let counted = counted(&runs);
            move || async move {
                let answer = counted.await;
                finished.fetch_add(1, Ordering::SeqCst);
                answer
            }
        };
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), flights.run(&"a", work)).await;
        assert!(gave_up.is_err());
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "still running when given up on"
        );
        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) == 1 && flights.running() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        assert_eq!(flights.running(), 0);
    }

    #[tokio::test]
    async fn a_failure_is_every_callers_and_a_panic_frees_the_key() {
        let flights = SingleFlight::<&str, usize>::default();
        let fail = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err("refused".to_owned())
        };
        let (one, two) = tokio::join!(flights.run(&"a", fail), flights.run(&"a", fail));
        assert_eq!((one, two), (Err("refused".into()), Err("refused".into())));
        async fn panics() -> Result<usize, String> {
            panic!("the work panicked")
        }
        let panicked = flights.run(&"a", panics).await;
        assert!(panicked.unwrap_err().contains("panicked or cancelled"));
        assert_eq!(flights.running(), 0);
        assert_eq!(flights.run(&"a", || async { Ok(7) }).await, Ok(7));
    }
}
