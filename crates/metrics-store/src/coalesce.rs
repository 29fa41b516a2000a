//! Coalescing of identical concurrent instant queries: when many HPAs (or many replicas of one
//! client) ask the same question at once, the store is asked once and every caller gets the
//! same answer.
//!
//! A query in flight is keyed by its text and evaluation time. The first caller starts it as a
//! task of its own, with its deadline as the store's `timeout`, so the query finishes (and its
//! slot is freed) even if that caller gives up; callers arriving while it runs wait for its
//! result, each at most its own deadline (a caller with a longer deadline still gets the
//! flight's timeout if the store is slower than the first caller's). A caller arriving after it
//! finished starts a new query: answers are never served from a cache.
//! Series and range queries pass through unchanged.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::{Error, KeyedSample, Labels, MetricsStore, RangeSeries, Result, Sample, TimeRange};

/// A query's text, evaluation time (`None` = the store's now) and, for
/// [`MetricsStore::instant_query_by`], the label its samples are keyed by.
type Key = (String, Option<Timestamp>, Option<String>);

/// The outcome of one query in flight, once known.
type Outcome<T> = Option<Result<Arc<T>>>;

/// The queries of one kind in flight, each with the receiver its callers wait on.
#[derive(Debug)]
struct Flights<T>(Arc<Mutex<HashMap<Key, watch::Receiver<Outcome<T>>>>>);

impl<T: Send + Sync + 'static> Flights<T> {
    fn new() -> Self {
        Flights(Arc::default())
    }

    fn len(&self) -> usize {
        self.0.lock().map(|map| map.len()).unwrap_or(0)
    }

    /// The answer of the flight for `key`, joining one in flight or starting `query` as a task
    /// of its own; waited for at most `deadline`.
    fn answer(
        &self,
        key: Key,
        deadline: Duration,
        query: impl Future<Output = Result<Arc<T>>> + Send + 'static,
    ) -> impl Future<Output = Result<Arc<T>>> + Send + 'static {
        let flight = self.join_or_start(key, query);
        async move {
            let mut flight = flight?;
            let ended = || Error::Unavailable {
                url: String::new(),
                reason: "the query task ended without an answer".to_owned(),
            };
            let outcome = tokio::time::timeout(deadline, flight.wait_for(Option::is_some))
                .await
                .map_err(|_| Error::Timeout { deadline })?
                .map_err(|_| ended())?
                .clone();
            outcome.unwrap_or_else(|| Err(ended()))
        }
    }

    fn join_or_start(
        &self,
        key: Key,
        query: impl Future<Output = Result<Arc<T>>> + Send + 'static,
    ) -> Result<watch::Receiver<Outcome<T>>> {
        let mut in_flight = self
            .0
            .lock()
            .map_err(|_| Error::Config("the query coalescing lock is poisoned".to_owned()))?;
        if let Some(flight) = in_flight.get(&key) {
            return Ok(flight.clone());
        }
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver.clone());
        let registry = Arc::clone(&self.0);
        // The lock is held until the entry is in, so the task cannot remove it first.
        tokio::spawn(async move {
            let result = query.await;
            if let Ok(mut in_flight) = registry.lock() {
                in_flight.remove(&key);
            }
            // No receiver left is fine: everyone who asked gave up.
            let _ = sender.send(Some(result));
        });
        Ok(receiver)
    }
}

/// Wraps a store so identical concurrent instant queries are made once.
#[derive(Debug)]
pub struct Coalescing<S> {
    inner: Arc<S>,
    samples: Flights<Vec<Sample>>,
    keyed: Flights<Vec<KeyedSample>>,
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
        let (inner, text) = (Arc::clone(&self.inner), query.to_owned());
        let shared = self
            .samples
            .answer((query.to_owned(), at, None), deadline, async move {
                inner.instant_query(&text, at, deadline).await.map(Arc::new)
            });
        // The last one to let go of the flight usually takes the samples without copying them
        // (nobody else asked the same question at the same moment, and the flight's task has
        // let go of its sender); otherwise they are copied.
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
    ) -> impl Future<Output = Result<Arc<Vec<KeyedSample>>>> + Send {
        let (inner, text, by) = (Arc::clone(&self.inner), query.to_owned(), label.to_owned());
        self.keyed.answer(
            (query.to_owned(), at, Some(label.to_owned())),
            deadline,
            async move { inner.instant_query_by(&text, &by, at, deadline).await },
        )
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
