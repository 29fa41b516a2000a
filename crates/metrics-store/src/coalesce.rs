//! Coalescing of identical concurrent instant queries: when many HPAs (or many replicas of one
//! client) ask the same question at once, the store is asked once and every caller gets the
//! same answer.
//!
//! A query in flight is keyed by its text and evaluation time. It runs inside the callers'
//! own futures, not as a task of its own (a hand-off to another task, often on the other core,
//! costs tens of microseconds per answer): the first caller polls it, callers arriving while
//! it runs share it, and whichever of them is polled drives it, so one giving up leaves it to
//! the others. Each waits at most its own deadline. A flight carries the deadline of the caller
//! that started it (the store is sent that one), so a caller joins only a flight with at least
//! half its own deadline left ([`joinable`]): callers of one configuration share a flight for
//! the first half of its time, and a caller with far more time left (one that started the
//! flight may have spent most of its own waiting for a metric lookup) starts a flight of its
//! own, which later callers join, instead of inheriting that flight's timeout. With callers of
//! one deadline, flights of one key thus start at least half a deadline apart: a slow store
//! gets at most two of each query at once. When every caller has given up, the query is
//! dropped, which closes its connection, so the store stops working on it too. A caller arriving after it finished
//! starts a new query: answers are never served from a cache.
//! Series and range queries pass through unchanged.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use jiff::Timestamp;
use tokio::time::Instant;

use crate::same_poll::SamePollWaker;
use crate::{Error, KeyedSamples, Labels, MetricsStore, RangeSeries, Result, Sample, TimeRange};

/// A query's text, evaluation time (`None` = the store's now) and, for
/// [`MetricsStore::instant_query_by`], the label its samples are keyed by; shared by the map,
/// the flight's landing and the query itself, so it is written once.
type Key = Arc<(String, Option<Timestamp>, Option<String>)>;

/// One query in flight, shared by the callers waiting on it.
type Flight<T> = Shared<BoxFuture<'static, Result<Arc<T>>>>;

/// One key's flight in the map: its number, when its deadline ends, and the flight, held weakly
/// so that a flight every caller gave up on is dropped.
type Held<T> = (u64, Instant, WeakShared<BoxFuture<'static, Result<Arc<T>>>>);

/// The queries of one kind in flight, by key.
type InFlight<T> = Arc<Mutex<HashMap<Key, Held<T>>>>;

/// Whether a caller with `deadline` left joins a flight whose deadline `ends`: when at least
/// half of `deadline` is left of the flight's.
fn joinable(ends: Instant, deadline: Duration) -> bool {
    ends.saturating_duration_since(Instant::now()) >= deadline / 2
}

/// When a deadline of `deadline` from now ends, saturating far in the future (a deadline too
/// long for `Instant` means "no deadline").
fn ends_after(deadline: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);
    let now = Instant::now();
    now.checked_add(deadline)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

/// The queries of one kind in flight.
struct Flights<T> {
    in_flight: InFlight<T>,
    numbers: AtomicU64,
}

impl<T> std::fmt::Debug for Flights<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field(
                "in_flight",
                &self.in_flight.lock().map(|map| map.len()).unwrap_or(0),
            )
            .finish()
    }
}

/// Takes a flight's entry out of the map when the flight ends, answered or dropped, unless a
/// newer flight of the same key has taken its place.
struct Landing<T> {
    in_flight: InFlight<T>,
    key: Option<Key>,
    number: u64,
}

impl<T> Drop for Landing<T> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut in_flight)) = (self.key.take(), self.in_flight.lock())
            && let Entry::Occupied(entry) = in_flight.entry(key)
            && entry.get().0 == self.number
        {
            entry.remove();
        }
    }
}

impl<T: Send + Sync + 'static> Flights<T> {
    fn new() -> Self {
        Flights {
            in_flight: Arc::default(),
            numbers: AtomicU64::new(0),
        }
    }

    fn len(&self) -> usize {
        self.in_flight.lock().map(|map| map.len()).unwrap_or(0)
    }

    /// The answer of the flight for `key`, joining one in flight or starting the one `query`
    /// makes; waited for at most `deadline`. The query is made inside the flight, not handed
    /// in made: a future handed in is held twice (as a capture and while awaited), and a store
    /// query's state is kilobytes.
    fn answer<F: Future<Output = Result<Arc<T>>> + Send + 'static>(
        &self,
        key: Key,
        deadline: Duration,
        query: impl FnOnce() -> F + Send + 'static,
    ) -> impl Future<Output = Result<Arc<T>>> + Send + 'static {
        let flight = self.join_or_start(key, deadline, query);
        async move {
            let mut flight = flight?;
            // The waiter whose poll completes the flight is woken with all the others: taken in
            // the same poll, not as a reschedule of its task (see `same_poll`).
            let waker = SamePollWaker::new();
            let landed = std::future::poll_fn(|cx| waker.poll(cx, |cx| flight.poll_unpin(cx)));
            tokio::time::timeout(deadline, landed)
                .await
                .map_err(|_| Error::Timeout { deadline })?
        }
    }

    /// The flight in progress for `key` if its deadline suits one of `deadline`, else a new one
    /// that takes its place in the map.
    fn join_or_start<F: Future<Output = Result<Arc<T>>> + Send + 'static>(
        &self,
        key: Key,
        deadline: Duration,
        query: impl FnOnce() -> F + Send + 'static,
    ) -> Result<Flight<T>> {
        let ends = ends_after(deadline);
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| Error::Config("the query coalescing lock is poisoned".to_owned()))?;
        let entry = in_flight.entry(Arc::clone(&key));
        if let Entry::Occupied(held) = &entry
            && joinable(held.get().1, deadline)
            && let Some(flight) = held.get().2.upgrade()
        {
            return Ok(flight);
        }
        let number = self.numbers.fetch_add(1, Ordering::Relaxed);
        let landing = Landing {
            in_flight: Arc::clone(&self.in_flight),
            key: Some(key),
            number,
        };
        let flight = async move {
            let result = query().await;
            drop(landing);
            result
        }
        .boxed()
        .shared();
        // A flight not polled yet cannot have completed, so it can be held weakly.
        if let Some(weak) = flight.downgrade() {
            entry.insert_entry((number, ends, weak));
        }
        Ok(flight)
    }
}

/// Wraps a store so identical concurrent instant queries are made once.
#[derive(Debug)]
pub struct Coalescing<S> {
    inner: Arc<S>,
    samples: Flights<Vec<Sample>>,
    keyed: Flights<KeyedSamples>,
}

impl<S> Coalescing<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Coalescing {
            inner,
            samples: Flights::new(),
            keyed: Flights::new(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// How many distinct queries are in flight now (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.samples.len() + self.keyed.len()
    }
}

impl<S: MetricsStore + 'static> MetricsStore for Coalescing<S> {
    fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send {
        self.inner.series(matchers, range, deadline)
    }

    fn metric_names(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<String>>> + Send {
        self.inner.metric_names(matchers, range, deadline)
    }

    fn metric_types(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = Result<std::collections::BTreeMap<String, String>>> + Send {
        self.inner.metric_types(deadline)
    }

    fn series_shapes(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send {
        self.inner.series_shapes(matchers, range, deadline)
    }

    fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Sample>>> + Send {
        let inner = Arc::clone(&self.inner);
        let key: Key = Arc::new((query.to_owned(), at, None));
        let asked = Arc::clone(&key);
        let shared = self.samples.answer(key, deadline, move || async move {
            inner
                .instant_query(&asked.0, at, deadline)
                .await
                .map(Arc::new)
        });
        // The last one to let go of the flight usually takes the samples without copying them
        // (nobody else asked the same question at the same moment); otherwise they are copied.
        async move {
            let samples = shared.await?;
            Ok(Arc::try_unwrap(samples).unwrap_or_else(|shared| shared.as_ref().clone()))
        }
    }

    fn instant_query_by(
        &self,
        query: &str,
        label: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Arc<KeyedSamples>>> + Send {
        let inner = Arc::clone(&self.inner);
        let key: Key = Arc::new((query.to_owned(), at, Some(label.to_owned())));
        let asked = Arc::clone(&key);
        self.keyed.answer(key, deadline, move || async move {
            let (text, _, by) = &*asked;
            inner
                .instant_query_by(text, by.as_deref().unwrap_or_default(), at, deadline)
                .await
        })
    }

    fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<RangeSeries>>> + Send {
        self.inner.range_query(query, range, step, deadline)
    }
}

#[cfg(test)]
mod tests;
